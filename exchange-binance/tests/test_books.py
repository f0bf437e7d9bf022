"""Diff-depth books over real websockets to the loopback Binance: sync, gaps, reconnects, rollovers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from exchange_binance.books import snapshot_from, spot_depth_handler, usdm_depth_handler
from exchange_binance.testing import FakeBinance
from exchanges import OrderBook
from exchanges.book import BinanceFuturesPolicy, BinanceSpotPolicy, BookState, BookSync
from exchanges.testing.emulator import VenueEmulator, wait_until


def matches(book: OrderBook, fake: FakeBinance, raw: str) -> bool:
    """True when ``book`` holds exactly the venue's levels (the whole book)."""
    market = fake.markets[raw]
    return ({lv.price: lv.quantity for lv in book.bids} == market.bids
            and {lv.price: lv.quantity for lv in book.asks} == market.asks)


async def caught_up(stream: AsyncIterator[OrderBook], fake: FakeBinance, raw: str, timeout: float = 5.0) -> OrderBook:
    """The first book whose sequence is the venue's newest update (checked for order on the way)."""

    async def run() -> OrderBook:
        async for book in stream:
            bids = [lv.price for lv in book.bids]
            assert bids == sorted(bids, reverse=True) and not book.is_crossed
            if book.sequence == fake.markets[raw].last_u:
                return book
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(run(), timeout)


def depth_requests(emu: VenueEmulator, fake: FakeBinance, raw: str) -> int:
    return sum(1 for r in emu.requests_for(fake.path("depth")) if r.query.get("symbol") == raw)


PRODUCTS = [pytest.param(False, "BTC/USDT", "BTCUSDT", id="spot"),
            pytest.param(True, "BTC/USDT:PERP", "BTCUSDT", id="usdm")]


@pytest.mark.parametrize(("futures", "symbol", "raw"), PRODUCTS)
async def test_book_syncs_to_the_venue(emu: VenueEmulator, connect: Any, futures: bool, symbol: str, raw: str) -> None:
    """The synced book equals the venue's book whenever it has caught up with the newest update."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        stream = ex.market_data.watch_order_book(symbol)
        for _ in range(3):
            book = await caught_up(stream, fake, raw)
            assert matches(book, fake, raw)
        await stream.aclose()
    subscribe = (await emu.wait_for_session(0)).messages()[0]
    channel = "depth@100ms"
    assert subscribe == {"method": "SUBSCRIBE", "params": [f"{raw.lower()}@{channel}"], "id": subscribe["id"]}
    assert depth_requests(emu, fake, raw) == 1


@pytest.mark.parametrize(("futures", "symbol", "raw"), PRODUCTS)
async def test_gap_resyncs_only_that_book(emu: VenueEmulator, connect: Any, futures: bool, symbol: str,
                                          raw: str) -> None:
    """A missed update marks only its own book stale; it is rebuilt from a fresh snapshot and is right again."""
    fake = FakeBinance(emu, futures=futures).install()
    other = symbol.replace("BTC", "ETH")
    async with connect(fake) as ex:
        btc = ex.market_data.watch_order_book(symbol)
        eth = ex.market_data.watch_order_book(other)
        await caught_up(btc, fake, raw)
        await caught_up(eth, fake, "ETHUSDT")
        fake.skip_depth(raw, 2)
        await wait_until(lambda: ex.books.get(symbol).stale_count == 1)
        book = await caught_up(btc, fake, raw)
        assert matches(book, fake, raw)
        assert ex.books.get(other).stale_count == 0
        await btc.aclose()
        await eth.aclose()
    assert depth_requests(emu, fake, raw) == 2
    assert depth_requests(emu, fake, "ETHUSDT") == 1
    assert len(emu.ws_sessions) == 1  # a gap is not a reason to reconnect


@pytest.mark.parametrize(("futures", "symbol", "raw"), PRODUCTS)
async def test_reconnect_resubscribes_and_resyncs(emu: VenueEmulator, connect: Any, futures: bool, symbol: str,
                                                  raw: str) -> None:
    """A dropped connection comes back, resubscribes every stream and rebuilds the books; nothing stale is served."""
    fake = FakeBinance(emu, futures=futures).install()
    other = symbol.replace("BTC", "ETH")
    async with connect(fake) as ex:
        btc = ex.market_data.watch_order_book(symbol)
        eth = ex.market_data.watch_order_book(other)
        await caught_up(btc, fake, raw)
        await caught_up(eth, fake, "ETHUSDT")
        await emu.ws_sessions[0].drop()
        fake.skip_depth(raw, 3)  # updates the client misses while it is away
        second = await emu.wait_for_session(1)
        await wait_until(lambda: len(second.state.get("streams", ())) == 2)
        assert matches(await caught_up(btc, fake, raw), fake, raw)
        assert matches(await caught_up(eth, fake, "ETHUSDT"), fake, "ETHUSDT")
        await btc.aclose()
        await eth.aclose()
    streams = [s for m in second.messages() if m.get("method") == "SUBSCRIBE" for s in m["params"]]
    assert sorted(streams) == sorted([f"{raw.lower()}@depth@100ms", "ethusdt@depth@100ms"])
    assert depth_requests(emu, fake, raw) == 2 and depth_requests(emu, fake, "ETHUSDT") == 2


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "wrapped"])
@pytest.mark.parametrize(("futures", "symbol", "raw"), PRODUCTS)
async def test_server_shutdown_rolls_over_without_losing_the_book(emu: VenueEmulator, connect: Any, futures: bool,
                                                                  symbol: str, raw: str, wrapped: bool) -> None:
    """serverShutdown opens a new connection; the overlap keeps the book continuous (no new snapshot)."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        stream = ex.market_data.watch_order_book(symbol)
        await caught_up(stream, fake, raw)
        first = emu.ws_sessions[0]
        await fake.shutdown_notice(first, wrapped=wrapped)
        await wait_until(lambda: first.closed and len(emu.ws_sessions) == 2)
        assert matches(await caught_up(stream, fake, raw), fake, raw)
        assert ex.pool.connections[0].stats.rollovers == 1
        await stream.aclose()
    assert depth_requests(emu, fake, raw) == 1


