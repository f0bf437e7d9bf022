"""``Host``: discovers plugins, isolates their failures and holds what they registered."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import pluggy

from . import _loader, hookspecs
from ._loader import PluginRecord, PluginStatus
from ._version import __version__
from .descriptors import ExchangeDescriptor
from .errors import DuplicateRegistration, ExchangeError, IncompatiblePlugin, PluginLoadError
from .ratelimit import EndpointCost, RateLimitRule

if TYPE_CHECKING:
    import click

    from .connector import BaseExchange
    from .symbols import SymbolMapper

__all__ = ["Host", "PluginRecord", "PluginStatus", "UnknownExchange"]

_log = logging.getLogger("exchanges.host")


class UnknownExchange(ExchangeError):
    """No loaded plugin provides this exchange id."""


class _Registries:
    """What plugins registered, with the plugin that registered each item."""

    def __init__(self) -> None:
        self.exchanges: dict[str, tuple[ExchangeDescriptor, str]] = {}
        self.mappers: dict[str, tuple[Any, str]] = {}
        self.rules: dict[tuple[str, str], tuple[RateLimitRule, str]] = {}
        self.costs: dict[tuple[str, str], tuple[EndpointCost, str]] = {}
        self.sinks: dict[str, tuple[Callable[..., Any], str]] = {}


class Host:
    """Owns one :class:`pluggy.PluginManager` and the plugins found in entry-point group ``exchanges``.

    Nothing happens at construction; :meth:`load` (called on first use)
    discovers entry points, checks each plugin's ``exchange-core``
    requirement before importing it, imports and registers every plugin in
    its own ``try``/``except`` and records the outcome in a
    :class:`PluginRecord`. Environment:

    - ``EXCHANGES_LOAD_PLUGINS``: comma-separated allowlist (entry-point or
      distribution names); an empty string loads no plugin.
    - ``EXCHANGES_DISABLE_PLUGINS``: comma-separated blocklist.
    - ``EXCHANGES_STRICT_PLUGINS=1``: any failure raises instead of being recorded.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        group: str = _loader.GROUP,
        strict: bool | None = None,
        discover: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        self._allow = _loader.parse_name_list(env.get("EXCHANGES_LOAD_PLUGINS"))
        self._deny = _loader.parse_name_list(env.get("EXCHANGES_DISABLE_PLUGINS")) or set()
        self.strict = _loader.env_flag(env, "EXCHANGES_STRICT_PLUGINS") if strict is None else strict
        self._group = group
        self._discover = discover
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._records: dict[str, PluginRecord] = {}
        self._reg = _Registries()
        self._loaded = False
        #: per-process state shared by every connector of this host (instrument tables, limiters).
        self.shared: dict[Any, Any] = {}

    # -- loading -----------------------------------------------------------------------

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The host's own plugin manager."""
        return self._pm

    def load(self) -> Host:
        """Discover and load plugins once; later calls return at once."""
        if self._loaded:
            return self
        self._loaded = True
        from . import _builtin

        self._add(_builtin, PluginRecord("exchanges.builtin", "exchange-core", __version__, PluginStatus.LOADED,
                                         module=_builtin.__name__, builtin=True))
        if self._discover:
            for candidate in _loader.discover(self._group):
                self._load_candidate(candidate)
        return self

    def _load_candidate(self, candidate: _loader.Candidate) -> None:
        dist = candidate.dist
        req = _loader.core_requirement(dist)
        record = PluginRecord(
            candidate.name,
            candidate.dist_name,
            None if dist is None else dist.version,
            PluginStatus.LOADED,
            requires_core=None if req is None else str(req.specifier),
            module=candidate.entry_point.value,
        )
        if candidate.name in self._records:
            record.fail(PluginLoadError(f"a plugin named {candidate.name!r} is already loaded "
                                        f"(from {self._records[candidate.name].dist})"))
            self._records[f"{candidate.name} ({record.dist})"] = record
            self._maybe_raise(record)
            return
        self._records[candidate.name] = record
        blocked = _loader.selected(candidate, self._allow, self._deny)
        if blocked:
            record.status, record.error = PluginStatus.BLOCKED, blocked
            return
        reason = _loader.check_core_requirement(req, __version__)
        if reason:
            record.fail(IncompatiblePlugin(reason), PluginStatus.INCOMPATIBLE)
            self._maybe_raise(record)
            return
        try:
            plugin = candidate.entry_point.load()
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            record.fail(exc)
            self._maybe_raise(record)
            return
        self._add(plugin, record)

    def _add(self, plugin: Any, record: PluginRecord) -> None:
        self._records[record.name] = record
        try:
            self._pm.register(plugin, name=record.name)
            self._pm.check_pending()
        except Exception as exc:  # noqa: BLE001 - isolate the plugin, whatever it raises
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            record.fail(exc)
            self._maybe_raise(record)
            return
        record.hooks = sorted(
            caller.name for caller in (self._pm.get_hookcallers(plugin) or []) if caller.name in hookspecs.spec_names()
        )
        if not self._run_registrations(plugin, record):
            self._pm.unregister(plugin)

    def register(self, plugin: Any, name: str | None = None) -> PluginRecord:
        """Register an in-process plugin object (a module or an instance with hookimpls).

        Useful for applications and tests; it goes through the same isolation
        and validation as an entry-point plugin.
        """
        self.load()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if name in self._records:
            raise PluginLoadError(f"a plugin named {name!r} is already registered")
        record = PluginRecord(name, None, None, PluginStatus.LOADED, module=getattr(plugin, "__name__", None))
        self._add(plugin, record)
        return record

    def _maybe_raise(self, record: PluginRecord) -> None:
        if not self.strict:
            return
        cls = IncompatiblePlugin if record.status == PluginStatus.INCOMPATIBLE else PluginLoadError
        raise cls(f"plugin {record.name!r} ({record.dist or 'in-process'}): {record.error}")

    # -- registration ------------------------------------------------------------------

    def _impls(self, hook_name: str, plugin: Any) -> list[Any]:
        hook = getattr(self._pm.hook, hook_name)
        return [impl for impl in hook.get_hookimpls() if impl.plugin is plugin]

    def _run_registrations(self, plugin: Any, record: PluginRecord) -> bool:
        """Call the plugin's register_* hooks into a staging area; commit only if all succeed."""
        staged = _Registries()
        owner = record.name
        registrars: dict[str, Callable[..., None]] = {
            "register_exchanges": lambda descriptor: self._register_exchange(staged, owner, descriptor),
            "register_symbol_mappers": lambda exchange_id, mapper, override=False: self._register_mapper(
                staged, owner, exchange_id, mapper, override
            ),
            "register_rate_limits": lambda exchange_id, item, override=False: self._register_limit(
                staged, owner, exchange_id, item, override
            ),
            "register_sinks": lambda name, factory: self._register_sink(staged, owner, name, factory),
        }
        try:
            for hook_name, register in registrars.items():
                for impl in self._impls(hook_name, plugin):
                    impl.function(register=register)
        except Exception as exc:  # noqa: BLE001 - isolate the plugin, whatever it raises
            record.fail(exc)
            self._maybe_raise(record)
            return False
        self._reg.exchanges.update(staged.exchanges)
        self._reg.mappers.update(staged.mappers)
        self._reg.rules.update(staged.rules)
        self._reg.costs.update(staged.costs)
        self._reg.sinks.update(staged.sinks)
        record.exchanges = sorted(staged.exchanges)
        return True

    def _register_exchange(self, staged: _Registries, owner: str, descriptor: ExchangeDescriptor) -> None:
        if not isinstance(descriptor, ExchangeDescriptor):
            raise TypeError(f"register_exchanges: expected an ExchangeDescriptor, got {type(descriptor).__name__}")
        for registry in (self._reg.exchanges, staged.exchanges):
            if descriptor.id in registry:
                other = registry[descriptor.id][1]
                raise DuplicateRegistration(
                    f"exchange id {descriptor.id!r} is registered by plugin {other!r} and by plugin {owner!r}"
                )
        staged.exchanges[descriptor.id] = (descriptor, owner)

    def _register_mapper(self, staged: _Registries, owner: str, exchange_id: str, mapper: Any, override: bool) -> None:
        if not (callable(getattr(mapper, "normalize", None)) and callable(getattr(mapper, "denormalize", None))):
            raise TypeError(f"register_symbol_mappers: mapper for {exchange_id!r} needs normalize() and denormalize()")
        existing = staged.mappers.get(exchange_id) or self._reg.mappers.get(exchange_id)
        if existing and not override:
            raise DuplicateRegistration(
                f"symbol mapper for {exchange_id!r} is registered by plugin {existing[1]!r}; "
                f"plugin {owner!r} must pass override=True to replace it"
            )
        staged.mappers[exchange_id] = (mapper, owner)

    def _register_limit(self, staged: _Registries, owner: str, exchange_id: str, item: Any, override: bool) -> None:
        if isinstance(item, RateLimitRule):
            key, table, staged_table = (exchange_id, item.name), self._reg.rules, staged.rules
        elif isinstance(item, EndpointCost):
            key, table, staged_table = (exchange_id, item.endpoint), self._reg.costs, staged.costs  # type: ignore[assignment]
        else:
            raise TypeError(
                f"register_rate_limits: expected a RateLimitRule or EndpointCost for {exchange_id!r}, "
                f"got {type(item).__name__}"
            )
        existing = staged_table.get(key) or table.get(key)  # type: ignore[arg-type]
        if existing and not override and existing[1] != owner:
            raise DuplicateRegistration(
                f"rate-limit item {key[1]!r} of {exchange_id!r} is registered by plugin {existing[1]!r}; "
                f"plugin {owner!r} must pass override=True to replace it"
            )
        if existing and not override and existing[1] == owner:
            raise DuplicateRegistration(f"plugin {owner!r} registered rate-limit item {key[1]!r} of {exchange_id!r} twice")
        staged_table[key] = (item, owner)  # type: ignore[index]

    def _register_sink(self, staged: _Registries, owner: str, name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name or not callable(factory):
            raise TypeError("register_sinks: call register(name: str, factory: callable)")
        for registry in (self._reg.sinks, staged.sinks):
            if name in registry:
                raise DuplicateRegistration(
                    f"sink {name!r} is registered by plugin {registry[name][1]!r} and by plugin {owner!r}"
                )
        staged.sinks[name] = (factory, owner)

    # -- queries -----------------------------------------------------------------------

    @property
    def plugins(self) -> list[PluginRecord]:
        """Every plugin found, in load order (built-in first)."""
        self.load()
        return list(self._records.values())

    def plugin(self, name: str) -> PluginRecord:
        """The record of one plugin by name."""
        self.load()
        return self._records[name]

    @property
    def exchanges(self) -> dict[str, ExchangeDescriptor]:
        """Registered descriptors by exchange id."""
        self.load()
        return {k: v[0] for k, v in sorted(self._reg.exchanges.items())}

    def descriptor(self, exchange_id: str) -> ExchangeDescriptor:
        """The descriptor of ``exchange_id``; :class:`UnknownExchange` lists the known ids."""
        self.load()
        try:
            return self._reg.exchanges[exchange_id][0]
        except KeyError:
            known = ", ".join(sorted(self._reg.exchanges)) or "none (no plugin loaded: see `exchanges plugins`)"
            raise UnknownExchange(f"unknown exchange {exchange_id!r}; known: {known}") from None

    def owner(self, exchange_id: str) -> str:
        """Name of the plugin that registered ``exchange_id``."""
        self.descriptor(exchange_id)
        return self._reg.exchanges[exchange_id][1]

    def symbol_mapper(self, exchange_id: str) -> SymbolMapper | None:
        """The mapper registered for ``exchange_id`` (None if none)."""
        self.load()
        entry = self._reg.mappers.get(exchange_id)
        return None if entry is None else entry[0]

    def mapper_owner(self, exchange_id: str) -> str | None:
        """Name of the plugin whose mapper is in force."""
        self.load()
        entry = self._reg.mappers.get(exchange_id)
        return None if entry is None else entry[1]

    def rate_limit_rules(self, exchange_id: str) -> list[RateLimitRule]:
        """Rules of ``exchange_id`` (overrides applied), sorted by name."""
        self.load()
        return sorted((r for (eid, _), (r, _) in self._reg.rules.items() if eid == exchange_id), key=lambda r: r.name)

    def endpoint_costs(self, exchange_id: str) -> dict[str, EndpointCost]:
        """Endpoint costs of ``exchange_id`` by endpoint."""
        self.load()
        return {ep: c for (eid, ep), (c, _) in sorted(self._reg.costs.items()) if eid == exchange_id}

    @property
    def sinks(self) -> dict[str, Callable[..., Any]]:
        """Sink factories by name."""
        self.load()
        return {k: v[0] for k, v in self._reg.sinks.items()}

    def resolve_credentials(self, exchange_id: str, account: str | None = None) -> Mapping[str, str] | None:
        """Ask plugins for credentials (first answer wins; the environment provider runs last)."""
        self.load()
        # Called one provider at a time (in pluggy's call order) so that one failing provider, say an
        # unreachable vault, neither stops connect() nor hides the providers after it; empty answers pass.
        for impl in reversed(self._pm.hook.resolve_credentials.get_hookimpls()):
            try:
                found = cast("Mapping[str, str] | None", impl.function(exchange_id=exchange_id, account=account))
            except Exception as exc:  # noqa: BLE001 - isolate the plugin, whatever it raises
                if self.strict:
                    raise PluginLoadError(f"plugin {impl.plugin_name!r} failed in resolve_credentials: "
                                          f"{type(exc).__name__}") from None
                _log.warning("plugin %r failed in resolve_credentials for %s: %s; trying the next provider",
                             impl.plugin_name, exchange_id, type(exc).__name__)
                continue
            if found:
                return found
        return None

    def add_commands(self, cli: click.Group) -> None:
        """Let each plugin add CLI commands; a plugin whose hook raises is marked failed and skipped."""
        self.load()
        for impl in reversed(self._pm.hook.register_commands.get_hookimpls()):
            before = set(cli.commands)
            try:
                impl.function(cli=cli)
            except Exception as exc:
                for name in set(cli.commands) - before:
                    cli.commands.pop(name, None)
                record = self._records.get(impl.plugin_name)
                if record is not None:
                    record.fail(exc)
                if self.strict:
                    raise PluginLoadError(f"plugin {impl.plugin_name!r} failed in register_commands: {exc}") from exc

    def connect(self, exchange_id: str, **kwargs: Any) -> BaseExchange:
        """Same as :func:`exchanges.connect` using this host."""
        from ._connect import connect

        return connect(exchange_id, host=self, **kwargs)

    def __repr__(self) -> str:
        state = f"{len(self._records)} plugins" if self._loaded else "not loaded"
        return f"<Host {state}>"
