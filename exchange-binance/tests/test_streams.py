"""Trades, tickers and candles over real websockets; subscription messages, message rate, sharding."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from exchange_binance.testing import FakeBinance
from exchange_binance.ws import dedupe_key, make_policy
from exchanges import SubscriptionOverflow, Trade
from exchanges.testing.emulator import VenueEmulator, wait_until


async def take(stream: Any, count: int, timeout: float = 5.0) -> list[Any]:
    """The next ``count`` values of an async iterator."""

    async def run() -> list[Any]:
        return [await stream.__anext__() for _ in range(count)]

    return await asyncio.wait_for(run(), timeout)


@pytest.mark.parametrize(("futures", "symbol", "channel"), [(False, "BTC/USDT", "trade"),
                                                             (True, "BTC/USDT:PERP", "aggTrade")], ids=["spot", "usdm"])
async def test_trades_in_order(emu: VenueEmulator, connect: Any, futures: bool, symbol: str, channel: str) -> None:
    """Spot uses @trade and USD-M @aggTrade; every trade arrives, in order, as the venue recorded it."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        stream = ex.market_data.watch_trades(symbol)
        trades = await take(stream, 5)
        await stream.aclose()
    tape = {t["id"]: t for t in fake.markets["BTCUSDT"].trade_tape}
    ids = [int(t.trade_id) for t in trades]
    assert ids == list(range(ids[0], ids[0] + 5))
    for trade in trades:
        venue = tape[int(trade.trade_id)]
        assert isinstance(trade, Trade) and (trade.symbol, trade.exchange) == (symbol, ex.id)
        assert (trade.price, trade.quantity) == (venue["price"], venue["qty"])
        assert trade.side.value == ("sell" if venue["isBuyerMaker"] else "buy")
    assert emu.ws_sessions[0].messages()[0]["params"] == [f"btcusdt@{channel}"]
    assert ex.reference_price(symbol) in {t["price"] for t in tape.values()}  # the last routed trade's price


@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
async def test_book_ticker_is_watch_ticker(emu: VenueEmulator, connect: Any, futures: bool) -> None:
    """@bookTicker (no event type on spot) drives watch_ticker with the best bid and ask."""
    fake = FakeBinance(emu, futures=futures).install()
    symbol = "ETH/USDT:PERP" if futures else "ETH/USDT"
    async with connect(fake) as ex:
        stream = ex.market_data.watch_ticker(symbol)
        ticker = (await take(stream, 1))[0]
        await stream.aclose()
    market = fake.markets["ETHUSDT"]
    assert ticker.symbol == symbol and ticker.bid < ticker.ask
    assert abs(ticker.bid - market.mid) < market.tick * 25 and ticker.bid_size > 0
    reference = ex.reference_price(symbol)  # the mid of the last routed ticker
    assert reference is not None and abs(reference - market.mid) < market.tick * 25


async def test_candles_stream(spot: FakeBinance, connect: Any) -> None:
    """@kline_<interval> yields candles of that interval; the bar's last update is marked closed."""
    async with connect(spot) as ex:
        stream = ex.market_data.watch_candles("BTC/USDT", "1m")
        candles = await take(stream, 3)
        await stream.aclose()
        with pytest.raises(Exception, match="candle interval '7m'"):
            await ex.market_data.watch_candles("BTC/USDT", "7m").__anext__()
    assert [c.interval for c in candles] == ["1m"] * 3
    assert [c.closed for c in candles] == [False, False, True]


async def test_outgoing_message_rate_stays_within_five_per_second(spot: FakeBinance, emu: VenueEmulator,
                                                                  connect: Any) -> None:
    """Many subscriptions at once are paced: never more than 5 client frames per second on a spot connection."""
    symbols = ["BTC/USDT", "ETH/USDT", "ETH/BTC"]
    async with connect(spot, ws_ping_interval=30) as ex:
        first = ex.market_data.watch_trades("BTC/USDT")
        await take(first, 1)  # connected: every later stream is its own SUBSCRIBE message
        streams = [ex.market_data.watch_trades(s) for s in symbols[1:]] + [ex.market_data.watch_ticker(s) for s in symbols]
        streams += [ex.market_data.watch_candles(s, i) for s in symbols for i in ("1m", "5m")]
        await asyncio.wait_for(asyncio.gather(*(s.__anext__() for s in streams)), 10)
        session = emu.ws_sessions[0]
        subscribes = [m for m in session.messages() if m["method"] == "SUBSCRIBE"]
        for stream in [first, *streams]:
            await stream.aclose()
    assert len(subscribes) == 12 and sum(len(m["params"]) for m in subscribes) == 12
    assert emu.ws_max_in_window(1.0, session=0) <= 5


