"""Local books from ``@depth`` diff streams, kept in sync by the core book engine.

One :class:`~exchanges.book.BookSync` per symbol, shared by every watcher of
that symbol on the connector. The documented procedures (venues.md §1.8, §2.7)
are the core's sequence policies:

- spot (:class:`~exchanges.book.BinanceSpotPolicy`): buffer the stream, fetch
  the snapshot, drop ``u <= lastUpdateId``, the first kept event has
  ``U <= lastUpdateId + 1 <= u``, then ``U == previous u + 1``;
- USD-M (:class:`~exchanges.book.BinanceFuturesPolicy`): drop ``u < lastUpdateId``,
  the first kept event has ``U <= lastUpdateId <= u``, then ``pu == previous u``.

Any gap marks only that book stale and rebuilds it from a fresh snapshot. The
snapshot fetch waits until the stream is subscribed and its first event is
buffered ("buffer, then snapshot"), and goes through the shared rate limiter
with the weight of its ``limit``. After an unplanned reconnect the books of that
connection are rebuilt the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from exchanges import ConfigError
from exchanges.book import BinanceFuturesPolicy, BinanceSpotPolicy, BookDelta, BookSnapshot, BookSync
from exchanges.events import EventBus

from .ratelimits import SPOT_DEPTH_LIMITS, USDM_DEPTH_LIMITS
from .ws import StreamPool, stream_name

__all__ = ["BookFeeds", "check_snapshot_limit", "depth_channel", "snapshot_from", "spot_depth_handler", "usdm_depth_handler"]

log = logging.getLogger("exchange_binance.books")

SPOT_SPEEDS = {"100ms": "depth@100ms", "1000ms": "depth"}
USDM_SPEEDS = {"100ms": "depth@100ms", "250ms": "depth", "500ms": "depth@500ms"}

FetchDepth = Callable[[str, int], Awaitable[Mapping[str, Any]]]


def depth_channel(speed: str, *, futures: bool) -> str:
    """The diff-depth channel for an update speed (spot 100ms/1000ms, USD-M 100ms/250ms/500ms)."""
    speeds = USDM_SPEEDS if futures else SPOT_SPEEDS
    try:
        return speeds[speed]
    except KeyError:
        raise ConfigError(f"book_speed must be one of {', '.join(speeds)}, got {speed!r}") from None


def check_snapshot_limit(limit: int, *, futures: bool) -> int:
    """The REST snapshot depth used to start books: any of the venue's valid limits."""
    valid = USDM_DEPTH_LIMITS if futures else SPOT_DEPTH_LIMITS
    if limit not in valid:
        raise ConfigError(f"book_snapshot_limit must be one of {', '.join(map(str, valid))}, got {limit!r}")
    return limit


@attrs.define(eq=False)
class _Feed:
    """One symbol's book: its stream, sync engine, watcher count, and "first event buffered" flag."""

    symbol: str
    raw: str
    stream: str
    sync: BookSync
    refs: int = 0
    waiting: bool = True
    first: asyncio.Event = attrs.Factory(asyncio.Event)


def spot_depth_handler(sync: BookSync, feed: _Feed | None = None) -> Callable[[Mapping[str, Any]], None]:
    """Spot ``depthUpdate`` -> :meth:`BookSync.feed` (no ``pu`` on spot)."""
    apply = sync.feed

    def on_depth(d: Mapping[str, Any]) -> None:
        apply(BookDelta(d["U"], d["u"], None, d["b"], d["a"], d["E"]))
        if feed is not None and feed.waiting:
            feed.waiting = False
            feed.first.set()

    return on_depth


def usdm_depth_handler(sync: BookSync, feed: _Feed | None = None) -> Callable[[Mapping[str, Any]], None]:
    """USD-M ``depthUpdate`` -> :meth:`BookSync.feed` with ``pu`` as the previous id."""
    apply = sync.feed

    def on_depth(d: Mapping[str, Any]) -> None:
        apply(BookDelta(d["U"], d["u"], d["pu"], d["b"], d["a"], d["E"]))
        if feed is not None and feed.waiting:
            feed.waiting = False
            feed.first.set()

    return on_depth


def snapshot_from(data: Mapping[str, Any]) -> BookSnapshot:
    """A REST depth answer -> :class:`BookSnapshot` (USD-M carries ``E``; spot has no time)."""
    return BookSnapshot(int(data["lastUpdateId"]), data["bids"], data["asks"], data.get("E"))


