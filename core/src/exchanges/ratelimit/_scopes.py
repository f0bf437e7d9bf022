"""``RateLimits``: a connector's router over the limiters it shares with every connector of the process."""

from __future__ import annotations

import hashlib
import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._backend import LimiterBackend
from ._headers import parse_retry_after, parse_usage_headers
from ._limiter import RateLimiter, VirtualClock
from .rules import SCOPES, EndpointCost, RateLimitRule

if TYPE_CHECKING:
    from ..connector import ConnectorContext
    from ..host import Host

__all__ = ["DEFAULT_USAGE_HEADERS", "RateLimits", "account_fingerprint"]

#: ``host.shared`` key of a ``(namespace: str) -> LimiterBackend`` factory (set by :meth:`RateLimits.use_backend`).
BACKEND_FACTORY = "exchanges.ratelimit.backend_factory"
#: ``host.shared`` key of the host-wide testing switch (set by :meth:`RateLimits.set_testing`).
TESTING = "exchanges.ratelimit.testing"
#: ``host.shared`` key of the virtual clock shared by the host's testing-mode limiters.
CLOCK = "exchanges.ratelimit.virtual_clock"
_SHARED = "exchanges.ratelimit.limiter"

#: Usage headers read by :meth:`RateLimits.on_response`: header prefix -> rule key.
DEFAULT_USAGE_HEADERS: Mapping[str, str] = {"X-MBX-USED-WEIGHT-": "weight", "X-MBX-ORDER-COUNT-": "orders"}
#: Ban length assumed for an HTTP 418 without ``Retry-After`` (Binance's shortest ban).
DEFAULT_BAN_SECONDS = 120.0

_connections = itertools.count(1)


def account_fingerprint(exchange_id: str, secret: str) -> str:
    """A short stable digest naming an account without revealing ``secret`` (an API key, an address)."""
    return hashlib.sha256(f"{exchange_id}\x00{secret}".encode()).hexdigest()[:16]


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _account_identity(ctx: ConnectorContext) -> str:
    credentials: Mapping[str, str] = ctx.credentials or {}
    for field in ("api_key", "account_address", "private_key"):
        value = credentials.get(field)
        if value:
            return f"{field}:{account_fingerprint(ctx.exchange_id, value)}"
    if ctx.account:
        return f"account:{account_fingerprint(ctx.exchange_id, ctx.account)}"
    return "anonymous"


def identities_for(ctx: ConnectorContext, given: Mapping[str, str] | None = None) -> dict[str, str]:
    """The identity of each scope for ``ctx``; entries of ``given`` win.

    - ``ip``: host (and port) of ``ctx.endpoints["rest"]`` (else of the first endpoint);
    - ``account``: a fingerprint of the API key, else of the account address or
      private key, else of the configured account name; never the raw value;
    - ``endpoint``: as ``ip`` (per-endpoint limits are metered per IP; use
      ``account``-scoped rules for per-user ones);
    - ``order``: as ``account``;
    - ``connection``: a fresh token per :class:`RateLimits` (one connector's
      connection), unless given.
    """
    given = dict(given or {})
    endpoints = ctx.endpoints or {}
    ip = given.get("ip") or _host_of(endpoints.get("rest")) or next(
        (h for h in map(_host_of, endpoints.values()) if h), "local"
    )
    account = given.get("account") or _account_identity(ctx)
    return {
        "ip": ip,
        "account": account,
        "endpoint": given.get("endpoint") or ip,
        "order": given.get("order") or account,
        "connection": given.get("connection") or f"connection-{next(_connections)}",
    }


