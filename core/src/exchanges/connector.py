"""The connector contract: the exchange object every venue plugin builds.

A plugin subclasses :class:`BaseExchange`, :class:`MarketData`,
:class:`Execution` and :class:`~exchanges.instruments.Instruments`. Every public
method of the two parts is gated by the capability of the same name in the
descriptor: a call the venue does not declare raises :class:`NotSupported`
naming the venue, whether or not the plugin overrides it. ``place_order`` also
checks the order's features (post-only, reduce-only, stop, market, quote
quantity) against the capabilities and validates it against the instrument's
rules before the plugin's code runs, so a bad order never leaves the process.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any

import attrs

from .descriptors import Capability, ExchangeDescriptor
from .errors import NotSupported
from .instruments import Instruments
from .models import (
    Balance,
    CancelResult,
    Candle,
    Fill,
    Order,
    OrderBook,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    Ticker,
    Trade,
)

if TYPE_CHECKING:
    from .credentials import Credentials
    from .host import Host
    from .ratelimit import EndpointCost, RateLimitRule
    from .symbols import SymbolMapper

__all__ = ["BaseExchange", "ConnectorContext", "Execution", "Health", "MarketData"]


@attrs.define
class ConnectorContext:
    """Everything a connector factory receives: resolved endpoints, credentials, limits."""

    descriptor: ExchangeDescriptor
    host: Host
    testnet: bool = False
    credentials: Credentials | None = None
    endpoints: Mapping[str, str] = attrs.field(factory=dict)
    rate_limit_rules: tuple[RateLimitRule, ...] = ()
    endpoint_costs: Mapping[str, EndpointCost] = attrs.field(factory=dict)
    symbol_mapper: SymbolMapper | None = None
    settings: Mapping[str, Any] = attrs.field(factory=dict)
    account: str | None = None

    @property
    def exchange_id(self) -> str:
        """The id of the venue being connected."""
        return self.descriptor.id


@attrs.frozen
class Health:
    """Result of :meth:`BaseExchange.health`."""

    exchange: str
    connected: bool
    ok: bool
    latency_ms: float | None = None
    detail: str = ""


_ORDER_FEATURES: tuple[tuple[Callable[[Order], bool], str], ...] = (
    (lambda o: o.post_only, Capability.POST_ONLY),
    (lambda o: o.reduce_only, Capability.REDUCE_ONLY),
    (lambda o: o.quote_quantity is not None, Capability.QUOTE_QUANTITY),
    (lambda o: o.order_type is OrderType.MARKET, Capability.MARKET_ORDERS),
    (lambda o: o.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT), Capability.STOP_ORDERS),
    (
        lambda o: o.order_type in (OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT),
        Capability.TAKE_PROFIT_ORDERS,
    ),
)


def _gate(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a part method so it raises NotSupported unless the descriptor declares ``name``."""
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        def stream(self: _Part, *args: Any, **kwargs: Any) -> Any:
            self._require(name)
            return func(self, *args, **kwargs)

        stream.__gated__ = name  # type: ignore[attr-defined]
        return stream

    @functools.wraps(func)
    async def call(self: _Part, *args: Any, **kwargs: Any) -> Any:
        self._require(name)
        if name == Capability.PLACE_ORDER:
            order = args[0] if args else kwargs["order"]
            self._check_order(order)
        return await func(self, *args, **kwargs)

    call.__gated__ = name  # type: ignore[attr-defined]
    return call


class _Part:
    """Shared machinery of :class:`MarketData` and :class:`Execution`."""

    _GATED: frozenset[str] = frozenset()

    def __init__(self, exchange: BaseExchange) -> None:
        self.exchange = exchange

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Runs for MarketData/Execution themselves too, so the base methods are gated:
        # a plugin that declares a capability but never overrides the method gets
        # NotSupported, and one that overrides it without declaring it does too.
        super().__init_subclass__(**kwargs)
        for name in cls._GATED:
            func = cls.__dict__.get(name)
            if func is not None and not hasattr(func, "__gated__"):
                setattr(cls, name, _gate(name, func))

    def _require(self, capability: str) -> None:
        if capability not in self.exchange.descriptor.capabilities:
            raise NotSupported(capability, exchange=self.exchange.id)

    def _not_implemented(self, capability: str) -> NotSupported:
        return NotSupported(capability, exchange=self.exchange.id)

    def _check_order(self, order: Order) -> None:
        for applies, capability in _ORDER_FEATURES:
            if applies(order):
                self._require(capability)
        self.exchange.instruments.validate(order, reference_price=self.exchange.reference_price(order.symbol))


