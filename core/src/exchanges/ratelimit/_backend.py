"""Where a limiter keeps its counts: the :class:`LimiterBackend` protocol and the in-memory backend.

The protocol is shaped for a shared store driven by atomic scripts (Redis +
Lua in ``exchange-redis``): one call takes a whole demand across every window
it touches or takes nothing and says how long to wait, and one call applies
the usage a venue reported. The in-memory backend also offers the same two
operations synchronously, which is what the limiter's fast path uses.

Windows are counted in sub-buckets. A ``fixed`` window is one bucket that
resets at every multiple of ``window`` (aligned to the Unix epoch, as Binance
resets its minute). A ``rolling`` window is split into
:data:`ROLLING_SUBWINDOWS` buckets of ``window / ROLLING_SUBWINDOWS`` seconds;
a request is checked against the current bucket plus the previous
``ROLLING_SUBWINDOWS`` buckets, i.e. a span of ``window`` plus one bucket.
Counting that extra partial bucket makes the check conservative: no interval
of length ``window`` ever holds more than ``limit``, at the price of at most
one bucket (under 1 %) of throughput when the budget is saturated. Only
non-empty buckets are stored, so memory is bounded by the number of buckets,
never by the number of requests.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .rules import RateLimitRule

__all__ = ["ROLLING_SUBWINDOWS", "LimiterBackend", "MemoryBackend"]

#: Buckets per rolling window (a power of two keeps bucket edges exact for dyadic windows).
ROLLING_SUBWINDOWS = 128

#: One ``(rule index, cost)`` pair per rule a request draws on.
Demand = Sequence[tuple[int, int]]


@runtime_checkable
class LimiterBackend(Protocol):
    """Keeps the usage counts of one limiter's rules; swap it to share a budget between processes.

    A :class:`~exchanges.ratelimit.RateLimiter` calls :meth:`bind` once, then
    :meth:`take` for each request and :meth:`observe` for each usage report.
    Rule indexes refer to the ``rules`` passed to :meth:`bind`. ``now`` is the
    limiter's clock; a backend shared across processes or hosts should use its
    own time source (Redis ``TIME``) and may ignore both ``now`` and ``epoch``.
    Fairness between local callers stays in the limiter (FIFO); the backend only
    counts.
    """

    def bind(self, rules: Sequence[RateLimitRule], *, namespace: str, epoch: float) -> None:
        """Prepare the counters of ``rules``.

        :param namespace: unique name of the limiter (venue, scope and identity),
            the key prefix of a shared store.
        :param epoch: add it to ``now`` to get Unix time; fixed windows start at
            multiples of their length in Unix time.
        """

    async def take(self, demand: Demand, now: float) -> float:
        """Atomically take every ``cost`` from every rule in ``demand`` if all of them allow it.

        :returns: ``0.0`` when taken; otherwise nothing is taken and the result
            is the number of seconds after which the whole demand would fit
            (``math.inf`` when a cost exceeds its rule's limit).
        """

    async def observe(self, index: int, used: int, now: float) -> None:
        """Apply venue-reported usage: rule ``index`` has ``used`` units spent in its current window.

        Raises the count to ``used`` when it is below; never lowers it (requests
        still in flight are counted locally but not yet by the venue).
        """


class _Window:
    """The counters of one rule: the current bucket plus the non-empty older buckets still counted."""

    __slots__ = ("edge", "epoch", "index", "limit", "older", "past", "span", "total", "width")

    def __init__(self, rule: RateLimitRule, epoch: float) -> None:
        self.limit = rule.limit
        fixed = rule.kind == "fixed"
        self.width = float(rule.window) if fixed else rule.window / ROLLING_SUBWINDOWS
        #: how many buckets before the current one are still counted
        self.span = 0 if fixed else ROLLING_SUBWINDOWS
        self.epoch = epoch
        self.edge = -math.inf  # clock time at which the current bucket ends
        self.index = -(2**62)  # current bucket number
        # units counted: the older buckets' plus the current one's (the fast path only adds here)
        self.total = 0
        self.older = 0  # units in ``past``
        self.past: deque[tuple[int, int]] = deque()

    def start(self, bucket: int) -> float:
        """Clock time at which ``bucket`` begins (the one formula every edge comes from)."""
        return bucket * self.width - self.epoch

    def bucket_of(self, now: float) -> int:
        """The bucket holding clock time ``now``: ``start(b) <= now < start(b + 1)``."""
        bucket = math.floor((now + self.epoch) / self.width)
        # float rounding may put ``now`` one bucket off
        while self.start(bucket + 1) <= now:
            bucket += 1
        while self.start(bucket) > now:
            bucket -= 1
        return bucket

    def roll(self, now: float) -> None:
        """Move to the bucket holding ``now`` and forget the buckets that left the window."""
        bucket = self.bucket_of(now)
        self.edge = self.start(bucket + 1)
        if bucket <= self.index:
            return
        past = self.past
        current = self.total - self.older
        if current:
            past.append((self.index, current))
            self.older += current
        self.index = bucket
        oldest = bucket - self.span
        while past and past[0][0] < oldest:
            count = past.popleft()[1]
            self.total -= count
            self.older -= count

    def ready_at(self, cost: int) -> float:
        """Clock time at which ``cost`` more units fit (the window must be rolled to now)."""
        if cost > self.limit:
            return math.inf
        excess = self.total + cost - self.limit
        freed = 0
        for bucket, count in self.past:
            freed += count
            if freed >= excess:
                return self.start(bucket + self.span + 1)
        return self.start(self.index + self.span + 1)

    def refund(self, cost: int, taken_at: float) -> None:
        """Give back ``cost`` units counted at ``taken_at`` (to the bucket that holds them, if still counted)."""
        bucket = self.bucket_of(taken_at)
        if bucket == self.index:
            self.total -= min(cost, self.total - self.older)
            return
        past = self.past
        for position, (held, count) in enumerate(past):
            if held == bucket:
                given = min(cost, count)
                if given == count:
                    del past[position]
                else:
                    past[position] = (held, count - given)
                self.older -= given
                self.total -= given
                return

    def usage(self, now: float) -> int:
        """Units counted at ``now``."""
        if now >= self.edge:
            self.roll(now)
        return self.total


def wait_until(now: float, ready: float) -> float:
    """``ready - now``, nudged up so that ``now + wait >= ready`` holds in floating point."""
    wait = ready - now
    while now + wait < ready:
        wait = math.nextafter(wait, math.inf)
    return wait


class MemoryBackend:
    """The default backend: counts in this process, in sub-bucketed windows (see the module docstring).

    Implements :class:`LimiterBackend` plus the synchronous :meth:`take_nowait`
    and :meth:`observe_nowait`, which the limiter calls directly.
    """

    def __init__(self) -> None:
        self.windows: list[_Window] = []
        self.namespace = ""

    def bind(self, rules: Sequence[RateLimitRule], *, namespace: str = "", epoch: float = 0.0) -> None:
        """Create one window per rule (rule ``i`` is ``windows[i]``)."""
        self.namespace = namespace
        self.windows = [_Window(rule, epoch) for rule in rules]

    def take_nowait(self, demand: Demand, now: float) -> float:
        """Synchronous :meth:`take`."""
        windows = self.windows
        ready = now
        for index, cost in demand:
            window = windows[index]
            if now >= window.edge:
                window.roll(now)
            if window.total + cost > window.limit:
                ready = max(ready, window.ready_at(cost))
        if ready > now:
            return math.inf if ready == math.inf else wait_until(now, ready)
        for index, cost in demand:
            windows[index].total += cost
        return 0.0

    def observe_nowait(self, index: int, used: int, now: float) -> None:
        """Synchronous :meth:`observe`."""
        window = self.windows[index]
        missing = used - window.usage(now)
        if missing > 0:
            # rolling: the reported units land in the current bucket, so they are forgotten
            # one window from now rather than at the venue's boundary (conservative)
            window.total += missing

    async def take(self, demand: Demand, now: float) -> float:
        """See :meth:`LimiterBackend.take`."""
        return self.take_nowait(demand, now)

    async def observe(self, index: int, used: int, now: float) -> None:
        """See :meth:`LimiterBackend.observe`."""
        self.observe_nowait(index, used, now)

    def usage(self, index: int, now: float) -> int:
        """Units of rule ``index`` counted at ``now`` (for inspection and tests)."""
        return self.windows[index].usage(now)
