"""The loopback venue emulator, REST side: scripted routes, recording, faults, venue-like limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from exchanges.testing.emulator import HttpLimit, Reply, VenueEmulator, max_in_window, per_window


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client."""
    async with aiohttp.ClientSession() as session:
        yield session


async def fetch(
    http: aiohttp.ClientSession, method: str, url: str, **kwargs: object
) -> tuple[int, dict[str, str], bytes]:
    async with http.request(method, url, **kwargs) as response:  # type: ignore[arg-type]
        return response.status, dict(response.headers), await response.read()


async def test_binds_a_free_loopback_port(emu: VenueEmulator) -> None:
    """Port 0 becomes a real port and both URLs point at 127.0.0.1 on it."""
    assert emu.port > 0
    assert emu.http_url == f"http://127.0.0.1:{emu.port}"
    assert emu.ws_url == f"ws://127.0.0.1:{emu.port}"


async def test_route_serves_json_and_records_the_request(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A plain value is served as 200 JSON; method, path, query, headers and body are recorded."""
    emu.route("POST", "/api/v3/order", {"orderId": 7})
    status, headers, body = await fetch(
        http,
        "POST",
        emu.http_url + "/api/v3/order?symbol=BTCUSDT&side=BUY",
        data=b"quantity=1&price=2",
        headers={"X-MBX-APIKEY": "k", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, body) == (200, b'{"orderId":7}')
    assert headers["Content-Type"].startswith("application/json")
    (request,) = emu.requests_for("/api/v3/order", "post")
    assert (request.method, request.path, request.status) == ("POST", "/api/v3/order", 200)
    assert request.query == {"symbol": "BTCUSDT", "side": "BUY"}
    assert request.query_string == "symbol=BTCUSDT&side=BUY"
    assert request.header("x-mbx-apikey") == "k"
    assert request.params() == {"symbol": "BTCUSDT", "side": "BUY", "quantity": "1", "price": "2"}


async def test_reply_sequence_is_served_in_turn_and_the_last_repeats(
    emu: VenueEmulator, http: aiohttp.ClientSession
) -> None:
    """A list of replies answers successive requests; the last one keeps answering."""
    emu.route("GET", "/x", [Reply(503, json={"e": 1}), Reply(json={"ok": 1}), Reply(json={"ok": 2})])
    statuses = [await fetch(http, "GET", emu.http_url + "/x") for _ in range(4)]
    assert [(s, b) for s, _, b in statuses] == [
        (503, b'{"e":1}'),
        (200, b'{"ok":1}'),
        (200, b'{"ok":2}'),
        (200, b'{"ok":2}'),
    ]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_callable_route_computes_the_reply(
    emu: VenueEmulator, http: aiohttp.ClientSession, asynchronous: bool
) -> None:
    """A responder (sync or async) sees the recorded request and may return a Reply or a JSON value."""

    def sync(request):  # type: ignore[no-untyped-def]
        if request.query.get("fail"):
            return Reply(400, json={"code": -1100})
        return {"echo": request.json()}

    async def asyn(request):  # type: ignore[no-untyped-def]
        return sync(request)

    emu.route("*", "/echo", asyn if asynchronous else sync)
    ok = await fetch(http, "PUT", emu.http_url + "/echo", json={"a": 1})
    bad = await fetch(http, "GET", emu.http_url + "/echo?fail=1")
    assert (ok[0], ok[2]) == (200, b'{"echo":{"a":1}}')
    assert (bad[0], bad[2]) == (400, b'{"code":-1100}')


async def test_unknown_route_is_a_recorded_404(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A request without a route gets 404 and is still recorded."""
    status, _, body = await fetch(http, "GET", emu.http_url + "/nowhere")
    assert status == 404
    assert b"no route for GET /nowhere" in body
    assert [r.path for r in emu.requests] == ["/nowhere"]


@pytest.mark.parametrize(
    ("reply", "header"),
    [
        (Reply(429, json={"code": -1003}, headers={"Retry-After": "3"}), ("Retry-After", "3")),
        (Reply(418, json={"code": -1003}, headers={"Retry-After": "120"}), ("Retry-After", "120")),
        (Reply(503, body="Service Unavailable."), None),
        (Reply(500, json={"code": -1000}), None),
    ],
)
async def test_injected_fault_answers_the_next_request_only(
    emu: VenueEmulator, http: aiohttp.ClientSession, reply: Reply, header: tuple[str, str] | None
) -> None:
    """fail() answers the next matching request with the fault (status, body, headers), then the route resumes."""
    emu.route("GET", "/api/v3/depth", {"lastUpdateId": 1})
    emu.fail("GET", "/api/v3/depth", reply)
    first = await fetch(http, "GET", emu.http_url + "/api/v3/depth")
    second = await fetch(http, "GET", emu.http_url + "/api/v3/depth")
    assert first[0] == reply.status
    assert first[2] == reply.encoded()[0]
    if header:
        assert first[1][header[0]] == header[1]
    assert (second[0], second[2]) == (200, b'{"lastUpdateId":1}')


async def test_fault_for_any_path_counts_down(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A fault with path None hits any path, exactly ``times`` times."""
    emu.route("GET", "/a", {"a": 1})
    emu.fail(None, None, Reply(502), times=2)
    statuses = [(await fetch(http, "GET", emu.http_url + "/a"))[0] for _ in range(3)]
    assert statuses == [502, 502, 200]


async def test_disconnect_reply_closes_without_answering(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """Reply(disconnect=True) drops the TCP connection: the client gets no response at all."""
    emu.route("POST", "/api/v3/order", Reply(disconnect=True))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await fetch(http, "POST", emu.http_url + "/api/v3/order")
    assert len(emu.requests_for("/api/v3/order")) == 1


async def test_delayed_reply_trips_a_client_timeout(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """Reply(delay=...) holds the answer back long enough for a short client timeout to fire."""
    emu.route("GET", "/slow", Reply(json={}, delay=2.0))
    with pytest.raises(asyncio.TimeoutError):
        await fetch(http, "GET", emu.http_url + "/slow", timeout=aiohttp.ClientTimeout(total=0.1))


async def test_fixed_window_limit_answers_429_with_retry_after_and_used_weight(
    emu: VenueEmulator, http: aiohttp.ClientSession
) -> None:
    """Past the limit the emulator answers 429 + Retry-After like Binance; rejected requests do not count."""
    emu.route("GET", "/api/v3/depth", {"ok": True})
    emu.limit(HttpLimit(limit=5, window=60, weight=2, used_header="X-MBX-USED-WEIGHT-1M"))
    answers = [await fetch(http, "GET", emu.http_url + "/api/v3/depth") for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 429, 429]
    assert [a[1]["X-MBX-USED-WEIGHT-1M"] for a in answers] == ["2", "4", "4", "4"]
    assert 1 <= int(answers[2][1]["Retry-After"]) <= 60
    assert answers[2][2] == b'{"code":-1003,"msg":"Too many requests (emulator)."}'
    assert [r.status for r in emu.requests] == [200, 200, 429, 429]


async def test_limit_escalates_to_a_418_ban(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """After ``ban_after`` rejections every request gets 418 with the ban length in Retry-After."""
    emu.route("GET", "/x", {})
    emu.limit(HttpLimit(limit=1, window=60, ban_after=1, ban_seconds=90))
    statuses = [await fetch(http, "GET", emu.http_url + "/x") for _ in range(4)]
    assert [s for s, _, _ in statuses] == [200, 429, 418, 418]
    assert statuses[2][1]["Retry-After"] == "90"


async def test_limit_applies_only_to_its_path_and_method(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A per-endpoint limit leaves other paths and methods alone."""
    emu.route("*", "/limited", {})
    emu.route("GET", "/free", {})
    emu.limit(HttpLimit(limit=1, window=60, path="/limited", method="POST"))
    statuses = [
        (await fetch(http, "POST", emu.http_url + "/limited"))[0],
        (await fetch(http, "POST", emu.http_url + "/limited"))[0],
        (await fetch(http, "GET", emu.http_url + "/limited"))[0],
        (await fetch(http, "GET", emu.http_url + "/free"))[0],
    ]
    assert statuses == [200, 429, 200, 200]


async def test_rolling_limit_frees_room_as_requests_age(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A rolling window admits again once the oldest request is older than the window."""
    emu.route("GET", "/x", {})
    emu.limit(HttpLimit(limit=2, window=0.3, kind="rolling"))
    first = [(await fetch(http, "GET", emu.http_url + "/x"))[0] for _ in range(3)]
    await asyncio.sleep(0.35)
    later = (await fetch(http, "GET", emu.http_url + "/x"))[0]
    assert first == [200, 200, 429]
    assert later == 200


async def test_window_counters_match_the_recorded_requests(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """count_by_window and max_in_window count the recorded requests (optionally weighted, per path)."""
    emu.route("GET", "/a", {})
    emu.route("GET", "/b", {})
    for path in ("/a", "/a", "/b", "/a"):
        await fetch(http, "GET", emu.http_url + path)
    assert sum(emu.count_by_window(60).values()) == 4
    assert sum(emu.count_by_window(60, "/a").values()) == 3
    assert emu.max_in_window(60, "/a") == 3
    assert emu.max_in_window(60, weight=lambda r: 10 if r.path == "/b" else 1) == 13


@pytest.mark.parametrize(
    ("times", "window", "expected_max", "expected_windows"),
    [
        ([0.0, 0.5, 0.99, 1.0, 1.2], 1.0, 4, {0: 3, 1: 2}),
        ([0.0, 1.0, 2.0, 3.0], 1.0, 1, {0: 1, 1: 1, 2: 1, 3: 1}),
        ([0.9, 1.1, 1.2, 1.3, 2.5], 1.0, 4, {0: 1, 1: 3, 2: 1}),
        ([], 1.0, 0, {}),
    ],
)
def test_window_helpers(times: list[float], window: float, expected_max: int, expected_windows: dict[int, int]) -> None:
    """max_in_window slides over [t, t + window); per_window buckets by fixed windows."""
    assert max_in_window(times, window) == expected_max
    assert per_window(times, window) == expected_windows


def test_weighted_window_helpers() -> None:
    """Weights are summed instead of counted."""
    assert max_in_window([0.0, 0.1, 5.0], 1.0, weights=[2, 3, 4]) == 5
    assert per_window([0.0, 0.1, 5.0], 1.0, weights=[2, 3, 4]) == {0: 5, 5: 4}


async def test_limit_weight_may_depend_on_the_request(emu: VenueEmulator, http: aiohttp.ClientSession) -> None:
    """A weight callable prices each request (e.g. Binance depth by limit) against the same budget."""
    emu.route("GET", "/api/v3/depth", {})
    emu.limit(HttpLimit(limit=60, window=60, weight=lambda r: 50 if r.query.get("limit") == "5000" else 5))
    big = await fetch(http, "GET", emu.http_url + "/api/v3/depth?limit=5000")
    small = [await fetch(http, "GET", emu.http_url + "/api/v3/depth?limit=100") for _ in range(3)]
    assert [big[0], *(s[0] for s in small)] == [200, 200, 200, 429]
