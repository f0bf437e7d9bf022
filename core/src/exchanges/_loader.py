"""Plugin discovery: entry points, version gates, allow/deny lists, isolated imports."""

from __future__ import annotations

import importlib.metadata as md
import re
import traceback
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from packaging.requirements import Requirement

__all__ = ["PluginRecord", "PluginStatus", "check_core_requirement", "discover", "parse_name_list"]

CORE_DIST = "exchange-core"
_CORE_NAME = re.compile(r"\s*exchange[-_.]core(?![A-Za-z0-9_.-])", re.IGNORECASE)
GROUP = "exchanges"


class PluginStatus:
    """The statuses of a :class:`PluginRecord`."""

    LOADED = "loaded"
    FAILED = "failed"
    INCOMPATIBLE = "incompatible"
    BLOCKED = "blocked"


@attrs.define
class PluginRecord:
    """What the host knows about one plugin, whatever became of it."""

    name: str
    dist: str | None
    version: str | None
    status: str
    error: str | None = None
    traceback: str | None = attrs.field(default=None, repr=False)
    hooks: list[str] = attrs.field(factory=list)
    exchanges: list[str] = attrs.field(factory=list)
    requires_core: str | None = None
    module: str | None = None
    builtin: bool = False

    @property
    def ok(self) -> bool:
        """True when the plugin is loaded and registered without error."""
        return self.status == PluginStatus.LOADED

    def fail(self, exc: BaseException, status: str = PluginStatus.FAILED) -> None:
        """Mark the plugin failed with a one-line error and keep the traceback for ``--verbose``."""
        self.status = status
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        self.error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        self.traceback = "".join(traceback.format_exception(exc))

    def as_dict(self, *, verbose: bool = False) -> dict[str, Any]:
        """JSON-able form (the traceback only when ``verbose``)."""
        data = {
            "name": self.name,
            "dist": self.dist,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": sorted(self.hooks),
            "exchanges": sorted(self.exchanges),
            "requires_core": self.requires_core,
            "builtin": self.builtin,
        }
        if verbose:
            data["traceback"] = self.traceback
        return data


def parse_name_list(value: str | None) -> set[str] | None:
    """``"a, b"`` -> {"a", "b"}; None stays None (no list); "" -> empty set."""
    if value is None:
        return None
    return {canonicalize_name(part.strip()) for part in value.split(",") if part.strip()}


def core_requirement(dist: md.Distribution | None) -> Requirement | None:
    """The distribution's requirement on exchange-core, if any."""
    if dist is None:
        return None
    for text in dist.requires or ():
        if not _CORE_NAME.match(text):  # parse only the exchange-core line: the parser is not free
            continue
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) != CORE_DIST:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        return req
    return None


def check_core_requirement(req: Requirement | None, core_version: str) -> str | None:
    """None when ``core_version`` satisfies ``req``, else a one-line reason."""
    if req is None or not str(req.specifier):
        return None
    from packaging.version import InvalidVersion, Version

    try:
        version = Version(core_version)
    except InvalidVersion:
        return f"running exchange-core version {core_version!r} is not a valid version"
    if req.specifier.contains(version, prereleases=True):
        return None
    return f"requires exchange-core{req.specifier}, running {core_version}"


@attrs.frozen
class Candidate:
    """An entry point found in the ``exchanges`` group, before import."""

    entry_point: md.EntryPoint
    dist: md.Distribution | None

    @property
    def name(self) -> str:
        return self.entry_point.name

    @property
    def dist_name(self) -> str | None:
        return None if self.dist is None else self.dist.metadata["Name"]


def discover(group: str = GROUP) -> list[Candidate]:
    """Every entry point of ``group``, with its distribution, in a stable order."""
    found: list[Candidate] = []
    seen: set[tuple[str, str | None]] = set()
    for ep in md.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        key = (ep.name, None if dist is None else dist.metadata["Name"])
        if key in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(key)
        found.append(Candidate(ep, dist))
    found.sort(key=lambda c: (c.name, c.dist_name or ""))
    return found


def selected(candidate: Candidate, allow: set[str] | None, deny: set[str] | None) -> str | None:
    """None when the candidate may load, else why it is blocked."""
    names = {canonicalize_name(candidate.name)}
    if candidate.dist_name:
        names.add(canonicalize_name(candidate.dist_name))
    if deny and names & deny:
        return "blocked by EXCHANGES_DISABLE_PLUGINS"
    if allow is not None and not names & allow:
        return "not in EXCHANGES_LOAD_PLUGINS"
    return None


def env_flag(environ: Mapping[str, str], name: str) -> bool:
    """True for 1/true/yes/on."""
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def iter_names(records: Iterable[PluginRecord]) -> list[str]:
    """Plugin names, for messages."""
    return [r.name for r in records]
