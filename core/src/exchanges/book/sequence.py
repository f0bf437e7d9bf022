"""Sequence policies: how each venue proves that no update was missed.

A policy answers two questions with :data:`APPLY`, :data:`SKIP` or :data:`GAP`:

- :meth:`SequencePolicy.bridge` — is this buffered/live delta the one that
  continues a snapshot fetched out of band (REST), given the snapshot's id?
- :meth:`SequencePolicy.check` — does this delta continue the last applied one?

and one about snapshots pushed on the stream (:meth:`~SequencePolicy.accept_snapshot`).
Verdicts are small ints because they are compared once per frame.

Rules (``docs/venues`` sections 1.8, 2.7, 3.7, 4.9; the Binance ones verified on
captures):

============================  =====================================  ====================================
policy                        bridging a fetched snapshot ``S``      afterwards (last applied id ``L``)
============================  =====================================  ====================================
:class:`BinanceSpotPolicy`    skip ``u <= S``; apply if              skip ``u <= L``; gap if ``U > L+1``;
                              ``U <= S+1 <= u``; else gap            else apply (normally ``U == L+1``)
:class:`BinanceFuturesPolicy` skip ``u < S``; apply if               apply if ``pu == L``; skip a
                              ``U <= S <= u``; else gap              duplicate (``u <= L``); else gap
:class:`OkxPolicy`            (snapshots come on the stream)         apply if ``prevSeqId == L`` (covers
                                                                     heartbeats ``seqId == prevSeqId``
                                                                     and resets ``seqId < prevSeqId``);
                                                                     skip a repeat of ``L``; else gap
:class:`FullSnapshotPolicy`   every message is a snapshot; an older one (by ``time``) is ignored
============================  =====================================  ====================================
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from .messages import BookDelta, BookSnapshot

__all__ = [
    "APPLY",
    "GAP",
    "SKIP",
    "BinanceFuturesPolicy",
    "BinanceSpotPolicy",
    "FullSnapshotPolicy",
    "OkxPolicy",
    "SequencePolicy",
]

APPLY: Final = 0
"""The delta continues the book: apply it."""
SKIP: Final = 1
"""The delta is already contained in the book (older or duplicate): drop it."""
GAP: Final = 2
"""Updates are missing between the book and this delta: the book must be rebuilt."""


@runtime_checkable
class SequencePolicy(Protocol):
    """How one venue's book stream proves continuity."""

    name: str

    def bridge(self, snapshot_id: int, delta: BookDelta) -> int:
        """Verdict for a delta while no delta has been applied on top of a fetched snapshot."""
        ...

    def check(self, last_id: int, delta: BookDelta) -> int:
        """Verdict for a delta following the last applied one (``last_id`` is its ``last_id``)."""
        ...

    def accept_snapshot(self, current: int | None, snapshot: BookSnapshot) -> bool:
        """Whether a snapshot pushed on the stream replaces the book (``current``: its sequence or None)."""
        ...

    def describe(self, last_id: int, delta: BookDelta, bridging: bool) -> str:
        """A human-readable reason for a GAP verdict (used in stale events and logs)."""
        ...


class _StreamSnapshots:
    """Snapshots pushed on the stream always replace the book (a new snapshot resets)."""

    __slots__ = ()

    def accept_snapshot(self, current: int | None, snapshot: BookSnapshot) -> bool:
        """Always True."""
        return True


class BinanceSpotPolicy(_StreamSnapshots):
    """Binance spot ``@depth``: ``U``/``u`` continuity, ``U == previous u + 1``."""

    __slots__ = ()
    name = "binance-spot"

    def bridge(self, snapshot_id: int, delta: BookDelta) -> int:
        """Drop ``u <= lastUpdateId``; the first kept event must have ``U <= lastUpdateId + 1``."""
        if delta.last_id <= snapshot_id:
            return SKIP
        return APPLY if delta.first_id <= snapshot_id + 1 else GAP

    def check(self, last_id: int, delta: BookDelta) -> int:
        """Skip ``u <= L``; ``U > L + 1`` means events were missed."""
        if delta.last_id <= last_id:
            return SKIP
        return APPLY if delta.first_id <= last_id + 1 else GAP

    def describe(self, last_id: int, delta: BookDelta, bridging: bool) -> str:
        """Explain a gap."""
        what = "snapshot lastUpdateId" if bridging else "last u"
        return f"gap: {what}={last_id}, next event U={delta.first_id} u={delta.last_id} (expected U <= {last_id + 1})"


