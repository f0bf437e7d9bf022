"""The perpetual: margin, positions with entry price and pnl, reduce-only, leverage."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import (
    Balance,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    Order,
    OrderState,
    PositionSide,
)

D = Decimal
PERP = "BTC/USDT:PERP"


@pytest.fixture
def perp(ex: SimExchange, set_book: Callable[..., None]) -> SimExchange:
    """The perpetual's book reduced to 59000 x 5 bid / 60000 x 5 ask (mark 59500)."""
    set_book(ex, PERP, bids=[("59000.0", "5")], asks=[("60000.0", "5")])
    return ex


async def _usdt(ex: SimExchange) -> Balance:
    return (await ex.execution.balances())["USDT"]


@pytest.mark.parametrize(
    ("side", "entry", "margin", "free_open", "pnl_59500", "pnl_61000", "exit", "realized", "free_closed"),
    [
        # long 0.1 @ 60000: margin 600, fee 3; closed at the 60990 bid: +99, fee 3.0495
        ("buy", "60000.0", "600", "99397", "-50", "100", "60990.0", "99", "100092.9505"),
        # short 0.1 @ 59000: margin 590, fee 2.95; closed at the 61010 ask: -201, fee 3.0505
        ("sell", "59000.0", "590", "99407.05", "-50", "-200", "61010.0", "-201", "99792.9995"),
    ],
)
async def test_position_pnl_and_margin(perp: SimExchange, set_book: Callable[..., None], side: str, entry: str,
                                       margin: str, free_open: str, pnl_59500: str, pnl_61000: str, exit: str,
                                       realized: str, free_closed: str) -> None:
    """Opening locks margin and pays the fee; pnl follows the mark; closing frees margin plus realised pnl."""
    ex = perp
    await ex.execution.place_order(Order.market(PERP, side, "0.1"))
    assert await _usdt(ex) == Balance("USDT", D(free_open), D(margin))
    (position,) = await ex.execution.positions()
    expected_side = PositionSide.LONG if side == "buy" else PositionSide.SHORT
    assert (position.side, position.quantity, position.entry_price) == (expected_side, D("0.1"), D(entry))
    assert (position.mark_price, position.unrealized_pnl, position.leverage) == (D(59500), D(pnl_59500), D(10))
    set_book(ex, PERP, bids=[("60990.0", "5")], asks=[("61010.0", "5")])
    (position,) = await ex.execution.positions(PERP)
    assert position.unrealized_pnl == D(pnl_61000)
    close = "sell" if side == "buy" else "buy"
    result = await ex.execution.place_order(Order.market(PERP, close, "0.1"))
    assert result.average_price == D(exit)
    assert await ex.execution.positions() == []
    assert await _usdt(ex) == Balance("USDT", D(free_closed), D(0))
    assert ex.venue.account.position(PERP).realized_pnl == D(realized)


async def test_entry_price_averages_and_partial_close_frees_margin(perp: SimExchange,
                                                                   set_book: Callable[..., None]) -> None:
    """Adding at another price averages the entry; reducing half releases half the margin."""
    ex = perp
    set_book(ex, PERP, bids=[("60500.0", "5")], asks=[("60600.0", "0.1"), ("60800.0", "1")])
    await ex.execution.place_order(Order.market(PERP, "buy", "0.2"))  # 0.1 @ 60600 + 0.1 @ 60800
    (position,) = await ex.execution.positions()
    assert position.entry_price == D(60700) and position.quantity == D("0.2")
    assert (await _usdt(ex)).locked == D("1214")  # 606 + 608
    await ex.execution.place_order(Order.market(PERP, "sell", "0.1"))  # at the 60500 bid
    (position,) = await ex.execution.positions()
    assert (position.quantity, position.entry_price, position.realized_pnl) == (D("0.1"), D(60700), D(-20))
    assert (await _usdt(ex)).locked == D(607)


