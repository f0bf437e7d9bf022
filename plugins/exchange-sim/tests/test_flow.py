"""The simulated participants: seeded books, determinism under a seed, a live two-sided book, the background task."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import Order, OrderSide

D = Decimal


@pytest.mark.parametrize(("symbol", "start", "band"), [
    ("BTC/USDT", D(60000), D(100)), ("ETH/USDT", D(3000), D(10)), ("BTC/USDT:PERP", D(60000), D(100)),
])
async def test_books_are_seeded_around_the_start_price(ex: SimExchange, symbol: str, start: Decimal,
                                                       band: Decimal) -> None:
    """At connect every book holds the configured number of levels per side close around its start price."""
    book = await ex.market_data.order_book(symbol, depth=100)
    assert len(book.bids) == len(book.asks) == 25
    assert start - band < book.best_bid < start < book.best_ask < start + band  # type: ignore[operator]
    assert not book.is_crossed


async def test_market_order_fills_on_the_seeded_book(ex: SimExchange) -> None:
    """A market order fills at once against the seeded liquidity."""
    result = await ex.execution.place_order(Order.market("ETH/USDT", "buy", "1"))
    assert result.filled_quantity == D(1) and D(2990) < result.average_price < D(3010)  # type: ignore[operator]


async def _run(open_sim, seed: int, steps: int) -> dict:
    async with open_sim(seed=seed) as ex:
        ex.venue.step(steps // 2)
        # our own orders are part of the sequence too
        await ex.execution.place_order(Order.market("BTC/USDT", "buy", "0.01"))
        await ex.execution.place_order(Order.limit("ETH/USDT", "sell", "1", "3001.00"))
        ex.venue.step(steps - steps // 2)
        return dict(ex.venue.snapshot())


async def test_same_seed_same_market(open_sim) -> None:
    """Two venues with the same seed and the same steps and orders end with identical books, trades and balances."""
    first = await _run(open_sim, 7, 120)
    second = await _run(open_sim, 7, 120)
    assert first == second
    assert sum(len(t) for t in first["trades"].values()) > 50


async def test_other_seed_other_market(open_sim) -> None:
    """A different seed gives a different market."""
    assert (await _run(open_sim, 7, 60))["trades"] != (await _run(open_sim, 8, 60))["trades"]


async def test_book_stays_two_sided_and_uncrossed(ex: SimExchange) -> None:
    """Over many steps every book keeps both sides, never crosses, and trades print on every market."""
    printed: set[str] = set()
    for _ in range(40):
        printed.update(t.symbol for t in ex.venue.step(10))
        for symbol in ex.venue.symbols:
            engine = ex.venue.engine(symbol)
            assert not engine.is_crossed
            assert len(engine.levels(OrderSide.BUY)) >= 25 and len(engine.levels(OrderSide.SELL)) >= 25
    assert printed == set(ex.venue.symbols)
    start = {"BTC/USDT": 60000, "ETH/USDT": 3000, "BTC/USDT:PERP": 60000}
    for symbol, price in start.items():  # the fair value wanders but stays near its start
        assert abs(ex.venue.mark_price(symbol) / price - 1) < D("0.05")


async def test_participants_fill_our_resting_order(ex: SimExchange) -> None:
    """A bid of ours at the top of the book is eventually filled by the participants' market sells."""
    book = ex.venue.book("BTC/USDT")
    price = book.best_bid + D("0.01")  # type: ignore[operator]
    result = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", price))
    for _ in range(200):
        ex.venue.step()
        status = await ex.execution.order_status(result.order_id, "BTC/USDT")
        if status.filled_quantity:
            break
    assert status.filled_quantity > 0


async def test_start_prices_are_settings(open_sim) -> None:
    """prices= moves a market's seeded book; the perpetual follows its spot market."""
    async with open_sim(prices={"BTC/USDT": "30000"}) as ex:
        for symbol in ("BTC/USDT", "BTC/USDT:PERP"):
            mid = ex.venue.book(symbol).mid
            assert abs(mid - 30000) < 100  # type: ignore[operator]
        assert abs(ex.venue.book("ETH/USDT").mid - 3000) < 10  # type: ignore[operator]


async def test_background_flow_moves_the_book(open_sim) -> None:
    """With flow on, the book changes while connected without any manual step, and stops after close."""
    async with open_sim(flow=True, flow_interval=0.01) as ex:
        assert ex.flow_running
        stream = ex.market_data.watch_order_book("BTC/USDT")
        first = await anext(stream)
        later = await asyncio.wait_for(anext(stream), 10)
        assert later.sequence > first.sequence and ex.venue.steps >= 1
        await stream.aclose()
        assert (await ex.health()).ok
    assert not ex.flow_running
    steps = ex.venue.steps
    await asyncio.sleep(0.05)
    assert ex.venue.steps == steps


async def test_virtual_clock_moves_by_steps(open_sim) -> None:
    """With flow off the clock is virtual: it starts at start_time and moves step_ms per step."""
    async with open_sim(start_time=1_000_000, step_ms=100) as ex:
        assert ex.venue.now() == 1_000_000
        trades = ex.venue.step(3)
        assert ex.venue.now() == 1_000_300 and {t.timestamp for t in trades} <= {1_000_100, 1_000_200, 1_000_300}
        assert ex.venue.advance(50) == 1_000_350


async def test_wall_clock_cannot_be_advanced(open_sim) -> None:
    """On the wall clock (the default with flow on) advance() raises ConfigError."""
    from exchanges import ConfigError

    async with open_sim(flow=True, flow_interval=5) as ex:
        assert ex.venue.clock.mode == "wall"
        with pytest.raises(ConfigError, match="clock='virtual'"):
            ex.venue.advance(1)