class BinanceFuturesPolicy(_StreamSnapshots):
    """Binance USD-M / COIN-M ``@depth``: bridge on ``U <= lastUpdateId <= u``, then ``pu == previous u``."""

    __slots__ = ()
    name = "binance-futures"

    def bridge(self, snapshot_id: int, delta: BookDelta) -> int:
        """Drop ``u < lastUpdateId`` (strict); the first kept event must have ``U <= lastUpdateId``."""
        if delta.last_id < snapshot_id:
            return SKIP
        return APPLY if delta.first_id <= snapshot_id else GAP

    def check(self, last_id: int, delta: BookDelta) -> int:
        """``pu`` must equal the previous ``u`` (ids jump across symbols, so ``U`` says nothing)."""
        if delta.prev_id == last_id:
            return APPLY
        return SKIP if delta.last_id <= last_id else GAP

    def describe(self, last_id: int, delta: BookDelta, bridging: bool) -> str:
        """Explain a gap."""
        if bridging:
            return f"gap: snapshot lastUpdateId={last_id} is older than the first event U={delta.first_id}"
        if delta.prev_id is None:
            return "gap: the delta carries no pu (prev_id); the futures policy needs it"
        return f"gap: last u={last_id}, next event pu={delta.prev_id} u={delta.last_id}"


class OkxPolicy(_StreamSnapshots):
    """OKX ``books`` / ``books-l2-tbt``: ``prevSeqId == previous seqId``; snapshots come on the stream."""

    __slots__ = ()
    name = "okx"

    def bridge(self, snapshot_id: int, delta: BookDelta) -> int:
        """Same rule as :meth:`check` (an OKX snapshot carries a ``seqId`` like any push)."""
        return self.check(snapshot_id, delta)

    def check(self, last_id: int, delta: BookDelta) -> int:
        """Apply ``prevSeqId == L``; skip a repeat of the last push; anything else is a gap."""
        if delta.prev_id == last_id:
            return APPLY
        if delta.last_id == last_id:
            return SKIP
        return GAP

    def describe(self, last_id: int, delta: BookDelta, bridging: bool) -> str:
        """Explain a gap."""
        return f"gap: last seqId={last_id}, next prevSeqId={delta.prev_id} seqId={delta.last_id}"


class FullSnapshotPolicy:
    """Every message is a full book (Hyperliquid ``l2Book``, Binance ``@depth20``); sequence = venue time or id.

    A snapshot older than the book it would replace is ignored. Deltas make no
    sense here: feeding one is a programming error.
    """

    __slots__ = ()
    name = "full-snapshot"

    def bridge(self, snapshot_id: int, delta: BookDelta) -> int:
        """Deltas are not part of this stream."""
        raise TypeError("this venue sends full snapshots only: use BookSync.feed_snapshot")

    def check(self, last_id: int, delta: BookDelta) -> int:
        """Deltas are not part of this stream."""
        raise TypeError("this venue sends full snapshots only: use BookSync.feed_snapshot")

    def accept_snapshot(self, current: int | None, snapshot: BookSnapshot) -> bool:
        """Keep the newest: a snapshot with a lower sequence (time) than the book is out of order."""
        return current is None or snapshot.sequence >= current

    def describe(self, last_id: int, delta: BookDelta, bridging: bool) -> str:
        """Not reachable (no deltas)."""
        return "deltas are not part of a full-snapshot stream"
