"""BookSync: initial sync, buffering, gaps, resync of only the affected book, events, watchers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from exchanges.book import (
    BinanceFuturesPolicy,
    BinanceSpotPolicy,
    BookDelta,
    BookEvent,
    BookEventKind,
    BookSnapshot,
    BookState,
    BookSync,
    FullSnapshotPolicy,
    OkxPolicy,
    book_topic,
)
from exchanges.errors import NetworkError, StaleBook
from exchanges.events import EventBus


class Fetcher:
    """Stands in for the plugin's REST depth call: returns scripted snapshots (or raises)."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)
        self.calls = 0
        self.gate: asyncio.Event | None = None  # when set, each call waits for it

    async def __call__(self) -> BookSnapshot | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
            self.gate.clear()
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]


def snap(last_update_id: int, bids: list[list[str]] | None = None, asks: list[list[str]] | None = None) -> BookSnapshot:
    """A REST depth snapshot."""
    return BookSnapshot(
        last_update_id,
        bids if bids is not None else [["100", "1"], ["99", "2"]],
        asks if asks is not None else [["101", "1"], ["102", "2"]],
    )


def spot(first: int, last: int, bids: list[list[str]] | None = None, asks: list[list[str]] | None = None) -> BookDelta:
    """A Binance spot depthUpdate."""
    return BookDelta(first, last, None, bids or [], asks or [], 1_700_000_000_000 + last)


async def next_event(events: AsyncIterator[BookEvent]) -> BookEvent:
    """The next book event (bounded wait so a bug fails instead of hanging)."""
    return await asyncio.wait_for(anext(events), 5)


async def synced(sync: BookSync) -> None:
    """Wait until ``sync`` is synced (bounded)."""
    await asyncio.wait_for(sync.wait_synced(), 5)


def make(fetcher: Fetcher, policy: Any = None, **kw: Any) -> BookSync:
    """A Binance-spot-style BookSync with no retry delay."""
    return BookSync("binance", "BTC/USDT", policy or BinanceSpotPolicy(), fetch_snapshot=fetcher, retry_delay=0, **kw)


async def test_initial_sync_bridges_buffered_deltas() -> None:
    """Deltas that arrive before the snapshot are buffered, old ones dropped, the rest applied."""
    fetcher = Fetcher(snap(100))
    sync = make(fetcher)
    events = sync.events()
    fetcher.gate = asyncio.Event()
    sync.start()
    assert not sync.feed(spot(95, 98, [["99", "7"]]))  # before the snapshot: dropped at bridge
    assert not sync.feed(spot(99, 101, [["100", "5"]]))  # straddles lastUpdateId + 1: applied
    assert not sync.feed(spot(102, 104, asks=[["101", "0"]]))
    assert sync.buffered == 3 and sync.state is BookState.WAITING
    with pytest.raises(StaleBook):
        sync.order_book()
    fetcher.gate.set()
    await synced(sync)
    event = await next_event(events)
    assert (event.kind, event.sequence, event.reason) == (BookEventKind.SYNCED, 104, None)
    book = sync.order_book()
    assert [(lv.price, lv.quantity) for lv in book.bids] == [(Decimal(100), Decimal(5)), (Decimal(99), Decimal(2))]
    assert book.best_ask == Decimal(102) and book.sequence == 104 and sync.buffered == 0
    assert sync.feed(spot(105, 105, [["100.5", "1"]]))
    assert sync.order_book(1).best_bid == Decimal("100.5")
    await sync.close()


async def test_snapshot_older_than_buffer_is_fetched_again() -> None:
    """When the first buffered event starts after lastUpdateId + 1 the snapshot is refetched."""
    fetcher = Fetcher(snap(100), snap(120))
    sync = make(fetcher)
    events = sync.events()
    fetcher.gate = asyncio.Event()
    sync.start()
    sync.feed(spot(110, 115))
    sync.feed(spot(116, 121, [["99.5", "3"]]))
    fetcher.gate.set()
    stale = await next_event(events)
    assert stale.kind is BookEventKind.STALE and "snapshot lastUpdateId=100" in (stale.reason or "")
    fetcher.gate.set()
    await synced(sync)
    assert (await next_event(events)).kind is BookEventKind.SYNCED
    assert fetcher.calls == 2 and sync.sequence == 121
    assert [lv[0] for lv in sync.book.bids.top()] == ["100", "99.5", "99"]
    await sync.close()


