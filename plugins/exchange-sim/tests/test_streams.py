"""The watch_* streams: conflated books and tickers, queued trades and candles, our orders, fills and balances."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import Balance, Order, OrderSide, OrderState

D = Decimal
BTC = "BTC/USDT"


async def test_book_stream_conflates_for_a_slow_reader(ex: SimExchange) -> None:
    """The first book is the current one; a reader that falls behind gets the latest book, not a backlog."""
    engine = ex.venue.engine(BTC)
    stream = ex.market_data.watch_order_book(BTC)
    first = await anext(stream)
    assert first == ex.venue.book(BTC) and first.sequence == engine.sequence
    ex.venue.step(5)  # five updates published while nobody reads
    latest = await anext(stream)
    assert latest.sequence == engine.sequence > first.sequence
    assert (latest.bids, latest.asks) == (ex.venue.book(BTC).bids, ex.venue.book(BTC).asks)
    ex.venue.step(1)
    following = await anext(stream)  # no stale intermediate book was queued behind `latest`
    assert following.sequence == engine.sequence > latest.sequence
    await stream.aclose()


@pytest.mark.parametrize("depth", [1, 5])
async def test_book_stream_depth_and_shape(ex: SimExchange, depth: int) -> None:
    """Books have ``depth`` levels per side, bids high to low, asks low to high, never crossed."""
    stream = ex.market_data.watch_order_book("ETH/USDT", depth=depth)
    for _ in range(3):
        book = await anext(stream)
        assert len(book.bids) == len(book.asks) == depth
        assert [lv.price for lv in book.bids] == sorted((lv.price for lv in book.bids), reverse=True)
        assert [lv.price for lv in book.asks] == sorted(lv.price for lv in book.asks)
        assert not book.is_crossed and book.exchange == "sim"
        ex.venue.step()
    await stream.aclose()


async def test_trade_stream_delivers_every_trade_in_order(ex: SimExchange, first_item) -> None:
    """watch_trades queues every trade of its symbol, in order, even when read after many steps."""
    stream = ex.market_data.watch_trades(BTC)
    pending = await first_item(stream)
    printed = [t for t in ex.venue.step(10) if t.symbol == BTC]
    assert len(printed) > 3
    received = [await pending] + [await anext(stream) for _ in printed[1:]]
    assert received == printed
    assert [int(t.trade_id) for t in received] == sorted(int(t.trade_id) for t in received)
    await stream.aclose()


async def test_ticker_stream_follows_trades(ex: SimExchange, set_book: Callable[..., None]) -> None:
    """The ticker stream starts with the current ticker and reports the last price of a new trade."""
    set_book(ex, BTC, bids=[("59000.00", "1")], asks=[("60000.00", "1")])
    stream = ex.market_data.watch_ticker(BTC)
    current = await anext(stream)
    assert (current.bid, current.ask) == (D("59000.00"), D("60000.00"))
    await ex.execution.place_order(Order.market(BTC, "buy", "0.25"))
    ticker = await anext(stream)
    assert (ticker.last, ticker.ask, ticker.ask_size, ticker.volume) == (D("60000.00"), D("60000.00"), D("0.75"), D("0.25"))
    await stream.aclose()


async def test_candle_stream_reports_forming_and_closed_bars(ex: SimExchange, set_book: Callable[..., None],
                                                            first_item) -> None:
    """Each trade updates the forming bar; the first trade of a later interval closes the previous bar."""
    set_book(ex, BTC, asks=[("60000.00", "1"), ("60010.00", "1")])
    stream = ex.market_data.watch_candles(BTC, "1m")
    pending = await first_item(stream)
    await ex.execution.place_order(Order.market(BTC, "buy", "0.5"))
    forming = await pending
    assert (forming.open, forming.close, forming.volume, forming.closed) == (D(60000), D(60000), D("0.5"), False)
    ex.venue.advance(60_000)
    await ex.execution.place_order(Order.market(BTC, "buy", "1"))  # 0.5 @ 60000, 0.5 @ 60010
    closed = await anext(stream)
    assert closed.closed and closed.open_time == forming.open_time and closed.volume == D("0.5")
    nxt = await anext(stream)
    assert nxt.open_time == forming.open_time + 60_000 and not nxt.closed
    await stream.aclose()


async def test_order_and_fill_streams_report_our_orders(ex: SimExchange, set_book: Callable[..., None],
                                                        first_item) -> None:
    """watch_orders reports accepted then filled; watch_fills reports our fill, not other participants' trades."""
    set_book(ex, BTC, bids=[("59000.00", "1")], asks=[("60000.00", "1")])
    orders = ex.execution.watch_orders(BTC)
    fills = ex.execution.watch_fills()
    first_order = await first_item(orders)
    first_fill = await first_item(fills)
    ex.venue.submit_external(BTC, "buy", "0.1")  # someone else's trade: not ours
    order = Order.limit(BTC, "buy", "0.2", "59500.00")
    result = await ex.execution.place_order(order)
    ex.venue.submit_external(BTC, "sell", "0.2")  # fills our bid as maker
    accepted = await first_order
    filled = await anext(orders)
    assert (accepted.order_id, accepted.state, accepted.filled_quantity) == (result.order_id, OrderState.NEW, 0)
    assert (filled.state, filled.filled_quantity, filled.average_price) == (OrderState.FILLED, D("0.2"), D(59500))
    fill = await first_fill
    assert (fill.order_id, fill.side, fill.price, fill.quantity, fill.is_maker) == (
        result.order_id, OrderSide.BUY, D(59500), D("0.2"), True
    )
    await orders.aclose()
    await fills.aclose()


