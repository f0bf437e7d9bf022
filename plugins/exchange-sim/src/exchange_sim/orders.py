"""Our orders as the venue keeps them: the request, its engine order, its reserve, and their public views."""

from __future__ import annotations

from decimal import Decimal

import attrs

from exchanges import Fill, Order, OrderResult, OrderState, OrderStatus, OrderType

from .engine import EngineOrder, Match
from .venue import EXCHANGE_ID, MarketSpec

__all__ = ["ME", "OrderRecord"]

#: owner tag of our orders in the engines (the simulated participants have none)
ME = "account"

_ZERO = Decimal(0)


@attrs.define(eq=False)
class OrderRecord:
    """One order of ours, open or done."""

    request: Order
    engine_order: EngineOrder
    spec: MarketSpec
    created: int
    updated: int
    reserve: Decimal = _ZERO
    reserve_currency: str = ""
    fees: Decimal = _ZERO
    #: set when the venue rejected or expired the order for a reason worth telling
    reason: str | None = None
    #: (state, filled) last reported on the order stream, so an unchanged order is not reported twice
    published: tuple[OrderState, Decimal] | None = None

    @property
    def order_id(self) -> str:
        """The venue's order id."""
        return self.engine_order.order_id

    @property
    def symbol(self) -> str:
        """Unified symbol."""
        return self.spec.symbol

    @property
    def state(self) -> OrderState:
        """Lifecycle state."""
        return self.engine_order.state

    @property
    def is_open(self) -> bool:
        """True while it can still trade (including a stop waiting for its trigger)."""
        return self.engine_order.state.is_open

    def status(self) -> OrderStatus:
        """The public :class:`~exchanges.OrderStatus`."""
        eo, req = self.engine_order, self.request
        return OrderStatus(
            order_id=eo.order_id,
            client_order_id=req.client_order_id,
            symbol=self.symbol,
            state=eo.state,
            filled_quantity=eo.filled,
            average_price=eo.average_price,
            timestamp=self.updated,
            side=req.side,
            order_type=req.order_type,
            quantity=req.quantity,
            price=req.price,
            stop_price=req.stop_price,
            time_in_force=req.time_in_force,
            reduce_only=req.reduce_only,
            post_only=req.post_only,
        )

    def result(self) -> OrderResult:
        """The public :class:`~exchanges.OrderResult` (what ``place_order`` answers)."""
        eo = self.engine_order
        return OrderResult(
            order_id=eo.order_id,
            client_order_id=self.request.client_order_id,
            symbol=self.symbol,
            status=eo.state,
            filled_quantity=eo.filled,
            average_price=eo.average_price,
            timestamp=self.updated,
        )

    def fill(self, match: Match, fee: Decimal, *, is_maker: bool, timestamp: int) -> Fill:
        """The public :class:`~exchanges.Fill` of one match of this order."""
        return Fill(
            symbol=self.symbol,
            exchange=EXCHANGE_ID,
            order_id=self.order_id,
            client_order_id=self.request.client_order_id,
            trade_id=match.trade_id,
            side=self.request.side,
            price=match.price,
            quantity=match.quantity,
            fee=fee,
            fee_currency=self.spec.quote,
            is_maker=is_maker,
            timestamp=timestamp,
        )


def engine_order(order_id: str, order: Order) -> EngineOrder:
    """The engine order of a request (stops keep their limit price for after the trigger)."""
    limit = order.price if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT) else None
    return EngineOrder(
        order_id=order_id,
        side=order.side,
        quantity=order.quantity if order.quantity is not None else _ZERO,
        price=limit,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        owner=ME,
        post_only=order.post_only,
        stop_price=order.stop_price,
    )
