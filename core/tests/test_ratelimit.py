"""RateLimiter: windows, FIFO fairness, venue feedback, pause/ban and testing mode."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from exchanges.errors import RateLimited
from exchanges.ratelimit import (
    ROLLING_SUBWINDOWS,
    LimiterBackend,
    MemoryBackend,
    RateLimiter,
    RateLimitRule,
    parse_retry_after,
    parse_usage_headers,
)

BUCKET = 1 / ROLLING_SUBWINDOWS  # one rolling sub-bucket of a 1 s window


def limiter(*rules: RateLimitRule) -> RateLimiter:
    """A testing-mode limiter (virtual clock starting at 0.0)."""
    return RateLimiter(rules, testing=True, name="test")


async def test_uncontended_acquire_returns_at_once_and_counts() -> None:
    """Within budget, acquire waits nothing, ignores unknown keys and counts every rule of a key."""
    lim = limiter(RateLimitRule("weight", 100, 60, kind="fixed"), RateLimitRule("orders", 10, 1),
                  RateLimitRule("orders", 50, 10))
    assert await lim.acquire({"weight": 5, "orders": 2, "unknown": 1000}) == 0.0
    assert lim.try_acquire({"weight": 1})
    assert lim.usage() == {"weight/60s": 6, "orders/1s": 2, "orders/10s": 2}
    assert lim.waits == []


@pytest.mark.parametrize(
    ("kind", "start", "expected_wait"),
    [
        # fixed: the 11th unit waits for the boundary at 1.0
        ("fixed", 0.25, 0.75),
        ("fixed", 0.5, 0.5),
        # rolling: it waits until the bucket holding the first 10 units leaves the window (one bucket of slack)
        ("rolling", 0.25, 1.0 + BUCKET),
        ("rolling", 0.5, 1.0 + BUCKET),
    ],
)
async def test_fixed_and_rolling_waits_are_exact(kind: str, start: float, expected_wait: float) -> None:
    """A full fixed window frees at its boundary, a full rolling window one window (plus a bucket) later."""
    lim = limiter(RateLimitRule("w", 10, 1, kind=kind))
    lim.advance(start)
    for _ in range(10):
        assert await lim.acquire({"w": 1}) == 0.0
    assert await lim.acquire({"w": 1}) == expected_wait
    assert lim.waits == [expected_wait]
    assert lim.now() == start + expected_wait


async def test_fixed_window_resets_at_boundary_but_rolling_remembers() -> None:
    """Units taken just before a fixed boundary are forgotten after it; a rolling window still counts them."""
    fixed = limiter(RateLimitRule("w", 10, 1, kind="fixed"))
    rolling = limiter(RateLimitRule("w", 10, 1))
    for lim in (fixed, rolling):
        lim.advance(0.9)
        await lim.acquire({"w": 10})
        lim.advance(0.2)  # t = 1.1
    assert fixed.try_acquire({"w": 10})
    assert not rolling.try_acquire({"w": 1})
    assert rolling.usage() == {"w/1s": 10}


async def test_multiple_windows_per_key_all_apply() -> None:
    """With 3/1s and 5/10s on one key, the short window spaces requests and the long one caps them."""
    lim = limiter(RateLimitRule("orders", 3, 1, kind="fixed"), RateLimitRule("orders", 5, 10, kind="fixed"))
    grants = []
    for _ in range(7):
        await lim.acquire({"orders": 1})
        grants.append(lim.now())
    assert grants == [0.0, 0.0, 0.0, 1.0, 1.0, 10.0, 10.0]
    assert lim.waits == [1.0, 9.0]


async def test_demand_on_two_keys_is_all_or_nothing() -> None:
    """A request refused on one key takes nothing from the others."""
    lim = limiter(RateLimitRule("weight", 100, 60, kind="fixed"), RateLimitRule("orders", 1, 1, kind="fixed"))
    await lim.acquire({"orders": 1})
    assert not lim.try_acquire({"weight": 10, "orders": 1})
    assert lim.usage() == {"weight/60s": 0, "orders/1s": 1}
    assert await lim.acquire({"weight": 10, "orders": 1}) == 1.0
    assert lim.usage() == {"weight/60s": 10, "orders/1s": 1}


async def test_fifo_big_request_is_not_overtaken_by_small_ones() -> None:
    """Small requests that would fit do not jump ahead of a queued big one: grants follow arrival order."""
    lim = limiter(RateLimitRule("w", 10, 1, kind="fixed"))
    await lim.acquire({"w": 8})
    order: list[tuple[str, float]] = []

    async def call(name: str, cost: int) -> None:
        await lim.acquire({"w": cost})
        order.append((name, lim.now()))

    await asyncio.gather(call("big", 10), *(call(f"small{i}", 1) for i in range(5)))
    assert order == [("big", 1.0)] + [(f"small{i}", 2.0) for i in range(5)]
    assert lim.waits == [1.0, 1.0]


async def test_many_concurrent_callers_are_served_in_arrival_order() -> None:
    """Hundreds of callers with mixed costs are granted strictly in the order they called."""
    lim = limiter(RateLimitRule("w", 50, 1, kind="fixed"))
    order: list[int] = []
    costs = [1 + (i * 7) % 13 for i in range(300)]

    async def call(i: int) -> None:
        await lim.acquire({"w": costs[i]})
        order.append(i)

    await asyncio.gather(*(call(i) for i in range(300)))
    assert order == list(range(300))
    # FIFO packing: a window takes callers in order until the next one does not fit
    second, used = 0, 0
    for cost in costs:
        if used + cost > 50:
            second, used = second + 1, 0
        used += cost
    assert lim.now() == second


async def test_calls_drawing_on_no_rule_pass_the_queue() -> None:
    """A call that takes nothing from the limiter is not held behind queued callers; a taking one is."""
    lim = limiter(RateLimitRule("w", 1, 1, kind="fixed"))
    await lim.acquire({"w": 1})
    queued = asyncio.create_task(lim.acquire({"w": 1}))
    await asyncio.sleep(0)
    assert lim.queued == 1
    assert lim.try_acquire({"other": 3, "w": 0})
    assert await lim.acquire({"other": 3}) == 0.0
    assert not lim.try_acquire({"w": 1})
    assert await queued == 1.0
    assert lim.queued == 0


async def test_queued_caller_cancelled_takes_nothing_and_blocks_nobody() -> None:
    """Cancelling a queued caller frees its place: the next caller is served as if it had never come."""
    lim = limiter(RateLimitRule("w", 1, 1, kind="fixed"))
    await lim.acquire({"w": 1})
    first = asyncio.create_task(lim.acquire({"w": 1}))
    second = asyncio.create_task(lim.acquire({"w": 1}))
    third = asyncio.create_task(lim.acquire({"w": 1}))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 1.0
    assert await third == 2.0
    with pytest.raises(asyncio.CancelledError):
        await second
    assert lim.waits == [1.0, 1.0]
    assert lim.queued == 0


async def test_cancelled_head_hands_over_to_the_next_caller() -> None:
    """When the caller at the head is cancelled while sleeping, the next one takes its turn."""
    lim = RateLimiter([RateLimitRule("w", 1, 60, kind="fixed")], name="real")
    lim.pause(0.05)
    head = asyncio.create_task(lim.acquire({"w": 1}))
    follower = asyncio.create_task(lim.acquire({"w": 1}))
    await asyncio.sleep(0.01)
    head.cancel()
    waited = await asyncio.wait_for(follower, 5)
    assert waited > 0.0
    assert head.cancelled()
    assert lim.usage() == {"w/60s": 1}


@pytest.mark.parametrize("cost", [11, -1])
async def test_impossible_cost_is_rejected(cost: int) -> None:
    """A cost above the limit (never servable) or below zero raises ValueError instead of waiting forever."""
    lim = limiter(RateLimitRule("w", 10, 1))
    with pytest.raises(ValueError, match="w"):
        await lim.acquire({"w": cost})
    with pytest.raises(ValueError, match="w"):
        lim.try_acquire({"w": cost})
    assert lim.usage() == {"w/1s": 0}


def test_duplicate_rules_are_rejected() -> None:
    """Two rules with the same key and window are a configuration error."""
    with pytest.raises(ValueError, match="duplicate"):
        RateLimiter([RateLimitRule("w", 10, 1), RateLimitRule("w", 20, 1, kind="fixed")])


async def test_pause_holds_every_caller_until_retry_after() -> None:
    """After pause(5) (HTTP 429), the next acquire waits exactly the rest of the pause, then proceeds."""
    lim = limiter(RateLimitRule("w", 100, 60, kind="fixed"))
    lim.advance(1.0)
    lim.pause(5.0)
    lim.pause(2.0)  # a shorter pause does not shorten the running one
    assert lim.paused_until == 6.0
    assert not lim.try_acquire({"w": 1})
    assert await lim.acquire({"w": 1}) == 5.0
    assert await lim.acquire({"other": 1}) == 0.0
    assert lim.waits == [5.0]
    assert lim.paused_until is None
    assert lim.try_acquire({"w": 1})


async def test_ban_fails_fast_with_until_and_lifts_after() -> None:
    """While banned (HTTP 418), acquire raises RateLimited(until=...) at once; after the ban it works again."""
    lim = limiter(RateLimitRule("w", 100, 60, kind="fixed"))
    lim.advance(10.0)
    lim.ban(120.0)
    assert lim.halted_until == 130.0
    with pytest.raises(RateLimited) as caught:
        await lim.acquire({"w": 1})
    assert caught.value.until == 130.0
    assert caught.value.retry_after == 120.0
    assert not lim.try_acquire({"w": 1})
    assert lim.waits == []
    lim.advance(120.0)
    assert lim.halted_until is None
    assert await lim.acquire({"w": 1}) == 0.0


async def test_ban_fails_queued_callers_at_once() -> None:
    """A ban wakes the caller sleeping on the budget and fails every queued caller with RateLimited."""
    lim = RateLimiter([RateLimitRule("w", 1, 3600, kind="fixed")], name="real", exchange="toy")
    await lim.acquire({"w": 1})
    queued = [asyncio.create_task(lim.acquire({"w": 1})) for _ in range(3)]
    await asyncio.sleep(0.01)
    lim.ban(60.0)
    results = await asyncio.wait_for(asyncio.gather(*queued, return_exceptions=True), 5)
    assert all(isinstance(r, RateLimited) and r.until == lim.halted_until for r in results)
    assert "toy" in str(results[0])
    assert lim.queued == 0


async def test_real_clock_many_concurrent_waiters() -> None:
    """With the real clock, 200 concurrent callers on a 100/0.2 s budget all get through, in order."""
    lim = RateLimiter([RateLimitRule("w", 100, 0.2)], name="real")
    order: list[int] = []

    async def call(i: int) -> float:
        waited = await lim.acquire({"w": 1})
        order.append(i)
        return waited

    waits = await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(200))), 10)
    assert order == list(range(200))
    assert all(w == 0.0 for w in waits[:100])
    assert all(w > 0.0 for w in waits[100:])


@pytest.mark.parametrize(
    ("headers", "prefix", "expected"),
    [
        ({"X-MBX-USED-WEIGHT-1M": "42"}, "X-MBX-USED-WEIGHT-", [(60.0, 42)]),
        ({"x-mbx-used-weight-1m": "7", "Content-Type": "json"}, "X-MBX-USED-WEIGHT-", [(60.0, 7)]),
        ({"X-MBX-ORDER-COUNT-1D": "9", "X-MBX-ORDER-COUNT-10S": "3"}, "X-MBX-ORDER-COUNT-", [(10.0, 3), (86400.0, 9)]),
        ({"X-MBX-USED-WEIGHT-2H": "5", "X-MBX-USED-WEIGHT-30S": "1"}, "X-MBX-USED-WEIGHT-", [(30.0, 1), (7200.0, 5)]),
        ({"X-MBX-USED-WEIGHT-1X": "5", "X-MBX-USED-WEIGHT-1M": "n/a", "X-MBX-USED-WEIGHT-": "3"},
         "X-MBX-USED-WEIGHT-", []),
        ({"X-MBX-USED-WEIGHT-1M": "42"}, "X-MBX-ORDER-COUNT-", []),
    ],
)
def test_parse_usage_headers(headers: dict[str, str], prefix: str, expected: list[tuple[float, int]]) -> None:
    """Usage headers become (window seconds, used) pairs; units S M H D, any case; junk is skipped."""
    assert parse_usage_headers(headers, prefix) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "30"}, 30.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "Thu, 01 Jan 1970 00:01:40 GMT"}, 60.0),
        ({"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"}, 0.0),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After is read as seconds or as an HTTP date (relative to now=40 s after the epoch)."""
    assert parse_retry_after(headers, now=40.0) == expected


