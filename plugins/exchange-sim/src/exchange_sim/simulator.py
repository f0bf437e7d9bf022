"""The simulated venue itself (``ex.venue``): engines, our account, the tape, the participants, the clock.

Everything here is synchronous and runs on the event loop's thread, so every
operation is atomic: a snapshot never shows half an order. Events are
collected while an operation runs and published on the connector's
:class:`~exchanges.events.EventBus` when it ends.

The manual driver (public API, used by tests, the CLI demo and the
conformance kit)::

    ex.venue.step(n)                       # n rounds of the simulated participants; returns their trades
    ex.venue.advance(ms)                   # move the virtual clock
    ex.venue.submit_external(sym, side, qty, price=None)   # an order from another participant
    ex.venue.cancel_external(sym, order_id)
    ex.venue.clear_external(sym=None)      # take every other participant's order off the book(s)
    ex.venue.book(sym, depth=None)         # the engine's book as an OrderBook
    ex.venue.engine(sym)                   # the MatchingEngine (inspection)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from exchanges import (
    Balance,
    Candle,
    ConfigError,
    Fill,
    OrderBook,
    OrderSide,
    OrderStatus,
    Position,
    Ticker,
    TimeInForce,
    Trade,
)
from exchanges.events import EventBus

from .account import Account
from .desk import OrderDesk, spec_of
from .engine import EngineOrder, MatchingEngine
from .flow import Participants
from .settings import SimSettings
from .tape import Tape
from .venue import EXCHANGE_ID, MARKETS

__all__ = ["Clock", "Outbox", "Simulator", "topic"]


def topic(channel: str, symbol: str | None = None, interval: str | None = None) -> str:
    """The event-bus topic of a stream: ``book:BTC/USDT``, ``candles:BTC/USDT:1m``, ``orders``..."""
    parts = [channel] + [p for p in (symbol, interval) if p is not None]
    return ":".join(parts)


class Clock:
    """Wall-clock milliseconds, or a virtual clock that moves only when told."""

    def __init__(self, mode: str, start: int) -> None:
        self.mode = mode
        self._virtual = start

    @property
    def is_virtual(self) -> bool:
        """True when time moves only through :meth:`advance`."""
        return self.mode == "virtual"

    def now(self) -> int:
        """Current time in epoch milliseconds."""
        return self._virtual if self.is_virtual else int(time.time() * 1000)

    def advance(self, ms: int) -> int:
        """Move the virtual clock forward; returns the new time."""
        if not self.is_virtual:
            raise ConfigError("the venue runs on the wall clock; connect with clock='virtual' to move time by hand")
        if ms < 0:
            raise ValueError("time only moves forward")
        self._virtual += ms
        return self._virtual


class Outbox:
    """What changed during one operation, published when it ends."""

    def __init__(self) -> None:
        self.books: dict[str, None] = {}
        self.trades: list[Trade] = []
        self.candles: list[Candle] = []
        self.orders: list[OrderStatus] = []
        self.fills: list[Fill] = []
        self.balances_changed = False

    def book_changed(self, symbol: str) -> None:
        """Mark a book (and its ticker) for publishing."""
        self.books[symbol] = None

    def order(self, status: OrderStatus) -> None:
        """Queue an update of one of our orders."""
        self.orders.append(status)

    def fill(self, fill: Fill) -> None:
        """Queue a fill of one of our orders."""
        self.fills.append(fill)


class Simulator:
    """One simulated venue: built from :class:`SimSettings`, seeded, ready to trade."""

    def __init__(self, settings: SimSettings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus or EventBus()
        self.clock = Clock(settings.clock, settings.start_time)
        self.outbox = Outbox()
        self._order_ids = 0
        self._trade_ids = 0
        self._steps = 0
        self._stepping = False
        self._prices: dict[str, Decimal] = {m.symbol: settings.prices.get(m.symbol, m.start_price) for m in MARKETS}
        for spec in MARKETS:
            if spec.anchor is not None and spec.symbol not in settings.prices:
                self._prices[spec.symbol] = self._prices[spec.anchor]
        self._engines = {
            m.symbol: MatchingEngine(m.symbol, last_price=self._rounded(m.symbol), next_trade_id=self._next_trade_id)
            for m in MARKETS
        }
        self._tapes = {m.symbol: Tape(m.symbol) for m in MARKETS}
        self.account = Account(
            settings.balances, maker_fee=settings.maker_fee, taker_fee=settings.taker_fee, leverage=settings.leverage
        )
        self.desk = OrderDesk(self)
        self.participants = Participants(self, MARKETS, seed=settings.seed, levels=settings.levels)
        self._stepping = True
        try:
            self.participants.seed_books()
        finally:
            self._stepping = False
        self.outbox = Outbox()  # nobody listens yet: the seeding is the starting state, not news

    # -- identity and time --------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Every listed symbol."""
        return tuple(m.symbol for m in MARKETS)

    @property
    def seed(self) -> int:
        """The seed of the simulated participants."""
        return self.settings.seed

    @property
    def steps(self) -> int:
        """Steps taken so far (manual and background)."""
        return self._steps

    def now(self) -> int:
        """Venue time in epoch milliseconds."""
        return self.clock.now()

    def advance(self, ms: int) -> int:
        """Move the virtual clock by ``ms`` without any trading; returns the new time."""
        return self.clock.advance(ms)

    def start_price(self, symbol: str) -> Decimal:
        """The price the book of ``symbol`` was seeded around."""
        return self._prices[spec_of(symbol).symbol]

    def _rounded(self, symbol: str) -> Decimal:
        spec = spec_of(symbol)
        return (self._prices[symbol] / spec.tick_size).quantize(Decimal(1), ROUND_HALF_EVEN) * spec.tick_size

    def next_order_id(self) -> str:
        """A fresh order id (one sequence for every market and participant)."""
        self._order_ids += 1
        return str(self._order_ids)

    def _next_trade_id(self) -> str:
        self._trade_ids += 1
        return str(self._trade_ids)

    # -- the manual driver --------------------------------------------------------------

    def step(self, n: int = 1) -> list[Trade]:
        """Run ``n`` rounds of the simulated participants; returns the trades they printed, in order.

        With a virtual clock each step first moves time by ``step_ms``.
        Events are published after every step, as the background flow does.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        printed: list[Trade] = []
        for _ in range(n):
            if self.clock.is_virtual:
                self.clock.advance(self.settings.step_ms)
            self._steps += 1
            self._stepping = True
            try:
                self.participants.step()
            finally:
                self._stepping = False
            printed.extend(self.outbox.trades)
            self.flush()
        return printed

    def submit_external(
        self, symbol: str, side: OrderSide | str, quantity: Any, price: Any = None,
        *, time_in_force: TimeInForce | str = TimeInForce.GTC,
    ) -> EngineOrder:
        """Send an order for another (anonymous) participant: a limit order with ``price``, else market.

        It may fill our resting orders and trigger our stops. No funds or
        instrument rules apply. Returns the engine order (its state says what happened).
        """
        spec = spec_of(symbol)
        order = EngineOrder(
            order_id=self.next_order_id(),
            side=OrderSide(side),
            quantity=Decimal(str(quantity)),
            price=None if price is None else Decimal(str(price)),
            time_in_force=TimeInForce(time_in_force) if price is not None else TimeInForce.IOC,
        )
        self.desk.process(spec, self._engines[spec.symbol].submit(order))
        self.desk.run_triggers(spec)
        self._flush_unless_stepping()
        return order

    def cancel_external(self, symbol: str, order_id: str) -> bool:
        """Cancel another participant's resting order; False if it is not resting (or is ours)."""
        engine = self._engines[spec_of(symbol).symbol]
        order = engine.get(order_id)
        if order is None or self.desk.owns(order):
            return False
        engine.cancel(order_id)
        self.outbox.book_changed(symbol)
        self._flush_unless_stepping()
        return True

    def clear_external(self, symbol: str | None = None) -> int:
        """Take every other participant's resting order off one book (or all); returns how many.

        Our own orders stay. The participants rebuild their side on the next step.
        """
        count = 0
        for sym in [spec_of(symbol).symbol] if symbol is not None else list(self._engines):
            engine = self._engines[sym]
            theirs = [o for o in engine.resting_orders() if not self.desk.owns(o)]
            for order in theirs:
                engine.cancel(order.order_id)
            if theirs:
                self.outbox.book_changed(sym)
            count += len(theirs)
        self._flush_unless_stepping()
        return count

    def _flush_unless_stepping(self) -> None:
        # inside step() the participants' many orders are published once, at the end of the step
        if not self._stepping:
            self.flush()

    # -- market data ------------------------------------------------------------------

    def engine(self, symbol: str) -> MatchingEngine:
        """The matching engine of ``symbol`` (for inspection)."""
        return self._engines[spec_of(symbol).symbol]

    def tape(self, symbol: str) -> Tape:
        """Trades and bars of ``symbol``."""
        return self._tapes[spec_of(symbol).symbol]

    def record_trade(self, trade: Trade) -> None:
        """Print a trade on the tape (called by the desk for every match)."""
        self.outbox.trades.append(trade)
        self.outbox.candles.extend(self._tapes[trade.symbol].record(trade))

    def book(self, symbol: str, depth: int | None = None) -> OrderBook:
        """The book of ``symbol`` as an :class:`~exchanges.OrderBook` (``depth`` levels per side)."""
        engine = self.engine(symbol)
        return OrderBook(
            symbol=engine.symbol,
            exchange=EXCHANGE_ID,
            timestamp=self.now(),
            bids=tuple(engine.levels(OrderSide.BUY, depth)),
            asks=tuple(engine.levels(OrderSide.SELL, depth)),
            sequence=engine.sequence,
        )

    def reference_price(self, symbol: str) -> Decimal | None:
        """Last traded price (the start price before any trade); None for an unlisted symbol."""
        engine = self._engines.get(symbol)
        return None if engine is None else engine.last_price

    def mark_price(self, symbol: str) -> Decimal:
        """Mid of the book (last price when a side is empty): what unrealised pnl is measured at."""
        engine = self.engine(symbol)
        return engine.mid if engine.mid is not None else engine.last_price

    def ticker(self, symbol: str) -> Ticker:
        """Best prices, last trade and 24 h statistics."""
        engine, tape, now = self.engine(symbol), self.tape(symbol), self.now()
        bid = engine.levels(OrderSide.BUY, 1)
        ask = engine.levels(OrderSide.SELL, 1)
        last = tape.last_trade.price if tape.last_trade is not None else None
        open_, high, low, volume, quote_volume = tape.stats(now)
        change = None
        if last is not None and open_:
            change = ((last - open_) / open_ * 100).quantize(Decimal("0.01"))
        return Ticker(
            symbol=engine.symbol, exchange=EXCHANGE_ID, timestamp=now,
            bid=bid[0].price if bid else None, ask=ask[0].price if ask else None, last=last,
            bid_size=bid[0].quantity if bid else None, ask_size=ask[0].quantity if ask else None,
            open=open_, high=high, low=low, volume=volume, quote_volume=quote_volume, change_percent=change,
        )

    def trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Recent public trades, oldest first."""
        return self.tape(symbol).trades(limit)

    def candles(self, symbol: str, interval: str = "1m", limit: int = 100, since: int | None = None) -> list[Candle]:
        """OHLCV bars, oldest first."""
        return self.tape(symbol).candles(interval, self.now(), limit, since)

    # -- account views ----------------------------------------------------------------

    def balances(self) -> dict[str, Balance]:
        """Our balances by currency."""
        return self.account.balances()

    def positions(self, symbol: str | None = None) -> list[Position]:
        """Our open perpetual positions, marked at the book's mid."""
        if symbol is not None:
            spec_of(symbol)
        now = self.now()
        return [
            self.account.position_model(pos, self.mark_price(pos.symbol), now)
            for pos in self.account.positions()
            if symbol is None or pos.symbol == symbol
        ]

    # -- publishing -------------------------------------------------------------------

    def flush(self) -> None:
        """Publish what changed since the last flush on the event bus."""
        out, self.outbox = self.outbox, Outbox()
        bus = self.bus
        for symbol in out.books:
            if bus.has_subscribers(topic("book", symbol)):
                bus.publish(topic("book", symbol), self.book(symbol))
        for symbol in {**out.books, **{t.symbol: None for t in out.trades}}:
            if bus.has_subscribers(topic("ticker", symbol)):
                bus.publish(topic("ticker", symbol), self.ticker(symbol))
        for trade in out.trades:
            bus.publish(topic("trades", trade.symbol), trade)
        for candle in out.candles:
            bus.publish(topic("candles", candle.symbol, candle.interval), candle)
        for status in out.orders:
            bus.publish(topic("orders"), status)
        for fill in out.fills:
            bus.publish(topic("fills"), fill)
        if out.balances_changed and bus.has_subscribers(topic("balances")):
            bus.publish(topic("balances"), self.balances())

    def snapshot(self) -> Mapping[str, Any]:
        """A comparable summary of the whole venue (books, trades, balances): equal under equal seeds and steps."""
        return {
            "books": {s: (self.book(s).bids, self.book(s).asks, self._engines[s].sequence) for s in self.symbols},
            "trades": {s: self._tapes[s].trades(1000) for s in self.symbols},
            "balances": self.balances(),
        }
