"""REST side of the venue emulator: scripted replies, recorded requests, venue-like rate limits."""

from __future__ import annotations

import bisect
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qsl

import attrs
import orjson

__all__ = ["HttpLimit", "RecordedRequest", "Reply", "Responder", "max_in_window", "per_window"]


@attrs.frozen
class Reply:
    """One scripted HTTP response.

    ``json`` is encoded with orjson; ``body`` (bytes or text) wins over it.
    ``delay`` holds the answer back (client timeouts); ``disconnect`` closes
    the TCP connection without answering (the request may or may not have
    "reached the venue": an unknown outcome for order entry).
    """

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    disconnect: bool = False

    def encoded(self) -> tuple[bytes, str]:
        """The body bytes and content type to send."""
        if self.body is not None:
            body = self.body.encode() if isinstance(self.body, str) else self.body
            return body, self.content_type or "text/plain"
        if self.json is None and self.status == 204:
            return b"", self.content_type or "application/json"
        return orjson.dumps(self.json), self.content_type or "application/json"


@attrs.define
class RecordedRequest:
    """A request the emulator received, in arrival order (``index``), with its answer's ``status``."""

    index: int
    time: float
    method: str
    path: str
    query_string: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    status: int | None = None
    #: the query exactly as it came over the wire (percent-encoding kept), e.g. to check what was signed
    raw_query_string: str = ""

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode()

    def json(self) -> Any:
        """The body decoded as JSON."""
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body decoded as ``application/x-www-form-urlencoded``."""
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def params(self) -> dict[str, str]:
        """Query parameters merged with form-body parameters (where Binance-style APIs put them)."""
        merged = dict(self.query)
        if self.body and not self.body.lstrip().startswith((b"{", b"[")):
            merged.update(self.form())
        return merged

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, looked up case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


#: Computes a reply: ``(request) -> Reply | JSON value``, sync or async.
Responder = Callable[[RecordedRequest], "Reply | Any | Awaitable[Reply | Any]"]


@attrs.frozen
class HttpLimit:
    """A rate limit the emulator enforces the way a venue does.

    Requests matching ``path``/``method`` (``None``: all) add ``weight`` (an int
    or ``request -> int``) to the current window, ``fixed`` (aligned to the
    emulator's start) or ``rolling``. A request that would exceed ``limit`` is
    answered ``status`` with a ``Retry-After`` header (whole seconds until
    there is room again) and does not count. After ``ban_after`` such
    rejections every matching request gets ``ban_status`` (418) for
    ``ban_seconds``. With ``used_header`` (e.g. ``X-MBX-USED-WEIGHT-1M``) every
    matching answer carries the weight used in the window.
    """

    limit: int
    window: float
    path: str | None = None
    method: str | None = None
    weight: int | Callable[[RecordedRequest], int] = 1
    kind: Literal["fixed", "rolling"] = "fixed"
    status: int = 429
    json: Any = attrs.field(factory=lambda: {"code": -1003, "msg": "Too many requests (emulator)."})
    ban_after: int | None = None
    ban_status: int = 418
    ban_seconds: float = 120.0
    used_header: str | None = None

    def matches(self, request: RecordedRequest) -> bool:
        """True when the limit applies to ``request``."""
        return (self.path is None or self.path == request.path) and (
            self.method is None or self.method.upper() == request.method
        )

    def weight_of(self, request: RecordedRequest) -> int:
        """The weight ``request`` adds."""
        return self.weight(request) if callable(self.weight) else self.weight


@attrs.define
class _LimitState:
    rule: HttpLimit
    origin: float
    times: list[float] = attrs.Factory(list)
    weights: list[int] = attrs.Factory(list)
    rejections: int = 0
    banned_until: float = 0.0

    def _window_start(self, now: float) -> float:
        if self.rule.kind == "rolling":
            return now - self.rule.window
        return self.origin + math.floor((now - self.origin) / self.rule.window) * self.rule.window

    def used(self, now: float) -> int:
        start = self._window_start(now)
        # forget what can no longer count, so memory follows the window
        cut = (
            bisect.bisect_right(self.times, start)
            if self.rule.kind == "rolling"
            else bisect.bisect_left(self.times, start)
        )
        if cut:
            del self.times[:cut]
            del self.weights[:cut]
        return sum(self.weights)

    def retry_after(self, now: float, need: int) -> float:
        if self.rule.kind == "fixed":
            return self._window_start(now) + self.rule.window - now
        # rolling: wait until enough of the oldest weight has aged out
        room = self.rule.limit - sum(self.weights)
        for t, w in zip(self.times, self.weights, strict=True):
            room += w
            if room >= need:
                return t + self.rule.window - now
        return self.rule.window

    def admit(self, request: RecordedRequest) -> tuple[int | None, dict[str, str]]:
        """``(reject_status_or_None, headers)`` for ``request``; admitted requests are counted."""
        now = request.time
        rule = self.rule
        if now < self.banned_until:
            wait = self.banned_until - now
            return rule.ban_status, {"Retry-After": str(max(1, math.ceil(wait)))}
        weight = rule.weight_of(request)
        used = self.used(now)
        if used + weight > rule.limit:
            self.rejections += 1
            if rule.ban_after is not None and self.rejections > rule.ban_after:
                self.banned_until = now + rule.ban_seconds
                return rule.ban_status, {"Retry-After": str(max(1, math.ceil(rule.ban_seconds)))}
            headers = {"Retry-After": str(max(1, math.ceil(self.retry_after(now, weight))))}
            if rule.used_header:
                headers[rule.used_header] = str(used)
            return rule.status, headers
        self.times.append(now)
        self.weights.append(weight)
        headers = {rule.used_header: str(used + weight)} if rule.used_header else {}
        return None, headers


def per_window(
    times: Iterable[float], window: float, *, origin: float = 0.0, weights: Sequence[int] | None = None
) -> dict[int, int]:
    """Counts (or summed weights) per fixed window: ``{window_index: total}``, windows aligned to ``origin``."""
    counts: dict[int, int] = {}
    for i, t in enumerate(times):
        key = math.floor((t - origin) / window)
        counts[key] = counts.get(key, 0) + (1 if weights is None else weights[i])
    return counts


def max_in_window(times: Iterable[float], window: float, *, weights: Sequence[int] | None = None) -> int:
    """The largest count (or summed weight) of events inside any interval ``[t, t + window)``."""
    stamps = list(times)
    pairs = sorted(zip(stamps, weights, strict=True)) if weights is not None else [(t, 1) for t in sorted(stamps)]
    best = total = left = 0
    for t, w in pairs:
        total += w
        while pairs[left][0] <= t - window:
            total -= pairs[left][1]
            left += 1
        best = max(best, total)
    return best
