"""Property tests: the book keeps its order and content under any updates, and any gap is detected."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from exchanges.book import (
    BinanceFuturesPolicy,
    BinanceSpotPolicy,
    BookDelta,
    BookSnapshot,
    BookState,
    BookSync,
    LocalBook,
    OkxPolicy,
    SequencePolicy,
)

SETTINGS = settings(max_examples=200, deadline=None)
LEVEL_SETTINGS = settings(max_examples=100, deadline=None)  # bigger inputs: fewer examples


def _spell(value: Decimal, decimals: int, trim: bool) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if trim else text


def price_text(low: int, high: int) -> st.SearchStrategy[str]:
    """A price on a 0.25 grid, spelled one of several equivalent ways ("12.5", "12.50", "12.500")."""
    return st.builds(_spell, st.integers(low, high).map(lambda n: Decimal(n) / 4), st.integers(2, 4), st.booleans())


quantity = st.one_of(
    st.sampled_from(["0", "0.0", "0.00000000"]),  # deletions, spelled like the venues do
    st.integers(1, 10**6).map(lambda n: f"{Decimal(n) / 1000}"),
)


def levels(low: int, high: int) -> st.SearchStrategy[list[list[str]]]:
    """A list of raw [price, quantity] levels with prices in [low/4, high/4]."""
    return st.lists(st.tuples(price_text(low, high), quantity).map(list), max_size=12)


def apply_to_model(model: dict[Decimal, str], updates: list[list[str]]) -> None:
    """The obvious reference: absolute quantities keyed by numeric price, zero deletes."""
    for price, qty in updates:
        if Decimal(qty) == 0:
            model.pop(Decimal(price), None)
        else:
            model[Decimal(price)] = qty


def check_sides(book: LocalBook, bids: dict[Decimal, str], asks: dict[Decimal, str]) -> None:
    """Bids strictly descending, asks strictly ascending, same levels and quantities as the model."""
    bid_levels = book.bids.top()
    ask_levels = book.asks.top()
    bid_prices = [Decimal(lv[0]) for lv in bid_levels]
    ask_prices = [Decimal(lv[0]) for lv in ask_levels]
    assert all(a > b for a, b in pairwise(bid_prices))
    assert all(a < b for a, b in pairwise(ask_prices))
    assert {Decimal(p): q for p, q, *_ in bid_levels} == bids
    assert {Decimal(p): q for p, q, *_ in ask_levels} == asks
    for depth in (1, 3):
        assert [Decimal(lv[0]) for lv in book.bids.top(depth)] == bid_prices[:depth]


@LEVEL_SETTINGS
@given(
    snapshot_bids=levels(1, 400),
    snapshot_asks=levels(401, 800),
    updates=st.lists(st.tuples(levels(1, 400), levels(401, 800)), max_size=15),
)
def test_valid_updates_keep_order_and_never_cross(
    snapshot_bids: list[list[str]],
    snapshot_asks: list[list[str]],
    updates: list[tuple[list[list[str]], list[list[str]]]],
) -> None:
    """Bids below and asks above a mid: the book matches the model, stays sorted and is never crossed."""
    book = LocalBook("venue", "X/Y")
    book.reset(BookSnapshot(1, snapshot_bids, snapshot_asks, 1))
    bids: dict[Decimal, str] = {}
    asks: dict[Decimal, str] = {}
    apply_to_model(bids, snapshot_bids)
    apply_to_model(asks, snapshot_asks)
    check_sides(book, bids, asks)
    for bid_updates, ask_updates in updates:
        book.update_levels(bid_updates, ask_updates)
        apply_to_model(bids, bid_updates)
        apply_to_model(asks, ask_updates)
        check_sides(book, bids, asks)
        assert not book.is_crossed


@LEVEL_SETTINGS
@given(updates=st.lists(st.tuples(levels(1, 60), levels(1, 60)), min_size=1, max_size=20))
def test_any_updates_keep_order_and_crossing_is_reported(
    updates: list[tuple[list[list[str]], list[list[str]]]],
) -> None:
    """Even overlapping sides stay sorted and match the model; is_crossed is exactly best bid >= best ask."""
    book = LocalBook("venue", "X/Y")
    book.reset(BookSnapshot(1, [], [], 1))
    bids: dict[Decimal, str] = {}
    asks: dict[Decimal, str] = {}
    for bid_updates, ask_updates in updates:
        book.update_levels(bid_updates, ask_updates)
        apply_to_model(bids, bid_updates)
        apply_to_model(asks, ask_updates)
        check_sides(book, bids, asks)
        assert book.is_crossed == bool(bids and asks and max(bids) >= min(asks))


@st.composite
def event_chain(draw: st.DrawFn, venue: str) -> tuple[int, list[BookDelta]]:
    """A snapshot id and a gap-free chain of deltas that continues it, in the venue's numbering."""
    start = draw(st.integers(1, 10**12))
    last = start
    chain = []
    for i in range(draw(st.integers(2, 25))):
        level = [[f"{100 - i % 7}", str(i + 1)]]
        if venue == "binance-spot":
            first, last_id, prev = last + 1, last + 1 + draw(st.integers(0, 5)), None
        elif venue == "binance-futures":  # ids jump (shared across symbols); pu chains
            first = last + draw(st.integers(1, 10**6))
            last_id, prev = first + draw(st.integers(0, 50)), last
        else:  # okx
            last_id = last + draw(st.integers(1, 1000))
            first, prev = last_id, last
        chain.append(BookDelta(first, last_id, prev, level, [], i))
        last = last_id
    return start, chain


POLICIES: dict[str, Callable[[], SequencePolicy]] = {
    "binance-spot": BinanceSpotPolicy,
    "binance-futures": BinanceFuturesPolicy,
    "okx": OkxPolicy,
}


def synced_book(venue: str, start: int) -> BookSync:
    """A book synced on a snapshot with id ``start`` (taken as if pushed on the stream)."""
    sync = BookSync("venue", "X/Y", POLICIES[venue]())
    assert sync.feed_snapshot(BookSnapshot(start, [["50", "1"]], [["200", "1"]], 0))
    return sync


@SETTINGS
@given(data=st.data(), venue=st.sampled_from(sorted(POLICIES)))
def test_any_missing_delta_is_detected(data: st.DataObject, venue: str) -> None:
    """Removing any delta from a valid chain makes the book stale exactly at the delta after it."""
    start, chain = data.draw(event_chain(venue))
    missing = data.draw(st.integers(0, len(chain) - 2))
    sync = synced_book(venue, start)
    for i, delta in enumerate(chain):
        if i == missing:
            continue
        applied = sync.feed(delta)
        if i < missing:
            assert applied and sync.is_synced
        else:
            assert not applied and sync.state is BookState.STALE
            break
    assert sync.stale_count == 1


@SETTINGS
@given(data=st.data(), venue=st.sampled_from(sorted(POLICIES)))
def test_complete_chain_with_duplicates_stays_synced(data: st.DataObject, venue: str) -> None:
    """A gap-free chain, with any delta delivered twice, is applied without ever going stale."""
    start, chain = data.draw(event_chain(venue))
    repeats = data.draw(st.sets(st.integers(0, len(chain) - 1)))
    sync = synced_book(venue, start)
    for i, delta in enumerate(chain):
        assert sync.feed(delta)
        if i in repeats:
            assert not sync.feed(delta)  # skipped, not applied twice, not a gap
    assert sync.is_synced and sync.stale_count == 0
    assert sync.sequence == chain[-1].last_id
