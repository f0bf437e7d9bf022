"""Trading models: orders, their results and status, balances, positions, fills."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import attrs

from ._fields import to_decimal, to_optional_decimal
from .enums import OrderSide, OrderState, OrderType, PositionSide, TimeInForce

__all__ = [
    "Balance",
    "CancelResult",
    "Fill",
    "Order",
    "OrderResult",
    "OrderStatus",
    "Position",
    "new_client_order_id",
]

_NEEDS_PRICE = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
_NEEDS_STOP = frozenset(
    {OrderType.STOP_MARKET, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT}
)


def new_client_order_id() -> str:
    """A fresh client order id: 32 lowercase hex characters, accepted by every first-party venue."""
    return uuid.uuid4().hex


def _positive(instance: Any, attribute: attrs.Attribute, value: Decimal | None) -> None:  # type: ignore[type-arg]
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class Order:
    """An order to send. Build it with :meth:`limit`, :meth:`market` or :meth:`stop_limit`.

    Quantities are in base units (contracts for contract venues). A market
    order may instead give ``quote_quantity`` (spend this much quote currency)
    on venues that support it.
    """

    symbol: str
    side: OrderSide = attrs.field(converter=OrderSide)
    order_type: OrderType = attrs.field(converter=OrderType)
    quantity: Decimal | None = attrs.field(converter=to_optional_decimal, validator=_positive)
    price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal, validator=_positive)
    stop_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal, validator=_positive)
    time_in_force: TimeInForce = attrs.field(default=TimeInForce.GTC, converter=TimeInForce)
    client_order_id: str = attrs.field(factory=new_client_order_id)
    post_only: bool = False
    reduce_only: bool = False
    quote_quantity: Decimal | None = attrs.field(default=None, converter=to_optional_decimal, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.quantity is None and self.quote_quantity is None:
            raise ValueError("an order needs a quantity (or a quote_quantity for market orders)")
        if self.quote_quantity is not None and self.order_type is not OrderType.MARKET:
            raise ValueError("quote_quantity is only valid on market orders")
        if self.order_type in _NEEDS_PRICE and self.price is None:
            raise ValueError(f"a {self.order_type.value} order needs a price")
        if self.order_type not in _NEEDS_PRICE and self.price is not None:
            raise ValueError(f"a {self.order_type.value} order takes no price")
        if self.order_type in _NEEDS_STOP and self.stop_price is None:
            raise ValueError(f"a {self.order_type.value} order needs a stop_price")
        if self.order_type not in _NEEDS_STOP and self.stop_price is not None:
            raise ValueError(f"a {self.order_type.value} order takes no stop_price")
        if self.post_only and self.order_type not in (OrderType.LIMIT,):
            raise ValueError("post_only applies to limit orders only")
        if self.post_only and self.time_in_force is not TimeInForce.GTC:
            raise ValueError("post_only orders rest on the book: time_in_force must be gtc")

    @classmethod
    def limit(
        cls,
        symbol: str,
        side: str | OrderSide,
        quantity: Any,
        price: Any,
        *,
        time_in_force: str | TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """A limit order."""
        return cls(
            symbol, side, OrderType.LIMIT, quantity, price,
            time_in_force=time_in_force, post_only=post_only, reduce_only=reduce_only,
            **_cid(client_order_id),
        )

    @classmethod
    def market(
        cls,
        symbol: str,
        side: str | OrderSide,
        quantity: Any = None,
        *,
        quote_quantity: Any = None,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """A market order, sized in base units or (where supported) in quote currency."""
        return cls(
            symbol, side, OrderType.MARKET, quantity,
            time_in_force=TimeInForce.IOC, reduce_only=reduce_only, quote_quantity=quote_quantity,
            **_cid(client_order_id),
        )

    @classmethod
    def stop_limit(
        cls,
        symbol: str,
        side: str | OrderSide,
        quantity: Any,
        price: Any,
        stop_price: Any,
        *,
        time_in_force: str | TimeInForce = TimeInForce.GTC,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """A stop-limit order: a limit order placed once the stop price trades."""
        return cls(
            symbol, side, OrderType.STOP_LIMIT, quantity, price, stop_price,
            time_in_force=time_in_force, reduce_only=reduce_only, **_cid(client_order_id),
        )

    @classmethod
    def stop_market(
        cls,
        symbol: str,
        side: str | OrderSide,
        quantity: Any,
        stop_price: Any,
        *,
        reduce_only: bool = False,
        client_order_id: str | None = None,
    ) -> Order:
        """A stop-market order: a market order sent once the stop price trades."""
        return cls(
            symbol, side, OrderType.STOP_MARKET, quantity, None, stop_price,
            time_in_force=TimeInForce.GTC, reduce_only=reduce_only, **_cid(client_order_id),
        )


def _cid(client_order_id: str | None) -> dict[str, Any]:
    return {} if client_order_id is None else {"client_order_id": client_order_id}


@attrs.frozen
class OrderResult:
    """What the venue answered to a new order. ``timestamp`` is epoch ms."""

    order_id: str
    client_order_id: str | None
    symbol: str
    status: OrderState = attrs.field(converter=OrderState)
    filled_quantity: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    average_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    timestamp: int = 0


@attrs.frozen
class OrderStatus:
    """The current state of an order as the venue knows it.

    Carries the fields of :class:`OrderResult`; ``state`` is the lifecycle
    state (``status`` is an alias kept for symmetry with ``OrderResult``).
    """

    order_id: str
    client_order_id: str | None
    symbol: str
    state: OrderState = attrs.field(converter=OrderState)
    filled_quantity: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    average_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    timestamp: int = 0
    side: OrderSide | None = attrs.field(default=None, converter=attrs.converters.optional(OrderSide))
    order_type: OrderType | None = attrs.field(default=None, converter=attrs.converters.optional(OrderType))
    quantity: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    stop_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    time_in_force: TimeInForce | None = attrs.field(default=None, converter=attrs.converters.optional(TimeInForce))
    reduce_only: bool = False
    post_only: bool = False

    @property
    def status(self) -> OrderState:
        """Alias of :attr:`state`."""
        return self.state

    @property
    def remaining_quantity(self) -> Decimal | None:
        """Quantity not yet filled, when the order quantity is known."""
        return None if self.quantity is None else self.quantity - self.filled_quantity


@attrs.frozen
class CancelResult:
    """What the venue answered to a cancel request."""

    order_id: str
    client_order_id: str | None
    symbol: str
    state: OrderState = attrs.field(default=OrderState.CANCELED, converter=OrderState)
    timestamp: int = 0


@attrs.frozen
class Balance:
    """Holdings of one currency: ``free`` can be used, ``locked`` backs open orders."""

    currency: str
    free: Decimal = attrs.field(converter=to_decimal)
    locked: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)

    @property
    def total(self) -> Decimal:
        """free + locked."""
        return self.free + self.locked


@attrs.frozen
class Position:
    """A derivatives position. ``quantity`` is always >= 0; ``side`` gives the direction."""

    symbol: str
    exchange: str
    side: PositionSide = attrs.field(converter=PositionSide)
    quantity: Decimal = attrs.field(converter=to_decimal)
    entry_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    mark_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    unrealized_pnl: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    realized_pnl: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    leverage: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    liquidation_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    margin_mode: str | None = None
    timestamp: int = 0


@attrs.frozen
class Fill:
    """One execution of one of our orders. ``fee`` is positive when paid, negative for a rebate."""

    symbol: str
    exchange: str
    order_id: str
    client_order_id: str | None
    trade_id: str
    side: OrderSide = attrs.field(converter=OrderSide)
    price: Decimal = attrs.field(converter=to_decimal)
    quantity: Decimal = attrs.field(converter=to_decimal)
    fee: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    fee_currency: str | None = None
    is_maker: bool = False
    timestamp: int = 0
