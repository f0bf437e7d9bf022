"""The order desk: the venue-side rules for our orders and the bookkeeping of their fills.

The core has already checked the instrument rules (tick, step, size, notional)
before an order gets here. The desk adds what only the venue knows: funds,
positions (reduce-only), whether a post-only order would take, whether a stop
would trigger at once, duplicate client order ids. Anything it refuses is
refused before the engine sees the order.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING

from exchanges import (
    BadSymbol,
    CancelResult,
    InsufficientFunds,
    InvalidOrder,
    Order,
    OrderNotFound,
    OrderResult,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
    PostOnlyRejected,
    Trade,
)

from .engine import EngineOrder, MatchingEngine, SubmitResult
from .orders import ME, OrderRecord, engine_order
from .venue import EXCHANGE_ID, MarketSpec, market

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["OrderDesk"]

_ZERO = Decimal(0)
_STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
_TAKE_PROFITS = (OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT)
_MAX_TRIGGER_ROUNDS = 1000  # a cascade of stops triggering stops ends long before this


def spec_of(symbol: str) -> MarketSpec:
    """The spec of a listed symbol; BadSymbol otherwise."""
    spec = market(symbol)
    if spec is None:
        raise BadSymbol(f"{symbol!r} is not listed on {EXCHANGE_ID}", symbol=symbol, exchange=EXCHANGE_ID)
    return spec


class OrderDesk:
    """Places, cancels and tracks our orders; settles every match that involves one of them."""

    def __init__(self, venue: Simulator) -> None:
        self._venue = venue
        self._records: dict[str, OrderRecord] = {}
        self._by_client: dict[str, OrderRecord] = {}

    # -- placing ----------------------------------------------------------------------

    def place(self, order: Order) -> OrderResult:
        """Accept (or refuse, changing nothing) one order and run it through the engine."""
        venue = self._venue
        spec = spec_of(order.symbol)
        engine = venue.engine(spec.symbol)
        if order.quantity is None:
            raise InvalidOrder("orders on sim are sized in base units: give a quantity", exchange=EXCHANGE_ID)
        existing = self._by_client.get(order.client_order_id)
        if existing is not None and existing.is_open:
            raise InvalidOrder(
                f"client order id {order.client_order_id!r} is already used by open order {existing.order_id}",
                exchange=EXCHANGE_ID,
            )
        self._check_trigger(order, engine)
        if order.post_only and engine.would_take(order.side, order.price):
            best = engine.best_ask if order.side is OrderSide.BUY else engine.best_bid
            raise PostOnlyRejected(
                f"post-only {order.side.value} at {order.price} would take liquidity at {best} on {spec.symbol}",
                exchange=EXCHANGE_ID,
            )
        if order.reduce_only:
            self._check_reduce_only(spec, order.side, order.quantity)
        currency, amount = self._requirement(spec, engine, order, triggered=False)
        venue.account.lock(currency, amount, purpose=f"{order.side.value} {order.quantity} {spec.symbol}")
        # an id is given only once the venue accepts: a refused order leaves no trace
        now = venue.now()
        record = OrderRecord(order, engine_order(venue.next_order_id(), order), spec, now, now,
                             reserve=amount, reserve_currency=currency)
        self._records[record.order_id] = record
        self._by_client[order.client_order_id] = record
        self._publish(record)  # accepted: "new" before any fill, as venues report it
        venue.outbox.balances_changed = True
        self.process(spec, engine.submit(record.engine_order))
        self.run_triggers(spec)
        self._finish(record)
        return record.result()

    def _check_trigger(self, order: Order, engine: MatchingEngine) -> None:
        if order.stop_price is None:
            return
        last = engine.last_price
        rising = (order.side is OrderSide.BUY) == (order.order_type in _STOPS)
        if (rising and order.stop_price <= last) or (not rising and order.stop_price >= last):
            need = "above" if rising else "below"
            raise InvalidOrder(
                f"{order.order_type.value} {order.side.value} would trigger immediately: stop_price "
                f"{order.stop_price} must be {need} the last price {last} of {order.symbol}",
                exchange=EXCHANGE_ID,
            )

    def _check_reduce_only(self, spec: MarketSpec, side: OrderSide, quantity: Decimal) -> None:
        held = self._venue.account.position(spec.symbol).quantity
        direction = 1 if side is OrderSide.BUY else -1
        if held == 0 or held * direction > 0:
            state = "flat" if held == 0 else f"{'long' if held > 0 else 'short'} {abs(held)}"
            raise InvalidOrder(
                f"reduce-only {side.value} of {quantity} would increase the position on {spec.symbol} "
                f"(position: {state})",
                exchange=EXCHANGE_ID,
            )
        if quantity > abs(held):
            raise InvalidOrder(
                f"reduce-only {side.value} of {quantity} would flip the position on {spec.symbol}: "
                f"at most {abs(held)} can be reduced",
                exchange=EXCHANGE_ID,
            )

    def _requirement(
        self, spec: MarketSpec, engine: MatchingEngine, order: Order, *, triggered: bool
    ) -> tuple[str, Decimal]:
        quantity = order.quantity or _ZERO
        closing = _ZERO
        if order.stop_price is not None and not triggered:
            # an untriggered stop is funded at its limit (or stop) price; re-funded when it fires
            estimate = order.price if order.price is not None else order.stop_price
            notional = quantity * estimate
        else:
            taken, notional = engine.preview(order.side, quantity, order.price, owner=ME)
            if order.price is not None:
                notional += (quantity - taken) * order.price
            if spec.is_perpetual:
                # what trades at once against the position we hold now closes it (the best prices come first);
                # a part that rests may open a position later, whatever the position is now
                held = self._venue.account.position(spec.symbol).quantity
                if held != 0 and (held > 0) != (order.side is OrderSide.BUY):
                    _, closing = engine.preview(order.side, min(taken, abs(held)), order.price, owner=ME)
        return self._venue.account.requirement(spec, order.side, quantity, notional, reduce_only=order.reduce_only,
                                               closing=closing)

    # -- matches ----------------------------------------------------------------------

    def process(self, spec: MarketSpec, result: SubmitResult) -> None:
        """Record the trades of one submission and settle the sides that are ours."""
        venue = self._venue
        order = result.order
        if result.matches or result.expired_makers or (order.state.is_open and not order.is_stop):
            venue.outbox.book_changed(spec.symbol)
        now = venue.now()
        touched: dict[str, OrderRecord] = {}
        for match in result.matches:
            venue.record_trade(Trade(spec.symbol, EXCHANGE_ID, match.trade_id, match.price, match.quantity,
                                     match.taker.side, now))
            for side_order, is_maker in ((match.taker, False), (match.maker, True)):
                if side_order.owner != ME:
                    continue
                record = self._records[side_order.order_id]
                fee = venue.account.settle(spec, record, side_order.side, match.price, match.quantity,
                                           is_maker=is_maker)
                record.fees += fee
                venue.outbox.fill(record.fill(match, fee, is_maker=is_maker, timestamp=now))
                touched[record.order_id] = record
        for maker in result.expired_makers:
            if maker.owner == ME:
                record = self._records[maker.order_id]
                record.reason = "self-trade prevention: expired by our own incoming order"
                touched[record.order_id] = record
        if order.owner == ME:
            touched.setdefault(order.order_id, self._records[order.order_id])
        for record in touched.values():
            self._touch(record)
        if touched:
            venue.outbox.balances_changed = True
            if spec.is_perpetual:
                self._enforce_reduce_only(spec)

    def _touch(self, record: OrderRecord) -> None:
        """Release what a finished order no longer needs and report its status if it changed."""
        self._finish(record)
        self._publish(record)

    def _publish(self, record: OrderRecord) -> None:
        key = (record.state, record.engine_order.filled)
        if key != record.published:
            record.updated = self._venue.now()
            record.published = key
            self._venue.outbox.order(record.status())

    def _finish(self, record: OrderRecord) -> None:
        if not record.is_open and record.reserve:
            self._venue.account.release(record)
            self._venue.outbox.balances_changed = True

    def run_triggers(self, spec: MarketSpec) -> None:
        """Fire the stops whose trigger price traded, until no more fire."""
        engine = self._venue.engine(spec.symbol)
        for _ in range(_MAX_TRIGGER_ROUNDS):
            fired = engine.take_triggered()
            if not fired:
                return
            for engine_order_ in fired:
                self._activate(spec, engine, self._records[engine_order_.order_id])

    def _activate(self, spec: MarketSpec, engine: MatchingEngine, record: OrderRecord) -> None:
        """A stop fired: re-check the venue rules at today's prices, re-fund it, send it to the book."""
        account = self._venue.account
        account.release(record)
        order = record.request
        try:
            if order.reduce_only:
                self._check_reduce_only(spec, order.side, record.engine_order.remaining)
            currency, amount = self._requirement(spec, engine, order, triggered=True)
            account.reserve(record, currency, amount, purpose=f"triggered {order.order_type.value} {record.order_id}")
        except InvalidOrder as exc:  # InsufficientFunds included
            state = OrderState.REJECTED if isinstance(exc, InsufficientFunds) else OrderState.EXPIRED
            record.engine_order.state = state
            record.reason = exc.message
            self._touch(record)
            self._venue.outbox.balances_changed = True
            return
        self.process(spec, engine.submit(record.engine_order))

    def _enforce_reduce_only(self, spec: MarketSpec) -> None:
        """Expire resting reduce-only orders that would now increase or flip the position."""
        held = self._venue.account.position(spec.symbol).quantity
        engine = self._venue.engine(spec.symbol)
        for record in list(self._open(spec.symbol)):
            eo = record.engine_order
            if not record.request.reduce_only or eo.is_stop:
                continue
            direction = 1 if eo.side is OrderSide.BUY else -1
            if held == 0 or held * direction > 0 or eo.remaining > abs(held):
                engine.cancel(eo.order_id, OrderState.EXPIRED)
                record.reason = "reduce-only: the position changed and this order would now increase or flip it"
                self._touch(record)
                self._venue.outbox.book_changed(spec.symbol)

    def set_leverage(self, spec: MarketSpec, leverage: int) -> None:
        """Change the leverage, topping up the margin reserved by our resting orders on ``spec``.

        Stops waiting for their trigger are left alone: they are funded again,
        at the leverage then in force, when they fire.
        """
        resting = [
            (record, record.engine_order.remaining * record.engine_order.price)
            for record in self._open(spec.symbol)
            if not record.request.reduce_only and not record.engine_order.is_stop
            and record.engine_order.price is not None
        ]
        self._venue.account.set_leverage(spec, leverage, resting)

    # -- cancelling and queries ---------------------------------------------------------

    def find(self, order_id: str | None, symbol: str, client_order_id: str | None = None) -> OrderRecord:
        """Our order by venue id or client order id; OrderNotFound if it is not ours on ``symbol``."""
        spec_of(symbol)
        if order_id is None and client_order_id is None:
            raise InvalidOrder("give an order id or a client order id", exchange=EXCHANGE_ID)
        record = self._records.get(order_id) if order_id is not None else self._by_client.get(client_order_id or "")
        if record is None or record.symbol != symbol or (
            client_order_id is not None and record.request.client_order_id != client_order_id
        ):
            what = f"order id {order_id}" if order_id is not None else f"client order id {client_order_id!r}"
            raise OrderNotFound(f"no order with {what} on {symbol}", exchange=EXCHANGE_ID)
        return record

    def cancel(self, order_id: str | None, symbol: str, client_order_id: str | None = None) -> CancelResult:
        """Cancel one open order; OrderNotFound if unknown or already done."""
        record = self.find(order_id, symbol, client_order_id)
        if not record.is_open:
            raise OrderNotFound(
                f"order {record.order_id} on {symbol} is {record.state.value}: nothing to cancel", exchange=EXCHANGE_ID
            )
        return self._cancel(record)

    def _cancel(self, record: OrderRecord) -> CancelResult:
        was_stop = record.engine_order.is_stop
        self._venue.engine(record.symbol).cancel(record.order_id)
        self._touch(record)
        if not was_stop:
            self._venue.outbox.book_changed(record.symbol)
        return CancelResult(record.order_id, record.request.client_order_id, record.symbol, record.state, record.updated)

    def cancel_all(self, symbol: str | None = None) -> list[CancelResult]:
        """Cancel every open order (of one symbol)."""
        if symbol is not None:
            spec_of(symbol)
        return [self._cancel(record) for record in list(self._open(symbol))]

    def status(self, order_id: str | None, symbol: str, client_order_id: str | None = None) -> OrderStatus:
        """Current status of one of our orders."""
        return self.find(order_id, symbol, client_order_id).status()

    def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        """Our open orders (of one symbol), oldest first."""
        if symbol is not None:
            spec_of(symbol)
        return [record.status() for record in self._open(symbol)]

    def _open(self, symbol: str | None) -> Iterator[OrderRecord]:
        return (r for r in self._records.values() if r.is_open and (symbol is None or r.symbol == symbol))

    def record(self, order_id: str) -> OrderRecord | None:
        """The record of one of our orders (for inspection), or None."""
        return self._records.get(order_id)

    def owns(self, order: EngineOrder) -> bool:
        """True if the engine order is one of ours."""
        return order.owner == ME and order.order_id in self._records
