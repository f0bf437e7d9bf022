"""BookSync: snapshot + buffered deltas + resync, for one instrument's book.

The venue plugin decodes frames into :class:`~exchanges.book.messages.BookDelta`
/ :class:`~exchanges.book.messages.BookSnapshot` and calls :meth:`BookSync.feed`
/ :meth:`BookSync.feed_snapshot` from its websocket reader. Nothing here knows
about transports or JSON.

States::

    WAITING --snapshot bridged--> SYNCED --gap / checksum / crossed / invalidate()--> STALE
       ^                            ^                                                   |
       |                            +------------- fresh snapshot bridged --------------+
    (start)                 FAILED: snapshot attempts exhausted (watchers get StaleBook)

- While not SYNCED, deltas are buffered (bounded; the oldest fall out, which
  the bridge then notices as a gap and refetches).
- A snapshot comes either from ``fetch_snapshot`` (an async callable the plugin
  gives, e.g. the REST depth call; the buffer is bridged onto it with the
  policy's rule) or pushed on the stream via :meth:`feed_snapshot` (OKX
  ``snapshot`` action, Hyperliquid ``l2Book``: everything buffered before it is
  older and dropped). For OKX, ``fetch_snapshot`` is the resubscribe call and
  returns None: the snapshot then arrives on the stream.
- On a gap, a failed checksum or a crossed book the book is marked STALE, stops
  being served (``order_book`` raises :class:`~exchanges.errors.StaleBook`,
  ``watch`` yields nothing), a :class:`BookEvent` is emitted and only this book
  is rebuilt.

Synced books are published on an :class:`~exchanges.events.EventBus` topic
per requested depth, consumed with policy ``"latest"`` (conflation): a slow
consumer always gets the newest book. Events go to a separate topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import attrs

from ..errors import StaleBook
from ..events import EventBus, Subscription
from ..models import OrderBook
from .local import LocalBook
from .messages import BookDelta, BookSnapshot
from .sequence import GAP, SKIP, SequencePolicy

__all__ = ["BookEvent", "BookEventKind", "BookState", "BookSync", "book_events_topic", "book_topic"]

log = logging.getLogger("exchanges.book")

SnapshotFetcher = Callable[[], Awaitable[BookSnapshot | None]]
ChecksumFn = Callable[[LocalBook], int]


class BookState(enum.Enum):
    """Where a :class:`BookSync` stands."""

    WAITING = "waiting"  # no snapshot yet
    SYNCED = "synced"
    STALE = "stale"  # lost sync, being rebuilt
    FAILED = "failed"  # gave up fetching snapshots; invalidate() or start() tries again
    CLOSED = "closed"


class BookEventKind(enum.StrEnum):
    """What happened to a book."""

    SYNCED = "synced"  # first time in sync
    STALE = "stale"  # lost sync (reason says why), or a rebuild attempt failed
    RESYNCED = "resynced"  # back in sync after being stale
    FAILED = "failed"  # snapshot attempts exhausted


@attrs.frozen
class BookEvent:
    """A change of a book's sync state; ``timestamp`` is local epoch ms."""

    kind: BookEventKind
    exchange: str
    symbol: str
    reason: str | None
    sequence: int | None
    timestamp: int


def book_topic(exchange: str, symbol: str, depth: int | None) -> str:
    """The event-bus topic where synced books of ``depth`` levels are published."""
    return f"book:{exchange}:{symbol}:{'full' if depth is None else depth}"


def book_events_topic(exchange: str, symbol: str) -> str:
    """The event-bus topic of :class:`BookEvent` for one book."""
    return f"book-events:{exchange}:{symbol}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_SYNCED = BookState.SYNCED
_CLOSED = BookState.CLOSED


