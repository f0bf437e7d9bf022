"""Order book engine benchmark (not a test): per-frame costs on generated Binance-style depth diffs.

Input: ``bench/gen_depth.py`` (deterministic; 1000-level snapshot, ~10 level
changes per frame, ~24 % deletions). Every run checks that the final book equals
the generator's own model, so a fast-but-wrong engine cannot post a number.

Rows:

- ``orjson.loads``: parsing the frame text alone (the floor of any Python client);
- ``decode``: loads + building the :class:`BookDelta` (what a venue plugin does);
- ``LocalBook.apply``: applying one decoded frame to the sides;
- ``BookSync.feed``: the same through the sync engine: sequence policy + apply
  + crossed-book check;
- ``text -> synced book``: loads + decode + feed, end to end, timed as a loop;
- ``... published``: the same plus capturing the immutable depth-20 ``OrderBook``
  and publishing it on the ``EventBus`` (a subscriber exists but nobody awaits):
  the engine's whole share of the consumer path;
- ``consumer, depth N``: the full path: loads -> decode -> feed -> publish an
  immutable ``OrderBook`` on the ``EventBus`` (policy "latest") -> a consumer
  task awaiting ``BookSync.watch(depth)`` receives it and reads best bid/ask;
  the producer yields to the loop after each frame like a socket reader would,
  and the consumer must see every update (checked);
- ``asyncio floor``: the event loop and bus alone, what any awaiting consumer pays;
- ``naive full OrderBook``: for reference, building a complete ``OrderBook`` of
  ``OrderBookLevel`` (Decimal) from the book after each frame.

Timings are CPU time of the benchmark thread (``time.thread_time_ns``), so
other processes on a shared box count less, per frame in µs: the median of
``--repeat`` runs (min in brackets). ``apply`` and ``feed`` alone are timed per
chunk of 64 frames decoded just before (cache-warm, like a live reader; the
clock call is amortized over the chunk).

Usage: ``python bench/book_bench.py [--frames 20000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure
from gen_depth import DepthScenario, generate

from exchanges.book import BinanceSpotPolicy, BookDelta, BookSnapshot, BookSync, LocalBook
from exchanges.events import EventBus
from exchanges.models import OrderBook

loads = orjson.loads


def decode(text: str | bytes) -> BookDelta:
    """What the Binance plugin does with a spot ``depthUpdate`` frame."""
    msg = loads(text)
    return BookDelta(msg["U"], msg["u"], None, msg["b"], msg["a"], msg["E"])


def snapshot_of(scenario: DepthScenario) -> BookSnapshot:
    """The REST depth snapshot of the scenario."""
    raw = loads(scenario.snapshot_text)
    return BookSnapshot(raw["lastUpdateId"], raw["bids"], raw["asks"])


def check_final(book: LocalBook, scenario: DepthScenario) -> None:
    """The engine must end with exactly the generator's book."""
    bids = [tuple(level[:2]) for level in book.bids.top()]
    asks = [tuple(level[:2]) for level in book.asks.top()]
    if bids != list(scenario.final_bids) or asks != list(scenario.final_asks):
        raise SystemExit("engine book differs from the generator's model: benchmark invalid")


clock = time.thread_time_ns  # CPU time of this thread: other processes on the box do not count


def new_sync(scenario: DepthScenario, bus: EventBus | None = None) -> BookSync:
    """A Binance spot BookSync synced on the scenario snapshot (taken as a stream snapshot)."""
    sync = BookSync("binance", "BTC/USDT", BinanceSpotPolicy(), bus=bus)
    sync.feed_snapshot(snapshot_of(scenario))
    return sync


def run_loads(scenario: DepthScenario) -> float:
    """orjson.loads alone."""
    frames = scenario.frames
    start = clock()
    for text in frames:
        loads(text)
    return (clock() - start) / len(frames)


def run_decode(scenario: DepthScenario) -> float:
    """loads + BookDelta."""
    frames = scenario.frames
    start = clock()
    for text in frames:
        decode(text)
    return (clock() - start) / len(frames)


def _chunks(scenario: DepthScenario, size: int = 64) -> list[tuple[str, ...]]:
    frames = scenario.frames
    return [frames[i : i + size] for i in range(0, len(frames), size)]


def run_apply(scenario: DepthScenario) -> float:
    """LocalBook.apply alone: frames decoded 64 at a time outside the timed region (still cache-warm)."""
    book = LocalBook("binance", "BTC/USDT")
    book.reset(snapshot_of(scenario))
    apply = book.apply
    total = 0
    for chunk in _chunks(scenario):
        deltas = [decode(text) for text in chunk]
        start = clock()
        for delta in deltas:
            apply(delta)
        total += clock() - start
    check_final(book, scenario)
    return total / len(scenario.frames)


def run_feed(scenario: DepthScenario) -> float:
    """BookSync.feed alone (sequence policy + apply + crossed check), decoded as in :func:`run_apply`."""
    sync = new_sync(scenario)
    feed = sync.feed
    total = 0
    for chunk in _chunks(scenario):
        deltas = [decode(text) for text in chunk]
        start = clock()
        for delta in deltas:
            feed(delta)
        total += clock() - start
    check_final(sync.book, scenario)
    return total / len(scenario.frames)


