"""Websocket soak: Binance-style depth diffs through WsConnection and BookSync under injected faults.

A simulated market (the truth) moves two books with Binance spot ``depthUpdate``
events (``U``/``u`` ranges). The loopback emulator streams them on
``/stream`` and serves REST depth snapshots, while every connection gets random
faults: dropped sockets, clean closes, stalled heartbeats, refused upgrades,
skipped frames (sequence gaps), duplicated frames, failing snapshot requests,
and planned lifetime rollovers. Slow consumers watch the books and check every
book they are given against the truth at that book's sequence.

Asserted: no book yielded is crossed, out of sync, behind an earlier one or
different from the venue's book at its sequence; gaps happen and are all
detected and resynced; every book ends in sync and current; nothing raises
unhandled. Runs ``$EXCHANGES_SOAK_SECONDS`` seconds: 60 in CI (``$CI`` set),
20 elsewhere by default.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from exchanges.book import BinanceSpotPolicy, BookDelta, BookEvent, BookEventKind, BookSnapshot, BookSync
from exchanges.errors import ExchangeUnavailable
from exchanges.events import EventBus
from exchanges.models import OrderBook
from exchanges.testing.emulator import Reply, VenueEmulator, WsFaults, WsSession, wait_until
from exchanges.transport.ws import Backoff, ProtocolPing, WsConnection, WsPolicy, WsState, WsStateEvent

SOAK_SECONDS = float(os.environ.get("EXCHANGES_SOAK_SECONDS") or (60 if os.environ.get("CI") else 20))
SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
DEPTH = 20
STEP = 0.005  # one event per symbol every 5 ms (a busy Binance symbol sends one per 100 ms)
HISTORY = 50_000  # truth kept per symbol, by update id


def price_text(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def qty_text(milli: int) -> str:
    return f"{milli // 1000}.{milli % 1000:03d}"


class Market:
    """The venue's truth: books moved by Binance-style depth events, with the top of book kept per update id."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.bids: dict[str, dict[int, int]] = {}
        self.asks: dict[str, dict[int, int]] = {}
        self.mid: dict[str, int] = {}
        self.last_id: dict[str, int] = {}
        self.log: dict[str, deque[dict[str, Any]]] = {}
        self.count: dict[str, int] = {}
        self.truth: dict[str, dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]]] = {}
        self.calm = False
        self._tick = asyncio.Event()
        for raw in SYMBOLS.values():
            mid = rng.randint(50_000, 200_000)
            self.mid[raw] = mid
            self.bids[raw] = {mid - i: rng.randint(1, 5000) for i in range(1, 80)}
            self.asks[raw] = {mid + i: rng.randint(1, 5000) for i in range(1, 80)}
            self.last_id[raw] = rng.randint(1_000, 1_000_000)
            self.log[raw] = deque(maxlen=5000)
            self.count[raw] = 0
            self.truth[raw] = {}
            self._remember(raw)

    def _remember(self, raw: str) -> None:
        bids = sorted(self.bids[raw].items(), reverse=True)[:DEPTH]
        asks = sorted(self.asks[raw].items())[:DEPTH]
        truth = self.truth[raw]
        truth[self.last_id[raw]] = (bids, asks)
        while len(truth) > HISTORY:
            del truth[next(iter(truth))]

    def step(self) -> None:
        """One depth event per symbol; wakes every connection's feed."""
        rng = self.rng
        for raw in SYMBOLS.values():
            bids, asks = self.bids[raw], self.asks[raw]
            changed_bids: dict[int, int] = {}
            changed_asks: dict[int, int] = {}
            if rng.random() < 0.1:  # the price drifts; levels it would cross go away in the same event
                mid = self.mid[raw] = self.mid[raw] + rng.choice((-3, -2, -1, 1, 2, 3))
                changed_bids.update({p: 0 for p in bids if p >= mid})
                changed_asks.update({p: 0 for p in asks if p <= mid})
            mid = self.mid[raw]
            for _ in range(rng.randint(1, 4)):
                quantity = 0 if rng.random() < 0.3 else rng.randint(1, 5000)
                if rng.random() < 0.5:
                    changed_bids[mid - rng.randint(1, 90)] = quantity
                else:
                    changed_asks[mid + rng.randint(1, 90)] = quantity
            for side, changes in ((bids, changed_bids), (asks, changed_asks)):
                for p, q in changes.items():
                    if q:
                        side[p] = q
                    else:
                        side.pop(p, None)
            first = self.last_id[raw] + 1
            self.last_id[raw] = last = first + rng.randint(0, 2)
            self.log[raw].append({
                "e": "depthUpdate", "E": time.time_ns() // 1_000_000, "s": raw, "U": first, "u": last,
                "b": [[price_text(p), qty_text(q)] for p, q in changed_bids.items()],
                "a": [[price_text(p), qty_text(q)] for p, q in changed_asks.items()],
            })  # fmt: skip
            self.count[raw] += 1
            self._remember(raw)
        self._tick.set()
        self._tick = asyncio.Event()

    def since(self, raw: str, cursor: int) -> tuple[list[dict[str, Any]], int]:
        """Events after ``cursor`` (a count), and the new cursor."""
        log, count = self.log[raw], self.count[raw]
        start = max(cursor, count - len(log))
        return [log[i - (count - len(log))] for i in range(start, count)], count

    def snapshot(self, raw: str) -> dict[str, Any]:
        """The REST depth answer: every level, with ``lastUpdateId``."""
        return {
            "lastUpdateId": self.last_id[raw],
            "bids": [[price_text(p), qty_text(q)] for p, q in sorted(self.bids[raw].items(), reverse=True)],
            "asks": [[price_text(p), qty_text(q)] for p, q in sorted(self.asks[raw].items())],
        }

    async def tick(self) -> None:
        """Wait for the next step."""
        await self._tick.wait()