@pytest.mark.parametrize(
    ("held", "order", "message"),
    [
        (None, Order.market(PERP, "sell", "0.01", reduce_only=True), "increase the position.*flat"),
        ("buy", Order.market(PERP, "buy", "0.01", reduce_only=True), "increase the position.*long 0.1"),
        ("buy", Order.market(PERP, "sell", "0.2", reduce_only=True), "flip the position.*at most 0.1"),
        ("sell", Order.limit(PERP, "sell", "0.05", "61000.0", reduce_only=True), "increase the position.*short"),
    ],
)
async def test_reduce_only_that_would_grow_or_flip_is_refused(perp: SimExchange, held: str | None, order: Order,
                                                              message: str) -> None:
    """A reduce-only order that would open, increase or flip the position raises InvalidOrder."""
    ex = perp
    if held is not None:
        await ex.execution.place_order(Order.market(PERP, held, "0.1"))
    engine = ex.venue.engine(PERP)
    before = (engine.sequence, await ex.execution.balances())
    with pytest.raises(InvalidOrder, match=message):
        await ex.execution.place_order(order)
    assert (engine.sequence, await ex.execution.balances()) == before


async def test_reduce_only_closes_and_reserves_fees_only(perp: SimExchange, set_book: Callable[..., None]) -> None:
    """A reduce-only order within the position locks only its fee and closes the position."""
    ex = perp
    await ex.execution.place_order(Order.market(PERP, "buy", "0.1"))
    resting = await ex.execution.place_order(Order.limit(PERP, "sell", "0.1", "61000.0", reduce_only=True))
    assert (await _usdt(ex)).locked == D("600") + D("3.05")  # margin + taker fee on 6100
    set_book(ex, PERP, bids=[("59000.0", "5")])  # our ask is now the only one
    ex.venue.submit_external(PERP, "buy", "0.1", "61000.0")
    assert (await ex.execution.order_status(resting.order_id, PERP)).state is OrderState.FILLED
    assert await ex.execution.positions() == []
    # opened at 60000 (fee 3), closed as maker at 61000: +100, fee 1.22
    assert await _usdt(ex) == Balance("USDT", D("100095.78"), D(0))


async def test_resting_reduce_only_expires_when_the_position_goes(perp: SimExchange) -> None:
    """A resting reduce-only order expires once another order closes the position it was reducing."""
    ex = perp
    await ex.execution.place_order(Order.market(PERP, "buy", "0.1"))
    resting = await ex.execution.place_order(Order.limit(PERP, "sell", "0.1", "61000.0", reduce_only=True))
    await ex.execution.place_order(Order.market(PERP, "sell", "0.1"))
    status = await ex.execution.order_status(resting.order_id, PERP)
    assert status.state is OrderState.EXPIRED
    assert ex.venue.book(PERP).best_ask == D("60000.0")
    assert (await _usdt(ex)).locked == 0


async def test_set_leverage_relocks_margin(perp: SimExchange) -> None:
    """Raising leverage on an open position frees margin; the position reports the new leverage."""
    ex = perp
    await ex.execution.place_order(Order.market(PERP, "buy", "0.1"))
    assert await ex.execution.set_leverage(PERP, 20) == D(20)
    assert await _usdt(ex) == Balance("USDT", D("99697"), D("300"))
    (position,) = await ex.execution.positions()
    assert position.leverage == D(20)


@pytest.mark.parametrize(("symbol", "leverage", "error"), [
    ("BTC/USDT", 5, NotSupported), (PERP, 0, InvalidOrder), (PERP, 126, InvalidOrder),
])
async def test_set_leverage_refuses(perp: SimExchange, symbol: str, leverage: int, error: type[Exception]) -> None:
    """Leverage applies to the perpetual only, between 1 and 125."""
    with pytest.raises(error):
        await perp.execution.set_leverage(symbol, leverage)


