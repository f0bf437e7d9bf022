"""Timing helpers shared by the benchmarks (not a benchmark itself)."""

from __future__ import annotations

import gc
from collections.abc import Callable


def measure(fn: Callable[[], float], repeat: int) -> list[float]:
    """µs per frame of each of ``repeat`` runs (``fn`` returns ns per frame), with the GC off during each run."""
    values = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            values.append(fn() / 1000)
        finally:
            gc.enable()
    return values