async def test_live_gap_marks_stale_and_resyncs_with_buffered_deltas() -> None:
    """A missed update: stale event, not served, fresh snapshot + deltas buffered meanwhile, resynced event."""
    fetcher = Fetcher(snap(100), snap(130, bids=[["98", "1"]]))
    sync = make(fetcher)
    events = sync.events()
    sync.start()
    await synced(sync)
    assert (await next_event(events)).kind is BookEventKind.SYNCED
    fetcher.gate = asyncio.Event()
    assert sync.feed(spot(101, 110))
    assert not sync.feed(spot(120, 125))  # 111..119 missing
    stale = await next_event(events)
    assert stale.kind is BookEventKind.STALE and "U=120" in (stale.reason or "") and stale.sequence == 110
    assert sync.state is BookState.STALE and sync.stale_count == 1
    with pytest.raises(StaleBook):
        sync.order_book()
    sync.feed(spot(126, 131, [["97", "4"]]))  # arrives while the snapshot is being fetched
    sync.feed(spot(132, 133, asks=[["101", "0"]]))
    fetcher.gate.set()
    await synced(sync)
    event = await next_event(events)
    assert (event.kind, event.sequence) == (BookEventKind.RESYNCED, 133)
    book = sync.order_book()
    assert [lv.price for lv in book.bids] == [Decimal(98), Decimal(97)]
    assert [lv.price for lv in book.asks] == [Decimal(102)]
    assert fetcher.calls == 2
    await sync.close()


async def test_only_the_broken_book_is_resynced() -> None:
    """A gap on one instrument leaves the other book synced, served and un-refetched."""
    bus = EventBus()
    f1, f2 = Fetcher(snap(100), snap(200)), Fetcher(snap(500))
    one = BookSync("binance", "BTC/USDT", BinanceSpotPolicy(), fetch_snapshot=f1, bus=bus, retry_delay=0)
    two = BookSync("binance", "ETH/USDT", BinanceSpotPolicy(), fetch_snapshot=f2, bus=bus, retry_delay=0)
    two_books = two.subscribe(depth=5)
    one.start()
    two.start()
    await synced(one)
    await synced(two)
    one.feed(spot(150, 160))  # gap on BTC only
    assert one.state is BookState.STALE
    assert two.feed(spot(501, 502, [["100", "9"]]))
    assert two.is_synced and two.order_book(1).bids[0].quantity == Decimal(9)
    assert (await asyncio.wait_for(anext(two_books), 5)).sequence == 502
    await synced(one)
    assert (f1.calls, f2.calls) == (2, 1)
    assert one.stale_count == 1 and two.stale_count == 0
    await one.close()
    await two.close()


async def test_crossed_book_is_stale() -> None:
    """A delta that leaves the best bid at or above the best ask makes the book stale and resyncs."""
    fetcher = Fetcher(snap(100), snap(105))
    sync = make(fetcher)
    events = sync.events()
    sync.start()
    await synced(sync)
    await next_event(events)
    assert not sync.feed(spot(101, 101, [["101.5", "1"]]))
    stale = await next_event(events)
    assert stale.kind is BookEventKind.STALE and "crossed" in (stale.reason or "")
    await synced(sync)
    assert not sync.book.is_crossed and fetcher.calls == 2
    await sync.close()


async def test_crossed_check_can_be_disabled() -> None:
    """With check_crossed=False a crossed book stays served (for venues that cross briefly)."""
    sync = make(Fetcher(snap(100)), check_crossed=False)
    sync.start()
    await synced(sync)
    assert sync.feed(spot(101, 101, [["101.5", "1"]]))
    assert sync.order_book().is_crossed
    await sync.close()


