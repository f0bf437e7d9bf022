"""The matching engine on its own: priority, partial fills, time in force, post-only, stops, self-trades."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange_sim.engine import MatchingEngine
from exchanges import OrderSide, OrderState, PostOnlyRejected

D = Decimal


def test_better_price_fills_first(engine: MatchingEngine, make_order) -> None:
    """A buy takes the lowest ask first, whatever the arrival order."""
    high = make_order("sell", "1", "102")
    low = make_order("sell", "1", "101")
    engine.submit(high)
    engine.submit(low)
    result = engine.submit(make_order("buy", "1"))
    assert [(m.maker.order_id, m.price) for m in result.matches] == [(low.order_id, D(101))]
    assert high.state is OrderState.NEW and low.state is OrderState.FILLED


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_same_price_fills_first_come_first_served(engine: MatchingEngine, make_order, side: str) -> None:
    """At one price the oldest resting order fills first, then the next."""
    price = "99" if side == "buy" else "101"
    first, second, third = (make_order(side, "1", price) for _ in range(3))
    for order in (first, second, third):
        engine.submit(order)
    taker_side = "sell" if side == "buy" else "buy"
    result = engine.submit(make_order(taker_side, "1.5"))
    assert [(m.maker.order_id, m.quantity) for m in result.matches] == [(first.order_id, D(1)), (second.order_id, D("0.5"))]
    assert (first.state, second.state, third.state) == (OrderState.FILLED, OrderState.PARTIALLY_FILLED, OrderState.NEW)
    assert engine.levels(OrderSide(side)) == [(D(price), D("1.5"), 2)]


def test_trades_at_the_makers_price(engine: MatchingEngine, make_order) -> None:
    """A marketable limit order sweeps levels at each maker's price and rests its remainder at its limit."""
    engine.submit(make_order("sell", "1", "101"))
    engine.submit(make_order("sell", "1", "102"))
    engine.submit(make_order("sell", "1", "104"))
    taker = make_order("buy", "2.5", "103")
    result = engine.submit(taker)
    assert [(m.price, m.quantity) for m in result.matches] == [(D(101), D(1)), (D(102), D(1))]
    assert taker.state is OrderState.PARTIALLY_FILLED and taker.remaining == D("0.5")
    assert taker.average_price == D("101.5")
    assert engine.best_bid == D(103) and engine.best_ask == D(104)
    assert engine.last_price == D(102)


def test_partial_fill_of_a_maker_keeps_its_place(engine: MatchingEngine, make_order) -> None:
    """A partly filled maker keeps time priority for its remainder."""
    first, second = make_order("buy", "2", "99"), make_order("buy", "2", "99")
    engine.submit(first)
    engine.submit(second)
    engine.submit(make_order("sell", "0.5"))
    result = engine.submit(make_order("sell", "1.6"))
    assert [(m.maker.order_id, m.quantity) for m in result.matches] == [(first.order_id, D("1.5")), (second.order_id, D("0.1"))]


@pytest.mark.parametrize(
    ("tif", "quantity", "state", "filled", "rests"),
    [
        ("ioc", "3", OrderState.EXPIRED, "2", False),  # takes what crosses, the rest expires
        ("ioc", "1", OrderState.FILLED, "1", False),
        ("fok", "3", OrderState.EXPIRED, "0", False),  # cannot fill entirely: nothing happens
        ("fok", "2", OrderState.FILLED, "2", False),
        ("gtc", "3", OrderState.PARTIALLY_FILLED, "2", True),
    ],
)
def test_time_in_force(engine: MatchingEngine, make_order, tif: str, quantity: str, state: OrderState,
                       filled: str, rests: bool) -> None:
    """IOC expires the unfilled part, FOK fills entirely or not at all, GTC rests the remainder."""
    engine.submit(make_order("sell", "1", "101"))
    engine.submit(make_order("sell", "1", "102"))
    engine.submit(make_order("sell", "5", "110"))
    taker = make_order("buy", quantity, "102", tif=tif)
    engine.submit(taker)
    assert taker.state is state and taker.filled == D(filled)
    assert (engine.get(taker.order_id) is not None) is rests
    if tif == "fok" and state is OrderState.EXPIRED:
        assert engine.volume(OrderSide.SELL) == D(7)


def test_market_order_never_rests(engine: MatchingEngine, make_order) -> None:
    """A market order larger than the book fills what there is and expires the rest."""
    engine.submit(make_order("buy", "1", "99"))
    taker = make_order("sell", "4")
    engine.submit(taker)
    assert taker.state is OrderState.EXPIRED and taker.filled == D(1)
    assert engine.best_bid is None and engine.best_ask is None


@pytest.mark.parametrize(("side", "price", "takes"), [("buy", "101", True), ("buy", "100.5", False),
                                                      ("sell", "99", True), ("sell", "99.5", False)])
