"""The book side structure, LocalBook and the immutable level views handed to consumers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.book import BookDelta, BookSide, BookSnapshot, LevelsView, LocalBook
from exchanges.models import OrderBook, OrderBookLevel


def _prices(side: BookSide) -> list[str]:
    return side.prices()


def _book(bids: list[list[str]], asks: list[list[str]], sequence: int = 10) -> LocalBook:
    book = LocalBook("venue", "BTC/USDT")
    book.reset(BookSnapshot(sequence, bids, asks, 1_700_000_000_000))
    return book


SNAP_BIDS = [["100.0", "1"], ["99.5", "2"], ["99.0", "3"], ["98.0", "4"]]
SNAP_ASKS = [["101.0", "1"], ["101.5", "2"], ["102.0", "3"], ["103.0", "4"]]


def test_snapshot_orders_each_side_best_first() -> None:
    """A snapshot given in any order is stored bids high to low and asks low to high."""
    book = _book(list(reversed(SNAP_BIDS)), [SNAP_ASKS[2], SNAP_ASKS[0], SNAP_ASKS[3], SNAP_ASKS[1]])
    assert _prices(book.bids) == ["100.0", "99.5", "99.0", "98.0"]
    assert _prices(book.asks) == ["101.0", "101.5", "102.0", "103.0"]
    assert book.best_bid == Decimal("100.0") and book.best_ask == Decimal("101.0")
    assert (book.sequence, book.timestamp) == (10, 1_700_000_000_000)


def test_snapshot_ignores_zero_levels_and_keeps_last_duplicate() -> None:
    """Zero quantities in a snapshot are not levels; a price given twice keeps the later quantity."""
    book = _book([["100", "1"], ["99", "0.000"], ["100.0", "7"]], [["101", "2"]])
    assert book.bids.top() == [["100.0", "7"]]


@pytest.mark.parametrize(
    ("bids", "expected"),
    [
        ([["99.7", "5"]], ["100.0", "99.7", "99.5", "99.0", "98.0"]),  # insert inside
        ([["100.2", "5"]], ["100.2", "100.0", "99.5", "99.0", "98.0"]),  # new best
        ([["97", "5"]], ["100.0", "99.5", "99.0", "98.0", "97"]),  # new worst
        ([["99.5", "0.00000000"]], ["100.0", "99.0", "98.0"]),  # delete inside
        ([["100.0", "0"]], ["99.5", "99.0", "98.0"]),  # delete best
        ([["42", "0"]], ["100.0", "99.5", "99.0", "98.0"]),  # delete an absent level: no-op
        ([["99.5", "0"], ["99.5", "8"]], ["100.0", "99.5", "99.0", "98.0"]),  # delete then re-add
    ],
)
def test_bid_updates_keep_order(bids: list[list[str]], expected: list[str]) -> None:
    """Inserts, deletes and re-adds keep the bid side strictly descending."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    book.update_levels(bids, [])
    assert _prices(book.bids) == expected
    assert len(book.bids) == len(expected)


