"""``RateLimiter``: waits until every rule a request draws on allows it, first come first served."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from ..errors import RateLimited
from ._backend import LimiterBackend, MemoryBackend, _Window
from .rules import RateLimitRule

__all__ = ["RateLimiter", "VirtualClock"]


def _zero() -> float:
    return 0.0


class VirtualClock:
    """Testing-mode time: a base clock (default: always 0.0) plus the waits that were skipped.

    Limiters that must agree on time share one (:class:`RateLimits` gives all
    the testing-mode limiters of a host the same clock). Time only moves
    forward: :meth:`advance_to` never goes back, so overlapping waits of
    several limiters cost the longest of them, not their sum.
    """

    __slots__ = ("_base", "skew")

    def __init__(self, base: Callable[[], float] = _zero) -> None:
        self._base = base
        self.skew = 0.0  # seconds added to the base clock

    def __call__(self) -> float:
        return self._base() + self.skew

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        self.skew += seconds

    def advance_to(self, until: float) -> None:
        """Move to ``until`` unless already there or later."""
        if self() < until:
            self.skew += until - self()
        while self() < until:  # float rounding must not leave us a hair short
            self.skew = math.nextafter(self.skew, math.inf)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Waiter:
    """A queued request: what it takes, and the future that tells it when it was granted (None: it is now first)."""

    __slots__ = ("demand", "future")

    def __init__(self, demand: list[tuple[int, int]], future: asyncio.Future[float | None] | None) -> None:
        self.demand = demand
        self.future = future


class RateLimiter:
    """A FIFO-fair limiter over a set of :class:`RateLimitRule`, one per (venue, scope, identity).

    ``await limiter.acquire({"weight": 5, "orders": 1})`` returns once every
    rule of every named key allows the cost (keys without a rule are ignored)
    and has counted it; it returns the seconds it waited. When nobody is
    queued and the budget allows, it returns without suspending, so the
    uncontended call costs a fraction of a microsecond. Otherwise the caller
    joins a queue served strictly in arrival order: a large request at the
    head is never overtaken by small ones behind it.

    Venue feedback: :meth:`observe_usage` (used-weight headers) corrects the
    count, :meth:`pause` (HTTP 429 ``Retry-After``) holds every caller until
    the given time, :meth:`ban` (HTTP 418) makes every caller, queued or new,
    fail at once with :class:`~exchanges.errors.RateLimited` carrying
    ``until`` (the deadline on this limiter's clock) and ``retry_after``.

    Testing mode (``testing=True``): nothing sleeps. Each wait the limiter
    would have made is appended to :attr:`waits` and advances a virtual clock
    instead (:meth:`now`; :meth:`advance` simulates idle time); the waiting
    caller still yields to the event loop once, so concurrent callers queue
    up as they would in real time. The virtual clock starts at 0.0, or at
    ``clock()`` when a clock is given; pass a :class:`VirtualClock` to share
    one between limiters.

    Fixed windows start at multiples of their length in Unix time when the
    clock is the default :func:`time.monotonic` (venues reset on wall-clock
    boundaries); with another clock, or in testing mode, at multiples of the
    clock's own zero (``epoch`` overrides the offset).

    :param rules: the rules this limiter enforces (several may share a key).
    :param backend: where the counts live (default: :class:`MemoryBackend`).
    :param clock: monotonic time source in seconds.
    :param testing: record waits on a virtual clock instead of sleeping.
    :param name: names the limiter in errors and in a shared backend.
    :param exchange: exchange id put on the errors raised.
    :param epoch: seconds to add to ``clock()`` to get Unix time.
    """

    def __init__(
        self,
        rules: Iterable[RateLimitRule],
        *,
        backend: LimiterBackend | None = None,
        clock: Callable[[], float] = time.monotonic,
        testing: bool = False,
        name: str = "",
        exchange: str | None = None,
        epoch: float | None = None,
    ) -> None:
        self.rules: tuple[RateLimitRule, ...] = tuple(rules)
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rate limiter {name!r}: duplicate rules {sorted(n for n in names if names.count(n) > 1)}")
        self.name = name
        self.exchange = exchange
        self.testing = testing
        #: testing mode: every wait the limiter would have slept, in seconds, in order.
        self.waits: list[float] = []
        self._virtual: VirtualClock | None = None
        if testing:
            self._virtual = clock if isinstance(clock, VirtualClock) else VirtualClock(
                _zero if clock is time.monotonic else clock
            )
            clock = self._virtual
        self._clock: Callable[[], float] = clock
        if epoch is None:
            epoch = time.time() - time.monotonic() if clock is time.monotonic and not testing else 0.0
        #: seconds to add to :meth:`now` to get Unix time (where fixed windows are aligned)
        self.epoch = epoch
        self.backend: LimiterBackend = MemoryBackend() if backend is None else backend
        self.backend.bind(self.rules, namespace=name, epoch=epoch)
        self._local = self.backend if isinstance(self.backend, MemoryBackend) else None
        indexes: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            indexes.setdefault(rule.key, []).append(index)
        self._indexes: dict[str, tuple[int, ...]] = {key: tuple(found) for key, found in indexes.items()}
        self._by_key: dict[str, tuple[_Window, ...]] = {}
        if self._local is not None:
            windows = self._local.windows
            self._by_key = {key: tuple(windows[i] for i in found) for key, found in self._indexes.items()}
        self._waiters: deque[_Waiter] = deque()
        self._pause_until = -math.inf
        self._ban_until = -math.inf
        # True when a request may be served synchronously: local counts, no queue, no pause, no ban
        self._open = self._local is not None
        self._sleepers: set[asyncio.Future[None]] = set()  # real clock: what a ban must wake
        self._feedback: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        rules = ", ".join(f"{r.name}={r.limit}" for r in self.rules)
        return f"<RateLimiter {self.name or 'unnamed'} [{rules}] queued={len(self._waiters)}>"

    # -- clock -------------------------------------------------------------------------

    def now(self) -> float:
        """The limiter's clock (virtual in testing mode)."""
        return self._clock()

    def advance(self, seconds: float) -> None:
        """Testing mode: let ``seconds`` of idle time pass on the virtual clock."""
        if self._virtual is None:
            raise RuntimeError("RateLimiter.advance() needs testing=True")
        self._virtual.advance(seconds)

    @property
    def keys(self) -> frozenset[str]:
        """The budget keys this limiter has rules for."""
        return frozenset(self._indexes)

    @property
    def queued(self) -> int:
        """Callers waiting in the queue."""
        return len(self._waiters)

    # -- taking ------------------------------------------------------------------------

    async def acquire(self, costs: Mapping[str, int]) -> float:
        """Wait until every rule of every key in ``costs`` allows its cost, take it, return the seconds waited.

        FIFO-fair: while anyone is queued, callers queue behind them. Keys
        without a rule and zero costs are ignored; a call that draws on no
        rule takes nothing, so it never queues (it only waits out a pause).
        Raises
        :class:`~exchanges.errors.RateLimited` (with ``until``) at once while
        the limiter is banned, and ``ValueError`` when a cost exceeds a rule's
        limit (it could never be served).
        """
        if self._open:
            # fast path: count and check in one pass, no await, no allocation; undo on refusal
            now = self._clock()
            by_key = self._by_key
            for key, cost in costs.items():
                windows = by_key.get(key)
                if windows is not None:
                    for window in windows:
                        if now >= window.edge:
                            window.roll(now)
                        total = window.total + cost
                        if total > window.limit or cost < 0:
                            self._undo(costs, window)
                            return await self._acquire_slow(costs)
                        window.total = total
            return 0.0
        return await self._acquire_slow(costs)

    def try_acquire(self, costs: Mapping[str, int]) -> bool:
        """Take ``costs`` if every rule allows it right now and nobody is queued; never waits.

        False while paused or banned. Raises ``ValueError`` for a cost that
        exceeds its rule's limit, ``TypeError`` with a non-local backend (a
        shared backend can only be asked asynchronously).
        """
        return self._take_at(costs) is not None

    def _take_at(self, costs: Mapping[str, int]) -> float | None:
        """:meth:`try_acquire` that returns the clock time the costs were counted at (None: refused)."""
        if self._local is None:
            raise TypeError(f"{type(self.backend).__name__} is asynchronous: use `await acquire()`")
        now = self._clock()
        if not self._open:
            if self._pause_until > now or self._ban_until > now:
                self._demand(costs)  # still reject impossible costs
                return None
            if self._waiters:
                # others are queued: only a call that takes nothing here may pass them
                return None if self._demand(costs) else now
            self._open = True
        by_key = self._by_key
        for key, cost in costs.items():
            windows = by_key.get(key)
            if windows is not None:
                for window in windows:
                    if now >= window.edge:
                        window.roll(now)
                    total = window.total + cost
                    if total > window.limit or cost < 0:
                        self._undo(costs, window)
                        self._demand(costs)
                        return None
                    window.total = total
        return now

    def _refund(self, costs: Mapping[str, int], taken_at: float) -> None:
        """Give back ``costs`` counted at ``taken_at`` (a request that was not sent after all)."""
        for key, cost in costs.items():
            for window in self._by_key.get(key, ()):
                if cost > 0:
                    window.refund(cost, taken_at)

    def _undo(self, costs: Mapping[str, int], failed: _Window) -> None:
        """Give back what the fast path counted before it met ``failed`` (same iteration order)."""
        by_key = self._by_key
        for key, cost in costs.items():
            for window in by_key.get(key, ()):
                if window is failed:
                    return
                window.total -= cost

    def _demand(self, costs: Mapping[str, int]) -> list[tuple[int, int]]:
        """``(rule index, cost)`` for every rule ``costs`` draws on (zero costs left out), validated."""
        demand: list[tuple[int, int]] = []
        indexes = self._indexes
        for key, cost in costs.items():
            found = indexes.get(key)
            if found is None:
                continue
            if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
                raise ValueError(f"rate limiter {self.name!r}: cost of {key!r} must be an integer >= 0, got {cost!r}")
            if cost == 0:
                continue
            for index in found:
                rule = self.rules[index]
                if cost > rule.limit:
                    raise ValueError(
                        f"rate limiter {self.name!r}: cost {cost} of {key!r} exceeds the limit of rule "
                        f"{rule.name} ({rule.limit}); it could never be served"
                    )
                demand.append((index, cost))
        return demand

    async def _acquire_slow(self, costs: Mapping[str, int]) -> float:
        start = self._clock()
        await self._acquire_timed(costs, start)
        return self._clock() - start

    async def _acquire_timed(self, costs: Mapping[str, int], start: float) -> float:
        """Queue for ``costs``; return the clock time at which they were counted."""
        self._check_ban(start)
        demand = self._demand(costs)
        if not demand:
            if self._pause_until > start:
                await self._sleep(start, self._pause_until)
                self._check_ban(self._clock())
            return self._clock()
        waiters = self._waiters
        waiter = _Waiter(demand, asyncio.get_running_loop().create_future() if waiters else None)
        waiters.append(waiter)
        self._open = False
        try:
            granted = None if waiter.future is None else await waiter.future
            if granted is None:
                granted = await self._serve(waiter)
        except BaseException:
            self._leave(waiter)
            raise
        return granted

    async def _serve(self, waiter: _Waiter) -> float:
        """Run as the head of the queue until ``waiter`` is granted, admit the callers behind it; the grant time."""
        local = self._local
        while True:
            now = self._clock()
            self._check_ban(now)
            if self._pause_until > now:
                await self._sleep(now, self._pause_until)
                continue
            wait = local.take_nowait(waiter.demand, now) if local is not None else await self.backend.take(waiter.demand, now)
            if wait <= 0.0:
                break
            if wait == math.inf:
                raise ValueError(f"rate limiter {self.name!r}: the backend says {waiter.demand} can never be served")
            await self._sleep(now, now + wait)
        self._waiters.popleft()
        self._admit(self._clock())
        return now

    def _admit(self, now: float) -> None:
        """Grant queued callers in order while the budget allows, then make the next one the head."""
        waiters = self._waiters
        local = self._local
        clear = self._pause_until <= now and self._ban_until <= now
        while waiters:
            head = waiters[0]
            future = head.future
            if future is None or future.done():  # cancelled while queued
                waiters.popleft()
                continue
            if clear and local is not None and local.take_nowait(head.demand, now) == 0.0:
                waiters.popleft()
                future.set_result(now)
                continue
            future.set_result(None)  # you are the head now: wait for the budget yourself
            return
        self._open = clear and local is not None

    def _leave(self, waiter: _Waiter) -> None:
        """Take a failed or cancelled caller out of the queue, handing the head's turn on."""
        waiters = self._waiters
        if waiters and waiters[0] is waiter:
            waiters.popleft()
            self._admit(self._clock())
        elif waiter in waiters:
            waiters.remove(waiter)

    async def _sleep(self, now: float, until: float) -> None:
        if until <= now:
            return
        if self._virtual is not None:
            self.waits.append(until - now)
            # let the other callers run once, as they would while we slept: they queue up behind us
            await asyncio.sleep(0)
            self._virtual.advance_to(until)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._sleepers.add(future)
        handle = loop.call_later(until - now, _settle, future)
        try:
            await future
        finally:
            handle.cancel()
            self._sleepers.discard(future)

    # -- venue feedback ----------------------------------------------------------------

    def observe_usage(self, key: str, window: float, used: int) -> None:
        """Correct the count from venue feedback: ``used`` units of ``key`` spent in the current ``window``.

        Applies to every rule of ``key`` whose window equals ``window``; other
        reports are ignored. The count becomes ``max(local, used)``: it is never
        lowered, because requests still in flight are counted here but not yet
        by the venue. Binance's ``X-MBX-USED-WEIGHT-1M`` is the weight used in
        the current fixed minute, which is exactly a ``fixed`` 60 s rule's
        count; on a ``rolling`` rule the reported units are added to the newest
        bucket and so are remembered for a whole window (conservative).
        """
        now = self._clock()
        for index in self._indexes.get(key, ()):
            if not math.isclose(self.rules[index].window, window, rel_tol=1e-9):
                continue
            if self._local is not None:
                self._local.observe_nowait(index, used, now)
                continue
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                continue  # no loop to run a shared backend's call on; feedback is advisory
            task = loop.create_task(self.backend.observe(index, used, now))
            self._feedback.add(task)
            task.add_done_callback(self._feedback.discard)

    def update_limits(self, rules: Iterable[RateLimitRule]) -> list[RateLimitRule]:
        """Adopt the venue's current limits: each rule whose name (key and window) and kind match one of
        this limiter's rules replaces that rule's ``limit``; counts already taken are kept.

        For limits a venue reports at run time (Binance ``exchangeInfo.rateLimits``). Returns the rules
        applied; rules naming no rule of this limiter are ignored (adding windows needs a new limiter).
        """
        applied: list[RateLimitRule] = []
        current = list(self.rules)
        for rule in rules:
            for index, old in enumerate(current):
                if old.name == rule.name and old.kind == rule.kind and old.scope == rule.scope:
                    current[index] = rule
                    if self._local is not None:
                        self._local.windows[index].limit = rule.limit
                    applied.append(rule)
                    break
        if applied:
            self.rules = tuple(current)
            if self._local is None:
                self.backend.bind(self.rules, namespace=self.name, epoch=self.epoch)
        return applied

    def usage(self) -> dict[str, int]:
        """Units counted now per rule name (in-memory backend only)."""
        if self._local is None:
            raise TypeError(f"{type(self.backend).__name__} keeps its counts elsewhere")
        now = self._clock()
        return {rule.name: self._local.usage(i, now) for i, rule in enumerate(self.rules)}

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` (HTTP 429 ``Retry-After``); extends, never shortens, a pause."""
        until = self._clock() + max(0.0, seconds)
        if until > self._pause_until:
            self._pause_until = until
            self._open = False

    def ban(self, seconds: float) -> None:
        """Fail every caller at once for ``seconds`` (HTTP 418): queued ones too. Extends, never shortens."""
        until = self._clock() + max(0.0, seconds)
        if until > self._ban_until:
            self._ban_until = until
            self._open = False
            for sleeper in list(self._sleepers):
                _settle(sleeper)  # the head may be sleeping on the budget: let it fail now

    @property
    def halted_until(self) -> float | None:
        """End of the current ban on this limiter's clock, or None when not banned."""
        return self._ban_until if self._ban_until > self._clock() else None

    @property
    def paused_until(self) -> float | None:
        """End of the current pause on this limiter's clock, or None when not paused."""
        return self._pause_until if self._pause_until > self._clock() else None

    def _check_ban(self, now: float) -> None:
        if self._ban_until > now:
            until = self._ban_until
            raise RateLimited(
                f"{self.name or 'rate limiter'}: banned by the venue for another {until - now:.3f}s",
                exchange=self.exchange,
                retry_after=until - now,
                until=until,
            )
