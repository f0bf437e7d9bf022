"""Value types of the unified API (attrs, frozen, Decimal prices and quantities).

Re-exported lazily (PEP 562): importing ``exchanges.models.enums`` (as the
descriptors do when plugins are listed) does not build every model class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "converter": ".convert",
    "from_dict": ".convert",
    "to_dict": ".convert",
    "ExchangeKind": ".enums",
    "InstrumentType": ".enums",
    "OrderSide": ".enums",
    "OrderState": ".enums",
    "OrderType": ".enums",
    "PositionSide": ".enums",
    "TimeInForce": ".enums",
    "Instrument": ".instrument",
    "Candle": ".market",
    "OrderBook": ".market",
    "OrderBookLevel": ".market",
    "Ticker": ".market",
    "Trade": ".market",
    "Balance": ".trading",
    "CancelResult": ".trading",
    "Fill": ".trading",
    "Order": ".trading",
    "OrderResult": ".trading",
    "OrderStatus": ".trading",
    "Position": ".trading",
    "new_client_order_id": ".trading",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)






if TYPE_CHECKING:  # pragma: no cover
    from .convert import converter, from_dict, to_dict
    from .enums import ExchangeKind, InstrumentType, OrderSide, OrderState, OrderType, PositionSide, TimeInForce
    from .instrument import Instrument
    from .market import Candle, OrderBook, OrderBookLevel, Ticker, Trade
    from .trading import Balance, CancelResult, Fill, Order, OrderResult, OrderStatus, Position, new_client_order_id