async def test_futures_bridge_and_pu_chain() -> None:
    """USD-M: the first event straddles lastUpdateId, later ones chain on pu; a pu break resyncs."""
    fetcher = Fetcher(BookSnapshot(1000, [["10", "1"]], [["11", "1"]], 1_700_000_000_000), snap(3000))
    sync = make(fetcher, BinanceFuturesPolicy())
    fetcher.gate = asyncio.Event()
    sync.start()
    sync.feed(BookDelta(900, 990, 880, [["9", "1"]], [], 1))  # u < lastUpdateId: dropped
    sync.feed(BookDelta(995, 1000, 990, [["10", "2"]], [], 2))  # u == lastUpdateId: kept
    fetcher.gate.set()
    await synced(sync)
    assert sync.book.bids.top() == [["10", "2"]]
    assert sync.feed(BookDelta(1200, 1300, 1000, [["9.5", "1"]], [], 3))  # U jumps, pu chains
    assert not sync.feed(BookDelta(1301, 1310, 1299, [], [], 4))  # pu != 1300
    assert sync.state is BookState.STALE
    fetcher.gate.set()
    await synced(sync)
    await sync.close()


async def test_okx_stream_snapshots_resubscribe_and_reset() -> None:
    """OKX: snapshot then prevSeqId chain; on a gap resubscribe (fetcher returns None) and take the new snapshot."""
    resubscribed = Fetcher(None)
    sync = BookSync("okx", "BTC/USDT", OkxPolicy(), fetch_snapshot=resubscribed, count_index=3)
    events = sync.events()
    lv = ["100", "1", "0", "3"]
    assert not sync.feed(BookDelta(5, 5, 4, [], [], 1))  # before any snapshot: buffered, later dropped
    assert sync.feed_snapshot(BookSnapshot(10, [lv], [["101", "1", "0", "1"]], 1))
    assert (await next_event(events)).kind is BookEventKind.SYNCED
    assert sync.buffered == 0 and sync.order_book().bids[0].num_orders == 3
    assert sync.feed(BookDelta(11, 11, 10, [["99", "2", "0", "1"]], [], 2))
    assert sync.feed(BookDelta(11, 11, 11, [], [], 3))  # heartbeat
    assert sync.feed(BookDelta(2, 2, 11, [], [["102", "1", "0", "1"]], 4))  # reset to a lower seqId
    assert sync.sequence == 2
    assert not sync.feed(BookDelta(9, 9, 8, [], [], 5))  # gap
    assert (await next_event(events)).kind is BookEventKind.STALE
    await asyncio.sleep(0)  # let the resubscribe task run
    assert resubscribed.calls == 1 and sync.state is BookState.STALE
    sync.feed(BookDelta(10, 10, 9, [], [], 6))  # old subscription still talking: buffered, then dropped
    assert sync.feed_snapshot(BookSnapshot(40, [["98", "1", "0", "1"]], [["103", "1", "0", "1"]], 7))
    assert (await next_event(events)).kind is BookEventKind.RESYNCED
    assert sync.feed(BookDelta(41, 41, 40, [], [], 8))
    assert sync.feed_snapshot(BookSnapshot(7, [["97", "1", "0", "1"]], [["104", "1"]], 9))  # new snapshot resets
    assert sync.order_book().best_bid == Decimal(97) and sync.sequence == 7
    await sync.close()


async def test_full_snapshot_venue() -> None:
    """Hyperliquid: every message replaces the book; an older one is ignored; a crossed one is stale."""
    sync = BookSync("hyperliquid", "BTC/USDC:PERP", FullSnapshotPolicy(), count_index=2)
    events = sync.events()
    assert sync.feed_snapshot(BookSnapshot(1000, [("100", "1", 2)], [("101", "1", 1)], 1000))
    assert sync.feed_snapshot(BookSnapshot(1500, [("100.5", "1", 4)], [("101", "1", 1)], 1500))
    assert not sync.feed_snapshot(BookSnapshot(1200, [("99", "1", 1)], [("101", "1", 1)], 1200))
    assert sync.order_book().bids[0] == (Decimal("100.5"), Decimal(1), 4)
    assert not sync.feed_snapshot(BookSnapshot(1600, [("102", "1", 1)], [("101", "1", 1)], 1600))
    assert [(await next_event(events)).kind for _ in range(2)] == [BookEventKind.SYNCED, BookEventKind.STALE]
    assert sync.feed_snapshot(BookSnapshot(2000, [("100", "1", 1)], [("101", "1", 1)], 2000))
    assert (await next_event(events)).kind is BookEventKind.RESYNCED
    with pytest.raises(TypeError):
        sync.feed(BookDelta(1, 1, None, [], [], 1))
    await sync.close()


