"""Benchmark of the rate limiter: cost of an uncontended acquire, and of serving many queued callers.

Run: ``.venv/bin/python bench/ratelimit_bench.py [--calls N] [--repeat R]``. Prints a Markdown table
(microseconds per call: best and median of R runs of N calls each). Not a test: nothing is asserted
except that every call was granted; numbers go to ``bench/RESULTS.md``.

What is measured:

- ``await limiter.acquire(costs)`` in a tight loop inside a running ``asyncio`` loop, with budgets
  large enough never to refuse (the uncontended fast path: the coroutine returns without suspending);
- ``limiter.try_acquire(costs)`` (the same check, no coroutine);
- ``acquire(costs).send(None)``: driving the coroutine by hand (includes catching ``StopIteration``,
  which costs more than ``await`` does);
- ``RateLimits.acquire(endpoint=...)``: the per-connector router (endpoint costs merged, one or two
  scopes);
- an empty ``async def`` awaited in the same loop, the floor any coroutine API pays;
- contended: many callers queued at once, served FIFO (testing mode, so only CPU time is measured;
  and with the real clock, where the run time is dominated by the windows themselves).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from exchanges import ConnectorContext, ExchangeDescriptor, Host
from exchanges.ratelimit import EndpointCost, RateLimiter, RateLimitRule, RateLimits

BIG = 10**15  # a limit no benchmark reaches

WEIGHT_FIXED = [RateLimitRule("weight", BIG, 60, kind="fixed")]
WEIGHT_ROLLING = [RateLimitRule("weight", BIG, 60)]
BINANCE_LIKE = [
    RateLimitRule("weight", BIG, 60, kind="fixed"),
    RateLimitRule("orders", BIG, 10),
    RateLimitRule("orders", BIG, 86400, kind="fixed"),
]


async def _nothing(costs: Mapping[str, int]) -> float:
    return 0.0


async def time_awaited(call: Callable[[Mapping[str, int]], Awaitable[float]], costs: Mapping[str, int],
                       calls: int) -> float:
    """Seconds per ``await call(costs)`` in a tight loop."""
    start = time.perf_counter()
    for _ in range(calls):
        await call(costs)
    return (time.perf_counter() - start) / calls


def time_sent(call: Callable[[Mapping[str, int]], Any], costs: Mapping[str, int], calls: int) -> float:
    """Seconds per coroutine driven by ``send(None)`` (it must finish without suspending)."""
    start = time.perf_counter()
    for _ in range(calls):
        coroutine = call(costs)
        try:
            coroutine.send(None)
        except StopIteration:
            pass
        else:
            raise AssertionError("the fast path suspended")
    return (time.perf_counter() - start) / calls


def time_try(limiter: RateLimiter, costs: Mapping[str, int], calls: int) -> float:
    """Seconds per ``try_acquire(costs)``."""
    take = limiter.try_acquire
    start = time.perf_counter()
    for _ in range(calls):
        take(costs)
    return (time.perf_counter() - start) / calls


def best_and_median(runs: list[float]) -> str:
    return f"{min(runs) * 1e6:.3f} | {statistics.median(runs) * 1e6:.3f}"


def router(exchange_id: str, rules: list[RateLimitRule]) -> RateLimits:
    """A RateLimits over ``rules`` with Binance-like endpoint costs, on a fresh host."""
    descriptor = ExchangeDescriptor(id=exchange_id, name=exchange_id, kind="cex", products=["spot"],
                                    capabilities=[], endpoints={"rest": "https://bench.example"},
                                    connector="exchanges.connector:BaseExchange")
    costs = {
        "GET /api/v3/depth": EndpointCost("GET /api/v3/depth", {"weight": 5}),
        "POST /api/v3/order": EndpointCost("POST /api/v3/order", {"weight": 1, "orders": 1}),
    }
    ctx = ConnectorContext(descriptor=descriptor, host=Host(discover=False), endpoints=descriptor.endpoints,
                           rate_limit_rules=tuple(rules), endpoint_costs=costs)
    return RateLimits.for_context(ctx)


async def contended(callers: int, rules: list[RateLimitRule], testing: bool) -> tuple[float, float]:
    """(wall seconds, seconds of limiter time) for ``callers`` concurrent one-unit acquires."""
    limiter = RateLimiter(rules, testing=testing)
    order: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire({"weight": 1})
        order.append(i)

    start, virtual = time.perf_counter(), limiter.now()
    await asyncio.gather(*(call(i) for i in range(callers)))
    wall = time.perf_counter() - start
    assert order == list(range(callers)), "FIFO violated"
    return wall, limiter.now() - virtual


async def main(calls: int, repeat: int) -> None:
    rows: list[tuple[str, str]] = []
    for label, rules, costs in (
        ("1 fixed rule (weight/60s), {weight: 1}", WEIGHT_FIXED, {"weight": 1}),
        ("1 rolling rule (weight/60s), {weight: 1}", WEIGHT_ROLLING, {"weight": 1}),
        ("3 rules, 2 keys (weight fixed + orders 10s rolling + 1d fixed)", BINANCE_LIKE, {"weight": 1, "orders": 1}),
    ):
        limiter = RateLimiter(rules)
        rows.append((f"`await acquire()` {label}",
                     best_and_median([await time_awaited(limiter.acquire, costs, calls) for _ in range(repeat)])))
        rows.append((f"`try_acquire()` {label}",
                     best_and_median([time_try(limiter, costs, calls) for _ in range(repeat)])))
        rows.append((f"`acquire().send(None)` {label}",
                     best_and_median([time_sent(limiter.acquire, costs, calls) for _ in range(repeat)])))
    rows.append(("`await` of an empty `async def` (floor)",
                 best_and_median([await time_awaited(_nothing, {}, calls) for _ in range(repeat)])))
    ip_only = router("bench-ip", WEIGHT_FIXED)
    two_scopes = router("bench-two", [WEIGHT_FIXED[0], RateLimitRule("orders", BIG, 10, scope="account")])
    depth = {"endpoint": "GET /api/v3/depth"}
    order = {"endpoint": "POST /api/v3/order"}
    rows.append(("`RateLimits.acquire(endpoint=depth)`, ip scope only",
                 best_and_median([await _time_router(ip_only, depth, calls) for _ in range(repeat)])))
    rows.append(("`RateLimits.acquire(endpoint=order)`, ip + account scopes",
                 best_and_median([await _time_router(two_scopes, order, calls) for _ in range(repeat)])))

    print(f"Python {sys.version.split()[0]} on {platform.machine()} ({platform.processor() or 'cpu'}), "
          f"{calls} calls x {repeat} runs\n")
    print("| operation | best µs/call | median µs/call |\n|---|---|---|")
    for name, numbers in rows:
        print(f"| {name} | {numbers} |")

    print("\n| contended scenario | wall time | per grant | limiter time |\n|---|---|---|---|")
    for callers, rules, testing, label in (
        (10_000, [RateLimitRule("weight", 100, 1, kind="fixed")], True, "10 000 callers, 100/1s fixed, testing mode"),
        (10_000, [RateLimitRule("weight", 100, 1)], True, "10 000 callers, 100/1s rolling, testing mode"),
        (1_000, [RateLimitRule("weight", 200, 0.05)], False, "1 000 callers, 200/50ms rolling, real clock"),
    ):
        wall, virtual = await contended(callers, rules, testing)
        print(f"| {label} | {wall * 1e3:.1f} ms | {wall / callers * 1e6:.2f} µs | {virtual:.3f} s |")


async def _time_router(limits: RateLimits, kwargs: dict[str, str], calls: int) -> float:
    acquire = limits.acquire
    endpoint = kwargs["endpoint"]
    start = time.perf_counter()
    for _ in range(calls):
        await acquire(endpoint=endpoint)
    return (time.perf_counter() - start) / calls


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.repeat))
