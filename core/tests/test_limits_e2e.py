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
ORDER_WINDOW, WEIGHT_WINDOW, RAW_WINDOW = 0.5, 0.5, 1.0
WEIGHT_LIMIT, RAW_LIMIT, ORDER_LIMIT = 300, 400, 25

# The client meters grants, the venue meters arrivals. A burst granted at once reaches the
# venue spread over the time one event loop (shared here with the emulator) needs to open
# connections and push it through a pool of 100: up to ~0.3 s on a busy 2-core machine. With
# 0.5 s windows that lag is the same order as the window, so the client's windows are twice
# the venue's; a real connector (60 s and 10 s windows, ms of lag) needs far less headroom.
HEADROOM = 2.0


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
        RateLimitRule("weight", WEIGHT_LIMIT, WEIGHT_WINDOW * HEADROOM, "ip", "rolling"),
        RateLimitRule("raw", RAW_LIMIT, RAW_WINDOW * HEADROOM, "ip", "rolling"),
        RateLimitRule("orders", ORDER_LIMIT, ORDER_WINDOW * HEADROOM, "account", "rolling"),
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
    """1000 concurrent callers on three windows (weight, raw count, orders) never make the venue reject one."""
    emu.limit(HttpLimit(limit=WEIGHT_LIMIT, window=WEIGHT_WINDOW, weight=weight_of, kind="rolling"))
    emu.limit(HttpLimit(limit=RAW_LIMIT, window=RAW_WINDOW, kind="rolling"))
    emu.limit(HttpLimit(limit=ORDER_LIMIT, window=ORDER_WINDOW, path="/api/v3/order", method="POST", kind="rolling"))
    limits = limits_for(emu)

    async def caller(i: int, http: HttpClient) -> int:
        if i % 10 == 0:
            resp = await http.post("/api/v3/order", data={"i": i}, costs={"orders": 1}, limit_scope="account")
        else:
            resp = await http.get("/api/v3/depth" if i % 2 else "/api/v3/ticker", params={"i": i})
        return resp.status

    async with HttpClient({"rest": emu.http_url}, exchange="emu", limits=limits, timeout=30) as http:
        statuses = await asyncio.gather(*(caller(i, http) for i in range(CALLERS)))

    assert statuses == [200] * CALLERS
    assert len(emu.requests) == CALLERS
    assert [r for r in emu.requests if r.status != 200] == []
    assert emu.max_in_window(WEIGHT_WINDOW, weight=weight_of) <= WEIGHT_LIMIT
    assert emu.max_in_window(RAW_WINDOW) <= RAW_LIMIT
    assert emu.max_in_window(ORDER_WINDOW, "/api/v3/order", method="POST") <= ORDER_LIMIT
    # the limits were binding: without the limiter the first burst alone would overflow every window
    assert sum(WEIGHT[r.path] for r in emu.requests) > 2 * WEIGHT_LIMIT
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