async def test_watch_yields_only_synced_books_latest_first() -> None:
    """watch() starts with the current book, conflates for a slow reader and skips books made stale."""
    fetcher = Fetcher(snap(100), snap(300))
    sync = make(fetcher)
    sync.start()
    await synced(sync)
    watcher = sync.watch(depth=1)
    first = await anext(watcher)
    assert first.sequence == 100
    for u in range(101, 111):
        sync.feed(spot(u, u, [["100", str(u)]]))
    latest = await anext(watcher)
    assert (latest.sequence, latest.bids[0].quantity) == (110, Decimal(110))  # conflated: only the newest
    fetcher.gate = asyncio.Event()
    sync.feed(spot(111, 111, [["100", "1"]]))  # published, not read yet
    sync.feed(spot(150, 150))  # gap: the pending book must not be served now
    reader = asyncio.ensure_future(anext(watcher))
    await asyncio.sleep(0)
    assert not reader.done()
    fetcher.gate.set()
    book = await asyncio.wait_for(reader, 5)
    assert book.sequence == 300 and sync.is_synced
    await sync.close()
    with pytest.raises(StopAsyncIteration):
        await anext(watcher)


async def test_published_topic_and_depths() -> None:
    """Books go to one "latest" topic per depth, limited to that depth, only when someone listens."""
    bus = EventBus()
    sync = BookSync("binance", "BTC/USDT", BinanceSpotPolicy(), fetch_snapshot=Fetcher(snap(100)), bus=bus)
    assert sync.topic(5) == book_topic("binance", "BTC/USDT", 5) == "book:binance:BTC/USDT:5"
    full = bus.subscribe(sync.topic(None), policy="latest")
    top1 = sync.subscribe(1)
    sync.start()
    await synced(sync)
    sync.feed(spot(101, 101, [["98", "1"]]))
    assert len((await anext(full)).bids) == 3
    assert len((await anext(top1)).bids) == 1
    assert full.pending == 0
    with pytest.raises(ValueError):
        sync.topic(0)
    await sync.close()


async def test_fetch_errors_are_retried_then_reported() -> None:
    """A failing snapshot fetch is retried (stale events name the error) until it works."""
    fetcher = Fetcher(NetworkError("boom"), snap(100))
    sync = make(fetcher)
    events = sync.events()
    sync.start()
    stale = await next_event(events)
    assert stale.kind is BookEventKind.STALE and "NetworkError: boom" in (stale.reason or "")
    await synced(sync)
    assert fetcher.calls == 2
    await sync.close()


async def test_exhausted_attempts_fail_watchers_and_start_recovers() -> None:
    """After max_attempts failures the book is FAILED, watchers get StaleBook, start() tries again."""
    fetcher = Fetcher(NetworkError("a"), NetworkError("b"), snap(100))
    sync = make(fetcher, max_attempts=2)
    watcher = sync.watch()
    reading = asyncio.ensure_future(anext(watcher))
    events = sync.events()
    sync.start()
    kinds = [(await next_event(events)).kind for _ in range(2)]
    assert kinds == [BookEventKind.STALE, BookEventKind.FAILED]
    assert sync.state is BookState.FAILED
    with pytest.raises(StaleBook, match="could not be rebuilt"):
        await asyncio.wait_for(reading, 5)
    sync.start()
    await synced(sync)
    assert fetcher.calls == 3
    await sync.close()


async def test_buffer_overflow_leads_to_refetch() -> None:
    """When the buffer overflows the oldest deltas fall out; the bridge sees the hole and refetches."""
    fetcher = Fetcher(snap(100), snap(104))
    sync = make(fetcher, max_buffer=2)
    fetcher.gate = asyncio.Event()
    sync.start()
    for u in range(101, 106):
        sync.feed(spot(u, u))
    assert sync.buffered == 2
    fetcher.gate.set()
    await asyncio.sleep(0)
    fetcher.gate.set()
    await synced(sync)
    assert fetcher.calls == 2 and sync.sequence == 105
    await sync.close()


