"""exchange-binance benchmark (not a test): the plugin's own hot paths, with orjson and with the stdlib json.

Input: ``bench/gen_depth.py`` (deterministic Binance spot depth diffs: 1000-level
snapshot, ~10 level changes per frame), wrapped as combined-stream frames
``{"stream": "btcusdt@depth@100ms", "data": {...}}`` exactly as the connector
receives them. Every depth run checks the final book against the generator's
model, so a fast-but-wrong path cannot post a number.

Rows (thread CPU time per frame, µs, median of ``--repeat`` runs, min in brackets):

- ``frame text -> synced book``: decode (orjson or json) -> the connector's
  combined-stream router (:func:`exchange_binance.ws.combined_router`) -> the
  spot depth handler -> ``BookSync.feed`` (sequence policy, apply, crossed check);
  the same for USD-M frames (``pu`` continuity);
- ``consumer awaiting every update``: the same, then the depth-20 ``OrderBook``
  published on the event bus and a consumer task of ``watch`` receiving every
  update (the producer yields to the loop after each frame like a socket reader);
- ``trade frame -> Trade``: decode -> router -> the connector's trade handler
  (:func:`exchange_binance.connector.trade_publisher`: parse, remember the price,
  publish on a queue subscription);
- memory: tracemalloc of the instrument table of 2000 spot instruments (parsed
  from exchangeInfo, the payload freed), and of a second connector of the same
  venue and endpoint connecting after the first one (they share the table).

Usage: ``python bench/binance_bench.py [--frames 20000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure
from gen_depth import DepthScenario, generate

from exchange_binance import parsing
from exchange_binance.books import snapshot_from, spot_depth_handler, usdm_depth_handler
from exchange_binance.connector import trade_publisher
from exchange_binance.symbols import SpotSymbolMapper
from exchange_binance.testing.data import spot_exchange_info
from exchange_binance.ws import combined_router
from exchanges.book import BinanceFuturesPolicy, BinanceSpotPolicy, BookSync
from exchanges.events import EventBus
from exchanges.instruments import InstrumentTable

clock = time.thread_time_ns  # CPU time of this thread: other processes on a shared box count less
DECODERS: dict[str, Callable[[Any], Any]] = {"orjson": orjson.loads, "json": json.loads}
STREAM = "btcusdt@depth@100ms"


def wrap(frames: tuple[str, ...], stream: str) -> list[bytes]:
    """Combined-stream frames as they come off the socket (bytes)."""
    return [f'{{"stream":"{stream}","data":{text}}}'.encode() for text in frames]


def usdm_frames(scenario: DepthScenario) -> list[bytes]:
    """The scenario's frames as USD-M events: ``pu`` (previous ``u``) and ``T`` added."""
    out = []
    previous = orjson.loads(scenario.snapshot_text)["lastUpdateId"]
    for text in scenario.frames:
        event = orjson.loads(text)
        event["pu"], event["T"] = previous, event["E"]
        previous = event["u"]
        out.append(orjson.dumps({"stream": STREAM, "data": event}))
    return out


def check_final(sync: BookSync, scenario: DepthScenario) -> None:
    """The book must end exactly as the generator's model."""
    bids = [tuple(level[:2]) for level in sync.book.bids.top()]
    asks = [tuple(level[:2]) for level in sync.book.asks.top()]
    if bids != list(scenario.final_bids) or asks != list(scenario.final_asks):
        raise SystemExit("the synced book differs from the generator's model: benchmark invalid")


def synced(scenario: DepthScenario, futures: bool, bus: EventBus | None = None) -> BookSync:
    """A BookSync holding the scenario snapshot (the stream continues right after it)."""
    policy = BinanceFuturesPolicy() if futures else BinanceSpotPolicy()
    sync = BookSync("binance-usdm" if futures else "binance", "BTC/USDT", policy, bus=bus)
    sync.feed_snapshot(snapshot_from(orjson.loads(scenario.snapshot_text)))
    return sync


def run_text_to_book(scenario: DepthScenario, frames: list[bytes], decoder: str, futures: bool) -> float:
    """Frame bytes -> decode -> router -> handler -> BookSync.feed, per frame in ns."""
    sync = synced(scenario, futures)
    handler = (usdm_depth_handler if futures else spot_depth_handler)(sync)
    route = combined_router({STREAM: handler}, lambda message: None)
    loads = DECODERS[decoder]
    start = clock()
    for raw in frames:
        route(loads(raw))
    elapsed = clock() - start
    check_final(sync, scenario)
    return elapsed / len(frames)


def run_consumer(scenario: DepthScenario, frames: list[bytes], decoder: str, depth: int | None) -> float:
    """The same plus publishing the depth-N book and a task awaiting every update, per frame in ns."""

    async def main() -> float:
        sync = synced(scenario, False, EventBus())
        route = combined_router({STREAM: spot_depth_handler(sync)}, lambda message: None)
        loads = DECODERS[decoder]
        received = 0

        async def consumer() -> None:
            nonlocal received
            async for book in sync.watch(depth):
                if book.best_bid is None:
                    raise SystemExit("empty side")
                received += 1

        task = asyncio.create_task(consumer())
        await asyncio.sleep(0)
        received = 0
        start = clock()
        for raw in frames:
            route(loads(raw))
            await asyncio.sleep(0)  # a socket reader yields to the loop between frames
        elapsed = clock() - start
        await sync.close()
        await task
        if received != len(frames):
            raise SystemExit(f"the consumer saw {received} of {len(frames)} updates")
        check_final(sync, scenario)
        return elapsed / len(frames)

    return asyncio.run(main())


