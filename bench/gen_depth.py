"""Deterministic Binance-spot-style depth input for the order book benchmark.

Produces a REST depth snapshot (``{"lastUpdateId", "bids", "asks"}``, 1000
levels per side) and a stream of ``depthUpdate`` diff frames
(``{"e","E","s","U","u","b","a"}``) as JSON text, the way the venue sends them:
prices and quantities are 8-decimal padded strings, a quantity of
``"0.00000000"`` deletes a level, ``U`` is the previous ``u + 1``.

The generator keeps its own model of the book so every frame is valid: a
deletion removes a level that exists, an insertion never crosses the book, and
after all frames :attr:`DepthScenario.final_bids` / ``final_asks`` hold the
book a correct engine must end up with (the benchmark checks it).

Changes cluster near the top of the book (exponential distance from the best
level) with a tail reaching deep levels, like real diffs. Same seed, same bytes.

Usage: ``python bench/gen_depth.py --frames 20000 --out /tmp/depth`` writes
``snapshot.json`` and ``frames.jsonl``; the benchmark imports :func:`generate`.
"""

from __future__ import annotations

import argparse
import json
import random
from decimal import Decimal
from pathlib import Path

import attrs
from sortedcontainers import SortedDict

__all__ = ["DepthScenario", "generate"]

_SCALE = 10**8  # prices and quantities carry 8 decimals, like Binance spot


def _fmt(units: int) -> str:
    return f"{units // _SCALE}.{units % _SCALE:08d}"


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


@attrs.frozen
class DepthScenario:
    """One generated run: snapshot text, frame texts and the expected final book."""

    snapshot_text: str
    frames: tuple[str, ...]
    final_bids: tuple[tuple[str, str], ...]  # best first
    final_asks: tuple[tuple[str, str], ...]
    level_changes: int
    deletions: int
    insertions: int


class _Model:
    """The generator's own book: price ticks -> quantity units, plus sorted tick lists."""

    def __init__(self, rng: random.Random, levels: int, mid: int, tick: int) -> None:
        self.rng = rng
        self.tick = tick
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        price = mid - tick
        while len(self.bids) < levels:
            if rng.random() < 0.85:  # leave some empty ticks so inserts have room
                self.bids[price] = self._qty()
            price -= tick
        price = mid + tick
        while len(self.asks) < levels:
            if rng.random() < 0.85:
                self.asks[price] = self._qty()
            price += tick

    def _qty(self) -> int:
        # 1 to 6 significant decimals, like real sizes ("0.00130000", "12.50000000")
        digits = self.rng.randint(1, 6)
        return self.rng.randint(1, 10**digits) * 10 ** (8 - digits) * self.rng.choice((1, 1, 1, 10, 100))

    def _nth_best(self, side: SortedDict, is_bid: bool, spread: int) -> int:
        index = min(int(self.rng.expovariate(1 / spread)), len(side) - 1)
        return side.keys()[-1 - index if is_bid else index]  # type: ignore[no-any-return]

    def change(self, delete_ratio: float) -> tuple[bool, int, int, bool]:
        """One level change: (is_bid, price ticks, new quantity units (0 = delete), level existed)."""
        is_bid = self.rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        roll = self.rng.random()
        spread = 30 if self.rng.random() < 0.9 else 600  # mostly near the top, some deep
        if roll < delete_ratio and len(side) > 1:
            price = self._nth_best(side, is_bid, spread)
            del side[price]
            return is_bid, price, 0, True
        if roll < 1 - delete_ratio:  # update an existing level
            price = self._nth_best(side, is_bid, spread)
            qty = self._qty()
            side[price] = qty
            return is_bid, price, qty, True
        # insert a new level on an empty tick that does not cross the other side
        best_bid, best_ask = self.bids.keys()[-1], self.asks.keys()[0]
        for _ in range(50):
            distance = int(self.rng.expovariate(1 / spread)) * self.tick
            price = (best_ask - self.tick - distance) if is_bid else (best_bid + self.tick + distance)
            if is_bid and price < best_ask and price not in side:
                break
            if not is_bid and price > best_bid and price not in side:
                break
        else:
            price = (side.keys()[0] - self.tick) if is_bid else (side.keys()[-1] + self.tick)
        qty = self._qty()
        side[price] = qty
        return is_bid, price, qty, False


def generate(
    *,
    seed: int = 7,
    levels: int = 1000,
    frames: int = 20_000,
    changes_per_frame: int = 10,
    delete_ratio: float = 0.24,
    symbol: str = "BTCUSDT",
    mid: str = "30000.00",
    tick: str = "0.01",
) -> DepthScenario:
    """Generate a snapshot and ``frames`` diff frames; deterministic for a given seed."""
    rng = random.Random(seed)
    tick_units = int(Decimal(tick) * _SCALE)
    mid_units = int(Decimal(mid) * _SCALE)
    model = _Model(rng, levels, mid_units, tick_units)
    last_update_id = 4_000_000_000
    snapshot = {
        "lastUpdateId": last_update_id,
        "bids": [[_fmt(p), _fmt(model.bids[p])] for p in sorted(model.bids, reverse=True)],
        "asks": [[_fmt(p), _fmt(model.asks[p])] for p in sorted(model.asks)],
    }
    texts: list[str] = []
    event_time = 1_700_000_000_000
    total = deletions = insertions = 0
    u = last_update_id
    for _ in range(frames):
        count = max(1, changes_per_frame + rng.randint(-3, 3))
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        existed: dict[tuple[bool, int], bool] = {}
        for _ in range(count):
            is_bid, price, qty, was_there = model.change(delete_ratio)
            (bids if is_bid else asks)[price] = qty
            existed.setdefault((is_bid, price), was_there)
        for (is_bid, price), was_there in existed.items():
            qty = (bids if is_bid else asks)[price]
            deletions += qty == 0
            insertions += qty != 0 and not was_there
        total += len(existed)
        first = u + 1
        u = first + rng.randint(len(bids) + len(asks) - 1, 3 * count)
        event_time += rng.randint(90, 110)
        frame = {
            "e": "depthUpdate",
            "E": event_time,
            "s": symbol,
            "U": first,
            "u": u,
            "b": [[_fmt(p), _fmt(bids[p])] for p in sorted(bids, reverse=True)],
            "a": [[_fmt(p), _fmt(asks[p])] for p in sorted(asks)],
        }
        texts.append(_dumps(frame))
    return DepthScenario(
        snapshot_text=_dumps(snapshot),
        frames=tuple(texts),
        final_bids=tuple((_fmt(p), _fmt(model.bids[p])) for p in sorted(model.bids, reverse=True)),
        final_asks=tuple((_fmt(p), _fmt(model.asks[p])) for p in sorted(model.asks)),
        level_changes=total,
        deletions=deletions,
        insertions=insertions,
    )


def main() -> None:
    """Write ``snapshot.json`` and ``frames.jsonl`` into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--levels", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    scenario = generate(seed=args.seed, levels=args.levels, frames=args.frames)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "snapshot.json").write_text(scenario.snapshot_text + "\n")
    (args.out / "frames.jsonl").write_text("\n".join(scenario.frames) + "\n")
    print(
        f"{len(scenario.frames)} frames, {scenario.level_changes} level changes "
        f"({scenario.deletions / scenario.level_changes:.0%} deletions, "
        f"{scenario.insertions / scenario.level_changes:.0%} insertions)"
    )


if __name__ == "__main__":
    main()
