"""Rate limits end to end: real HttpClient + real RateLimits + the loopback emulator enforcing the same windows.

The emulator counts every request on arrival, the way a venue does, and
answers 429 when a window would overflow; these tests check it never has to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
import stamina

from exchanges.errors import RateLimited
from exchanges.ratelimit import EndpointCost, RateLimitRule, RateLimits
from exchanges.testing.emulator import HttpLimit, RecordedRequest, Reply, VenueEmulator
from exchanges.transport.http import HttpClient, RetryPolicy

CALLERS = 1000
WEIGHT = {"/api/v3/depth": 2, "/api/v3/ticker": 1, "/api/v3/order": 1}
# The client meters grants, the venue meters arrivals. A burst granted at once reaches the
# venue spread over the time one event loop (shared here with the emulator and 1000 tasks)
# needs to push it through a pool of 100 connections: tens of ms on an idle machine, up to
# half a second on a loaded 2-core one, the same order as these short windows. So the venue
# allows HEADROOM times what the client registers (same windows): an overflow at the venue
# needs a burst to arrive more than two windows late. A real connector (60 s and 10 s
# windows, ms of lag) needs far less headroom.
HEADROOM = 3
# the client's budgets (what a connector registers): weight and orders per 0.5 s, requests per 1 s
WEIGHT_WINDOW, RAW_WINDOW, ORDER_WINDOW = 0.5, 1.0, 0.5
CLIENT_WEIGHT, CLIENT_RAW, CLIENT_ORDERS = 225, 300, 20
# the venue's (what the emulator enforces)
WEIGHT_LIMIT, RAW_LIMIT, ORDER_LIMIT = CLIENT_WEIGHT * HEADROOM, CLIENT_RAW * HEADROOM, CLIENT_ORDERS * HEADROOM


def weight_of(request: RecordedRequest) -> int:
    """The venue weight of a request (what the emulator charges)."""
    return WEIGHT[request.path]


@pytest.fixture(autouse=True)
def no_backoff_sleeps() -> Iterator[None]:
    """No retry waits: these tests are about the limiter's waits only."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


def limits_for(emu: VenueEmulator) -> RateLimits:
    """Real limits for the emulated venue: three windows on two scopes, costs registered per endpoint."""
    rules = [
        RateLimitRule("weight", CLIENT_WEIGHT, WEIGHT_WINDOW, "ip", "rolling"),
        RateLimitRule("raw", CLIENT_RAW, RAW_WINDOW, "ip", "rolling"),
        RateLimitRule("orders", CLIENT_ORDERS, ORDER_WINDOW, "account", "rolling"),
    ]
    costs = {
        f"{method} {path}": EndpointCost(f"{method} {path}", {"weight": WEIGHT[path], "raw": 1})
        for method, path in (("GET", "/api/v3/depth"), ("GET", "/api/v3/ticker"), ("POST", "/api/v3/order"))
    }
    identities = {"ip": f"127.0.0.1:{emu.port}", "account": "acct-1", "endpoint": "127.0.0.1",
                  "order": "acct-1", "connection": "c1"}
    return RateLimits("emu", rules, identities, shared={}, endpoint_costs=costs)


@pytest.fixture
async def emu() -> Any:
    """The emulator with the three routes scripted."""
    async with VenueEmulator() as venue:
        venue.route("GET", "/api/v3/depth", {"lastUpdateId": 1, "bids": [], "asks": []})
        venue.route("GET", "/api/v3/ticker", {"price": "1"})
        venue.route("POST", "/api/v3/order", {"orderId": 1})
        yield venue