async def test_invalidate_after_reconnect() -> None:
    """invalidate() (e.g. after a reconnect) drops the buffer, marks stale with the reason and resyncs."""
    fetcher = Fetcher(snap(100), snap(200))
    sync = make(fetcher)
    events = sync.events()
    sync.start()
    await synced(sync)
    await next_event(events)
    sync.invalidate("websocket reconnected")
    event = await next_event(events)
    assert (event.kind, event.reason) == (BookEventKind.STALE, "websocket reconnected")
    await synced(sync)
    assert sync.sequence == 200 and (await next_event(events)).kind is BookEventKind.RESYNCED
    await sync.close()
    sync.invalidate("ignored once closed")
    assert sync.state is BookState.CLOSED


async def test_undecodable_delta_is_stale() -> None:
    """A delta with a price that is not a number makes the book stale instead of raising into the reader."""
    sync = make(Fetcher(snap(100), snap(101)))
    sync.start()
    await synced(sync)
    assert not sync.feed(spot(101, 101, [["nan", "1"]]))
    assert sync.state is BookState.STALE
    await synced(sync)
    await sync.close()


async def test_on_event_callback_and_broken_listener() -> None:
    """on_event sees every event; a listener that raises does not break the book."""
    seen: list[BookEventKind] = []

    def listener(event: BookEvent) -> None:
        seen.append(event.kind)
        raise RuntimeError("listener bug")

    sync = make(Fetcher(snap(100)), on_event=listener)
    sync.start()
    await synced(sync)
    assert seen == [BookEventKind.SYNCED] and sync.is_synced
    await sync.close()


async def test_close_cancels_a_pending_fetch() -> None:
    """close() while a snapshot is being fetched cancels it and ends wait_synced with StaleBook."""
    fetcher = Fetcher(snap(100))
    fetcher.gate = asyncio.Event()
    sync = make(fetcher)
    sync.start()
    waiting = asyncio.ensure_future(sync.wait_synced())
    await asyncio.sleep(0)
    await sync.close()
    with pytest.raises(StaleBook):
        await asyncio.wait_for(waiting, 5)
    assert sync.state is BookState.CLOSED and not sync.feed(spot(101, 101))
    assert repr(sync).startswith("BookSync(binance:BTC/USDT, closed")


async def test_failed_book_wakes_and_refuses_waiters() -> None:
    """Once snapshot attempts run out, wait_synced() and a new watch() raise StaleBook instead of hanging."""
    fetcher = Fetcher(NetworkError("down"), NetworkError("down"))
    sync = make(fetcher, max_attempts=2)
    waiter = asyncio.create_task(sync.wait_synced())
    sync.start()
    with pytest.raises(StaleBook, match="could not be rebuilt"):
        await asyncio.wait_for(waiter, 5)
    with pytest.raises(StaleBook, match="could not be rebuilt"):
        await asyncio.wait_for(anext(sync.watch(5)), 5)
    await sync.close()


async def test_stream_snapshot_during_a_failing_fetch_keeps_the_book_synced() -> None:
    """A stream snapshot that syncs the book while a REST fetch is in flight is not undone when the fetch fails."""
    fetcher = Fetcher(NetworkError("late failure"))
    fetcher.gate = asyncio.Event()
    sync = make(fetcher, max_attempts=1)
    events = sync.events()
    sync.start()
    await asyncio.sleep(0)
    assert fetcher.calls == 1  # the fetch is in flight
    sync.feed_snapshot(snap(10))
    assert (await next_event(events)).kind is BookEventKind.SYNCED
    fetcher.gate.set()
    while fetcher.results:  # the fetch raises right after taking its scripted failure
        await asyncio.sleep(0)
    for _ in range(3):
        await asyncio.sleep(0)
    assert sync.state is BookState.SYNCED
    assert events.pending == 0  # no STALE or FAILED event for a healthy book
    await sync.close()
