"""LocalBook: the two sides of one instrument's book, and the books handed to consumers.

What a consumer gets (:meth:`LocalBook.order_book`, and every book
:class:`~exchanges.book.sync.BookSync` publishes) is a plain
:class:`~exchanges.models.OrderBook` whose ``bids``/``asks`` are
:class:`~exchanges.book.levels.LevelsView` objects. The choice:

- **Captured at publish time, only to the requested depth.** Publishing copies
  the best ``depth`` raw levels (references to the venue's own ``[price, qty]``
  objects, never mutated) into a new list: a slice plus one dict lookup per
  level, well under 1 µs per side for 20 levels. The engine keeps mutating
  its own structures; the captured list is never touched again, so a consumer
  that holds an old book (across awaits, in a list, forever) never sees it
  change, and reading it never fails.
- **Materialized lazily.** A level becomes an ``OrderBookLevel`` (two
  ``Decimal`` parses) the first time it is read, and is cached in the view and,
  keyed by the raw object, in the side: consecutive books share their
  unchanged levels, so iterating the top 20 of each update mostly re-uses
  objects. ``book.best_bid`` builds one level, not the whole side.

Alternatives measured and rejected (``bench/book_bench.py``): building a full
``OrderBook`` of ``OrderBookLevel`` per update (1000 levels per side: ~1.6 ms
per update); views over the live structures with a version counter that raise
when read after the book moved on (no copy at publish, but a consumer that
awaits anything between receiving and reading gets an error); copy-on-write of
views at the next mutation (saves nothing: with an awaiting consumer the
previous book is still referenced by its loop variable when the next update
lands, so the copy is always made, only later). ``depth=None`` (the whole book)
is supported and still immutable, but copies every level per published update
(~80 µs more than depth 20 for 1000 levels): ask for the depth you need.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

from ..models import OrderBook
from .levels import BookSide, RawLevel
from .messages import BookDelta, BookSnapshot

__all__ = ["LocalBook"]


class LocalBook:
    """The local L2 book of one instrument: sides, sequence, venue timestamp.

    It applies levels; it does not judge sequence numbers (that is
    :class:`~exchanges.book.sync.BookSync` with a
    :mod:`~exchanges.book.sequence` policy). ``count_index`` is where the number
    of orders sits in a raw level (OKX ``[px, sz, "0", n]`` -> 3), None when the
    venue gives none.
    """

    __slots__ = ("asks", "bids", "count_index", "exchange", "sequence", "symbol", "timestamp")

    def __init__(self, exchange: str, symbol: str, *, count_index: int | None = None) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.count_index = count_index
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.sequence: int | None = None
        self.timestamp: int = 0

    def reset(self, snapshot: BookSnapshot) -> None:
        """Replace the whole book with ``snapshot``."""
        self.bids.replace(snapshot.bids)
        self.asks.replace(snapshot.asks)
        self.sequence = snapshot.sequence
        self.timestamp = snapshot.timestamp if snapshot.timestamp is not None else time.time_ns() // 1_000_000

    def apply(self, delta: BookDelta) -> None:
        """Apply the levels of ``delta`` (absolute quantities, zero deletes) and take its id and time."""
        _, last_id, _, bids, asks, timestamp, _ = delta
        if bids:
            self.bids.update(bids)
        if asks:
            self.asks.update(asks)
        self.sequence = last_id
        self.timestamp = timestamp

    def update_levels(self, bids: Sequence[RawLevel], asks: Sequence[RawLevel]) -> None:
        """Apply raw levels without touching sequence or time (tests, simulators)."""
        self.bids.update(bids)
        self.asks.update(asks)

    def clear(self) -> None:
        """Forget every level (a stale book must not be read by mistake)."""
        self.bids.replace(())
        self.asks.replace(())
        self.sequence = None

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask."""
        bid = self.bids._keys
        ask = self.asks._keys
        # both lists end with their live best level; ask keys are -price
        return bool(bid) and bool(ask) and bid[-1] >= -ask[-1]

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price."""
        best = self.bids.best()
        return None if best is None else Decimal(best[0])

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price."""
        best = self.asks.best()
        return None if best is None else Decimal(best[0])

    def order_book(self, depth: int | None = None) -> OrderBook:
        """An immutable :class:`OrderBook` of the best ``depth`` levels per side (all when None)."""
        count_index = self.count_index
        return OrderBook(
            self.symbol,
            self.exchange,
            self.timestamp,
            self.bids.view(depth, count_index),
            self.asks.view(depth, count_index),
            self.sequence,
        )

    def __repr__(self) -> str:
        return (
            f"LocalBook({self.exchange}:{self.symbol}, seq={self.sequence}, "
            f"{len(self.bids)} bids, {len(self.asks)} asks)"
        )
