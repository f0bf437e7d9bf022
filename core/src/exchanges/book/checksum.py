"""Book checksums: OKX style CRC32 over the top levels.

OKX (``books`` channel, docs before 2026-06-23; the field is now always 0 and
the check switches itself on only when a non-zero checksum arrives):

1. apply the push to the local book first;
2. take the best 25 bids (highest first) and the best 25 asks (lowest first);
3. interleave by rank: ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...``; when one side
   runs out, its ranks are skipped and the other side continues;
4. CRC32 (IEEE, ``zlib.crc32``) of that text, read as a **signed** 32-bit int.

Prices and sizes are the strings exactly as received (``"30261"``, never
``"30261.0"``): the engine keeps the venue's strings for this reason.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from .local import LocalBook

__all__ = ["OKX_CHECKSUM_DEPTH", "crc32_signed", "okx_checksum", "okx_checksum_text"]

OKX_CHECKSUM_DEPTH = 25


def crc32_signed(text: str) -> int:
    """CRC32 (IEEE) of ``text`` as a signed 32-bit integer, like Java's ``int``."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def okx_checksum_text(
    bids: Sequence[Sequence[Any]], asks: Sequence[Sequence[Any]], depth: int = OKX_CHECKSUM_DEPTH
) -> str:
    """The string OKX checksums: best-first raw levels interleaved by rank, ``:``-joined."""
    parts: list[str] = []
    for i in range(depth):
        if i < len(bids):
            parts.append(bids[i][0])
            parts.append(bids[i][1])
        if i < len(asks):
            parts.append(asks[i][0])
            parts.append(asks[i][1])
    return ":".join(parts)


def okx_checksum(book: LocalBook) -> int:
    """The OKX checksum of ``book`` as it stands (compare with the push's ``checksum``)."""
    text = okx_checksum_text(book.bids.top(OKX_CHECKSUM_DEPTH), book.asks.top(OKX_CHECKSUM_DEPTH))
    return crc32_signed(text)
