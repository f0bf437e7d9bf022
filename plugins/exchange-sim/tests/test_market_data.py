"""REST-style snapshots: order_book, trades, ticker, candles."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import BadSymbol, NotSupported, Order, OrderSide

D = Decimal
BTC = "BTC/USDT"
MINUTE = 60_000


@pytest.mark.parametrize("depth", [1, 10, 25])
async def test_order_book_depth(ex: SimExchange, depth: int) -> None:
    """order_book returns ``depth`` levels per side with the engine's sequence."""
    book = await ex.market_data.order_book(BTC, depth=depth)
    assert len(book.bids) == len(book.asks) == depth
    assert book.sequence == ex.venue.engine(BTC).sequence and book.exchange == "sim" and book.symbol == BTC
    assert all(lv.num_orders and lv.num_orders >= 1 for lv in (*book.bids, *book.asks))


async def test_trades_snapshot(ex: SimExchange) -> None:
    """trades returns the most recent trades of the symbol, oldest first, at most ``limit``."""
    printed = [t for t in ex.venue.step(30) if t.symbol == BTC]
    assert len(printed) > 5
    assert await ex.market_data.trades(BTC, limit=5) == printed[-5:]
    assert await ex.market_data.trades(BTC, limit=1000) == printed


async def test_ticker_values(ex: SimExchange, set_book: Callable[..., None]) -> None:
    """The ticker shows the best prices and sizes, the last trade and the day's range and volume."""
    set_book(ex, BTC, bids=[("59000.00", "2")], asks=[("60000.00", "1"), ("61200.00", "1")])
    assert (await ex.market_data.ticker(BTC)).last is None
    await ex.execution.place_order(Order.market(BTC, "buy", "1.5"))  # 1 @ 60000, 0.5 @ 61200
    ticker = await ex.market_data.ticker(BTC)
    assert (ticker.bid, ticker.bid_size, ticker.ask, ticker.ask_size) == (D(59000), D(2), D(61200), D("0.5"))
    assert (ticker.last, ticker.open, ticker.high, ticker.low) == (D(61200), D(60000), D(61200), D(60000))
    assert (ticker.volume, ticker.quote_volume, ticker.change_percent) == (D("1.5"), D(90600), D(2))


async def test_candles_build_from_trades(ex: SimExchange, set_book: Callable[..., None]) -> None:
    """Bars aggregate the trades of their interval; an interval without trades is a flat bar up to now."""
    set_book(ex, BTC, bids=[("59000.00", "5")], asks=[("60000.00", "1"), ("60500.00", "5")])
    start = ex.venue.now()
    await ex.execution.place_order(Order.market(BTC, "buy", "1.2"))  # 1 @ 60000, 0.2 @ 60500
    await ex.execution.place_order(Order.market(BTC, "sell", "0.3"))  # 0.3 @ 59000
    ex.venue.advance(2 * MINUTE)
    await ex.execution.place_order(Order.market(BTC, "buy", "0.1"))  # 0.1 @ 60500
    ex.venue.advance(MINUTE)
    bars = await ex.market_data.candles(BTC, "1m", limit=10)
    assert [b.open_time - start for b in bars] == [0, MINUTE, 2 * MINUTE, 3 * MINUTE]
    first, flat, third, now = bars
    assert (first.open, first.high, first.low, first.close, first.volume) == (D(60000), D(60500), D(59000), D(59000), D("1.5"))
    assert (flat.open, flat.close, flat.volume, flat.closed) == (D(59000), D(59000), D(0), True)
    assert (third.close, third.volume, third.closed) == (D(60500), D("0.1"), True)
    assert (now.volume, now.closed) == (D(0), False)
    assert [b.open_time for b in await ex.market_data.candles(BTC, "1m", limit=2)] == [b.open_time for b in bars[-2:]]
    since = await ex.market_data.candles(BTC, "1m", limit=2, since=start + MINUTE)
    assert [b.open_time - start for b in since] == [MINUTE, 2 * MINUTE]
    (hour,) = await ex.market_data.candles(BTC, "1h")
    assert (hour.high, hour.low, hour.volume) == (D(60500), D(59000), D("1.6"))


@pytest.mark.parametrize("call", ["candles", "watch_candles"])
async def test_unknown_interval(ex: SimExchange, call: str) -> None:
    """An unsupported candle interval raises NotSupported listing the valid ones."""
    with pytest.raises(NotSupported, match="'2m'.*valid: 1s, 1m"):
        if call == "candles":
            await ex.market_data.candles(BTC, "2m")
        else:
            await anext(ex.market_data.watch_candles(BTC, "2m"))


async def test_unlisted_symbol(ex: SimExchange) -> None:
    """Market data for a symbol the venue does not list raises BadSymbol."""
    with pytest.raises(BadSymbol):
        await ex.market_data.order_book("DOGE/USDT")


async def test_mark_price_is_the_mid(ex: SimExchange, set_book: Callable[..., None]) -> None:
    """The mark price of a book is its mid, and its last price when a side is empty."""
    set_book(ex, BTC, bids=[("59000.00", "1")], asks=[("60000.00", "1")])
    assert ex.venue.mark_price(BTC) == D(59500)
    set_book(ex, BTC, bids=[("59000.00", "1")])
    assert ex.venue.mark_price(BTC) == ex.venue.engine(BTC).last_price == D(60000)
    assert ex.venue.engine(BTC).levels(OrderSide.SELL) == []
