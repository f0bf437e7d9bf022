"""The exchange objects: ``spot_exchange(ctx)`` (``binance``) and ``usdm_exchange(ctx)`` (``binance-usdm``).

:class:`BinanceExchange` ties the pieces together: :class:`~exchange_binance.http.BinanceRest`
(REST, signing, limits), :class:`~exchange_binance.ws.StreamPool` (market
streams), :class:`~exchange_binance.books.BookFeeds` (synced books),
:class:`~exchange_binance.userdata.UserData` (private streams) and the three
parts (instruments, market data, execution). Streams open on first use and
close when their last watcher leaves.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from exchanges import (
    BaseExchange,
    Candle,
    ConnectorContext,
    Instrument,
    Instruments,
    MarketData,
    NotSupported,
    OrderBook,
    RateLimitRule,
    Ticker,
    Trade,
)
from exchanges.events import EventBus

from . import parsing
from .books import BookFeeds, check_snapshot_limit, depth_channel
from .http import BinanceRest
from .orders import BinanceExecution
from .settings import BinanceSettings
from .signing import Signer, make_signer
from .symbols import SpotSymbolMapper, UsdmSymbolMapper
from .userdata import UserData
from .venue import KLINE_INTERVALS, USDM_KLINE_INTERVALS
from .ws import StreamPool, make_policy, stream_name

__all__ = [
    "BinanceExchange",
    "BinanceInstruments",
    "BinanceMarketData",
    "spot_exchange",
    "trade_publisher",
    "usdm_exchange",
]

log = logging.getLogger("exchange_binance")

_LIVE_RULES = "exchange_binance.live_rate_limits"
USDM_DEPTH_VALID = (5, 10, 20, 50, 100, 500, 1000)


def spot_exchange(context: ConnectorContext) -> BinanceExchange:
    """Connector factory of ``binance`` (spot)."""
    return BinanceExchange(context, futures=False)


def usdm_exchange(context: ConnectorContext) -> BinanceExchange:
    """Connector factory of ``binance-usdm`` (USD-M futures)."""
    return BinanceExchange(context, futures=True)


def trade_publisher(
    parse: Callable[[Any, str, str], Trade],
    symbol: str,
    exchange: str,
    publish: Callable[[str, Any], Any],
    topic: str,
    prices: dict[str, Decimal],
) -> Callable[[Any], None]:
    """The handler of a trade stream: parse the event, remember the price, publish the Trade (hot path)."""

    def on_trade(data: Any) -> None:
        trade = parse(data, symbol, exchange)
        prices[symbol] = trade.price
        publish(topic, trade)

    return on_trade


def _live_key(context: ConnectorContext) -> tuple[str, str, str]:
    return (_LIVE_RULES, context.exchange_id, context.endpoints.get("rest", ""))


class BinanceInstruments(Instruments):
    """Instruments from ``exchangeInfo`` (loaded once per venue and endpoint in the process)."""

    _exchange: BinanceExchange

    async def fetch(self) -> Iterable[Instrument]:
        """Every listed instrument; teaches the mapper the venue's pair splits and adopts the live limits."""
        ex = self._exchange
        data = await ex.rest.call("exchange_info")
        mapper = ex.context.symbol_mapper
        if mapper is None:
            mapper = UsdmSymbolMapper() if ex.futures else SpotSymbolMapper()
        learn = getattr(mapper, "learn", None)
        if learn is not None:
            learn(parsing.learned_pairs(data))
        instruments = parsing.parse_exchange_info(data, mapper.normalize, futures=ex.futures)
        ex.context.host.shared[_live_key(ex.context)] = tuple(parsing.parse_rate_limits(data))
        return instruments

    async def load(self, *, reload: bool = False) -> None:
        """Load (or reuse) the shared table, then put the venue's live rate limits in force."""
        await super().load(reload=reload)
        self._exchange.adopt_live_limits()


