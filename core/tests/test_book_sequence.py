"""Sequence policies: each venue's bridging and continuity rules, on hand-written frames."""

from __future__ import annotations

import pytest

from exchanges.book import (
    APPLY,
    GAP,
    SKIP,
    BinanceFuturesPolicy,
    BinanceSpotPolicy,
    BookDelta,
    BookSnapshot,
    FullSnapshotPolicy,
    OkxPolicy,
    SequencePolicy,
)


def spot(first: int, last: int) -> BookDelta:
    """A Binance spot depthUpdate (U, u)."""
    return BookDelta(first, last, None, [["1.0", "1"]], [], 1)


def fut(first: int, last: int, prev: int | None) -> BookDelta:
    """A Binance USD-M depthUpdate (U, u, pu)."""
    return BookDelta(first, last, prev, [["1.0", "1"]], [], 1)


def okx(seq: int, prev: int) -> BookDelta:
    """An OKX books update (seqId, prevSeqId)."""
    return BookDelta(seq, seq, prev, [], [], 1)


@pytest.mark.parametrize("policy", [BinanceSpotPolicy(), BinanceFuturesPolicy(), OkxPolicy(), FullSnapshotPolicy()])
def test_policies_satisfy_the_protocol(policy: SequencePolicy) -> None:
    """Every shipped policy is a SequencePolicy with a name."""
    assert isinstance(policy, SequencePolicy) and policy.name


# Binance spot: snapshot lastUpdateId = 100
@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (spot(90, 99), SKIP),  # entirely before the snapshot
        (spot(95, 100), SKIP),  # ends exactly at lastUpdateId: u <= lastUpdateId is dropped
        (spot(101, 105), APPLY),  # U == lastUpdateId + 1 (what the captures show)
        (spot(98, 103), APPLY),  # straddles: U <= lastUpdateId + 1 <= u
        (spot(102, 110), GAP),  # U > lastUpdateId + 1: snapshot too old, fetch again
    ],
)
def test_binance_spot_bridge(delta: BookDelta, verdict: int) -> None:
    """Spot bridging: drop u <= lastUpdateId, then the first event must have U <= lastUpdateId+1 <= u."""
    assert BinanceSpotPolicy().bridge(100, delta) == verdict


@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (spot(106, 110), APPLY),  # U == previous u + 1
        (spot(101, 105), SKIP),  # duplicate of the last event
        (spot(90, 100), SKIP),  # old, out of order
        (spot(104, 108), APPLY),  # overlaps the last event: quantities are absolute
        (spot(107, 110), GAP),  # one update id missing
        (spot(200, 210), GAP),
    ],
)
def test_binance_spot_continuity(delta: BookDelta, verdict: int) -> None:
    """Spot continuity after the last applied u = 105."""
    assert BinanceSpotPolicy().check(105, delta) == verdict


# Binance USD-M: snapshot lastUpdateId = 1000
@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (fut(900, 990, 880), SKIP),  # u < lastUpdateId
        (fut(950, 1000, 940), APPLY),  # u == lastUpdateId is kept (3 of 4 captured symbols)
        (fut(990, 1010, 980), APPLY),  # U <= lastUpdateId <= u
        (fut(1001, 1010, 1000), GAP),  # the spot rule would accept this; futures needs U <= lastUpdateId
    ],
)
def test_binance_futures_bridge(delta: BookDelta, verdict: int) -> None:
    """Futures bridging: drop u < lastUpdateId (strict); the first kept event has U <= lastUpdateId <= u."""
    assert BinanceFuturesPolicy().bridge(1000, delta) == verdict


@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (fut(1500, 1620, 1010), APPLY),  # pu == previous u; U jumps (ids are shared across symbols)
        (fut(1011, 1020, 1005), GAP),  # U == u + 1 but pu disagrees: an event is missing
        (fut(990, 1010, 980), SKIP),  # duplicate of the last event
        (fut(1500, 1620, None), GAP),  # a decoder that forgot pu cannot prove continuity
    ],
)
def test_binance_futures_continuity(delta: BookDelta, verdict: int) -> None:
    """Futures continuity after the last applied u = 1010: pu must equal it."""
    assert BinanceFuturesPolicy().check(1010, delta) == verdict


@pytest.mark.parametrize(
    ("delta", "verdict"),
    [
        (okx(124, 123), APPLY),  # prevSeqId == last seqId
        (okx(123, 123), APPLY),  # no-change heartbeat: seqId == prevSeqId
        (okx(17, 123), APPLY),  # sequence reset after maintenance: seqId < prevSeqId, accepted
        (okx(123, 122), SKIP),  # repeat of the last push
        (okx(126, 125), GAP),  # 124 and 125 missing
        (okx(124, 121), GAP),
    ],
)
def test_okx_continuity(delta: BookDelta, verdict: int) -> None:
    """OKX continuity after the last seqId = 123."""
    assert OkxPolicy().check(123, delta) == verdict
    assert OkxPolicy().bridge(123, delta) == verdict


def test_okx_reset_then_continues_from_new_value() -> None:
    """After a reset the next update chains on the new, lower seqId."""
    policy = OkxPolicy()
    assert policy.check(500, okx(3, 500)) == APPLY
    assert policy.check(3, okx(4, 3)) == APPLY
    assert policy.check(3, okx(501, 500)) == GAP


@pytest.mark.parametrize("policy", [BinanceSpotPolicy(), BinanceFuturesPolicy(), OkxPolicy()])
def test_stream_snapshots_always_reset(policy: SequencePolicy) -> None:
    """For delta venues a snapshot pushed on the stream replaces the book whatever its id."""
    assert policy.accept_snapshot(500, BookSnapshot(3, [], []))
    assert policy.accept_snapshot(None, BookSnapshot(3, [], []))


def test_full_snapshot_policy_keeps_newest() -> None:
    """Hyperliquid: a snapshot older (by time) than the book is ignored; deltas are a usage error."""
    policy = FullSnapshotPolicy()
    assert policy.accept_snapshot(None, BookSnapshot(1_000, [], []))
    assert policy.accept_snapshot(1_000, BookSnapshot(1_500, [], []))
    assert policy.accept_snapshot(1_000, BookSnapshot(1_000, [], []))
    assert not policy.accept_snapshot(1_500, BookSnapshot(1_000, [], []))
    with pytest.raises(TypeError, match="feed_snapshot"):
        policy.check(1, spot(1, 2))


@pytest.mark.parametrize(
    ("policy", "last", "delta", "bridging", "needle"),
    [
        (BinanceSpotPolicy(), 105, spot(107, 110), False, "U=107"),
        (BinanceSpotPolicy(), 100, spot(102, 110), True, "snapshot lastUpdateId=100"),
        (BinanceFuturesPolicy(), 1010, fut(1011, 1020, 1005), False, "pu=1005"),
        (BinanceFuturesPolicy(), 1010, fut(1011, 1020, None), False, "no pu"),
        (BinanceFuturesPolicy(), 1000, fut(1001, 1010, 1000), True, "older than the first event"),
        (OkxPolicy(), 123, okx(126, 125), False, "prevSeqId=125"),
    ],
)
def test_gap_descriptions_name_the_ids(
    policy: SequencePolicy, last: int, delta: BookDelta, bridging: bool, needle: str
) -> None:
    """The reason attached to a stale event says which ids did not line up."""
    assert needle in policy.describe(last, delta, bridging)
