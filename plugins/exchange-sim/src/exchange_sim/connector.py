"""The exchange object of the simulated venue: ``exchanges.connect("sim", ...)`` builds a :class:`SimExchange`.

The three parts are thin: they check the symbol and call the
:class:`~exchange_sim.simulator.Simulator` (``ex.venue``), which does the work
synchronously. Streams are subscriptions on the connector's event bus: books
and tickers conflated (policy ``latest``), trades, candles, orders and fills
queued (policy ``queue``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Iterable
from decimal import Decimal
from typing import cast

from exchanges import (
    Balance,
    BaseExchange,
    CancelResult,
    Candle,
    ConnectorContext,
    ExchangeUnavailable,
    Execution,
    Fill,
    Instrument,
    Instruments,
    InvalidOrder,
    MarketData,
    NotSupported,
    Order,
    OrderBook,
    OrderResult,
    OrderStatus,
    Position,
    Ticker,
    Trade,
)
from exchanges.events import EventBus

from .settings import SimSettings
from .simulator import Simulator, topic
from .tape import INTERVALS, interval_ms
from .venue import EXCHANGE_ID, MARKETS

__all__ = ["SimExchange", "SimExecution", "SimInstruments", "SimMarketData", "create_exchange"]

log = logging.getLogger("exchange_sim")

_CHANNELS = ("order_book", "trades", "ticker", "candles")
_TOPIC_OF_CHANNEL = {"order_book": "book", "trades": "trades", "ticker": "ticker", "candles": "candles"}


def create_exchange(context: ConnectorContext) -> SimExchange:
    """The connector factory named in the descriptor."""
    return SimExchange(context)


class SimInstruments(Instruments):
    """The listed markets (static: nothing to fetch)."""

    async def fetch(self) -> Iterable[Instrument]:
        """Every listed instrument."""
        return [spec.instrument() for spec in MARKETS]


def _cut(book: OrderBook, depth: int | None) -> OrderBook:
    if depth is None:
        return book
    return OrderBook(book.symbol, book.exchange, book.timestamp, book.bids[:depth], book.asks[:depth], book.sequence)


class SimMarketData(MarketData):
    """Snapshots and streams of the simulated books and tapes."""

    exchange: SimExchange

    def _symbol(self, symbol: str) -> str:
        return self.exchange.instruments.get(symbol).symbol

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The book now, ``depth`` levels per side."""
        return self.exchange.venue.book(self._symbol(symbol), depth)

    async def trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Recent trades, oldest first."""
        return self.exchange.venue.trades(self._symbol(symbol), limit)

    async def ticker(self, symbol: str) -> Ticker:
        """Best prices, last trade, 24 h statistics."""
        return self.exchange.venue.ticker(self._symbol(symbol))

    async def candles(
        self, symbol: str, interval: str = "1m", limit: int = 100, since: int | None = None
    ) -> list[Candle]:
        """OHLCV bars, oldest first; intervals 1s, 1m, 3m, 5m, 15m, 30m, 1h, 4h, 1d."""
        interval_ms(interval)
        return self.exchange.venue.candles(self._symbol(symbol), interval, limit, since)

    async def watch_order_book(self, symbol: str, depth: int | None = None) -> AsyncGenerator[OrderBook, None]:
        """The current book, then the book after every change; a slow reader gets the latest (conflated)."""
        venue = self.exchange.venue
        sub = venue.bus.subscribe(topic("book", self._symbol(symbol)), policy="latest")
        try:
            yield _cut(venue.book(symbol), depth)
            async for book in sub:
                yield _cut(book, depth)
        finally:
            sub.close()

    async def watch_trades(self, symbol: str) -> AsyncGenerator[Trade, None]:
        """Every trade from now on, in order (a reader 10000 trades behind gets SubscriptionOverflow)."""
        sub = self.exchange.venue.bus.subscribe(topic("trades", self._symbol(symbol)), policy="queue")
        try:
            async for trade in sub:
                yield trade
        finally:
            sub.close()

    async def watch_ticker(self, symbol: str) -> AsyncGenerator[Ticker, None]:
        """The current ticker, then one after every book change or trade (conflated)."""
        venue = self.exchange.venue
        sub = venue.bus.subscribe(topic("ticker", self._symbol(symbol)), policy="latest")
        try:
            yield venue.ticker(symbol)
            async for ticker in sub:
                yield ticker
        finally:
            sub.close()

    async def watch_candles(self, symbol: str, interval: str = "1m") -> AsyncGenerator[Candle, None]:
        """The forming bar (if any), then every update; a bar that ends is sent once more with ``closed=True``."""
        interval_ms(interval)
        venue = self.exchange.venue
        sub = venue.bus.subscribe(topic("candles", self._symbol(symbol), interval), policy="queue")
        try:
            current = venue.candles(symbol, interval, limit=1)
            if current:
                yield current[-1]
            async for candle in sub:
                yield candle
        finally:
            sub.close()

    async def unsubscribe(self, symbol: str, channel: str | None = None) -> None:
        """End the streams of ``symbol`` (one channel: order_book, trades, ticker, candles; or all)."""
        symbol = self._symbol(symbol)
        if channel is not None and channel not in _CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; valid: {', '.join(_CHANNELS)}")
        bus = self.exchange.venue.bus
        names: set[str] = set()
        for chosen in [channel] if channel else _CHANNELS:
            # exact names: symbols contain ':' (BTC/USDT:PERP), so prefixes would catch other symbols
            if chosen == "candles":
                names.update(topic("candles", symbol, interval) for interval in INTERVALS)
            else:
                names.add(topic(_TOPIC_OF_CHANNEL[chosen], symbol))
        for name in names:
            bus.close_topic(name)


class SimExecution(Execution):
    """Trading on the simulated venue for the connection's account."""

    exchange: SimExchange

    async def place_order(self, order: Order) -> OrderResult:
        """Place an order (already validated against the instrument by the core)."""
        venue = self.exchange.venue
        try:
            return venue.desk.place(order)
        finally:
            venue.flush()

    async def cancel_order(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> CancelResult:
        """Cancel an open order by venue id or client order id."""
        venue = self.exchange.venue
        try:
            return venue.desk.cancel(order_id, symbol, client_order_id)
        finally:
            venue.flush()

    async def cancel_all(self, symbol: str | None = None) -> list[CancelResult]:
        """Cancel every open order (of one symbol)."""
        venue = self.exchange.venue
        try:
            return venue.desk.cancel_all(symbol)
        finally:
            venue.flush()

    async def order_status(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> OrderStatus:
        """Status of one of our orders (open or done)."""
        return self.exchange.venue.desk.status(order_id, symbol, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        """Our open orders, oldest first (stops waiting for their trigger included)."""
        return self.exchange.venue.desk.open_orders(symbol)

    async def balances(self) -> dict[str, Balance]:
        """Balances by currency; ``locked`` backs open orders and position margin."""
        return self.exchange.venue.balances()

    async def positions(self, symbol: str | None = None) -> list[Position]:
        """Open positions of the perpetual, marked at the book's mid."""
        return self.exchange.venue.positions(symbol)

    async def set_leverage(self, symbol: str, leverage: int) -> Decimal:
        """Set the perpetual's leverage (1 to 125); the margin of the position and resting orders is re-locked."""
        venue = self.exchange.venue
        inst = self.exchange.instruments.get(symbol)
        spec = next(m for m in MARKETS if m.symbol == inst.symbol)
        if not spec.is_perpetual:
            raise NotSupported(f"leverage on spot {symbol}", exchange=EXCHANGE_ID)
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise InvalidOrder(f"leverage must be an integer from 1 to 125, got {leverage!r}", exchange=EXCHANGE_ID)
        try:
            venue.desk.set_leverage(spec, leverage)
            venue.outbox.balances_changed = True
        finally:
            venue.flush()
        return Decimal(leverage)

    async def watch_orders(self, symbol: str | None = None) -> AsyncGenerator[OrderStatus, None]:
        """Every change of our orders from now on (accepted, filled, canceled...)."""
        async for status in self._stream("orders", symbol):
            yield cast(OrderStatus, status)  # the "orders" topic carries OrderStatus only

    async def watch_fills(self, symbol: str | None = None) -> AsyncGenerator[Fill, None]:
        """Every fill of our orders from now on."""
        async for fill in self._stream("fills", symbol):
            yield cast(Fill, fill)  # the "fills" topic carries Fill only

    async def watch_balances(self) -> AsyncGenerator[dict[str, Balance], None]:
        """The balances now, then after every change (conflated)."""
        venue = self.exchange.venue
        sub = venue.bus.subscribe(topic("balances"), policy="latest")
        try:
            yield venue.balances()
            async for balances in sub:
                yield balances
        finally:
            sub.close()

    async def _stream(self, channel: str, symbol: str | None) -> AsyncGenerator[OrderStatus | Fill, None]:
        if symbol is not None:
            symbol = self.exchange.instruments.get(symbol).symbol
        sub = self.exchange.venue.bus.subscribe(topic(channel), policy="queue")
        try:
            async for item in sub:
                if symbol is None or item.symbol == symbol:
                    yield item
        finally:
            sub.close()


class SimExchange(BaseExchange):
    """The simulated venue behind the common exchange interface; ``venue`` is its manual driver."""

    market_data: SimMarketData
    execution: SimExecution

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(context)
        self.settings = SimSettings.from_mapping(context.settings)
        #: the simulator: step it, inspect it, add other participants' orders (see exchange_sim.simulator)
        self.venue = Simulator(self.settings, EventBus())
        self.instruments = SimInstruments(self)
        self.market_data = SimMarketData(self)
        self.execution = SimExecution(self)
        self._flow_task: asyncio.Task[None] | None = None
        self._flow_error: BaseException | None = None

    def reference_price(self, symbol: str) -> Decimal | None:
        """The last traded price (the start price before the first trade)."""
        return self.venue.reference_price(symbol)

    @property
    def flow_running(self) -> bool:
        """True while the background participants trade."""
        return self._flow_task is not None and not self._flow_task.done()

    async def _open(self) -> None:
        self._flow_error = None
        if self.settings.flow:
            self._flow_task = asyncio.get_running_loop().create_task(self._run_flow(), name="exchange-sim flow")

    async def _run_flow(self) -> None:
        interval = self.settings.flow_interval
        while True:
            await asyncio.sleep(interval)
            try:
                self.venue.step()
            except Exception as exc:
                # a bug in the simulation must not pass silently: remember it for health() and stop
                log.exception("exchange-sim: the background flow failed; the book stops moving")
                self._flow_error = exc
                return

    async def _close(self) -> None:
        task, self._flow_task = self._flow_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.venue.bus.close()

    async def _ping(self) -> None:
        if self._flow_error is not None:
            raise ExchangeUnavailable(
                f"the simulated participants stopped: {type(self._flow_error).__name__}: {self._flow_error}",
                exchange=EXCHANGE_ID,
            )
