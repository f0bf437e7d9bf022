"""Local L2 order books: snapshot + deltas, per-venue sequence rules, checksum, resync.

Transport-agnostic. A venue plugin decodes each websocket frame into a
:class:`BookDelta` (or a :class:`BookSnapshot` for venues that push full books)
and feeds one :class:`BookSync` per instrument::

    sync = BookSync("binance", "BTC/USDT", BinanceSpotPolicy(),
                    fetch_snapshot=fetch_rest_depth, bus=bus)
    sync.start()                                  # REST snapshot while deltas buffer
    ...
    sync.feed(BookDelta(d["U"], d["u"], None, d["b"], d["a"], d["E"]))   # in the reader
    ...
    async for book in sync.watch(depth=20):       # only synced books, conflated
        print(book.best_bid, book.best_ask)

Modules: :mod:`.levels` (the side structure and the lazy immutable level views),
:mod:`.local` (:class:`LocalBook`; why books handed out are captured top-N views),
:mod:`.sequence` (venue policies), :mod:`.checksum` (OKX CRC32), :mod:`.sync`
(the state machine), :mod:`.messages` (the delta forms).
"""

from .checksum import OKX_CHECKSUM_DEPTH, crc32_signed, okx_checksum, okx_checksum_text
from .levels import BookSide, LevelsView, RawLevel
from .local import LocalBook
from .messages import BookDelta, BookSnapshot
from .sequence import (
    APPLY,
    GAP,
    SKIP,
    BinanceFuturesPolicy,
    BinanceSpotPolicy,
    FullSnapshotPolicy,
    OkxPolicy,
    SequencePolicy,
)
from .sync import BookEvent, BookEventKind, BookState, BookSync, book_events_topic, book_topic

__all__ = [
    "APPLY",
    "GAP",
    "OKX_CHECKSUM_DEPTH",
    "SKIP",
    "BinanceFuturesPolicy",
    "BinanceSpotPolicy",
    "BookDelta",
    "BookEvent",
    "BookEventKind",
    "BookSide",
    "BookSnapshot",
    "BookState",
    "BookSync",
    "FullSnapshotPolicy",
    "LevelsView",
    "LocalBook",
    "OkxPolicy",
    "RawLevel",
    "SequencePolicy",
    "book_events_topic",
    "book_topic",
    "crc32_signed",
    "okx_checksum",
    "okx_checksum_text",
]
