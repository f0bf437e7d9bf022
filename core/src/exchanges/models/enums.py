"""Enumerations shared by the models. Values are lowercase strings (JSON friendly)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ExchangeKind",
    "InstrumentType",
    "OrderSide",
    "OrderState",
    "OrderType",
    "PositionSide",
    "TimeInForce",
]


class OrderSide(StrEnum):
    """Side of an order or trade."""

    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> OrderSide:
        """The other side."""
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    """Order types of the unified API; a venue declares which it supports."""

    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"


class TimeInForce(StrEnum):
    """How long an order rests: good till canceled, immediate or cancel, fill or kill."""

    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"


class OrderState(StrEnum):
    """Lifecycle state of an order."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """True while the order can still trade."""
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)


class InstrumentType(StrEnum):
    """Product line of an instrument."""

    SPOT = "spot"
    PERPETUAL = "perpetual"
    FUTURE = "future"
    OPTION = "option"


class ExchangeKind(StrEnum):
    """Centralised or decentralised venue."""

    CEX = "cex"
    DEX = "dex"


class PositionSide(StrEnum):
    """Direction of a derivatives position."""

    LONG = "long"
    SHORT = "short"
    FLAT = "flat"
