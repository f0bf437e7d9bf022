"""The installed ``exchanges`` CLI drives the Binance connector (against the loopback venue in a thread)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from exchange_binance.testing import FakeBinance
from exchanges.testing.emulator import VenueEmulator

CLI = str(Path(sys.executable).with_name("exchanges"))


@pytest.fixture
def venue() -> Iterator[FakeBinance]:
    """The loopback spot venue served by an event loop in a background thread."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: list[FakeBinance] = []
    stop: list[asyncio.Event] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        async with VenueEmulator() as emu:
            holder.append(FakeBinance(emu).install())
            ready.set()
            await stop[0].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)
    loop.close()


def test_book_watch_prints_synced_books(venue: FakeBinance) -> None:
    """``exchanges book binance BTC/USDT --watch --json`` prints a line per synced book update."""
    endpoints = [arg for name, url in venue.endpoints.items() for arg in ("--endpoint", f"{name}={url}")]
    out = subprocess.run([CLI, "book", "binance", "BTC/USDT", "--watch", "--seconds", "1.5", "--json", "--depth", "3",
                          *endpoints], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    books = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(books) >= 3
    sequences = [b["sequence"] for b in books]
    assert sequences == sorted(sequences)
    for book in books:
        assert len(book["bids"]) == 3 and Decimal(book["best_bid"]) < Decimal(book["best_ask"]), book