async def test_order_stream_filters_by_symbol(ex: SimExchange, first_item) -> None:
    """watch_orders(symbol) skips updates of other symbols."""
    stream = ex.execution.watch_orders("ETH/USDT")
    pending = await first_item(stream)
    await ex.execution.place_order(Order.limit(BTC, "buy", "0.1", "50000.00"))
    eth = await ex.execution.place_order(Order.limit("ETH/USDT", "buy", "1", "2000.00"))
    assert (await pending).order_id == eth.order_id
    await stream.aclose()


async def test_balance_stream(ex: SimExchange) -> None:
    """watch_balances starts with the balances now and reports the lock of a new order."""
    stream = ex.execution.watch_balances()
    now = await anext(stream)
    assert now["USDT"] == Balance("USDT", D(100000), D(0))
    await ex.execution.place_order(Order.limit(BTC, "buy", "0.1", "50000.00"))
    after = await anext(stream)
    assert after["USDT"] == Balance("USDT", D("94997.5"), D("5002.5"))
    await stream.aclose()


@pytest.mark.parametrize("channel", ["order_book", None])
async def test_unsubscribe_and_close_end_streams(open_sim, channel: str | None) -> None:
    """unsubscribe ends that symbol's streams only; closing the exchange ends every stream."""
    async with open_sim() as ex:
        book = ex.market_data.watch_order_book(BTC)
        await anext(book)
        perp_book = ex.market_data.watch_order_book("BTC/USDT:PERP")  # its topic name starts like BTC/USDT's
        await anext(perp_book)
        trades = ex.market_data.watch_trades("ETH/USDT")
        waiting = asyncio.ensure_future(anext(trades))
        await asyncio.sleep(0)
        await ex.market_data.unsubscribe(BTC, channel)
        with pytest.raises(StopAsyncIteration):
            await anext(book)
        assert ex.venue.bus.topics == ["book:BTC/USDT:PERP", "trades:ETH/USDT"]
        assert not waiting.done()
    with pytest.raises(StopAsyncIteration):
        await anext(perp_book)
    with pytest.raises(StopAsyncIteration):
        await waiting