def test_ask_updates_keep_order_and_quantities() -> None:
    """Asks stay ascending and each level carries the quantity of its last update."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    book.update_levels([], [["101.5", "9"], ["100.5", "1"], ["103.0", "0"], ["104", "2"]])
    assert book.asks.top() == [["100.5", "1"], ["101.0", "1"], ["101.5", "9"], ["102.0", "3"], ["104", "2"]]


def test_same_price_spelled_differently_is_one_level() -> None:
    """Prices "100", "100.0" and "100.00" address the same level (update and delete)."""
    book = _book([["100.00", "1"], ["99", "1"]], [["101", "1"]])
    book.update_levels([["100", "5"]], [])
    assert book.bids.top() == [["100", "5"], ["99", "1"]]
    book.update_levels([["100.0", "0"]], [])
    assert book.bids.top() == [["99", "1"]]


def test_many_deletes_compact_and_stay_correct() -> None:
    """Deleting and re-adding thousands of levels leaves exactly the live levels in order."""
    side = BookSide(is_bid=False)
    side.replace([[f"{1000 + i}", "1"] for i in range(500)])
    for i in range(0, 500, 2):
        side.update([[f"{1000 + i}", "0"]])
    side.update([[f"{1000 + i}", "3"] for i in range(0, 100, 2)])
    expected = sorted([1000 + i for i in range(1, 500, 2)] + [1000 + i for i in range(0, 100, 2)])
    assert [int(p) for p in side.prices()] == expected
    assert len(side) == len(expected)
    assert len(side._ps) <= 2 * len(side) + 64  # tombstones were compacted away


@pytest.mark.parametrize("read_between", [False, True])
def test_long_runs_of_deletes_and_re_adds(read_between: bool) -> None:
    """Thousands of deletes and re-adds, read after each batch or never, leave exactly the live levels."""
    side = BookSide(is_bid=True)
    side.replace([[f"{5000 - i}.5", "1"] for i in range(2000)])
    live = {5000 - i for i in range(2000)}
    for batch in range(30):
        updates = []
        for i in range(batch, 2000, 3):
            price = 5000 - i
            if price in live:
                live.discard(price)
                updates.append([f"{price}.5", "0"])
            elif batch % 2:
                live.add(price)
                updates.append([f"{price}.50", "2"])
        side.update(updates)
        if read_between:
            assert [float(lv[0]) for lv in side.top(10)] == [p + 0.5 for p in sorted(live, reverse=True)[:10]]
    assert [float(p) for p in side.prices()] == [p + 0.5 for p in sorted(live, reverse=True)]
    assert len(side._ps) == len(side) == len(live)  # a full read drops every tombstone


def test_top_skips_deleted_levels_just_below_the_best() -> None:
    """The best N levels never include a level that was deleted."""
    side = BookSide(is_bid=True)
    side.replace([[str(100 - i), "1"] for i in range(50)])
    side.update([[str(100 - i), "0"] for i in range(1, 20, 2)])
    assert [lv[0] for lv in side.top(5)] == ["100", "98", "96", "94", "92"]
    assert side.best() == ["100", "1"]


def test_long_prices_switch_to_exact_keys() -> None:
    """Prices with more than 15 significant digits are ordered exactly (they collide as floats)."""
    side = BookSide(is_bid=False)
    side.replace([["1.0000000000000001", "1"], ["1.0000000000000003", "1"]])
    side.update([["1.0000000000000002", "1"], ["1.00000000000000025", "2"]])
    assert side.prices() == ["1.0000000000000001", "1.0000000000000002", "1.00000000000000025", "1.0000000000000003"]
    side.update([["1.0000000000000002", "0"]])
    assert len(side) == 3
    assert [lv[0] for lv in side.top(2)] == ["1.0000000000000001", "1.00000000000000025"]


def test_exact_keys_also_after_updates_on_a_float_keyed_side() -> None:
    """A long price arriving in an update re-keys the side without losing levels."""
    side = BookSide(is_bid=True)
    side.replace([["2", "1"], ["1", "1"]])
    side.update([["1.00000000000000001", "4"], ["1.5", "1"]])
    assert side.prices() == ["2", "1.5", "1.00000000000000001", "1"]


@pytest.mark.parametrize("price", ["nan", "inf", "-Infinity", "abc"])
def test_non_finite_or_bad_price_is_rejected(price: str) -> None:
    """A price that is not a finite number raises instead of corrupting the order."""
    side = BookSide(is_bid=True)
    side.replace([["1", "1"]])
    with pytest.raises(ValueError):
        side.update([[price, "1"]])


def test_bad_snapshot_leaves_the_side_untouched() -> None:
    """A snapshot with a non-numeric price raises before replacing anything."""
    side = BookSide(is_bid=True)
    side.replace([["2", "1"], ["1", "1"]])
    with pytest.raises(ValueError):
        side.replace([["3", "1"], ["x", "1"]])
    assert side.prices() == ["2", "1"]


def test_crossed_detection() -> None:
    """is_crossed is true exactly when the best bid reaches the best ask."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    assert not book.is_crossed
    book.update_levels([["101.0", "1"]], [])
    assert book.is_crossed
    book.update_levels([["101.0", "0"]], [["101.0", "0"]])
    assert not book.is_crossed
    book.update_levels([["101.5", "1"]], [])
    assert book.is_crossed