def run_text_to_book(scenario: DepthScenario) -> float:
    """Frame text -> synced book: loads + BookDelta + BookSync.feed (policy, apply, crossed check)."""
    sync = new_sync(scenario)
    feed = sync.feed
    frames = scenario.frames
    start = clock()
    for text in frames:
        if not feed(decode(text)):
            raise SystemExit("a valid frame was not applied")
    elapsed = clock() - start
    check_final(sync.book, scenario)
    return elapsed / len(frames)


def run_publish(scenario: DepthScenario, depth: int | None) -> float:
    """text -> synced book -> immutable OrderBook published on the bus (a subscriber exists, nobody awaits)."""
    sync = new_sync(scenario, EventBus())
    sub = sync.subscribe(depth)
    feed = sync.feed
    frames = scenario.frames
    start = clock()
    for text in frames:
        feed(decode(text))
    elapsed = clock() - start
    if sub.pending != 1:
        raise SystemExit("nothing was published")
    check_final(sync.book, scenario)
    return elapsed / len(frames)


def run_consumer(scenario: DepthScenario, depth: int | None) -> float:
    """Full path to an awaiting consumer task that must receive every update."""

    async def main() -> float:
        sync = new_sync(scenario, EventBus())
        received = 0
        last_seq = 0

        async def consumer() -> None:
            nonlocal received, last_seq
            async for book in sync.watch(depth):
                if book.best_bid is None or book.best_ask is None:
                    raise SystemExit("empty side")
                last_seq = book.sequence or 0
                received += 1

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0)  # the consumer subscribes and takes the current book
        received = 0
        feed = sync.feed
        frames = scenario.frames
        start = clock()
        for text in frames:
            feed(decode(text))
            await asyncio.sleep(0)  # a socket reader yields to the loop between frames
        elapsed = clock() - start
        await sync.close()
        await task
        if received != len(frames) or last_seq != sync.book.sequence:
            raise SystemExit(f"consumer saw {received} of {len(frames)} updates")
        check_final(sync.book, scenario)
        return elapsed / len(frames)

    return asyncio.run(main())


def run_floor(frames: int) -> float:
    """asyncio + EventBus alone: publish a constant, a consumer task awaits each one (no book, no JSON)."""

    async def main() -> float:
        bus = EventBus()
        received = 0

        async def consumer() -> None:
            nonlocal received
            async for _ in bus.subscribe("floor", policy="latest"):
                received += 1

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0)
        value = object()
        start = clock()
        for _ in range(frames):
            bus.publish("floor", value)
            await asyncio.sleep(0)
        elapsed = clock() - start
        bus.close()
        await task
        if received != frames:
            raise SystemExit("floor consumer missed updates")
        return elapsed / frames

    return asyncio.run(main())


def run_naive_full(scenario: DepthScenario, frames: int = 500) -> float:
    """Reference: a complete OrderBook of Decimal levels after every frame."""
    book = LocalBook("binance", "BTC/USDT")
    book.reset(snapshot_of(scenario))
    start = clock()
    for text in scenario.frames[:frames]:
        book.apply(decode(text))
        OrderBook(
            "BTC/USDT",
            "binance",
            book.timestamp,
            [(Decimal(p), Decimal(q)) for p, q, *_ in book.bids.top()],
            [(Decimal(p), Decimal(q)) for p, q, *_ in book.asks.top()],
            book.sequence,
        )
    return (clock() - start) / frames



def main() -> None:
    """Run every measurement and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    scenario = generate(frames=args.frames)
    changes = scenario.level_changes / len(scenario.frames)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"{len(scenario.frames)} frames, {changes:.1f} level changes per frame, "
        f"{scenario.deletions / scenario.level_changes:.0%} deletions, "
        f"{scenario.insertions / scenario.level_changes:.0%} insertions, 1000-level snapshot; "
        f"thread CPU time per frame, median of {args.repeat} runs (min)\n"
    )
    print("| measurement | µs per frame | target |")
    print("|---|---|---|")

    def row(name: str, values: list[float], note: str = "") -> None:
        print(f"| {name} | {statistics.median(values):.2f} ({min(values):.2f}) | {note} |", flush=True)

    loads_us = measure(lambda: run_loads(scenario), args.repeat)
    row("orjson.loads of the frame text", loads_us, "(CCXT: ~1.6)")
    row("loads + decode to BookDelta", measure(lambda: run_decode(scenario), args.repeat))
    row("LocalBook.apply of one decoded frame", measure(lambda: run_apply(scenario), args.repeat), "<= 3 (CCXT 10.2)")
    row(
        "BookSync.feed: sequence policy + apply + crossed check",
        measure(lambda: run_feed(scenario), args.repeat),
        "<= 3",
    )
    text_us = measure(lambda: run_text_to_book(scenario), args.repeat)
    row("frame text -> synced book (loads + decode + feed)", text_us, "<= 6 (CCXT 35)")
    row(
        "frame text -> synced book -> depth-20 OrderBook published (no await)",
        measure(lambda: run_publish(scenario, 20), args.repeat),
    )
    row(
        "asyncio floor: publish a constant, a task awaits each (no book)",
        measure(lambda: run_floor(len(scenario.frames)), args.repeat),
    )
    for depth, note in ((20, "<= 12 (CCXT 110)"), (5, ""), (None, "")):
        label = "full book" if depth is None else f"depth {depth}"
        row(
            f"frame text -> consumer task awaiting every update, {label}",
            measure(lambda depth=depth: run_consumer(scenario, depth), args.repeat),  # type: ignore[misc]
            note,
        )
    row("reference: full OrderBook of Decimal levels per frame", measure(lambda: run_naive_full(scenario), 1))


if __name__ == "__main__":
    main()