async def test_streams_spread_over_connections_past_the_limit(spot: FakeBinance, emu: VenueEmulator,
                                                              connect: Any) -> None:
    """Past max_streams_per_connection a new connection opens; each carries at most that many streams."""
    async with connect(spot, max_streams_per_connection=2) as ex:
        streams = [ex.market_data.watch_trades(s) for s in ("BTC/USDT", "ETH/USDT", "ETH/BTC")]
        streams.append(ex.market_data.watch_ticker("BTC/USDT"))
        streams.append(ex.market_data.watch_ticker("ETH/USDT"))
        await asyncio.wait_for(asyncio.gather(*(s.__anext__() for s in streams)), 10)
        counts = sorted(len(s.state.get("streams", ())) for s in emu.ws_sessions)
        assert len(ex.pool.connections) == 3
        for stream in streams:
            await stream.aclose()
        await wait_until(lambda: all(s.closed for s in emu.ws_sessions))
    assert counts == [1, 2, 2]


async def test_slow_trade_consumer_overflows(spot: FakeBinance, connect: Any) -> None:
    """A trade watcher that falls queue_size trades behind gets SubscriptionOverflow instead of silent gaps."""
    async with connect(spot, queue_size=3) as ex:
        stream = ex.market_data.watch_trades("BTC/USDT")
        await take(stream, 1)
        await asyncio.sleep(0.3)  # about 15 trades arrive meanwhile
        with pytest.raises(SubscriptionOverflow):
            await take(stream, 5)


async def test_unsubscribe_ends_trade_watchers(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """unsubscribe(symbol, "trades") ends the trade iterators and the stream goes away."""
    async with connect(spot) as ex:
        stream = ex.market_data.watch_trades("BTC/USDT")
        await take(stream, 1)
        await ex.market_data.unsubscribe("BTC/USDT", "trades")
        with pytest.raises(StopAsyncIteration):
            while True:
                await asyncio.wait_for(stream.__anext__(), 5)
        await wait_until(lambda: emu.ws_sessions[0].closed)
        assert ex.pool.streams == ()


async def test_bad_events_do_not_stop_the_stream(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A malformed event or an event of an unknown stream is counted and skipped; the stream goes on."""
    async with connect(spot) as ex:
        stream = ex.market_data.watch_trades("BTC/USDT")
        await take(stream, 1)
        session = emu.ws_sessions[0]
        await session.send_raw({"stream": "btcusdt@trade", "data": {"e": "trade", "t": 1}})
        await session.send_raw({"stream": "dogeusdt@trade", "data": {"e": "trade"}})
        await session.send_raw("not json")
        more = await take(stream, 2)
        connection = ex.pool.connections[0]
        await stream.aclose()
    assert len(more) == 2 and all(t.price > 0 for t in more)
    assert connection.stats.router_errors == 1 and connection.stats.undecodable == 1 and ex.pool.unrouted == 1


def test_policy_and_dedupe_key() -> None:
    """The policies carry the venue's limits; repeated events are recognised by stream and update id."""
    spot, usdm = make_policy("binance", futures=False), make_policy("binance-usdm", futures=True)
    assert (spot.max_messages_per_second, usdm.max_messages_per_second) == (5, 10)
    assert spot.max_streams_per_connection == 1024 and spot.max_lifetime < 24 * 3600
    assert spot.heartbeat.interval == 30.0  # the library's slow keep-alive, well inside the message budget
    depth = {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "U": 5, "u": 9}}
    ticker = {"stream": "btcusdt@bookTicker", "data": {"u": 9, "s": "BTCUSDT", "b": "1"}}
    kline = {"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": 77, "k": {}}}
    assert dedupe_key(depth) == ("btcusdt@depth@100ms", "u", 9) != dedupe_key(ticker)
    assert dedupe_key(kline) == ("btcusdt@kline_1m", "E", 77) and dedupe_key({"result": None, "id": 1}) is None


async def test_stdlib_json_decoder(spot: FakeBinance, connect: Any) -> None:
    """json="json" decodes frames with the standard library and gives the same trades."""
    async with connect(spot, json="json") as ex:
        stream = ex.market_data.watch_trades("ETH/BTC")
        trades = await take(stream, 2)
        await stream.aclose()
    assert all(isinstance(t.price, Decimal) and t.symbol == "ETH/BTC" for t in trades)
