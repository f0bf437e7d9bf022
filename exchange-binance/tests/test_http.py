"""REST over loopback HTTP: signing on the wire, server time and -1021, weights, live limits, market data."""

from __future__ import annotations

import warnings
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_binance.errors import InvalidTimestamp
from exchange_binance.testing import FakeBinance
from exchange_binance.venue import KLINE_INTERVALS
from exchanges import AuthenticationError, ConfigError, Host, NotSupported, Order, OrderState, RateLimited
from exchanges.testing.emulator import Reply, VenueEmulator


async def test_signed_request_wire_format(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A signed call carries the key header, recvWindow and timestamp, and the signature as the last parameter."""
    async with connect(spot, recv_window=7000) as ex:
        await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="w1"))
    request = emu.requests_for("/api/v3/order", "POST")[0]
    names = [part.split("=")[0] for part in request.query_string.split("&")]
    assert names[-3:] == ["recvWindow", "timestamp", "signature"]
    assert request.query["recvWindow"] == "7000"
    assert request.header("X-MBX-APIKEY") == spot.api_key
    assert len(request.query["signature"]) == 64  # lowercase hex HMAC-SHA256, verified by the venue


async def test_ed25519_key_signs_orders(connect: Any) -> None:
    """An Ed25519 private key signs requests the venue verifies with the public key (Base64 signature, percent-encoded)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    async with VenueEmulator() as emu:
        fake = FakeBinance(emu, secret=public).install()
        async with connect(fake, credentials={"api_key": fake.api_key, "secret": private}) as ex:
            result = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000"))
    assert result.status is OrderState.NEW
    signature = emu.requests_for("/api/v3/order", "POST")[0].query["signature"]
    assert len(signature) == 88 and signature.endswith("==")  # Base64 of 64 bytes
    raw = [r.raw_query_string for r in emu.requests_for("/api/v3/order", "POST")]
    assert len(raw) == 1
    assert raw[0].endswith("&signature=" + quote(signature, safe="")) and raw[0].endswith("%3D%3D")


async def test_wrong_secret_is_an_authentication_error(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A signature the venue rejects (-1022) is an AuthenticationError, and the order is not retried."""
    async with connect(spot, credentials={"api_key": spot.api_key, "secret": "not-the-secret"}) as ex:
        with pytest.raises(AuthenticationError, match="-1022"):
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000"))
    assert len(emu.requests_for("/api/v3/order", "POST")) == 1


async def test_private_call_without_credentials(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A private call without credentials fails locally, naming what is missing."""
    async with connect(spot, credentials=None) as ex:
        with pytest.raises(AuthenticationError, match="needs credentials"):
            await ex.execution.balances()
    assert not emu.requests_for("/api/v3/account")


@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
async def test_clock_offset_then_1021_resync_and_single_retry(emu: VenueEmulator, connect: Any, futures: bool) -> None:
    """The first signed call measures the server offset; a later -1021 resyncs it and retries once: one order."""
    fake = FakeBinance(emu, futures=futures).install()
    fake.clock_offset_ms = 30_000  # the venue runs 30 s ahead of us: unsynced timestamps would be refused
    symbol, qty = ("BTC/USDT:PERP", "0.01") if futures else ("BTC/USDT", "0.001")
    path = fake.path("order")
    async with connect(fake) as ex:
        await ex.execution.place_order(Order.limit(symbol, "buy", qty, "29000", client_order_id="t1"))
        assert abs(ex.rest.offset_ms - 30_000) < 1_000
        fake.clock_offset_ms = -60_000  # the venue clock jumps back: our next timestamp is ahead of it
        result = await ex.execution.place_order(Order.limit(symbol, "buy", qty, "29000", client_order_id="t2"))
    assert result.status is OrderState.NEW
    assert [r.status for r in emu.requests_for(path, "POST")] == [200, 400, 200]
    assert len(emu.requests_for(fake.path("time"))) == 2
    assert [o.client_id for o in fake.orders.values()] == ["t1", "t2"]


async def test_1021_is_retried_only_once(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A second -1021 in a row is raised (InvalidTimestamp), after exactly two attempts."""
    answer = Reply(400, json={"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    emu.fail("POST", "/api/v3/order", answer, times=2)
    async with connect(spot) as ex:
        with pytest.raises(InvalidTimestamp):
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000"))
    assert len(emu.requests_for("/api/v3/order", "POST")) == 2 and spot.orders == {}


def _weight(ex: Any) -> int:
    return int(ex.limits.limiter("ip").usage()["weight/60s"])


@pytest.mark.parametrize(
    ("futures", "depth", "limit", "weight"),
    [(False, 5, 5, 5), (False, 100, 100, 5), (False, 101, 101, 25), (False, 1000, 1000, 50), (False, 5000, 5000, 250),
     (True, 20, 20, 2), (True, 60, 100, 5), (True, 500, 500, 10), (True, 1000, 1000, 20)],
)
async def test_depth_weight_depends_on_limit(emu: VenueEmulator, connect: Any, futures: bool, depth: int, limit: int,
                                            weight: int) -> None:
    """order_book asks for a valid limit covering the depth and draws that limit's weight from the shared limiter."""
    fake = FakeBinance(emu, futures=futures).install()
    symbol = "BTC/USDT:PERP" if futures else "BTC/USDT"
    async with connect(fake, rate_limit_testing=True) as ex:
        before = _weight(ex)
        book = await ex.market_data.order_book(symbol, depth=depth)
        spent = _weight(ex) - before
    assert emu.requests_for(fake.path("depth"))[0].query["limit"] == str(limit)
    assert spent == weight
    assert len(book.bids) == min(depth, 20) and book.bids[0].price > book.bids[-1].price


@pytest.mark.parametrize(("futures", "registered", "live"), [(False, 6000, 1200), (True, 2400, 6000)],
                         ids=["spot", "usdm"])
async def test_live_limits_override_registered_defaults(emu: VenueEmulator, host: Host, futures: bool,
                                                        registered: int, live: int) -> None:
    """exchangeInfo's REQUEST_WEIGHT replaces the registered default in the shared limiter, for every connector."""
    from exchange_binance.conformance import FAST_SETTINGS

    fake = FakeBinance(emu, futures=futures, weight_limit=live).install()
    exchange_id = "binance-usdm" if futures else "binance"
    assert {r.name: r.limit for r in host.rate_limit_rules(exchange_id)}["weight/60s"] == registered
    kwargs = {"endpoints": fake.endpoints, "credentials": fake.credentials, **FAST_SETTINGS}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second connector must agree with the shared limiter's rules
        async with host.connect(exchange_id, **kwargs) as first, host.connect(exchange_id, **kwargs) as second:
            limits = {r.name: r.limit for r in first.limits.limiter("ip").rules}
            assert second.limits.limiter("ip") is first.limits.limiter("ip")
    assert limits["weight/60s"] == live
    assert len(emu.requests_for(fake.path("exchangeInfo"))) == 1  # instruments shared by both connectors


async def test_usage_header_feeds_the_limiter(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """X-MBX-USED-WEIGHT-1M from the venue raises the local count, so the next heavy call waits."""
    emu.route("GET", "/api/v3/ping", Reply(json={}, headers={"X-MBX-USED-WEIGHT-1M": "5900"}))
    async with connect(spot, rate_limit_testing=True) as ex:
        health = await ex.health()
        assert health.ok and _weight(ex) == 5900
        await ex.market_data.order_book("BTC/USDT", depth=5000)  # weight 250: over 6000, waits for the next minute
        waits = ex.limits.limiter("ip").waits
    assert waits and 0 < waits[0] <= 60


async def test_429_is_rate_limited_with_retry_after(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A 429 raises RateLimited with Retry-After and pauses the shared IP limiter."""
    emu.fail("GET", "/api/v3/depth", Reply(429, json={"code": -1003, "msg": "Too many requests."},
                                             headers={"Retry-After": "7"}))
    async with connect(spot, rate_limit_testing=True) as ex:
        with pytest.raises(RateLimited) as err:
            await ex.market_data.order_book("BTC/USDT")
        paused = ex.limits.limiter("ip").paused_until
    assert err.value.retry_after == 7.0 and paused is not None


async def test_reads_are_retried_after_a_server_error(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A GET that meets a 5xx is retried (it is idempotent) and succeeds."""
    emu.fail("GET", "/api/v3/trades", Reply(502, body="bad gateway"))
    async with connect(spot) as ex:
        trades = await ex.market_data.trades("BTC/USDT", limit=3)
    assert len(trades) == 3 and len(emu.requests_for("/api/v3/trades")) == 2


@pytest.mark.parametrize("interval", KLINE_INTERVALS)
async def test_every_documented_interval(spot: FakeBinance, emu: VenueEmulator, connect: Any, interval: str) -> None:
    """Every documented kline interval is accepted and sent as is (case sensitive)."""
    async with connect(spot) as ex:
        candles = await ex.market_data.candles("BTC/USDT", interval, limit=2, since=1_700_000_000_000)
    assert [c.interval for c in candles] == [interval, interval]
    assert emu.requests_for("/api/v3/klines")[0].query["interval"] == interval
    assert candles[0].open_time < candles[1].open_time


@pytest.mark.parametrize(("futures", "interval"), [(False, "2m"), (False, "1H"), (True, "1s")])
async def test_undocumented_interval_is_refused(emu: VenueEmulator, connect: Any, futures: bool, interval: str) -> None:
    """An interval the product line does not document raises NotSupported listing the valid ones; nothing is sent."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        with pytest.raises(NotSupported, match="valid: "):
            await ex.market_data.candles("BTC/USDT:PERP" if futures else "BTC/USDT", interval)
    assert not emu.requests_for(fake.path("klines"))


async def test_usdm_ticker_adds_best_bid_ask(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """USD-M's 24 h ticker has no bid/ask: they come from bookTicker."""
    async with connect(usdm) as ex:
        ticker = await ex.market_data.ticker("BTC/USDT:PERP")
        best = await ex.market_data.book_ticker("BTC/USDT:PERP")
    market = usdm.markets["BTCUSDT"]
    assert (ticker.bid, ticker.ask, ticker.last) == (market.best_bid, market.best_ask, market.mid)
    assert (best.bid, best.bid_size) == (market.best_bid, market.bids[market.best_bid])
    assert len(emu.requests_for("/fapi/v1/ticker/24hr")) == 1


async def test_learned_pair_splits(spot: FakeBinance, emu: VenueEmulator, connect: Any, host: Host) -> None:
    """exchangeInfo teaches the mapper splits its quote list cannot guess."""
    info = spot.exchange_info()
    odd = dict(info["symbols"][0], symbol="ABCXYZ", baseAsset="ABC", quoteAsset="XYZ")
    emu.route("GET", "/api/v3/exchangeInfo", {**info, "symbols": [*info["symbols"], odd]})
    async with connect(spot) as ex:
        assert ex.instruments.get("ABC/XYZ").raw_symbol == "ABCXYZ"
    mapper = host.symbol_mapper("binance")
    assert mapper is not None and mapper.normalize("ABCXYZ") == "ABC/XYZ"


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"recv_windw": 1}, "unknown binance setting"), ({"book_speed": "10ms"}, "book_speed"),
     ({"book_snapshot_limit": 7}, "book_snapshot_limit"), ({"json": "ujson"}, "json")],
)
def test_bad_settings_are_config_errors(spot: FakeBinance, host: Host, settings: dict[str, Any], message: str) -> None:
    """A misspelled or invalid setting fails when the connector is built, naming it."""
    with pytest.raises(ConfigError, match=message):
        host.connect("binance", endpoints=spot.endpoints, **settings)


async def test_balances_spot_and_usdm(emu: VenueEmulator, connect: Any) -> None:
    """Spot balances come from the account (zero ones omitted); USD-M free is the available balance."""
    fake = FakeBinance(emu).install()
    fake.balances["XRP"] = [Decimal(0), Decimal(0)]
    async with connect(fake) as ex:
        balances = await ex.execution.balances()
    assert sorted(balances) == ["BTC", "ETH", "USDT"] and balances["USDT"].free == Decimal(10000)
    assert emu.requests_for("/api/v3/account")[0].query["omitZeroBalances"] == "true"