class BookFeeds:
    """The synced books of one connector, one per symbol, shared by its watchers.

    :param exchange: exchange id (book and event topics).
    :param futures: USD-M sequence rules and stream names.
    :param pool: the connector's market streams.
    :param fetch_depth: ``(raw symbol, limit) -> depth JSON`` (the REST call, weighed by limit).
    :param bus: where synced books are published.
    :param snapshot_limit: levels per side of the starting snapshot.
    :param speed: diff-depth update speed (see :func:`depth_channel`).
    :param first_event_timeout: seconds to wait for the first buffered event before fetching anyway.
    """

    def __init__(
        self,
        exchange: str,
        *,
        futures: bool,
        pool: StreamPool,
        fetch_depth: FetchDepth,
        bus: EventBus,
        snapshot_limit: int = 1000,
        speed: str = "100ms",
        first_event_timeout: float = 3.0,
        max_attempts: int = 10,
        retry_delay: float = 0.25,
    ) -> None:
        self.exchange = exchange
        self.futures = futures
        self.channel = depth_channel(speed, futures=futures)
        self.snapshot_limit = check_snapshot_limit(snapshot_limit, futures=futures)
        self._pool = pool
        self._fetch_depth = fetch_depth
        self._bus = bus
        self._first_event_timeout = first_event_timeout
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._feeds: dict[str, _Feed] = {}
        self._by_stream: dict[str, _Feed] = {}
        self._lock = asyncio.Lock()

    def get(self, symbol: str) -> BookSync | None:
        """The sync engine of ``symbol`` while someone watches it."""
        feed = self._feeds.get(symbol)
        return None if feed is None else feed.sync

    @property
    def symbols(self) -> tuple[str, ...]:
        """Symbols with a live book."""
        return tuple(self._feeds)

    async def acquire(self, symbol: str, raw: str) -> BookSync:
        """The book of ``symbol``, subscribing its stream and starting the sync on first use."""
        async with self._lock:
            feed = self._feeds.get(symbol)
            if feed is None:
                feed = self._start(symbol, raw)
                self._feeds[symbol] = feed
                self._by_stream[feed.stream] = feed
                handler = (usdm_depth_handler if self.futures else spot_depth_handler)(feed.sync, feed)
                try:
                    await self._pool.add(feed.stream, handler)
                except BaseException:
                    await self._drop(feed)
                    raise
                feed.sync.start()
            feed.refs += 1
            return feed.sync

    async def release(self, symbol: str) -> None:
        """One watcher of ``symbol`` left; the last one unsubscribes the stream and closes the book."""
        async with self._lock:
            feed = self._feeds.get(symbol)
            if feed is None:
                return
            feed.refs -= 1
            if feed.refs <= 0:
                await self._drop(feed)

    def invalidate(self, streams: Sequence[str], reason: str) -> None:
        """Rebuild the books among ``streams`` (their connection lost continuity)."""
        for stream in streams:
            feed = self._by_stream.get(stream)
            if feed is None:
                continue
            feed.waiting = True
            feed.first.clear()
            feed.sync.invalidate(reason)

    async def close(self) -> None:
        """Close every book (their watchers end)."""
        async with self._lock:
            for feed in list(self._feeds.values()):
                await self._drop(feed)

    # -- internals -------------------------------------------------------------------------

    def _start(self, symbol: str, raw: str) -> _Feed:
        policy = BinanceFuturesPolicy() if self.futures else BinanceSpotPolicy()
        stream = stream_name(raw, self.channel)
        holder: list[_Feed] = []

        async def fetch() -> BookSnapshot:
            feed = holder[0]
            await self._pool.wait_ready(stream)
            if feed.waiting:  # buffer first: the snapshot must not be older than what we buffer
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(feed.first.wait(), self._first_event_timeout)
            return snapshot_from(await self._fetch_depth(raw, self.snapshot_limit))

        sync = BookSync(
            self.exchange, symbol, policy, fetch_snapshot=fetch, bus=self._bus,
            max_attempts=self._max_attempts, retry_delay=self._retry_delay,
        )
        feed = _Feed(symbol, raw, stream, sync)
        holder.append(feed)
        return feed

    async def _drop(self, feed: _Feed) -> None:
        self._feeds.pop(feed.symbol, None)
        self._by_stream.pop(feed.stream, None)
        await feed.sync.close()
        await self._pool.remove(feed.stream)
