"""Value types of the unified API (attrs, frozen, Decimal prices and quantities)."""

from .enums import ExchangeKind, InstrumentType, OrderSide, OrderState, OrderType, PositionSide, TimeInForce
from .instrument import Instrument
from .market import Candle, OrderBook, OrderBookLevel, Ticker, Trade
from .trading import Balance, CancelResult, Fill, Order, OrderResult, OrderStatus, Position, new_client_order_id

__all__ = [
    "Balance",
    "CancelResult",
    "Candle",
    "ExchangeKind",
    "Fill",
    "Instrument",
    "InstrumentType",
    "Order",
    "OrderBook",
    "OrderBookLevel",
    "OrderResult",
    "OrderSide",
    "OrderState",
    "OrderStatus",
    "OrderType",
    "Position",
    "PositionSide",
    "Ticker",
    "TimeInForce",
    "Trade",
    "converter",
    "from_dict",
    "new_client_order_id",
    "to_dict",
]


def __getattr__(name: str) -> object:
    # The cattrs converter is imported on first use: building it costs more than every model together.
    if name in ("converter", "from_dict", "to_dict"):
        from . import convert

        return getattr(convert, name)
    raise AttributeError(f"module 'exchanges.models' has no attribute {name!r}")