class RateLimits:
    """One connector's view of its venue's limiters: routes each cost key to the limiter(s) that meter it.

    Build it with :meth:`for_context`. Each scope that has rules gets one
    :class:`RateLimiter`, held in ``host.shared`` under (exchange id, scope,
    identity), so every connector of the same venue, scope and identity in the
    process draws on the same budget (the ``ip`` limiter always exists, so an IP
    ban or pause reaches every call). A ``connection``-scoped limiter is private
    to this object unless an identity is given for it.

    The constructor is for callers without a context (tests, tools):
    ``identities`` maps scope -> identity (missing ones: ``ip`` "local",
    ``account`` "anonymous", ``endpoint`` as ip, ``order`` as account,
    ``connection`` a fresh token); ``shared`` is the dict the limiters are
    kept in (``host.shared``).
    """

    def __init__(
        self,
        exchange_id: str,
        rules: Iterable[RateLimitRule],
        identities: Mapping[str, str],
        *,
        shared: dict[Any, Any],
        endpoint_costs: Mapping[str, EndpointCost] | None = None,
        usage_headers: Mapping[str, str] | None = None,
        testing: bool = False,
        backend_factory: Callable[[str], LimiterBackend] | None = None,
        private_connection: bool = True,
    ) -> None:
        self.exchange_id = exchange_id
        given = dict(identities)
        given.setdefault("ip", "local")
        given.setdefault("account", "anonymous")
        given.setdefault("endpoint", given["ip"])
        given.setdefault("order", given["account"])
        given.setdefault("connection", f"connection-{next(_connections)}")
        self.identities: Mapping[str, str] = given
        self.testing = testing
        self._shared = shared
        self._endpoint_costs = dict(endpoint_costs or {})
        self._usage_headers = dict(DEFAULT_USAGE_HEADERS if usage_headers is None else usage_headers)
        self._backend_factory = backend_factory
        self._private: dict[Any, RateLimiter] = {}
        self._private_connection = private_connection
        by_scope: dict[str, list[RateLimitRule]] = {}
        for rule in rules:
            by_scope.setdefault(rule.scope, []).append(rule)
        self._rules: dict[str, tuple[RateLimitRule, ...]] = {s: tuple(r) for s, r in by_scope.items()}
        self._limiters: dict[str, RateLimiter] = {}
        for scope in SCOPES:
            if scope == "ip" or scope in self._rules:
                self._limiters[scope] = self._obtain(scope, None)
        routes: dict[str, list[RateLimiter]] = {}
        for scope in SCOPES:
            for key in sorted({rule.key for rule in self._rules.get(scope, ())}):
                routes.setdefault(key, []).append(self._limiters[scope])
        self._routes: dict[str, tuple[RateLimiter, ...]] = {key: tuple(found) for key, found in routes.items()}
        self._ordered = tuple((lim, lim.keys) for lim in self._limiters.values())
        self._ip = self._limiters["ip"]
        # every rule metered per IP: one limiter serves every call
        self._single = self._ip if len(self._limiters) == 1 else None
        # a shared backend can neither take synchronously nor give back: scopes go one after the other
        self._sequential = any(lim._local is None for lim in self._limiters.values())
        # endpoint -> (its registered costs, the limiters they go through), filled on first use
        self._plans: dict[str, tuple[Mapping[str, int], tuple[RateLimiter, ...]]] = {}

    @classmethod
    def for_context(
        cls,
        ctx: ConnectorContext,
        *,
        identity: Mapping[str, str] | None = None,
        testing: bool | None = None,
        usage_headers: Mapping[str, str] | None = None,
    ) -> RateLimits:
        """The limits of ``ctx``: its rules (registered + config overrides) on limiters shared via ``ctx.host``.

        :param identity: per-scope identities overriding the derived ones
            (see :func:`identities_for`); never pass a raw secret.
        :param testing: limiters record waits instead of sleeping; default is
            ``ctx.settings["rate_limit_testing"]``, else the host switch
            (:meth:`set_testing`). Only limiters created by this call are affected.
        :param usage_headers: header prefix -> rule key for :meth:`on_response`
            (default :data:`DEFAULT_USAGE_HEADERS`).
        """
        shared = ctx.host.shared
        if testing is None:
            testing = bool(ctx.settings.get("rate_limit_testing", shared.get(TESTING, False)))
        return cls(
            ctx.exchange_id,
            ctx.rate_limit_rules,
            identities_for(ctx, identity),
            shared=shared,
            endpoint_costs=ctx.endpoint_costs,
            usage_headers=usage_headers,
            testing=testing,
            backend_factory=shared.get(BACKEND_FACTORY),
            private_connection=not (identity and identity.get("connection")),
        )

    @staticmethod
    def use_backend(host: Host, factory: Callable[[str], LimiterBackend] | None) -> None:
        """Count the limiters created from now on for ``host`` in ``factory(namespace)`` (None: in memory)."""
        if factory is None:
            host.shared.pop(BACKEND_FACTORY, None)
        else:
            host.shared[BACKEND_FACTORY] = factory

    @staticmethod
    def set_testing(host: Host, enabled: bool = True) -> None:
        """Host-wide switch: limiters created from now on for ``host`` record waits instead of sleeping."""
        host.shared[TESTING] = enabled

    # -- limiters ----------------------------------------------------------------------

    def _obtain(self, scope: str, sub: str | None) -> RateLimiter:
        identity = self.identities[scope]
        key = (_SHARED, self.exchange_id, scope, identity, sub)
        private = scope == "connection" and self._private_connection
        store = self._private if private else self._shared
        rules = self._rules.get(scope, ())
        limiter = store.get(key)
        if limiter is None:
            name = f"{self.exchange_id}/{scope}/{identity}" + (f"/{sub}" if sub else "")
            backend = self._backend_factory(name) if self._backend_factory is not None else None
            if self.testing:
                # one virtual time for every limiter of the host: a wait on one scope is time passing for all
                clock = self._shared.setdefault(CLOCK, VirtualClock())
                limiter = RateLimiter(rules, backend=backend, testing=True, clock=clock, name=name,
                                      exchange=self.exchange_id)
            else:
                limiter = RateLimiter(rules, backend=backend, name=name, exchange=self.exchange_id)
            store[key] = limiter
        elif set(limiter.rules) != set(rules):
            warnings.warn(
                f"{limiter.name}: this connector's rules differ from those of the shared limiter, which "
                f"stay in force ({sorted(r.name for r in limiter.rules)})",
                RuntimeWarning,
                stacklevel=4,
            )
        return limiter

    def limiter(self, scope: str, *, sub: str | None = None) -> RateLimiter:
        """The limiter of ``scope`` (created, empty, if no rule uses it).

        ``sub`` narrows the identity, e.g. one limiter per instrument for OKX's
        per-instrument order limits: ``limits.limiter("account", sub="BTC-USDT")``
        enforces the scope's rules separately for each ``sub``.
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown rate-limit scope {scope!r}; expected one of {', '.join(SCOPES)}")
        if sub is None:
            found = self._limiters.get(scope)
            if found is None:
                found = self._limiters[scope] = self._obtain(scope, None)
            return found
        return self._obtain(scope, sub)

    @property
    def limiters(self) -> Mapping[str, RateLimiter]:
        """The limiters in use, by scope."""
        return dict(self._limiters)

    def route(self, key: str) -> tuple[RateLimiter, ...]:
        """The limiters that meter ``key`` (empty when no rule does)."""
        return self._routes.get(key, ())

    # -- taking ------------------------------------------------------------------------

    async def acquire(self, costs: Mapping[str, int] | None = None, *, endpoint: str | None = None) -> float:
        """Take ``costs`` from every limiter metering one of its keys; return the seconds waited.

        With ``endpoint``, the costs registered for it
        (``ctx.endpoint_costs[endpoint]``) are added for the keys ``costs``
        does not name (an endpoint without registered costs adds nothing). The
        ``ip`` limiter is always consulted, so an IP pause or ban holds every
        call. When a call draws on several scopes, they count it at the same
        instant: nothing is held on one scope while the call waits on another
        (see :func:`_acquire_together`); with a shared (asynchronous) backend
        they are taken one after the other in :data:`SCOPES` order.
        """
        plan = self._plans.get(endpoint) if endpoint is not None and not costs else None
        if plan is not None:
            costs, targets = plan
        else:
            if endpoint is not None:
                registered = self._endpoint_costs.get(endpoint)
                if registered is not None:
                    if costs:
                        costs = {**registered.costs, **costs}
                    else:
                        costs = registered.costs
                        self._plans[endpoint] = (costs, self._targets(costs))
            if costs is None:
                costs = {}
            targets = (self._single,) if self._single is not None else self._targets(costs)
        if len(targets) == 1:
            limiter = targets[0]
            # synchronous attempt first: no coroutine at all when the budget allows
            if limiter._open and limiter._take_at(costs) is not None:
                return 0.0
            return await limiter.acquire(costs)
        if self._sequential:
            waited = 0.0
            for limiter in targets:
                waited += await limiter.acquire(costs)
            return waited
        refused = _take_all(targets, costs)
        if refused is None:
            return 0.0
        return await _acquire_together(targets, costs, refused)

    def _targets(self, costs: Mapping[str, int]) -> tuple[RateLimiter, ...]:
        """The limiters a call with ``costs`` goes through, in scope order (the IP one always)."""
        return tuple(lim for lim, keys in self._ordered if lim is self._ip or not keys.isdisjoint(costs))

    # -- feedback ----------------------------------------------------------------------

    def on_response(self, status: int, headers: Mapping[str, str], *, scope: str = "ip") -> None:
        """Learn from a response: usage headers correct the counts, 429 pauses and 418 bans ``scope``.

        Usage headers (:data:`DEFAULT_USAGE_HEADERS` unless configured) go to
        the limiters metering their key, whatever ``scope`` is. A 429 pauses
        ``scope`` for ``Retry-After`` seconds, or until the next minute when the
        header is missing; a 418 bans it for ``Retry-After`` (default
        :data:`DEFAULT_BAN_SECONDS`). A scope with no rules is paused or banned
        through the ``ip`` limiter. Never raises; the caller raises
        :class:`~exchanges.errors.RateLimited` itself.
        """
        for prefix, key in self._usage_headers.items():
            routes = self._routes.get(key)
            if not routes:
                continue
            for window, used in parse_usage_headers(headers, prefix):
                for limiter in routes:
                    limiter.observe_usage(key, window, used)
        if status not in (418, 429):
            return
        target = self._limiters.get(scope) if scope in self._rules or scope == "ip" else None
        target = target or self._ip
        retry = parse_retry_after(headers)
        if status == 418:
            target.ban(DEFAULT_BAN_SECONDS if retry is None else retry)
        else:
            target.pause(_to_next_minute(target) if retry is None else retry)

    def __repr__(self) -> str:
        return f"<RateLimits {self.exchange_id} scopes={list(self._limiters)}>"


def _take_all(targets: tuple[RateLimiter, ...], costs: Mapping[str, int],
              skip: RateLimiter | None = None) -> RateLimiter | None:
    """Take ``costs`` from every limiter but ``skip`` right now; else give back what was taken, return who refused."""
    taken: list[tuple[RateLimiter, float]] = []
    for limiter in targets:
        if limiter is skip:
            continue
        at = limiter._take_at(costs)
        if at is None:
            for done, when in taken:
                done._refund(costs, when)
            return limiter
        taken.append((limiter, at))
    return None


async def _acquire_together(targets: tuple[RateLimiter, ...], costs: Mapping[str, int],
                            blocked: RateLimiter) -> float:
    """Take ``costs`` from every limiter at one instant, starting with the one that refused; the seconds waited.

    The venue counts a request when it arrives. Budget taken from one scope
    while the request waits on another would be spent at the wrong time (the
    request reaches the venue later, in a window the first limiter has already
    filled), so nothing is held while waiting: the caller queues (FIFO) on the
    limiter that refused, and once served there takes the others at once, or
    gives its grant back and queues on the next one that refuses.
    """
    waited = 0.0
    while True:
        start = blocked.now()
        granted_at = await blocked._acquire_timed(costs, start)
        waited += blocked.now() - start
        refused = _take_all(targets, costs, skip=blocked)
        if refused is None:
            return waited
        blocked._refund(costs, granted_at)
        blocked = refused


def _to_next_minute(limiter: RateLimiter) -> float:
    """Seconds until the next wall-clock minute, as the limiter's fixed windows count it."""
    now = limiter.now() + limiter.epoch
    return 60.0 - now % 60.0