async def test_observe_usage_raises_the_fixed_count_but_never_lowers_it() -> None:
    """Header feedback sets the current fixed window's count to max(local, reported); a new window starts empty."""
    lim = limiter(RateLimitRule("weight", 6000, 60, kind="fixed"))
    await lim.acquire({"weight": 10})
    lim.observe_usage("weight", 60.0, 5995)
    assert lim.usage() == {"weight/60s": 5995}
    lim.observe_usage("weight", 60.0, 100)
    lim.observe_usage("weight", 1.0, 6000)  # no rule with that window: ignored
    lim.observe_usage("orders", 60.0, 6000)  # no rule on that key: ignored
    assert lim.usage() == {"weight/60s": 5995}
    assert await lim.acquire({"weight": 10}) == 60.0
    assert lim.usage() == {"weight/60s": 10}


async def test_observe_usage_on_rolling_rule_is_remembered_for_a_window() -> None:
    """On a rolling rule, reported usage counts from now on and frees one window later."""
    lim = limiter(RateLimitRule("weight", 100, 1))
    lim.advance(0.5)
    lim.observe_usage("weight", 1.0, 100)
    assert not lim.try_acquire({"weight": 1})
    assert await lim.acquire({"weight": 1}) == 1.0 + BUCKET


class SharedStoreBackend:
    """An asynchronous backend (the shape a Redis backend has): every call suspends, counts elsewhere."""

    def __init__(self) -> None:
        self.store = MemoryBackend()
        self.calls: list[str] = []

    def bind(self, rules: Sequence[RateLimitRule], *, namespace: str, epoch: float) -> None:
        self.calls.append(f"bind {namespace}")
        self.store.bind(rules, namespace=namespace, epoch=epoch)

    async def take(self, demand: Sequence[tuple[int, int]], now: float) -> float:
        await asyncio.sleep(0)
        self.calls.append(f"take {list(demand)}")
        return self.store.take_nowait(demand, now)

    async def observe(self, index: int, used: int, now: float) -> None:
        await asyncio.sleep(0)
        self.calls.append(f"observe {index} {used}")
        self.store.observe_nowait(index, used, now)