class BookSync:
    """Keeps one local book in sync with a venue stream (see the module docstring).

    ``checksum`` computes the venue checksum of the local book (e.g.
    :func:`~exchanges.book.checksum.okx_checksum`); it runs only for deltas and
    snapshots whose ``checksum`` is present and non-zero. ``count_index`` is
    where a raw level holds its number of orders (OKX 3), None when absent.
    """

    def __init__(
        self,
        exchange: str,
        symbol: str,
        policy: SequencePolicy,
        *,
        fetch_snapshot: SnapshotFetcher | None = None,
        bus: EventBus | None = None,
        checksum: ChecksumFn | None = None,
        check_crossed: bool = True,
        count_index: int | None = None,
        max_buffer: int = 10_000,
        max_attempts: int = 10,
        retry_delay: float = 0.25,
        max_retry_delay: float = 5.0,
        on_event: Callable[[BookEvent], None] | None = None,
    ) -> None:
        if max_buffer <= 0 or max_attempts <= 0:
            raise ValueError("max_buffer and max_attempts must be positive")
        self.exchange = exchange
        self.symbol = symbol
        self.policy = policy
        self.bus = bus if bus is not None else EventBus()
        self.book = LocalBook(exchange, symbol, count_index=count_index)
        self.events_topic = book_events_topic(exchange, symbol)
        self.stale_count = 0
        self._fetch = fetch_snapshot
        self._checksum = checksum
        self._check_crossed = check_crossed
        self._max_attempts = max_attempts
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._on_event = on_event
        self._state = BookState.WAITING
        self._bridged = False  # False until a delta was applied on top of a fetched snapshot
        self._synced_once = False
        self._buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._topics: dict[int | None, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._synced_event: asyncio.Event | None = None
        self._failure: StaleBook | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> BookState:
        """The current :class:`BookState`."""
        return self._state

    @property
    def is_synced(self) -> bool:
        """True when the book may be served."""
        return self._state is _SYNCED

    @property
    def sequence(self) -> int | None:
        """Id of the last update applied (see :attr:`OrderBook.sequence`)."""
        return self.book.sequence

    @property
    def buffered(self) -> int:
        """Deltas waiting for a snapshot."""
        return len(self._buffer)

    def order_book(self, depth: int | None = None) -> OrderBook:
        """The current book, ``depth`` levels per side; raises :class:`StaleBook` unless synced."""
        if self._state is not _SYNCED:
            raise StaleBook(f"{self.exchange} {self.symbol}: order book is {self._state.value}")
        return self.book.order_book(_check_depth(depth))

    async def wait_synced(self) -> None:
        """Return once the book is synced (immediately if it is)."""
        while self._state is not _SYNCED:
            if self._state is _CLOSED:
                raise StaleBook(f"{self.exchange} {self.symbol}: book sync is closed")
            if self._state is BookState.FAILED:
                raise self._failed_error()
            if self._synced_event is None:
                self._synced_event = asyncio.Event()
            await self._synced_event.wait()

    # -- input -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin the initial sync: fetch a snapshot (if a fetcher was given) while deltas buffer.

        Needs a running event loop. Also restarts a FAILED book.
        """
        if self._state is BookState.FAILED:
            self._state = BookState.STALE if self._synced_once else BookState.WAITING
            if self._synced_event is not None:
                self._synced_event.clear()  # it was set to wake waiters on the failure
        if self._state is not _SYNCED and self._state is not _CLOSED:
            self._ensure_resync()

    def feed(self, delta: BookDelta) -> bool:
        """Take one delta from the stream; True when it was applied to a synced book."""
        if self._state is not _SYNCED:
            if self._state is not _CLOSED:
                self._buffer.append(delta)
            return False
        book = self.book
        last = book.sequence
        verdict = self.policy.check(last, delta) if self._bridged else self.policy.bridge(last, delta)  # type: ignore[arg-type]
        if verdict:  # SKIP or GAP
            if verdict == GAP:
                self._mark_stale(self.policy.describe(last, delta, not self._bridged), keep=delta)  # type: ignore[arg-type]
            return False
        try:
            book.apply(delta)
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            self._mark_stale(f"undecodable delta: {exc}")
            return False
        self._bridged = True
        bid_keys = book.bids._keys  # inlined LocalBook.is_crossed: this runs once per frame
        ask_keys = book.asks._keys
        crossed = self._check_crossed and bid_keys and ask_keys and bid_keys[-1] >= -ask_keys[-1]
        if crossed or (delta.checksum and self._checksum is not None):
            reason = self._invalid(delta.checksum)
            if reason is not None:
                self._mark_stale(reason, keep=delta)
                return False
        if self._topics:
            self._publish()
        return True

    def feed_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Take a full book pushed on the stream (it replaces the book); True when accepted.

        Deltas buffered before it are older and are dropped. Use ``fetch_snapshot``
        instead for a snapshot fetched out of band (REST).
        """
        if self._state is _CLOSED or not self.policy.accept_snapshot(self.book.sequence, snapshot):
            return False
        self._buffer.clear()
        try:
            self.book.reset(snapshot)
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            self._mark_stale(f"undecodable snapshot: {exc}")
            return False
        reason = self._invalid(snapshot.checksum)
        if reason is not None:
            self._mark_stale(reason)
            return False
        self._bridged = True  # the stream continues from this snapshot's own id
        if self._state is _SYNCED:
            if self._topics:
                self._publish()
        else:
            self._set_synced()
        return True

    def invalidate(self, reason: str) -> None:
        """Declare the book out of sync (e.g. the websocket reconnected) and rebuild it."""
        if self._state is _CLOSED:
            return
        self._buffer.clear()  # whatever was buffered belongs to the old stream
        if self._state is BookState.FAILED:
            self._state = BookState.STALE
        if self._state is _SYNCED or self._state is BookState.WAITING:
            self._mark_stale(reason)
        else:
            self._ensure_resync()

    # -- output ----------------------------------------------------------------------------

    def topic(self, depth: int | None = None) -> str:
        """The bus topic of books with ``depth`` levels per side (registers the depth for publishing)."""
        depth = _check_depth(depth)
        topic = self._topics.get(depth)
        if topic is None:
            topic = self._topics[depth] = book_topic(self.exchange, self.symbol, depth)
        return topic

    def subscribe(self, depth: int | None = None) -> Subscription[OrderBook]:
        """A conflating (``"latest"``) subscription to synced books of ``depth`` levels."""
        return self.bus.subscribe(self.topic(depth), policy="latest")

    async def watch(self, depth: int | None = None) -> AsyncGenerator[OrderBook, None]:
        """Yield synced books (the current one first, if synced); a slow consumer gets the latest."""
        if self._state is BookState.FAILED:
            raise self._failed_error()  # a watcher arriving after the failure must not wait forever
        sub = self.subscribe(depth)
        try:
            if self._state is _SYNCED:
                yield self.book.order_book(depth)
            async for book in sub:
                # a book published before the stale mark may still be pending: never serve it
                if self._state is _SYNCED:
                    yield book
        finally:
            sub.close()

    def events(self, maxsize: int = 1000) -> Subscription[BookEvent]:
        """A queue subscription to this book's :class:`BookEvent` stream."""
        return self.bus.subscribe(self.events_topic, policy="queue", maxsize=maxsize)

    async def close(self) -> None:
        """Stop: cancel a pending snapshot fetch and end every watcher."""
        self._state = _CLOSED
        self._buffer.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for topic in self._topics.values():
            self.bus.close_topic(topic)
        self.bus.close_topic(self.events_topic)
        if self._synced_event is not None:
            self._synced_event.set()  # wake wait_synced() so it sees CLOSED

    # -- internals -------------------------------------------------------------------------

    def _publish(self) -> None:
        bus = self.bus
        book = self.book
        for depth, topic in self._topics.items():
            if bus.has_subscribers(topic):
                bus.publish(topic, book.order_book(depth))

    def _invalid(self, checksum: int | None) -> str | None:
        """Why the book as it stands cannot be right (crossed, checksum), or None."""
        book = self.book
        if self._check_crossed and book.is_crossed:
            return f"crossed book: best bid {book.best_bid} >= best ask {book.best_ask}"
        if checksum and self._checksum is not None:
            local = self._checksum(book)
            if local != checksum:
                return f"checksum mismatch: venue {checksum}, local {local}"
        return None

    def _emit(self, kind: BookEventKind, reason: str | None) -> None:
        event = BookEvent(kind, self.exchange, self.symbol, reason, self.book.sequence, _now_ms())
        if kind is BookEventKind.STALE or kind is BookEventKind.FAILED:
            log.warning("%s %s order book %s: %s", self.exchange, self.symbol, kind.value, reason)
        else:
            log.info("%s %s order book %s at %s", self.exchange, self.symbol, kind.value, event.sequence)
        self.bus.publish(self.events_topic, event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a broken listener must not break the book
                log.exception("on_event callback failed for %s %s", self.exchange, self.symbol)

    def _mark_stale(self, reason: str, keep: BookDelta | None = None) -> None:
        self._state = BookState.STALE
        self._bridged = False
        self.stale_count += 1
        if self._synced_event is not None:
            self._synced_event.clear()
        self._buffer.clear()
        if keep is not None:  # the delta that revealed the problem is newer than the book
            self._buffer.append(keep)
        self._emit(BookEventKind.STALE, reason)
        self._ensure_resync()

    def _set_synced(self) -> None:
        self._state = _SYNCED
        kind = BookEventKind.RESYNCED if self._synced_once else BookEventKind.SYNCED
        self._synced_once = True
        if self._synced_event is not None:
            self._synced_event.set()
        self._emit(kind, None)
        if self._topics:
            self._publish()

    def _ensure_resync(self) -> None:
        if self._fetch is None or (self._task is not None and not self._task.done()):
            return  # a stream snapshot will come, or a fetch is already under way
        self._task = asyncio.get_running_loop().create_task(
            self._resync(), name=f"book-resync:{self.exchange}:{self.symbol}"
        )

    async def _resync(self) -> None:
        assert self._fetch is not None
        attempt = 0
        reason: str | None
        while self._state is BookState.WAITING or self._state is BookState.STALE:
            try:
                snapshot = await self._fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any fetch failure is retried, then reported
                if self._state is not BookState.WAITING and self._state is not BookState.STALE:
                    return  # a stream snapshot synced the book (or it closed) while we were fetching
                reason = f"snapshot fetch failed: {type(exc).__name__}: {exc}"
            else:
                if snapshot is None:
                    return  # the stream pushes the snapshot (feed_snapshot)
                if self._state is _SYNCED or self._state is _CLOSED:
                    return  # a stream snapshot got there first, or we were closed
                reason = self._sync_from(snapshot)
                if reason is None:
                    return
            attempt += 1
            if attempt >= self._max_attempts:
                self._fail(f"{reason} (after {attempt} attempts)")
                return
            self._emit(BookEventKind.STALE, reason)
            await asyncio.sleep(min(self._retry_delay * 2 ** (attempt - 1), self._max_retry_delay))

    def _sync_from(self, snapshot: BookSnapshot) -> str | None:
        """Apply a fetched snapshot and bridge the buffer onto it; None on success, else why not."""
        book = self.book
        try:
            book.reset(snapshot)
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            return f"undecodable snapshot: {exc}"
        reason = self._invalid(snapshot.checksum)
        if reason is not None:
            return reason
        policy = self.policy
        buffer = self._buffer
        bridged = False
        while buffer:
            delta = buffer.popleft()
            last: int = book.sequence  # type: ignore[assignment]
            verdict = policy.check(last, delta) if bridged else policy.bridge(last, delta)
            if verdict == SKIP:
                continue
            if verdict == GAP:
                buffer.appendleft(delta)
                return policy.describe(last, delta, not bridged)
            try:
                book.apply(delta)
            except (ValueError, TypeError, IndexError, AttributeError) as exc:
                return f"undecodable delta: {exc}"
            bridged = True
            reason = self._invalid(delta.checksum)
            if reason is not None:
                return reason
        self._bridged = bridged
        self._set_synced()
        return None

    def _fail(self, reason: str) -> None:
        self._state = BookState.FAILED
        self._emit(BookEventKind.FAILED, reason)
        error = self._failure = StaleBook(f"{self.exchange} {self.symbol}: order book could not be rebuilt: {reason}")
        for topic in self._topics.values():
            self.bus.fail(topic, error)
        if self._synced_event is not None:
            self._synced_event.set()  # wake wait_synced() so it raises instead of waiting forever

    def _failed_error(self) -> StaleBook:
        return self._failure or StaleBook(f"{self.exchange} {self.symbol}: order book could not be rebuilt")

    def __repr__(self) -> str:
        return f"BookSync({self.exchange}:{self.symbol}, {self._state.value}, policy={self.policy.name})"


def _check_depth(depth: Any) -> int | None:
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth <= 0):
        raise ValueError(f"depth must be a positive int or None, got {depth!r}")
    return depth  # type: ignore[no-any-return]