def levels(book: OrderBook) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    def ints(side: Any) -> list[tuple[int, int]]:
        return [(int(level.price * 100), int(level.quantity * 1000)) for level in side]

    return ints(book.bids), ints(book.asks)


#: the first connections exercise every fault kind once, whatever the seed and duration
OPENING_FAULTS = [
    WsFaults(drop_after=250, skip={100}, duplicate={50}),
    WsFaults(refuse=503),
    WsFaults(stall_after=250, skip={150}, duplicate={20, 21}),
    WsFaults(close_after=250, close_code=1001, skip={60}),
    WsFaults(refuse=429, refuse_headers={"Retry-After": "0.1"}),
    WsFaults(stall_after=200, freeze=True, duplicate={30}),  # a hung peer: no pongs, no closing handshake
    WsFaults(skip={40}, duplicate={10}),  # lives until the lifetime rollover
]


def faults_for(market: Market, rng: random.Random) -> Any:
    def faults(index: int) -> WsFaults:
        if market.calm:
            return WsFaults()
        if index < len(OPENING_FAULTS):
            return OPENING_FAULTS[index]
        length = rng.randint(150, 700)  # frames before the fault ends the connection (~0.7-3.5 s)
        skip = {rng.randint(20, length - 1) for _ in range(rng.randint(0, 2))}
        duplicate = {rng.randint(5, length - 1) for _ in range(rng.randint(0, 3))}
        roll = rng.random()
        if roll < 0.08:
            return WsFaults(refuse=503)
        if roll < 0.12:
            return WsFaults(refuse=429, refuse_headers={"Retry-After": "0.1"})
        if roll < 0.50:
            return WsFaults(drop_after=length, skip=skip, duplicate=duplicate)
        if roll < 0.70:
            return WsFaults(stall_after=length, freeze=rng.random() < 0.5, skip=skip, duplicate=duplicate)
        if roll < 0.80:
            return WsFaults(close_after=length, close_code=1001, skip=skip, duplicate=duplicate)
        return WsFaults(skip=skip, duplicate=duplicate)  # lives until the planned lifetime rollover

    return faults


def feed(market: Market) -> Any:
    async def frames(session: WsSession) -> AsyncIterator[Any]:
        cursors: dict[str, int] = session.state.setdefault("cursors", {})
        while True:
            await market.tick()
            for raw, cursor in list(cursors.items()):
                events, cursors[raw] = market.since(raw, cursor)
                for data in events:
                    yield {"stream": f"{raw.lower()}@depth@100ms", "data": data}

    return frames


