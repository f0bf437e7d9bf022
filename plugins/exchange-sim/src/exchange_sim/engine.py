"""A price-time-priority matching engine for one instrument.

Pure and synchronous: no clock of its own, no asyncio, no accounts. Callers
(the simulator) decide who may send what; the engine only keeps the book
honest: orders match at the resting order's price, best price first and, at
one price, first come first served; the book is never left crossed.

Order semantics:

- market orders take what the book offers and never rest (the rest expires);
- limit GTC orders take what crosses and rest with the remainder;
- IOC takes what crosses and expires the remainder; FOK fills entirely at
  once or expires untouched;
- post-only orders that would take raise :class:`~exchanges.PostOnlyRejected`
  before anything changes;
- stop / take-profit orders wait off-book until the last trade price crosses
  their ``stop_price`` (:meth:`MatchingEngine.take_triggered`), then trade as
  market or limit orders;
- self-trade prevention: an order never fills against a resting order of the
  same (non-None) owner; that resting order expires instead ("expire maker").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import islice

import attrs
from sortedcontainers import SortedDict

from exchanges import OrderBookLevel, OrderSide, OrderState, OrderType, PostOnlyRejected, TimeInForce

__all__ = ["EngineOrder", "Match", "MatchingEngine", "SubmitResult"]

_ZERO = Decimal(0)
_TAKE_PROFIT = (OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT)


@attrs.define(eq=False, slots=True)
class EngineOrder:
    """An order inside the engine. ``price`` None means a market order.

    ``owner`` tags who sent it (None for the anonymous simulated
    participants); ``filled`` and ``notional`` (sum of price x quantity
    filled) grow as it trades; ``state`` is its lifecycle state.
    """

    order_id: str
    side: OrderSide
    quantity: Decimal
    price: Decimal | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    owner: str | None = None
    post_only: bool = False
    stop_price: Decimal | None = None
    triggered: bool = False
    filled: Decimal = _ZERO
    notional: Decimal = _ZERO
    state: OrderState = OrderState.NEW

    @property
    def remaining(self) -> Decimal:
        """Quantity not yet filled."""
        return self.quantity - self.filled

    @property
    def is_stop(self) -> bool:
        """True while the order waits for its trigger."""
        return self.stop_price is not None and not self.triggered

    @property
    def average_price(self) -> Decimal | None:
        """Volume-weighted fill price, None before the first fill."""
        return None if self.filled == 0 else self.notional / self.filled


@attrs.frozen
class Match:
    """One trade: ``quantity`` at the maker's ``price`` between a taker and a resting maker."""

    trade_id: str
    price: Decimal
    quantity: Decimal
    taker: EngineOrder
    maker: EngineOrder


@attrs.define
class SubmitResult:
    """What one submission did: the trades it printed and resting orders it expired (self-trade)."""

    order: EngineOrder
    matches: list[Match] = attrs.field(factory=list)
    expired_makers: list[EngineOrder] = attrs.field(factory=list)

    @property
    def filled(self) -> Decimal:
        """Quantity the submitted order filled."""
        return sum((m.quantity for m in self.matches), _ZERO)


class _Level:
    """One price level: resting orders in arrival order (dicts keep insertion order) and their total."""

    __slots__ = ("orders", "quantity")

    def __init__(self) -> None:
        self.orders: dict[str, EngineOrder] = {}
        self.quantity = _ZERO


def _same_owner(taker: EngineOrder, maker: EngineOrder) -> bool:
    return taker.owner is not None and taker.owner == maker.owner