def test_post_only(engine: MatchingEngine, make_order, side: str, price: str, takes: bool) -> None:
    """A post-only order that would take raises PostOnlyRejected and changes nothing; otherwise it rests."""
    engine.submit(make_order("buy", "1", "99"))
    engine.submit(make_order("sell", "1", "101"))
    before = (engine.sequence, engine.levels(OrderSide.BUY), engine.levels(OrderSide.SELL))
    order = make_order(side, "1", price, post_only=True)
    if takes:
        with pytest.raises(PostOnlyRejected, match="would take liquidity"):
            engine.submit(order)
        assert (engine.sequence, engine.levels(OrderSide.BUY), engine.levels(OrderSide.SELL)) == before
    else:
        engine.submit(order)
        assert engine.get(order.order_id) is order and engine.sequence == before[0] + 1


@pytest.mark.parametrize(
    ("side", "order_type", "stop", "prints", "fires"),
    [
        ("buy", "stop_market", "102", ["101", "102"], True),  # rises through the stop
        ("buy", "stop_market", "102", ["101", "99"], False),
        ("sell", "stop_market", "98", ["99", "98"], True),  # falls through the stop
        ("sell", "stop_market", "98", ["99", "101"], False),
        ("buy", "take_profit_market", "98", ["99", "97"], True),  # a take-profit buy fires on a fall
        ("sell", "take_profit_market", "102", ["103"], True),
        ("sell", "take_profit_market", "102", ["99"], False),
    ],
)
def test_stop_triggers_on_last_trade_price(engine: MatchingEngine, make_order, side: str, order_type: str,
                                           stop: str, prints: list[str], fires: bool) -> None:
    """A stop waits off-book and is handed back once a trade prints at or through its stop price."""
    stop_order = make_order(side, "1", order_type=order_type, stop=stop)
    engine.submit(stop_order)
    assert engine.stop_count == 1 and engine.best_bid is None and engine.best_ask is None
    for price in prints:
        engine.submit(make_order("sell", "1", price))
        engine.submit(make_order("buy", "1", price))
    fired = engine.take_triggered()
    assert (fired == [stop_order]) is fires
    assert stop_order.triggered is fires and engine.stop_count == (0 if fires else 1)


def test_crossing_that_comes_back_still_triggers(engine: MatchingEngine, make_order) -> None:
    """A price that spikes through the stop and returns within one sweep still fires it."""
    stop_order = make_order("sell", "1", order_type="stop_market", stop="98")
    engine.submit(stop_order)
    engine.submit(make_order("buy", "1", "97"))
    engine.submit(make_order("buy", "1", "99"))
    engine.submit(make_order("sell", "2"))  # trades 99 then 97
    engine.submit(make_order("sell", "1", "99.5"))
    engine.submit(make_order("buy", "1", "99.5"))  # last price back above the stop
    assert engine.take_triggered() == [stop_order]


def test_triggered_stop_limit_rests_at_its_limit(engine: MatchingEngine, make_order) -> None:
    """A fired stop-limit trades as a limit order: it takes what crosses and rests the rest."""
    stop_order = make_order("buy", "2", "101", order_type="stop_limit", stop="101")
    engine.submit(stop_order)
    engine.submit(make_order("sell", "1", "101"))
    engine.submit(make_order("buy", "1", "101"))
    engine.submit(make_order("sell", "1", "101"))
    (fired,) = engine.take_triggered()
    result = engine.submit(fired)
    assert result.filled == D(1) and fired.state is OrderState.PARTIALLY_FILLED
    assert engine.levels(OrderSide.BUY) == [(D(101), D(1), 1)]


def test_self_trade_expires_the_resting_order(engine: MatchingEngine, make_order) -> None:
    """An order meeting a resting order of the same owner expires that one and trades with the next."""
    mine = make_order("sell", "1", "101", owner="me")
    theirs = make_order("sell", "1", "101")
    engine.submit(mine)
    engine.submit(theirs)
    result = engine.submit(make_order("buy", "1", owner="me"))
    assert result.expired_makers == [mine] and mine.state is OrderState.EXPIRED
    assert [m.maker for m in result.matches] == [theirs]
    assert engine.best_ask is None


def test_cancel_restores_the_level(engine: MatchingEngine, make_order) -> None:
    """Cancelling takes the order's remaining quantity off its level and the level off when empty."""
    a, b = make_order("buy", "1", "99"), make_order("buy", "2", "99")
    engine.submit(a)
    engine.submit(b)
    canceled = engine.cancel(a.order_id)
    assert canceled is not None and canceled is a and canceled.state is OrderState.CANCELED
    assert engine.levels(OrderSide.BUY) == [(D(99), D(2), 1)]
    engine.cancel(b.order_id)
    assert engine.levels(OrderSide.BUY) == [] and engine.cancel("nope") is None


def test_preview_changes_nothing(engine: MatchingEngine, make_order) -> None:
    """preview reports quantity and notional a taker would get, skipping the same owner's orders."""
    engine.submit(make_order("sell", "1", "101"))
    engine.submit(make_order("sell", "1", "102", owner="me"))
    engine.submit(make_order("sell", "1", "103"))
    sequence = engine.sequence
    assert engine.preview(OrderSide.BUY, D(3)) == (D(3), D(306))
    assert engine.preview(OrderSide.BUY, D(3), owner="me") == (D(2), D(204))
    assert engine.preview(OrderSide.BUY, D(3), D("102")) == (D(2), D(203))
    assert engine.sequence == sequence
