"""Models: Decimal conversion, order constructors and their validation, book properties, JSON round trip."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges import (
    Balance,
    CancelResult,
    Candle,
    Fill,
    Instrument,
    Order,
    OrderBook,
    OrderResult,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    Ticker,
    TimeInForce,
    Trade,
)
from exchanges.models import from_dict, to_dict


def test_limit_constructor_converts_types() -> None:
    """Order.limit turns strings into Decimals and enums and generates a 32-char client id."""
    order = Order.limit("BTC/USDT", "buy", "0.001", "50000", post_only=True)
    assert order.quantity == Decimal("0.001") and order.price == Decimal(50000)
    assert order.side is OrderSide.BUY and order.order_type is OrderType.LIMIT
    assert order.post_only and order.time_in_force is TimeInForce.GTC
    assert len(order.client_order_id) == 32 and order.client_order_id != Order.limit("BTC/USDT", "buy", 1, 1).client_order_id


def test_float_input_stays_exact() -> None:
    """A float quantity is converted through its repr, not its binary value."""
    assert Order.market("BTC/USDT", "sell", 0.1).quantity == Decimal("0.1")


def test_stop_constructors() -> None:
    """stop_limit carries price and stop price; stop_market only the stop price."""
    sl = Order.stop_limit("BTC/USDT", "sell", "1", "49000", "49500")
    sm = Order.stop_market("BTC/USDT", "sell", "1", "49500", reduce_only=True)
    assert (sl.order_type, sl.price, sl.stop_price) == (OrderType.STOP_LIMIT, Decimal(49000), Decimal(49500))
    assert (sm.order_type, sm.price, sm.stop_price, sm.reduce_only) == (OrderType.STOP_MARKET, None, Decimal(49500), True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Order("BTC/USDT", "buy", "limit", "1"), "needs a price"),
        (lambda: Order("BTC/USDT", "buy", "market", "1", price="1"), "takes no price"),
        (lambda: Order("BTC/USDT", "buy", "stop_market", "1"), "needs a stop_price"),
        (lambda: Order.limit("BTC/USDT", "buy", "-1", "1"), "quantity must be positive"),
        (lambda: Order.limit("BTC/USDT", "buy", "1", "0"), "price must be positive"),
        (lambda: Order.market("BTC/USDT", "buy"), "needs a quantity"),
        (lambda: Order.limit("BTC/USDT", "buy", "1", "1", post_only=True, time_in_force="ioc"), "must be gtc"),
        (lambda: Order.limit("BTC/USDT", "hold", "1", "1"), "'hold' is not a valid OrderSide"),
        (lambda: Order.limit("BTC/USDT", "buy", "abc", "1"), "not a decimal number"),
        (lambda: Order.limit("BTC/USDT", "buy", "NaN", "1"), "not a finite number"),
    ],
)
def test_invalid_orders_are_rejected_at_construction(make, message: str) -> None:  # type: ignore[no-untyped-def]
    """An order that cannot be valid anywhere fails when built, with a message saying why."""
    with pytest.raises(ValueError, match=message):
        make()


def test_market_by_quote_amount() -> None:
    """A market order may be sized in quote currency instead of base quantity."""
    order = Order.market("BTC/USDT", "buy", quote_quantity="100")
    assert order.quantity is None and order.quote_quantity == Decimal(100)


def test_book_properties() -> None:
    """best_bid, best_ask, spread and mid come from the top levels; empty sides give None."""
    book = OrderBook("BTC/USDT", "x", 1, [("100", "1"), ("99", "3")], [("101", "2")], 10)
    assert (book.best_bid, book.best_ask, book.spread, book.mid) == (Decimal(100), Decimal(101), Decimal(1), Decimal("100.5"))
    assert not book.is_crossed
    empty = OrderBook("BTC/USDT", "x", 1, [], [("101", "2")])
    assert (empty.best_bid, empty.spread, empty.mid) == (None, None, None)
    assert OrderBook("BTC/USDT", "x", 1, [("102", "1")], [("101", "1")]).is_crossed


def test_instrument_derives_precisions() -> None:
    """price_precision and quantity_precision default to the decimals of tick and step size."""
    inst = Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", "spot", tick_size="0.010", step_size="0.00001000")
    assert (inst.price_precision, inst.quantity_precision) == (2, 5)


def test_order_status_alias_and_remaining() -> None:
    """OrderStatus.status aliases state and remaining_quantity is quantity - filled."""
    st = OrderStatus("1", "c", "BTC/USDT", "partially_filled", "0.4", quantity="1")
    assert st.status is OrderState.PARTIALLY_FILLED and st.remaining_quantity == Decimal("0.6")


SAMPLES = [
    Order.limit("BTC/USDT", "buy", "0.001", "50000", post_only=True),
    Order.market("BTC/USDT", "buy", quote_quantity="10"),
    OrderResult("1", "c", "BTC/USDT", "filled", "1", "50000.5", 1700000000000),
    OrderStatus("1", None, "BTC/USDT", "new", side="buy", order_type="limit", quantity="1", price="2"),
    CancelResult("1", "c", "BTC/USDT"),
    OrderBook("BTC/USDT", "x", 1, [("100", "1", 3)], [("101", "2")], 5),
    Ticker("BTC/USDT", "x", 1, bid="1", ask="2", last="1.5"),
    Trade("BTC/USDT", "x", "t1", "100.5", "0.25", "sell", 1),
    Candle("BTC/USDT", "x", "1m", 0, "1", "2", "0.5", "1.5", "10"),
    Balance("USDT", "100", "5"),
    Position("BTC/USDT:PERP", "x", "long", "1", entry_price="100"),
    Fill("BTC/USDT", "x", "1", "c", "t", "buy", "100", "1", "0.05", "USDT", True, 1),
    Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", "spot", tick_size="0.01", step_size="0.001"),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_json_round_trip(model: object) -> None:
    """Every model turns into JSON-able primitives (Decimals as strings, enums as values) and back unchanged."""
    import json

    data = to_dict(model)
    text = json.dumps(data)  # must be JSON-able without a custom encoder
    assert from_dict(type(model), json.loads(text)) == model


def test_balance_total() -> None:
    """Balance.total is free + locked."""
    assert Balance("BTC", "1.5", "0.25").total == Decimal("1.75")