class BinanceMarketData(MarketData):
    """REST snapshots and websocket streams of public market data."""

    exchange: BinanceExchange

    def _inst(self, symbol: str) -> Instrument:
        return self.exchange.instruments.get(symbol)

    # -- REST ------------------------------------------------------------------------------

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """REST depth snapshot, ``depth`` levels per side (weight by the limit asked for)."""
        inst = self._inst(symbol)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        ex = self.exchange
        if ex.futures:
            limit = next((v for v in USDM_DEPTH_VALID if v >= depth), USDM_DEPTH_VALID[-1])
        else:
            limit = min(depth, 5000)
        data = await ex.rest.call("depth", {"symbol": inst.raw_symbol, "limit": limit})
        book = parsing.parse_depth_snapshot(data, inst.symbol, ex.id, timestamp=ex.rest.now_ms())
        if len(book.bids) > depth or len(book.asks) > depth:
            book = OrderBook(book.symbol, book.exchange, book.timestamp, book.bids[:depth], book.asks[:depth],
                             book.sequence)
        return book

    async def trades(self, symbol: str, limit: int = 100) -> list[Trade]:
        """Most recent public trades, oldest first (at most 1000)."""
        inst = self._inst(symbol)
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be 1..1000, got {limit!r}")
        data = await self.exchange.rest.call("trades", {"symbol": inst.raw_symbol, "limit": limit})
        return parsing.parse_trades(data, inst.symbol, self.exchange.id)

    async def ticker(self, symbol: str) -> Ticker:
        """24 h statistics with the best bid and ask (USD-M adds them from ``bookTicker``)."""
        inst = self._inst(symbol)
        ex = self.exchange
        stats = parsing.parse_ticker_24h(await ex.rest.call("ticker_24h", {"symbol": inst.raw_symbol}),
                                         inst.symbol, ex.id)
        if stats.bid is None or stats.ask is None:
            best = await self.book_ticker(symbol)
            stats = attrs.evolve(stats, bid=best.bid, ask=best.ask, bid_size=best.bid_size, ask_size=best.ask_size)
        return stats

    async def book_ticker(self, symbol: str) -> Ticker:
        """Best bid and ask with their sizes (``ticker/bookTicker``)."""
        inst = self._inst(symbol)
        ex = self.exchange
        data = await ex.rest.call("book_ticker", {"symbol": inst.raw_symbol})
        return parsing.parse_book_ticker(data, inst.symbol, ex.id, timestamp=ex.rest.now_ms())

    def _check_interval(self, interval: str) -> None:
        valid = USDM_KLINE_INTERVALS if self.exchange.futures else KLINE_INTERVALS
        if interval not in valid:
            raise NotSupported(f"candle interval {interval!r} (valid: {' '.join(valid)})", exchange=self.exchange.id)

    async def candles(
        self, symbol: str, interval: str = "1m", limit: int = 100, since: int | None = None
    ) -> list[Candle]:
        """OHLCV bars, oldest first; the last one may still be forming (``closed=False``)."""
        inst = self._inst(symbol)
        self._check_interval(interval)
        ex = self.exchange
        most = 1500 if ex.futures else 1000
        if not 1 <= limit <= most:
            raise ValueError(f"limit must be 1..{most}, got {limit!r}")
        params: dict[str, Any] = {"symbol": inst.raw_symbol, "interval": interval, "limit": limit}
        if since is not None:
            params["startTime"] = int(since)
        data = await ex.rest.call("klines", params)
        return parsing.parse_klines(data, inst.symbol, ex.id, interval, now=ex.rest.now_ms())

    # -- streams ---------------------------------------------------------------------------

    async def watch_order_book(self, symbol: str, depth: int | None = None) -> AsyncIterator[OrderBook]:
        """The locally synced diff-depth book after each update (conflated), ``depth`` levels per side."""
        inst = self._inst(symbol)
        books = self.exchange.books
        sync = await books.acquire(inst.symbol, inst.raw_symbol)
        try:
            async with contextlib.aclosing(sync.watch(depth)) as books_of_symbol:
                async for book in books_of_symbol:
                    yield book
        finally:
            await books.release(inst.symbol)

    async def _watch(
        self, stream: str, topic: str, handler: Callable[[Any], None], policy: str
    ) -> AsyncGenerator[Any, None]:
        ex = self.exchange
        sub = ex.bus.subscribe(topic, policy=policy, maxsize=ex.settings.queue_size)  # type: ignore[arg-type]
        await ex.acquire_stream(stream, handler)
        try:
            async for value in sub:
                yield value
        finally:
            sub.close()
            await ex.release_stream(stream)

    async def watch_trades(self, symbol: str) -> AsyncIterator[Trade]:
        """Every public trade: ``@trade`` on spot, ``@aggTrade`` on USD-M (queued, never dropped)."""
        inst = self._inst(symbol)
        ex = self.exchange
        futures = ex.futures
        stream = stream_name(inst.raw_symbol, "aggTrade" if futures else "trade")
        topic = f"trades:{inst.symbol}"
        parse = parsing.stream_agg_trade if futures else parsing.stream_trade
        on_trade = trade_publisher(parse, inst.symbol, ex.id, ex.bus.publish, topic, ex.last_prices)
        async with contextlib.aclosing(self._watch(stream, topic, on_trade, "queue")) as values:
            async for trade in values:
                yield trade

    async def watch_ticker(self, symbol: str) -> AsyncIterator[Ticker]:
        """Best bid/ask in real time from ``@bookTicker`` (conflated); spot events carry no time: receive time."""
        inst = self._inst(symbol)
        ex = self.exchange
        stream = stream_name(inst.raw_symbol, "bookTicker")
        topic = f"ticker:{inst.symbol}"
        publish = ex.bus.publish
        prices = ex.last_prices
        name, exchange_id = inst.symbol, ex.id

        def on_ticker(data: Any) -> None:
            ticker = parsing.parse_book_ticker(data, name, exchange_id, timestamp=time.time_ns() // 1_000_000)
            if ticker.bid is not None and ticker.ask is not None:
                prices[name] = (ticker.bid + ticker.ask) / 2
            publish(topic, ticker)

        async with contextlib.aclosing(self._watch(stream, topic, on_ticker, "latest")) as values:
            async for ticker in values:
                yield ticker

    async def watch_candles(self, symbol: str, interval: str = "1m") -> AsyncIterator[Candle]:
        """Candle updates from ``@kline_<interval>`` (queued); ``closed`` marks the final update of a bar."""
        inst = self._inst(symbol)
        self._check_interval(interval)
        ex = self.exchange
        stream = stream_name(inst.raw_symbol, f"kline_{interval}")
        topic = f"candles:{inst.symbol}:{interval}"
        publish = ex.bus.publish
        name, exchange_id = inst.symbol, ex.id

        def on_kline(data: Any) -> None:
            publish(topic, parsing.parse_ws_kline(data, name, exchange_id))

        async with contextlib.aclosing(self._watch(stream, topic, on_kline, "queue")) as values:
            async for candle in values:
                yield candle

    async def unsubscribe(self, symbol: str, channel: str | None = None) -> None:
        """End the watchers of ``symbol`` (one channel: order_book, trades, ticker, candles; or all)."""
        channels = ("order_book", "trades", "ticker", "candles")
        if channel is not None and channel not in channels:
            raise ValueError(f"channel must be one of {', '.join(channels)}, got {channel!r}")
        inst = self._inst(symbol)
        bus = self.exchange.bus
        wanted = channels if channel is None else (channel,)
        if "order_book" in wanted:
            sync = self.exchange.books.get(inst.symbol)
            if sync is not None:
                await sync.close()
        prefixes = {"trades": f"trades:{inst.symbol}", "ticker": f"ticker:{inst.symbol}",
                    "candles": f"candles:{inst.symbol}:"}
        for name in wanted:
            prefix = prefixes.get(name)
            if prefix is None:
                continue
            for topic in bus.topics:
                if topic == prefix or (name == "candles" and topic.startswith(prefix)):
                    bus.close_topic(topic)


class BinanceExchange(BaseExchange):
    """A Binance connector (spot or USD-M): REST, market streams, synced books, private streams."""

    instruments: BinanceInstruments
    market_data: BinanceMarketData
    execution: BinanceExecution

    def __init__(self, context: ConnectorContext, *, futures: bool) -> None:
        from exchanges.ratelimit import RateLimits

        self.futures = futures
        self.settings = BinanceSettings.from_mapping(context.settings, context.exchange_id)
        depth_channel(self.settings.book_speed, futures=futures)  # bad book settings fail at connect, not later
        check_snapshot_limit(self.settings.book_snapshot_limit, futures=futures)
        live = context.host.shared.get(_live_key(context))
        if live:  # limits another connector learned: start from them, so the shared limiters agree
            context = attrs.evolve(context, rate_limit_rules=_merge_rules(context.rate_limit_rules, live))
        super().__init__(context)
        self.limits = RateLimits.for_context(context)
        self.signer: Signer | None = make_signer(context.credentials, context.exchange_id)
        self.rest = BinanceRest(context, futures=futures, limits=self.limits, signer=self.signer,
                                recv_window=self.settings.recv_window, timeout=self.settings.timeout)
        self.bus = EventBus()
        #: the last traded (or mid) price per symbol seen on a stream, for market-order notional checks
        self.last_prices: dict[str, Decimal] = {}
        self.instruments = BinanceInstruments(self)
        self.market_data = BinanceMarketData(self)
        self.execution = BinanceExecution(self)
        self.user_data = UserData(self)
        self._pool: StreamPool | None = None
        self._books: BookFeeds | None = None
        self._stream_refs: dict[str, int] = {}

    # -- limits ----------------------------------------------------------------------------

    def adopt_live_limits(self) -> list[RateLimitRule]:
        """Put the limits exchangeInfo reported in force on this connector's (shared) limiters."""
        live = self.context.host.shared.get(_live_key(self.context))
        if not live:
            return []
        applied: list[RateLimitRule] = []
        limiters = self.limits.limiters
        for scope in {rule.scope for rule in live}:
            limiter = limiters.get(scope)
            if limiter is not None:
                applied.extend(limiter.update_limits([rule for rule in live if rule.scope == scope]))
        if applied:
            log.debug("%s: live rate limits in force: %s", self.id, ", ".join(f"{r.name}={r.limit}" for r in applied))
        return applied

    # -- streams ---------------------------------------------------------------------------

    def _policy(self) -> Any:
        from exchanges.transport import Backoff

        s = self.settings
        return make_policy(
            self.id, futures=self.futures, ping_interval=s.ws_ping_interval, ping_timeout=s.ws_ping_timeout,
            max_lifetime=s.ws_max_lifetime, max_streams=s.max_streams_per_connection,
            backoff=Backoff(base=s.ws_backoff_base, cap=max(s.ws_backoff_cap, s.ws_backoff_base)),
            json_decoder=s.json, rollover_overlap=s.ws_rollover_overlap,
        )

    def user_policy(self, subscribe: Any, dedupe: Any) -> Any:
        """The websocket policy of the private stream (same heartbeat, lifetime and backoff, no streams)."""
        return attrs.evolve(self._policy(), subscribe_message=subscribe, unsubscribe_message=None,
                            dedupe_key=dedupe, max_streams_per_connection=None)

    async def _connect_gate(self) -> None:
        await self.limits.acquire(endpoint="ws:connect")

    @property
    def pool(self) -> StreamPool:
        """The market streams (created on first use)."""
        if self._pool is None:
            url = self.context.endpoints["ws"].rstrip("/") + "/stream"
            self._pool = StreamPool(url, self._policy(), on_break=self._on_break, connect_gate=self._connect_gate)
        return self._pool

    @property
    def books(self) -> BookFeeds:
        """The synced books (created on first use)."""
        if self._books is None:
            s = self.settings
            self._books = BookFeeds(
                self.id, futures=self.futures, pool=self.pool, fetch_depth=self._fetch_depth, bus=self.bus,
                snapshot_limit=s.book_snapshot_limit, speed=s.book_speed,
                first_event_timeout=s.book_first_event_timeout, max_attempts=s.book_max_attempts,
                retry_delay=s.book_retry_delay,
            )
        return self._books

    async def _fetch_depth(self, raw: str, limit: int) -> Mapping[str, Any]:
        data: Mapping[str, Any] = await self.rest.call("depth", {"symbol": raw, "limit": limit})
        return data

    def _on_break(self, streams: Any, reason: str) -> None:
        if self._books is not None:
            self._books.invalidate(streams, reason)

    async def acquire_stream(self, stream: str, handler: Callable[[Any], None]) -> None:
        """Subscribe ``stream`` for one more watcher (the first one subscribes)."""
        count = self._stream_refs.get(stream, 0)
        self._stream_refs[stream] = count + 1
        if count == 0:
            try:
                await self.pool.add(stream, handler)
            except BaseException:
                self._stream_refs.pop(stream, None)
                raise

    async def release_stream(self, stream: str) -> None:
        """One watcher of ``stream`` left (the last one unsubscribes)."""
        count = self._stream_refs.get(stream, 0) - 1
        if count > 0:
            self._stream_refs[stream] = count
            return
        self._stream_refs.pop(stream, None)
        if self._pool is not None:
            await self._pool.remove(stream)

    # -- lifecycle -------------------------------------------------------------------------

    def reference_price(self, symbol: str) -> Decimal | None:
        """The last price seen on this connector's trade or ticker streams (None before any)."""
        return self.last_prices.get(symbol)

    async def _open(self) -> None:
        await self.rest.http.open()

    async def _close(self) -> None:
        await self.user_data.close()
        if self._books is not None:
            await self._books.close()
        if self._pool is not None:
            await self._pool.close()
        self.bus.close()
        self._stream_refs.clear()
        await self.rest.close()

    async def _ping(self) -> None:
        await self.rest.call("ping")


def _merge_rules(registered: Iterable[RateLimitRule], live: Iterable[RateLimitRule]) -> tuple[RateLimitRule, ...]:
    """Registered rules with the limits of same-named live rules (new windows are not added)."""
    by_name = {(rule.name, rule.scope, rule.kind): rule for rule in live}
    return tuple(by_name.get((rule.name, rule.scope, rule.kind), rule) for rule in registered)