def trade_frames(count: int) -> list[bytes]:
    """Deterministic spot ``@trade`` frames."""
    out = []
    for i in range(count):
        data = {"e": "trade", "E": 1_700_000_000_000 + i, "s": "BTCUSDT", "t": 3_000_000 + i,
                "p": f"{30000 + i % 200}.{i % 100:02d}000000", "q": f"0.{(i * 7919) % 100000:05d}000",
                "T": 1_700_000_000_000 + i, "m": i % 3 == 0, "M": True}
        out.append(orjson.dumps({"stream": "btcusdt@trade", "data": data}))
    return out


def run_trades(frames: list[bytes], decoder: str) -> float:
    """Trade frame bytes -> decode -> router -> trade handler -> Trade on a queue subscription, per frame in ns."""
    bus = EventBus()
    sub = bus.subscribe("trades:BTC/USDT", policy="queue", maxsize=len(frames) + 1)
    handler = trade_publisher(parsing.stream_trade, "BTC/USDT", "binance", bus.publish, "trades:BTC/USDT", {})
    route = combined_router({"btcusdt@trade": handler}, lambda message: None)
    loads = DECODERS[decoder]
    start = clock()
    for raw in frames:
        route(loads(raw))
    elapsed = clock() - start
    if sub.pending != len(frames):
        raise SystemExit("trades were lost")
    return elapsed / len(frames)


def exchange_info(count: int) -> dict[str, Any]:
    """An exchangeInfo payload of ``count`` spot symbols in the documented format."""
    info = spot_exchange_info(0)
    template = info["symbols"][0]
    symbols = []
    for i in range(count):
        symbol = copy.deepcopy(template)
        base = f"C{i:04d}X"
        symbol.update(symbol=f"{base}USDT", baseAsset=base)
        symbols.append(symbol)
    return orjson.loads(orjson.dumps({**info, "symbols": symbols}))  # fresh objects, as parsed off the wire


def table_memory(count: int) -> float:
    """MiB retained by the instrument table of ``count`` instruments (the payload freed)."""
    payload = exchange_info(count)
    mapper = SpotSymbolMapper()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    mapper.learn(parsing.learned_pairs(payload))
    table = InstrumentTable.build(parsing.parse_exchange_info(payload, mapper.normalize, futures=False))
    del payload
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(table.by_symbol) == count
    return (after - before) / 2**20


def second_connector_memory(count: int) -> tuple[float, float, bool]:
    """MiB retained by a first and by a second connector of the same venue (loopback), and whether they share."""
    import exchanges
    from exchanges.testing.emulator import VenueEmulator

    async def main() -> tuple[float, float, bool]:
        async with VenueEmulator() as emu:
            emu.route("GET", "/api/v3/exchangeInfo", exchange_info(count))
            host = exchanges.Host()
            endpoints = {"rest": emu.http_url, "ws": emu.ws_url, "ws_api": emu.ws_url}
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            first = host.connect("binance", endpoints=endpoints)
            await first.connect()
            gc.collect()
            one = tracemalloc.get_traced_memory()[0]
            second = host.connect("binance", endpoints=endpoints)
            await second.connect()
            gc.collect()
            two = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            shared = first.instruments.table is second.instruments.table
            await first.close()
            await second.close()
            return (one - base) / 2**20, (two - one) / 2**20, shared

    return asyncio.run(main())



def main() -> None:
    """Run every measurement and print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--instruments", type=int, default=2000)
    args = parser.parse_args()
    scenario = generate(frames=args.frames)
    spot = wrap(scenario.frames, STREAM)
    usdm = usdm_frames(scenario)
    trades = trade_frames(args.frames)
    changes = scenario.level_changes / len(scenario.frames)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
          f"orjson {orjson.__version__}")
    print(f"{len(spot)} combined-stream depth frames ({changes:.1f} level changes each, 1000-level snapshot), "
          f"{len(trades)} trade frames; thread CPU time per frame, median of {args.repeat} runs (min)\n")
    print("| measurement | orjson (µs) | json stdlib (µs) | target |")
    print("|---|---|---|---|")

    def row(name: str, fn: Callable[[str], float], target: str) -> None:
        cells = []
        for decoder in ("orjson", "json"):
            values = measure(lambda decoder=decoder: fn(decoder), args.repeat)  # type: ignore[misc]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f})")
        print(f"| {name} | {cells[0]} | {cells[1]} | {target} |", flush=True)

    row("spot frame text -> synced book", lambda d: run_text_to_book(scenario, spot, d, False), "<= 6")
    row("USD-M frame text -> synced book (pu continuity)", lambda d: run_text_to_book(scenario, usdm, d, True), "<= 6")
    row("spot frame -> consumer awaiting every update, depth 20", lambda d: run_consumer(scenario, spot, d, 20),
        "<= 12")
    row("trade frame -> Trade (published on a queue)", lambda d: run_trades(trades, d), "<= 4")
    table = table_memory(args.instruments)
    first, second, shared = second_connector_memory(args.instruments)
    print(f"\n| memory ({args.instruments} spot instruments, tracemalloc) | MiB | target |")
    print("|---|---|---|")
    print(f"| instrument table (mapper pairs included), payload freed | {table:.2f} | <= 4 |")
    print(f"| first connector connected (table + HTTP client + limiter) | {first:.2f} | |")
    print(f"| second connector, same venue and endpoint (table shared: {shared}) | {second:.2f} | "
          "not another table |")


if __name__ == "__main__":
    main()