async def test_thousand_callers_never_overflow_any_window(emu: VenueEmulator) -> None:
    """1000 concurrent callers on three windows (weight, requests, orders) never make the venue reject one."""
    emu.limit(HttpLimit(limit=WEIGHT_LIMIT, window=WEIGHT_WINDOW, weight=weight_of, kind="rolling"))
    emu.limit(HttpLimit(limit=RAW_LIMIT, window=RAW_WINDOW, kind="rolling"))
    emu.limit(HttpLimit(limit=ORDER_LIMIT, window=ORDER_WINDOW, path="/api/v3/order", method="POST", kind="rolling"))
    limits = limits_for(emu)

    async def caller(i: int, http: HttpClient) -> int:
        if i % 10 == 0:
            resp = await http.post("/api/v3/order", data={"i": i}, costs={"orders": 1}, limit_scope="account")
        else:
            resp = await http.get("/api/v3/depth" if i % 4 == 1 else "/api/v3/ticker", params={"i": i})
        return resp.status

    # The callers start while the IP scope is paused (as after a 429), so all 1000 queue in the
    # limiter first and the first grants do not wait behind the creation of 1000 tasks.
    limits.limiter("ip").pause(0.2)
    async with HttpClient({"rest": emu.http_url}, exchange="emu", limits=limits, timeout=30) as http:
        statuses = await asyncio.gather(*(caller(i, http) for i in range(CALLERS)))

    assert statuses == [200] * CALLERS
    assert [r for r in emu.requests if r.status != 200] == []
    # what the venue counted, on arrival
    assert emu.max_in_window(WEIGHT_WINDOW, weight=weight_of) <= WEIGHT_LIMIT
    assert emu.max_in_window(RAW_WINDOW) <= RAW_LIMIT
    assert emu.max_in_window(ORDER_WINDOW, "/api/v3/order", method="POST") <= ORDER_LIMIT
    # the limits were binding: the workload alone exceeds every venue budget, and is several
    # windows' worth of every client budget
    assert len(emu.requests) > RAW_LIMIT and len(emu.requests) > 3 * CLIENT_RAW
    assert sum(weight_of(r) for r in emu.requests) > max(WEIGHT_LIMIT, 5 * CLIENT_WEIGHT)
    orders = len(emu.requests_for("/api/v3/order"))
    assert orders > ORDER_LIMIT and orders >= 5 * CLIENT_ORDERS
    assert emu.errors == []


async def test_retry_after_on_429_holds_every_caller(emu: VenueEmulator) -> None:
    """After a 429 with Retry-After: 1, no request reaches the venue until that second has passed."""
    emu.fail("GET", "/api/v3/depth", Reply(429, json={"code": -1003}, headers={"Retry-After": "1"}))
    async with HttpClient({"rest": emu.http_url}, exchange="emu", limits=limits_for(emu)) as http:
        with pytest.raises(RateLimited) as info:
            await http.get("/api/v3/depth")
        statuses = await asyncio.gather(*(http.get("/api/v3/ticker") for _ in range(50)))
    assert info.value.retry_after == 1.0
    assert {r.status for r in statuses} == {200}
    first, *rest = emu.requests
    assert first.status == 429 and len(rest) == 50
    assert min(r.time for r in rest) >= first.time + 1.0


async def test_418_halts_the_scope_without_reaching_the_venue(emu: VenueEmulator) -> None:
    """After a 418 every further call fails at once with RateLimited(until=...) and the venue sees nothing more."""
    emu.fail("GET", "/api/v3/depth", Reply(418, json={"code": -1003}, headers={"Retry-After": "120"}))
    async with HttpClient({"rest": emu.http_url}, exchange="emu", limits=limits_for(emu),
                          retry=RetryPolicy(attempts=5)) as http:
        with pytest.raises(RateLimited) as first:
            await http.get("/api/v3/depth")
        results = await asyncio.gather(
            *(http.get("/api/v3/ticker") for _ in range(100)),
            *(http.post("/api/v3/order", costs={"orders": 1}, limit_scope="account") for _ in range(10)),
            return_exceptions=True,
        )
    assert first.value.until is not None and first.value.until > time.monotonic() + 100
    assert all(isinstance(r, RateLimited) and r.until is not None and r.until > time.monotonic() + 100
               for r in results)
    assert len(emu.requests) == 1