async def test_asynchronous_backend_counts_and_waits() -> None:
    """A LimiterBackend that suspends gets one atomic take per attempt and the usage reports; waits still apply."""
    backend = SharedStoreBackend()
    assert isinstance(backend, LimiterBackend)
    lim = RateLimiter([RateLimitRule("w", 2, 1, kind="fixed")], backend=backend, testing=True, name="shared")
    assert await lim.acquire({"w": 2}) == 0.0
    assert await lim.acquire({"w": 1, "x": 5}) == 1.0
    lim.observe_usage("w", 1.0, 2)
    await asyncio.sleep(0.01)
    assert backend.calls == ["bind shared", "take [(0, 2)]", "take [(0, 1)]", "take [(0, 1)]", "observe 0 2"]
    assert backend.store.usage(0, lim.now()) == 2
    with pytest.raises(TypeError, match="asynchronous"):
        lim.try_acquire({"w": 1})


def test_fixed_windows_align_to_unix_time_with_the_default_clock() -> None:
    """With time.monotonic, the limiter's epoch offset maps its clock onto Unix time (minute boundaries)."""
    import time

    lim = RateLimiter([RateLimitRule("weight", 10, 60, kind="fixed")])
    assert lim.now() + lim.epoch == pytest.approx(time.time(), abs=0.5)
    assert limiter(RateLimitRule("weight", 10, 60, kind="fixed")).epoch == 0.0


def test_advance_needs_testing_mode() -> None:
    """The virtual clock can only be moved in testing mode."""
    with pytest.raises(RuntimeError, match="testing"):
        RateLimiter([RateLimitRule("w", 1, 1)]).advance(1.0)
