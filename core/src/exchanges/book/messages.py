"""The light forms a venue plugin decodes book frames into.

Named tuples, not attrs classes: one is built per websocket frame, and a tuple
is the cheapest object CPython can make. Levels are kept as the venue sent them
(``[price, quantity, ...]`` with string prices and quantities): no ``Decimal``
parsing happens on the hot path (see :mod:`exchanges.book.levels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["BookDelta", "BookSnapshot"]


class BookDelta(NamedTuple):
    """One incremental update of a book, in the venue's own sequence numbers.

    ============  ==================  ==========================  ====================
    field         Binance spot        Binance USD-M               OKX ``books``
    ============  ==================  ==========================  ====================
    first_id      ``U``               ``U``                       ``seqId``
    last_id       ``u``               ``u``                       ``seqId``
    prev_id       ``None``            ``pu``                      ``prevSeqId``
    timestamp     ``E``               ``E`` (or ``T``)            ``int(ts)``
    checksum      ``None``            ``None``                    ``checksum`` (0 = off)
    ============  ==================  ==========================  ====================

    ``bids``/``asks`` are sequences of raw levels ``[price, quantity, ...]``
    (strings exactly as received; a zero quantity deletes). ``last_id`` becomes
    the book's ``sequence`` once applied.
    """

    first_id: int
    last_id: int
    prev_id: int | None
    bids: Sequence[Sequence[Any]]
    asks: Sequence[Sequence[Any]]
    timestamp: int
    checksum: int | None = None


class BookSnapshot(NamedTuple):
    """A full book: a REST depth response, an OKX ``snapshot`` push, a Hyperliquid ``l2Book``.

    ``sequence`` is Binance ``lastUpdateId``, OKX ``seqId``, Hyperliquid ``time``.
    ``timestamp`` (epoch ms) may be None when the venue gives none (Binance spot
    REST depth); the receive time is used then. Levels may come in any order.
    """

    sequence: int
    bids: Sequence[Sequence[Any]]
    asks: Sequence[Sequence[Any]]
    timestamp: int | None = None
    checksum: int | None = None