class MarketData(_Part):
    """Public market data. Methods a venue does not support raise :class:`NotSupported`."""

    _GATED = frozenset(
        {
            "order_book", "trades", "ticker", "candles",
            "watch_order_book", "watch_trades", "watch_ticker", "watch_candles",
        }
    )

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """REST snapshot of the book, ``depth`` levels per side."""
        raise self._not_implemented("order_book")

    async def trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Most recent public trades, oldest first."""
        raise self._not_implemented("trades")

    async def ticker(self, symbol: str) -> Ticker:
        """Best prices and 24 h statistics."""
        raise self._not_implemented("ticker")

    async def candles(
        self, symbol: str, interval: str = "1m", limit: int = 100, since: int | None = None
    ) -> list[Candle]:
        """OHLCV bars, oldest first; ``since`` is epoch ms of the first bar wanted."""
        raise self._not_implemented("candles")

    async def watch_order_book(self, symbol: str, depth: int | None = None) -> AsyncIterator[OrderBook]:
        """Locally synced book after each update; a slow consumer gets the latest state (conflation)."""
        raise self._not_implemented("watch_order_book")
        yield  # pragma: no cover - marks this an async generator

    async def watch_trades(self, symbol: str) -> AsyncIterator[Trade]:
        """Every public trade; a consumer that falls too far behind gets SubscriptionOverflow."""
        raise self._not_implemented("watch_trades")
        yield  # pragma: no cover

    async def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]:
        """Ticker updates (conflated)."""
        raise self._not_implemented("watch_ticker")
        yield  # pragma: no cover

    async def watch_candles(self, symbol: str, interval: str = "1m") -> AsyncIterator[Candle]:
        """Candle updates; ``closed`` tells a final bar from a forming one."""
        raise self._not_implemented("watch_candles")
        yield  # pragma: no cover

    async def unsubscribe(self, symbol: str, channel: str | None = None) -> None:
        """Stop the streams of ``symbol`` (one ``channel`` or all); iterators on them end."""
        return None


class Execution(_Part):
    """Trading and account state. Methods a venue does not support raise :class:`NotSupported`."""

    _GATED = frozenset(
        {
            "place_order", "cancel_order", "cancel_all", "order_status", "open_orders",
            "balances", "positions", "set_leverage", "watch_orders", "watch_fills", "watch_balances",
        }
    )

    async def place_order(self, order: Order) -> OrderResult:
        """Send an order (validated locally first)."""
        raise self._not_implemented("place_order")

    async def cancel_order(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> CancelResult:
        """Cancel one order by venue id or by client order id."""
        raise self._not_implemented("cancel_order")

    async def cancel_all(self, symbol: str | None = None) -> list[CancelResult]:
        """Cancel every open order (of one symbol, or all)."""
        raise self._not_implemented("cancel_all")

    async def order_status(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> OrderStatus:
        """Current state of one order, by venue id or client order id."""
        raise self._not_implemented("order_status")

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        """Orders that can still trade."""
        raise self._not_implemented("open_orders")

    async def balances(self) -> dict[str, Balance]:
        """Balances by currency (zero balances omitted)."""
        raise self._not_implemented("balances")

    async def positions(self, symbol: str | None = None) -> list[Position]:
        """Open derivatives positions."""
        raise self._not_implemented("positions")

    async def set_leverage(self, symbol: str, leverage: int) -> Decimal:
        """Set the leverage of a derivatives symbol; returns the leverage now in force."""
        raise self._not_implemented("set_leverage")

    async def watch_orders(self, symbol: str | None = None) -> AsyncIterator[OrderStatus]:
        """Our order updates as they happen."""
        raise self._not_implemented("watch_orders")
        yield  # pragma: no cover

    async def watch_fills(self, symbol: str | None = None) -> AsyncIterator[Fill]:
        """Our fills as they happen."""
        raise self._not_implemented("watch_fills")
        yield  # pragma: no cover

    async def watch_balances(self) -> AsyncIterator[dict[str, Balance]]:
        """Balance snapshots after each change."""
        raise self._not_implemented("watch_balances")
        yield  # pragma: no cover


class BaseExchange:
    """The exchange object: ``instruments``, ``market_data``, ``execution`` and a lifecycle.

    Subclasses set the three parts in ``__init__`` and override
    :meth:`_open` / :meth:`_close`. Use as an async context manager::

        async with exchanges.connect("sim") as ex:
            book = await ex.market_data.order_book("BTC/USDT")
    """

    instruments: Instruments
    market_data: MarketData
    execution: Execution

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.descriptor = context.descriptor
        self._connected = False
        self._connect_lock: asyncio.Lock | None = None

    @property
    def id(self) -> str:
        """The exchange id."""
        return self.descriptor.id

    @property
    def is_connected(self) -> bool:
        """True between a successful :meth:`connect` and :meth:`close`."""
        return self._connected

    async def connect(self) -> None:
        """Open sessions and load instruments. Idempotent; concurrent calls open once."""
        if self._connected:
            return
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._connected:
                return
            try:
                await self._open()
                await self.instruments.load()
            except BaseException:
                # _open may have failed half-way (HTTP session open, websocket not): release what it opened.
                await self._close()
                raise
            self._connected = True

    async def close(self) -> None:
        """Close every session and stream. Idempotent."""
        if not self._connected:
            return
        self._connected = False
        await self._close()

    async def health(self) -> Health:
        """Check the venue answers; never raises."""
        start = time.perf_counter()
        try:
            await self._ping()
        except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
            return Health(self.id, self._connected, False, None, f"{type(exc).__name__}: {exc}")
        return Health(self.id, self._connected, True, round((time.perf_counter() - start) * 1000, 3))

    def reference_price(self, symbol: str) -> Decimal | None:
        """A recent price used to check the notional of orders without a price (None if unknown)."""
        return None

    async def _open(self) -> None:
        """Open transports (plugin hook)."""

    async def _close(self) -> None:
        """Close transports (plugin hook)."""

    async def _ping(self) -> None:
        """A cheap round trip to the venue (plugin hook)."""

    async def __aenter__(self) -> BaseExchange:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "connected" if self._connected else "closed"
        net = " testnet" if self.context.testnet else ""
        return f"<{type(self).__name__} {self.id}{net} {state}>"


#: The protocol name used in the docs: an ``Exchange`` is a :class:`BaseExchange`.
Exchange = BaseExchange