async def test_planned_replacement_before_the_lifetime_ends(spot: FakeBinance, emu: VenueEmulator,
                                                            connect: Any) -> None:
    """A connection older than ws_max_lifetime is replaced by a new one, and the book stays right."""
    async with connect(spot, ws_max_lifetime=0.5) as ex:
        stream = ex.market_data.watch_order_book("BTC/USDT")
        await caught_up(stream, spot, "BTCUSDT")
        await wait_until(lambda: len(emu.ws_sessions) >= 2 and emu.ws_sessions[0].closed, timeout=5)
        assert matches(await caught_up(stream, spot, "BTCUSDT"), spot, "BTCUSDT")
        await stream.aclose()


async def test_snapshot_limit_and_weight(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """The starting snapshot uses book_snapshot_limit and draws its weight from the shared limiter."""
    async with connect(spot, book_snapshot_limit=500, rate_limit_testing=True) as ex:
        before = int(ex.limits.limiter("ip").usage()["weight/60s"])
        stream = ex.market_data.watch_order_book("BTC/USDT", depth=5)
        book = await asyncio.wait_for(stream.__anext__(), 5)
        spent = int(ex.limits.limiter("ip").usage()["weight/60s"]) - before
        await stream.aclose()
    assert [r.query["limit"] for r in emu.requests_for("/api/v3/depth")] == ["500"]
    assert spent == 25 and len(book.bids) == 5


async def test_watchers_share_one_book_and_the_last_one_unsubscribes(spot: FakeBinance, emu: VenueEmulator,
                                                                     connect: Any) -> None:
    """Two watchers of a symbol share one stream and snapshot; when both leave the stream is unsubscribed."""
    async with connect(spot) as ex:
        eth = ex.market_data.watch_order_book("ETH/USDT")
        await caught_up(eth, spot, "ETHUSDT")
        one = ex.market_data.watch_order_book("BTC/USDT", depth=3)
        two = ex.market_data.watch_order_book("BTC/USDT", depth=10)
        first, second = await asyncio.wait_for(asyncio.gather(one.__anext__(), two.__anext__()), 5)
        assert (len(first.bids), len(second.bids)) == (3, 10)
        await one.aclose()
        assert ex.books.get("BTC/USDT") is not None
        await two.aclose()
        assert ex.books.get("BTC/USDT") is None
        session = emu.ws_sessions[0]
        await wait_until(lambda: list(session.state["streams"]) == ["ethusdt@depth@100ms"])
        await eth.aclose()
    assert depth_requests(emu, spot, "BTCUSDT") == 1
    unsubscribe = [m for m in session.messages() if m.get("method") == "UNSUBSCRIBE"]
    assert [m["params"] for m in unsubscribe] == [["btcusdt@depth@100ms"]]
    ids = [m["id"] for m in session.messages()]
    assert len(set(ids)) == len(ids)


async def test_unsubscribe_ends_book_watchers(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """market_data.unsubscribe ends the iterators of the symbol's book and closes the stream."""
    async with connect(spot) as ex:
        stream = ex.market_data.watch_order_book("BTC/USDT")
        await caught_up(stream, spot, "BTCUSDT")
        await ex.market_data.unsubscribe("BTC/USDT", "order_book")
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(stream.__anext__(), 5)
        await wait_until(lambda: emu.ws_sessions[0].closed)


# -- the documented bridging rules, through the handlers that decode Binance events ---------------


def _events(pairs: list[tuple[int, int, int | None]]) -> list[dict[str, Any]]:
    return [{"e": "depthUpdate", "E": 1, "s": "X", "U": U, "u": u, **({"pu": pu} if pu is not None else {}),
             "b": [[f"{99 - i % 3}.0", "1.0"]], "a": [[f"{101 + i % 3}.0", "0"]]} for i, (U, u, pu) in enumerate(pairs)]


@pytest.mark.parametrize(
    ("futures", "events", "synced", "sequence"),
    [
        # spot: drop u <= 100; first kept has U <= 101 <= u; then U == previous u + 1
        (False, [(95, 100, None), (99, 102, None), (103, 105, None)], True, 105),
        (False, [(102, 104, None)], False, None),  # first kept event starts after lastUpdateId + 1: refetch
        # futures: drop u < 100; first kept has U <= 100 <= u (here u == 100 exactly); then pu == previous u
        (True, [(90, 99, 80), (95, 100, 99), (104, 107, 100), (109, 112, 107)], True, 112),
        (True, [(101, 103, 99)], False, None),
    ],
    ids=["spot bridge", "spot too new", "usdm bridge on u == lastUpdateId", "usdm too new"],
)
async def test_bridging_rules(futures: bool, events: list[tuple[int, int, int | None]], synced: bool,
                              sequence: int | None) -> None:
    """Buffered events are bridged onto the snapshot with each product's documented rule."""
    snapshots = [{"lastUpdateId": 100, "bids": [["99.0", "2.0"]], "asks": [["101.0", "2.0"]]}]
    fetches = 0

    async def fetch() -> Any:
        nonlocal fetches
        fetches += 1
        if not snapshots:
            await asyncio.Event().wait()  # no second snapshot: stay unsynced
        return snapshot_from(snapshots.pop())

    policy = BinanceFuturesPolicy() if futures else BinanceSpotPolicy()
    sync = BookSync("binance", "X/Y", policy, fetch_snapshot=fetch, retry_delay=0.001)
    handler = (usdm_depth_handler if futures else spot_depth_handler)(sync)
    for event in _events(events):
        handler(event)
    sync.start()
    if synced:
        await asyncio.wait_for(sync.wait_synced(), 5)
        assert sync.sequence == sequence
        assert sync.order_book().best_bid == Decimal(99)
    else:
        # the snapshot was fetched and bridging onto it failed: the book asks for another one
        await wait_until(lambda: not snapshots and fetches == 2)
        assert not sync.is_synced and sync.state in (BookState.WAITING, BookState.STALE)
    await sync.close()


async def test_usdm_pu_break_is_a_gap() -> None:
    """On USD-M a pu that is not the previous u marks the book stale even though U moved forward."""

    async def fetch() -> Any:
        return snapshot_from({"lastUpdateId": 100, "bids": [["99.0", "2.0"]], "asks": [["101.0", "2.0"]]})

    sync = BookSync("binance-usdm", "X/Y:PERP", BinanceFuturesPolicy(), fetch_snapshot=fetch)
    handler = usdm_depth_handler(sync)
    sync.start()
    await sync.wait_synced()
    for event in _events([(95, 101, 90), (150, 160, 101)]):
        handler(event)
    assert sync.sequence == 160 and sync.stale_count == 0
    handler(_events([(161, 170, 155)])[0])
    assert sync.stale_count == 1
    await sync.close()
