"""Properties of the matching engine under random order sequences (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_sim.engine import EngineOrder, MatchingEngine
from exchanges import OrderSide, OrderState, OrderType, PostOnlyRejected, TimeInForce

TICK = Decimal("0.5")
STEP = Decimal("0.1")

_new_order = st.tuples(
    st.just("order"),
    st.sampled_from(list(OrderSide)),
    st.integers(1, 40),  # quantity in steps
    st.one_of(st.none(), st.integers(180, 220)),  # price in ticks (None: market)
    st.sampled_from(list(TimeInForce)),
    st.sampled_from([None, "a", "b"]),  # owner (self-trade prevention applies to a and b)
    st.booleans(),  # post-only (limit GTC only)
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 10_000))
_operations = st.lists(st.one_of(_new_order, _new_order, _new_order, _cancel), min_size=1, max_size=80)


def _check_book(engine: MatchingEngine, orders: list[EngineOrder]) -> None:
    bids = engine.levels(OrderSide.BUY)
    asks = engine.levels(OrderSide.SELL)
    assert not engine.is_crossed, f"crossed: {engine.best_bid} >= {engine.best_ask}"
    assert [lv.price for lv in bids] == sorted((lv.price for lv in bids), reverse=True)
    assert [lv.price for lv in asks] == sorted(lv.price for lv in asks)
    assert all(lv.quantity > 0 and lv.num_orders and lv.num_orders > 0 for lv in (*bids, *asks))
    resting = [o for o in orders if engine.get(o.order_id) is not None]
    for side, levels in ((OrderSide.BUY, bids), (OrderSide.SELL, asks)):
        on_book = sum((o.remaining for o in resting if o.side is side), Decimal(0))
        assert sum((lv.quantity for lv in levels), Decimal(0)) == on_book
    for order in orders:
        assert Decimal(0) <= order.filled <= order.quantity
        assert (engine.get(order.order_id) is not None) == order.state.is_open
        if order.state is OrderState.FILLED:
            assert order.remaining == 0


@settings(max_examples=150, deadline=None)
@given(_operations)
def test_book_never_crossed_and_volume_conserved(operations: list[tuple]) -> None:
    """After every operation the book is sorted and uncrossed, and each unit traded is one taker + one maker unit."""
    trade_ids = count(1)
    engine = MatchingEngine("PROP", last_price=Decimal(100), next_trade_id=lambda: str(next(trade_ids)))
    orders: list[EngineOrder] = []
    traded = Decimal(0)
    for i, op in enumerate(operations):
        if op[0] == "cancel":
            if orders:
                engine.cancel(orders[op[1] % len(orders)].order_id)
        else:
            _, side, steps, ticks, tif, owner, post_only = op
            price = None if ticks is None else ticks * TICK
            order = EngineOrder(
                order_id=str(i), side=side, quantity=steps * STEP, price=price,
                order_type=OrderType.LIMIT if price is not None else OrderType.MARKET,
                time_in_force=tif, owner=owner,
                post_only=post_only and price is not None and tif is TimeInForce.GTC,
            )
            sequence = engine.sequence
            try:
                result = engine.submit(order)
            except PostOnlyRejected:
                assert engine.sequence == sequence and order.filled == 0
                continue
            orders.append(order)
            for match in result.matches:
                assert match.taker is order and match.maker.side is not order.side
                assert match.taker.owner is None or match.taker.owner != match.maker.owner
                traded += match.quantity
        _check_book(engine, orders)
    # conservation: every traded unit was filled once on each side, and what was submitted
    # is either filled, still resting, or was taken off (expired / canceled)
    assert sum((o.filled for o in orders), Decimal(0)) == 2 * traded
    for order in orders:
        resting = order.remaining if engine.get(order.order_id) is not None else Decimal(0)
        gone = order.remaining if order.state in (OrderState.EXPIRED, OrderState.CANCELED) else Decimal(0)
        assert order.filled + resting + gone == order.quantity