async def test_margin_shortfall_is_insufficient_funds(open_sim, set_book: Callable[..., None]) -> None:
    """An order whose margin exceeds the free quote raises InsufficientFunds."""
    async with open_sim(balances={"USDT": "1000"}) as ex:
        set_book(ex, PERP, asks=[("60000.0", "5")])
        with pytest.raises(InsufficientFunds, match="USDT.*1206"):
            await ex.execution.place_order(Order.market(PERP, "buy", "0.2"))  # margin 1200 + fee 6
        assert await ex.execution.balances() == {"USDT": Balance("USDT", D(1000), D(0))}


async def test_closing_order_reserves_margin_in_case_it_opens_later(open_sim, set_book: Callable[..., None]) -> None:
    """A non-reduce-only order reserves margin for all of it even while it would close the position."""
    async with open_sim(balances={"USDT": "1300"}) as ex:
        set_book(ex, PERP, bids=[("59000.0", "5")], asks=[("60000.0", "5")])
        await ex.execution.place_order(Order.market(PERP, "buy", "0.1"))  # margin 600, fee 3
        resting = await ex.execution.place_order(Order.limit(PERP, "sell", "0.1", "61000.0"))
        assert await _usdt(ex) == Balance("USDT", D("83.95"), D("1213.05"))  # + margin 610, fee 3.05
        before = await ex.execution.balances()
        with pytest.raises(InsufficientFunds, match=r"USDT.*618\.075"):  # margin 615 + fee 3.075
            await ex.execution.place_order(Order.limit(PERP, "sell", "0.1", "61500.0"))
        assert await ex.execution.balances() == before
        # a market close trades at once, so it locks only its fee: closed at 59000, -100, fee 2.95
        await ex.execution.place_order(Order.market(PERP, "sell", "0.1"))
        assert await ex.execution.positions() == []
        set_book(ex, PERP, bids=[("59000.0", "5")])  # our ask is now the only one
        ex.venue.submit_external(PERP, "buy", "0.1", "61000.0")
        assert (await ex.execution.order_status(resting.order_id, PERP)).state is OrderState.FILLED
        (position,) = await ex.execution.positions()
        assert (position.side, position.quantity, position.entry_price) == (PositionSide.SHORT, D("0.1"), D(61000))
        # margin 610 and the maker fee 1.22 came out of the reserve; its last 1.83 returned to free
        assert await _usdt(ex) == Balance("USDT", D("582.83"), D(610))



async def test_lowering_leverage_tops_up_resting_orders(open_sim, set_book: Callable[..., None]) -> None:
    """Lowering the leverage locks the extra margin of resting orders, or raises InsufficientFunds changing nothing."""
    async with open_sim(balances={"USDT": "3000"}) as ex:
        set_book(ex, PERP, asks=[("60000.0", "5")])
        resting = await ex.execution.place_order(Order.limit(PERP, "buy", "0.1", "50000.0"))  # margin 500, fee 2.5
        assert await _usdt(ex) == Balance("USDT", D("2497.5"), D("502.5"))
        with pytest.raises(InsufficientFunds, match=r"USDT.*4500"):  # margin 5000 at 1x
            await ex.execution.set_leverage(PERP, 1)
        assert (await _usdt(ex), ex.venue.account.leverage(PERP)) == (Balance("USDT", D("2497.5"), D("502.5")), 10)
        assert await ex.execution.set_leverage(PERP, 2) == D(2)  # margin 2500: 2000 more locked
        assert await _usdt(ex) == Balance("USDT", D("497.5"), D("2502.5"))
        ex.venue.submit_external(PERP, "sell", "0.1", "50000.0")
        assert (await ex.execution.order_status(resting.order_id, PERP)).state is OrderState.FILLED
        # margin 2500 and the maker fee 1 came out of the reserve; its last 1.5 returned to free
        assert await _usdt(ex) == Balance("USDT", D(499), D(2500))