def subscriptions(market: Market) -> Any:
    def on_message(session: WsSession, message: Any) -> Any:
        if isinstance(message, dict) and message.get("method") == "SUBSCRIBE":
            cursors = session.state.setdefault("cursors", {})
            for stream in message["params"]:
                raw = stream.split("@")[0].upper()
                cursors[raw] = market.count[raw]
            return {"result": None, "id": message["id"]}
        return None

    return on_message


@pytest.mark.slow
@pytest.mark.timeout(SOAK_SECONDS + 180)
async def test_soak_books_stay_correct_through_drops_gaps_duplicates_and_stalls() -> None:
    """For the soak duration every book yielded matches the venue at its sequence, gaps are all resynced, nothing crashes."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    seed = int(os.environ.get("EXCHANGES_SOAK_SEED", "20240601"))
    market = Market(random.Random(seed))
    fault_rng = random.Random(seed + 1)
    consumer_rng = random.Random(seed + 2)
    problems: list[str] = []
    book_events: list[BookEvent] = []
    ws_events: list[WsStateEvent] = []
    checked = {symbol: 0 for symbol in SYMBOLS}
    stop = asyncio.Event()

    async with VenueEmulator() as emu, aiohttp.ClientSession() as http:

        def depth(request: Any) -> Any:
            roll = fault_rng.random()
            if not market.calm and roll < 0.06:
                return Reply(503, body="Service Unavailable.")
            if not market.calm and roll < 0.09:
                return Reply(429, json={"code": -1003}, headers={"Retry-After": "1"})
            return market.snapshot(request.query["symbol"])

        emu.route("GET", "/api/v3/depth", depth)
        emu.websocket(
            "/stream", frames=feed(market), on_message=subscriptions(market), faults=faults_for(market, fault_rng)
        )

        bus = EventBus()
        syncs: dict[str, BookSync] = {}

        def fetcher(symbol: str, raw: str) -> Any:
            async def fetch() -> BookSnapshot:
                await wait_until(lambda: syncs[symbol].buffered > 0, timeout=10)  # Binance: buffer first
                async with http.get(
                    f"{emu.http_url}/api/v3/depth", params={"symbol": raw, "limit": "5000"}
                ) as response:
                    if response.status != 200:
                        raise ExchangeUnavailable(f"depth answered HTTP {response.status}", exchange="binance")
                    body = orjson.loads(await response.read())
                return BookSnapshot(body["lastUpdateId"], body["bids"], body["asks"])

            return fetch

        for symbol, raw in SYMBOLS.items():
            syncs[symbol] = BookSync(
                "binance", symbol, BinanceSpotPolicy(), fetch_snapshot=fetcher(symbol, raw), bus=bus,
                max_attempts=100, retry_delay=0.05, max_retry_delay=0.5, on_event=book_events.append,
            )  # fmt: skip
        by_raw = {raw: syncs[symbol] for symbol, raw in SYMBOLS.items()}

        def router(message: Any) -> None:
            data = message.get("data")
            if data is not None:
                by_raw[data["s"]].feed(BookDelta(data["U"], data["u"], None, data["b"], data["a"], data["E"]))

        first_subscription = True

        def on_state(event: WsStateEvent) -> None:
            nonlocal first_subscription
            ws_events.append(event)
            if event.state is WsState.DISCONNECTED:
                for sync in syncs.values():
                    sync.invalidate(f"websocket lost: {event.reason}")
            elif event.state is WsState.RESUBSCRIBED and not event.continuous:
                if not first_subscription:  # a rollover without overlap: the stream restarted
                    for sync in syncs.values():
                        sync.invalidate("websocket resubscribed")
                first_subscription = False

        policy = WsPolicy(
            name="binance",
            subscribe_message=lambda streams, rid: orjson.dumps(
                {"method": "SUBSCRIBE", "params": list(streams), "id": rid}
            ).decode(),
            heartbeat=ProtocolPing(interval=0.5, timeout=0.5),
            max_messages_per_second=5,
            reserved_messages=1,
            max_streams_per_connection=1024,
            max_lifetime=3.0,
            backoff=Backoff(base=0.05, cap=0.5, reset_after=2.0),
        )

        async def consume(symbol: str) -> None:
            raw = SYMBOLS[symbol]
            sync = syncs[symbol]
            last_sequence = 0
            async for book in sync.watch(depth=DEPTH):
                checked[symbol] += 1
                sequence = book.sequence
                assert sequence is not None
                if not sync.is_synced:
                    problems.append(f"{symbol}: yielded while {sync.state.value}")
                if book.is_crossed:
                    problems.append(f"{symbol}: crossed book at {sequence}")
                if sequence < last_sequence:
                    problems.append(f"{symbol}: went back from {last_sequence} to {sequence}")
                truth = market.truth[raw].get(sequence)
                if truth is None:
                    problems.append(f"{symbol}: sequence {sequence} unknown to the venue or too old")
                elif levels(book) != truth:
                    problems.append(f"{symbol}: book at {sequence} differs from the venue's")
                last_sequence = sequence
                if stop.is_set():
                    return
                await asyncio.sleep(consumer_rng.uniform(0.0, 0.03))  # a slow consumer: books conflate

        async def run_market() -> None:
            while True:
                market.step()
                await asyncio.sleep(STEP)

        ticker = asyncio.create_task(run_market())
        ws = WsConnection(emu.ws_url + "/stream", policy, router, on_state=on_state, rng=random.Random(seed + 3))
        consumers = [asyncio.create_task(consume(symbol)) for symbol in SYMBOLS]
        try:
            for sync in syncs.values():
                sync.start()
            await ws.subscribe([f"{raw.lower()}@depth@100ms" for raw in SYMBOLS.values()])
            await ws.start(timeout=10)
            await asyncio.sleep(SOAK_SECONDS)

            # calm down: no more faults, move to a clean socket, every book must catch up
            market.calm = True
            ws.request_rollover("soak over")
            await wait_until(lambda: emu.ws_sessions[-1].faults == WsFaults() and ws.connected, timeout=30)
            target = dict(market.last_id)
            await wait_until(
                lambda: all(s.is_synced and (s.sequence or 0) >= target[SYMBOLS[n]] for n, s in syncs.items()),
                timeout=60,
            )
            for symbol, sync in syncs.items():
                book = sync.order_book(DEPTH)
                assert book.sequence is not None
                assert levels(book) == market.truth[SYMBOLS[symbol]][book.sequence], symbol
            final_states = {symbol: sync.state for symbol, sync in syncs.items()}
        finally:
            stop.set()
            await ws.close()
            for sync in syncs.values():
                await sync.close()
            await asyncio.gather(*consumers, return_exceptions=True)
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            loop.set_exception_handler(previous_handler)

        results = [c.result() if not c.cancelled() else None for c in consumers]

    assert problems == []
    assert results == [None] * len(SYMBOLS)
    assert unhandled == []
    assert emu.errors == []
    assert ws.stats.router_errors == 0 and ws.stats.undecodable == 0

    stale = [e for e in book_events if e.kind is BookEventKind.STALE]
    gaps = [e for e in stale if e.reason and e.reason.startswith("gap:")]
    injected_gaps = sum(len(s.skipped) for s in emu.ws_sessions)
    injected_duplicates = sum(len(s.duplicated) for s in emu.ws_sessions)
    assert injected_gaps > 0 and gaps, "the soak must exercise sequence gaps"
    assert injected_duplicates > 0
    assert ws.stats.disconnects >= 3
    assert len(emu.ws_refused) >= 2
    if SOAK_SECONDS >= 15:
        assert [e for e in ws_events if e.state is WsState.ROLLOVER and e.reason == "max_lifetime"]
    assert not [e for e in book_events if e.kind is BookEventKind.FAILED]
    for symbol in syncs:
        kinds = [e.kind for e in book_events if e.symbol == symbol]
        assert kinds.count(BookEventKind.SYNCED) == 1  # a failed first fetch may come before it
        assert kinds[-1] in (BookEventKind.SYNCED, BookEventKind.RESYNCED)  # every stale episode ended in sync
        assert final_states[symbol].value == "synced"
        assert checked[symbol] > 10
    print(  # numbers for the report (pytest -s)
        f"\nsoak {SOAK_SECONDS:.0f}s: routed={ws.stats.routed} connections={len(emu.ws_sessions)} "
        f"refused={len(emu.ws_refused)} disconnects={ws.stats.disconnects} rollovers={ws.stats.rollovers} "
        f"injected gaps={injected_gaps} duplicates={injected_duplicates} stale={len(stale)} gap-detected={len(gaps)} "
        f"books checked={sum(checked.values())} snapshots={len(emu.requests)}"
    )