def test_apply_takes_sequence_and_time() -> None:
    """apply() sets the levels, the sequence (last_id) and the venue time of the delta."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    book.apply(BookDelta(11, 15, None, [["100.0", "0"]], [["101.0", "5"]], 1_700_000_000_500))
    assert (book.sequence, book.timestamp) == (15, 1_700_000_000_500)
    assert book.best_bid == Decimal("99.5")
    assert book.asks.best() == ["101.0", "5"]


def test_order_book_is_a_model_with_lazy_levels() -> None:
    """order_book(depth) is an OrderBook whose sides are views of Decimal levels, depth-limited."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    ob = book.order_book(2)
    assert isinstance(ob, OrderBook) and isinstance(ob.bids, LevelsView)
    assert ob.bids._built == []  # nothing parsed until read
    assert ob.best_bid == Decimal("100.0")
    assert len(ob.bids._built) == 1
    assert list(ob.asks) == [
        OrderBookLevel(Decimal("101.0"), Decimal("1")),
        OrderBookLevel(Decimal("101.5"), Decimal("2")),
    ]
    assert ob.spread == Decimal("1.0") and ob.sequence == 10 and ob.symbol == "BTC/USDT"
    assert len(book.order_book().bids) == 4


def test_published_book_never_mutates() -> None:
    """A book handed out keeps its levels after the local book changes, read before or after."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    read_early = book.order_book(3)
    assert read_early.bids[0].quantity == Decimal("1")
    unread = book.order_book(3)
    full = book.order_book()
    book.update_levels([["100.0", "0"], ["99.5", "9"], ["100.7", "1"]], [["101.0", "0"]])
    for ob in (read_early, unread):
        assert [(lv.price, lv.quantity) for lv in ob.bids] == [
            (Decimal("100.0"), Decimal("1")),
            (Decimal("99.5"), Decimal("2")),
            (Decimal("99.0"), Decimal("3")),
        ]
        assert ob.best_ask == Decimal("101.0")
    assert len(full.bids) == 4 and full.bids[-1].price == Decimal("98.0")
    assert book.order_book(1).best_bid == Decimal("100.7")


def test_levels_are_reused_only_for_the_same_raw_level() -> None:
    """A level unchanged between two books is the same object; a changed quantity at that price is not."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    first = book.order_book(2)
    assert book.order_book(2).bids[0] is first.bids[0]
    book.update_levels([["100.0", "5"]], [])
    second = book.order_book(2)
    assert second.bids[0].quantity == Decimal("5") and first.bids[0].quantity == Decimal("1")
    assert second.bids[1] is first.bids[1]


def test_view_indexing_slicing_and_equality() -> None:
    """Views support negative indexes, slices, equality with tuples and hashing of the book."""
    raw: list[list[str]] = [["3", "1", "0", "4"], ["2", "2", "0", "5"], ["1", "3", "0", "6"]]
    view = LevelsView(raw, count_index=3)
    assert view[-1] == OrderBookLevel(Decimal("1"), Decimal("3"), 6)
    assert view[::-1][0].price == Decimal("1")
    assert view[1:] == (OrderBookLevel(Decimal("2"), Decimal("2"), 5), OrderBookLevel(Decimal("1"), Decimal("3"), 6))
    assert view == tuple(view) and view == LevelsView([list(r) for r in raw], count_index=3)
    with pytest.raises(IndexError):
        view[3]
    ob = OrderBook("X/Y", "venue", 1, view, LevelsView([]))
    assert hash(ob) == hash(OrderBook("X/Y", "venue", 1, LevelsView(raw, 3), LevelsView([])))
    assert "LevelsView" in repr(view) and view.raw[0] == ["3", "1", "0", "4"]


def test_clear_forgets_levels() -> None:
    """clear() empties both sides and the sequence."""
    book = _book(SNAP_BIDS, SNAP_ASKS)
    book.clear()
    assert (len(book.bids), len(book.asks), book.sequence, book.best_bid) == (0, 0, None, None)