class MatchingEngine:
    """The book of one instrument and the rules that match orders against it.

    ``next_trade_id`` gives trade ids (the simulator shares one counter over
    all instruments). ``sequence`` grows by one with every change to the
    book, so a published snapshot says how far it has caught up.
    """

    def __init__(self, symbol: str, *, last_price: Decimal, next_trade_id: Callable[[], str]) -> None:
        self.symbol = symbol
        self.last_price = last_price
        self.sequence = 0
        self._next_trade_id = next_trade_id
        self._bids: SortedDict = SortedDict()  # price -> _Level; best is the last key
        self._asks: SortedDict = SortedDict()  # price -> _Level; best is the first key
        self._resting: dict[str, EngineOrder] = {}
        self._stops: dict[str, EngineOrder] = {}
        # extremes of traded prices since the last trigger check: a stop triggers when the
        # price crossed its level at any point, even if a later trade came back
        self._high = last_price
        self._low = last_price

    # -- inspection -------------------------------------------------------------------

    @property
    def best_bid(self) -> Decimal | None:
        """Highest resting bid price."""
        return self._bids.keys()[-1] if self._bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest resting ask price."""
        return self._asks.keys()[0] if self._asks else None

    @property
    def mid(self) -> Decimal | None:
        """Middle of the best prices, None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else (bid + ask) / 2

    @property
    def is_crossed(self) -> bool:
        """True if the best bid reaches the best ask (a bug if it ever happens)."""
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask

    def get(self, order_id: str) -> EngineOrder | None:
        """A resting or waiting (stop) order by id."""
        return self._resting.get(order_id) or self._stops.get(order_id)

    @property
    def resting_count(self) -> int:
        """Number of orders on the book."""
        return len(self._resting)

    @property
    def stop_count(self) -> int:
        """Number of stop orders waiting for their trigger."""
        return len(self._stops)

    def resting_orders(self, side: OrderSide | None = None) -> list[EngineOrder]:
        """Resting orders (of one side) in arrival order."""
        return [o for o in self._resting.values() if side is None or o.side is side]

    def levels(self, side: OrderSide, depth: int | None = None) -> list[OrderBookLevel]:
        """Aggregated levels of one side, best first: bids high to low, asks low to high."""
        book = self._bids if side is OrderSide.BUY else self._asks
        items: Iterator[tuple[Decimal, _Level]] = reversed(book.items()) if side is OrderSide.BUY else iter(book.items())
        if depth is not None:
            items = islice(items, depth)
        return [OrderBookLevel(price, level.quantity, len(level.orders)) for price, level in items]

    def volume(self, side: OrderSide, depth: int | None = None) -> Decimal:
        """Resting quantity on one side (within ``depth`` levels)."""
        return sum((lv.quantity for lv in self.levels(side, depth)), _ZERO)

    def preview(
        self, side: OrderSide, quantity: Decimal, price: Decimal | None = None, owner: str | None = None
    ) -> tuple[Decimal, Decimal]:
        """What an order would take right now, without changing anything: ``(quantity, notional)``.

        Resting orders of the same owner are skipped (self-trade prevention
        expires them rather than filling them).
        """
        book = self._asks if side is OrderSide.BUY else self._bids
        prices = iter(book.keys()) if side is OrderSide.BUY else reversed(book.keys())
        need, taken, notional = quantity, _ZERO, _ZERO
        for level_price in prices:
            if need <= 0 or not _crosses(side, price, level_price):
                break
            level: _Level = book[level_price]
            if owner is None:
                available = level.quantity
            else:
                available = sum((o.remaining for o in level.orders.values() if o.owner != owner), _ZERO)
            q = min(need, available)
            taken += q
            notional += q * level_price
            need -= q
        return taken, notional

    def would_take(self, side: OrderSide, price: Decimal | None) -> bool:
        """True if an order at ``price`` would cross the opposite best price right now."""
        best = self.best_ask if side is OrderSide.BUY else self.best_bid
        return best is not None and _crosses(side, price, best)

    # -- changes ----------------------------------------------------------------------

    def submit(self, order: EngineOrder) -> SubmitResult:
        """Match (and maybe rest) an order; stops wait off-book until triggered."""
        result = SubmitResult(order)
        if order.is_stop:
            self._stops[order.order_id] = order
            order.state = OrderState.NEW
            return result
        if order.post_only and self.would_take(order.side, order.price):
            best = self.best_ask if order.side is OrderSide.BUY else self.best_bid
            raise PostOnlyRejected(
                f"post-only {order.side.value} at {order.price} would take liquidity at {best} on {self.symbol}",
                exchange="sim",
            )
        if order.time_in_force is TimeInForce.FOK:
            fillable, _ = self.preview(order.side, order.remaining, order.price, order.owner)
            if fillable < order.remaining:
                order.state = OrderState.EXPIRED
                return result
        changed = self._match(order, result)
        if order.remaining > 0:
            if order.price is not None and order.time_in_force is TimeInForce.GTC:
                self._rest(order)
                changed = True
                order.state = OrderState.PARTIALLY_FILLED if order.filled > 0 else OrderState.NEW
            else:
                order.state = OrderState.EXPIRED
        else:
            order.state = OrderState.FILLED
        if changed:
            self.sequence += 1
        return result

    def cancel(self, order_id: str, state: OrderState = OrderState.CANCELED) -> EngineOrder | None:
        """Take a resting or waiting order off; returns it (now ``state``) or None if not here."""
        stop = self._stops.pop(order_id, None)
        if stop is not None:
            stop.state = state
            return stop
        order = self._resting.get(order_id)
        if order is None:
            return None
        self._unrest(order)
        order.state = state
        self.sequence += 1
        return order

    def take_triggered(self) -> list[EngineOrder]:
        """Remove and return the stops whose trigger the traded prices crossed since the last call.

        Returned in arrival order, marked ``triggered``; the caller submits
        them (after any account checks) with :meth:`submit`.
        """
        high, low = self._high, self._low
        self._high = self._low = self.last_price
        fired = [o for o in self._stops.values() if _triggers(o, high, low)]
        for order in fired:
            del self._stops[order.order_id]
            order.triggered = True
        return fired

    # -- internals --------------------------------------------------------------------

    def _match(self, taker: EngineOrder, result: SubmitResult) -> bool:
        book = self._asks if taker.side is OrderSide.BUY else self._bids
        changed = False
        while taker.remaining > 0 and book:
            level_price = book.keys()[0] if taker.side is OrderSide.BUY else book.keys()[-1]
            if not _crosses(taker.side, taker.price, level_price):
                break
            level: _Level = book[level_price]
            for maker in list(level.orders.values()):
                if taker.remaining <= 0:
                    break
                changed = True
                if _same_owner(taker, maker):
                    self._unrest(maker)
                    maker.state = OrderState.EXPIRED
                    result.expired_makers.append(maker)
                    continue
                quantity = min(taker.remaining, maker.remaining)
                for side in (taker, maker):
                    side.filled += quantity
                    side.notional += quantity * level_price
                level.quantity -= quantity
                result.matches.append(Match(self._next_trade_id(), level_price, quantity, taker, maker))
                self._traded(level_price)
                if maker.remaining == 0:
                    maker.state = OrderState.FILLED
                    del level.orders[maker.order_id]
                    del self._resting[maker.order_id]
                else:
                    maker.state = OrderState.PARTIALLY_FILLED
            if not level.orders:
                # the level may already be gone if self-trade prevention emptied it
                book.pop(level_price, None)
        return changed

    def _traded(self, price: Decimal) -> None:
        self.last_price = price
        if price > self._high:
            self._high = price
        if price < self._low:
            self._low = price

    def _rest(self, order: EngineOrder) -> None:
        assert order.price is not None
        book = self._bids if order.side is OrderSide.BUY else self._asks
        level = book.get(order.price)
        if level is None:
            level = book[order.price] = _Level()
        level.orders[order.order_id] = order
        level.quantity += order.remaining
        self._resting[order.order_id] = order

    def _unrest(self, order: EngineOrder) -> None:
        book = self._bids if order.side is OrderSide.BUY else self._asks
        level: _Level = book[order.price]
        del level.orders[order.order_id]
        level.quantity -= order.remaining
        if not level.orders:
            del book[order.price]
        del self._resting[order.order_id]


def _crosses(side: OrderSide, limit: Decimal | None, level_price: Decimal) -> bool:
    """True if an order of ``side`` limited at ``limit`` (None: market) trades at ``level_price``."""
    if limit is None:
        return True
    return level_price <= limit if side is OrderSide.BUY else level_price >= limit


def _triggers(order: EngineOrder, high: Decimal, low: Decimal) -> bool:
    stop = order.stop_price
    assert stop is not None
    rising = (order.side is OrderSide.BUY) != (order.order_type in _TAKE_PROFIT)
    # stop-buy / take-profit-sell fire on a rise through the stop; stop-sell / take-profit-buy on a fall
    return high >= stop if rising else low <= stop
