"""Slow consumers downstream of the transport: books conflate to the latest, trades overflow loudly.

The transport hands each message synchronously to the router and keeps no
queue; the router publishes on an EventBus. Memory stays bounded whatever the
consumer does: one pending book per subscriber, at most ``maxsize`` trades.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exchanges.errors import SubscriptionOverflow
from exchanges.events import EventBus, Subscription
from exchanges.testing.emulator import VenueEmulator, wait_until
from exchanges.transport.ws import WsConnection, WsPolicy

FRAMES = 500


def policy() -> WsPolicy:
    return WsPolicy(name="venue", subscribe_message=lambda streams, rid: "sub")


class Router:
    """Publishes books and trades on a bus and tracks the largest backlog any subscriber ever had."""

    def __init__(self, bus: EventBus, watched: list[Subscription[Any]]) -> None:
        self.bus = bus
        self.watched = watched
        self.routed = 0
        self.max_pending = 0

    def __call__(self, message: dict[str, Any]) -> None:
        self.bus.publish(message["topic"], message["data"])
        self.routed += 1
        self.max_pending = max(self.max_pending, *(s.pending for s in self.watched))


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


async def test_slow_book_consumer_gets_the_latest_state(emu: VenueEmulator) -> None:
    """A book consumer that reads after a burst of updates gets only the newest book; its backlog stays at one."""
    emu.websocket(frames=[{"topic": "book", "data": {"u": i}} for i in range(FRAMES)])
    bus = EventBus()
    slow = bus.subscribe("book", policy="latest")
    router = Router(bus, [slow])
    async with WsConnection(emu.ws_url, policy(), router):
        await wait_until(lambda: router.routed == FRAMES)  # the consumer has not read anything yet
        assert await anext(slow) == {"u": FRAMES - 1}
        assert slow.pending == 0
    assert router.max_pending == 1


async def test_book_consumer_reading_along_sees_increasing_updates_ending_with_the_last(emu: VenueEmulator) -> None:
    """A consumer slower than the feed skips intermediate books but never goes backwards and ends current."""
    emu.websocket(frames=[{"topic": "book", "data": {"u": i}} for i in range(FRAMES)])
    bus = EventBus()
    sub = bus.subscribe("book", policy="latest")
    router = Router(bus, [sub])
    seen: list[int] = []

    async def consume() -> None:
        async for book in sub:
            seen.append(book["u"])
            if book["u"] == FRAMES - 1:
                return
            await asyncio.sleep(0.002)  # slower than the feed

    async with WsConnection(emu.ws_url, policy(), router):
        await asyncio.wait_for(consume(), 10)
    assert seen == sorted(set(seen))
    assert seen[-1] == FRAMES - 1
    assert router.max_pending == 1


async def test_slow_trade_consumer_gets_overflow_never_a_silent_gap(emu: VenueEmulator) -> None:
    """A trade consumer that falls maxsize behind reads every queued trade in order, then SubscriptionOverflow."""
    emu.websocket(frames=[{"topic": "trades", "data": {"id": i}} for i in range(FRAMES)])
    bus = EventBus()
    slow = bus.subscribe("trades", policy="queue", maxsize=50)
    fast = bus.subscribe("trades", policy="queue", maxsize=FRAMES)
    router = Router(bus, [slow])
    async with WsConnection(emu.ws_url, policy(), router):
        await wait_until(lambda: router.routed == FRAMES)
        read = []
        with pytest.raises(SubscriptionOverflow, match="fell 50 events behind"):
            async for trade in slow:
                read.append(trade["id"])
        fast_read = [(await anext(fast))["id"] for _ in range(FRAMES)]
    assert read == list(range(50))
    assert router.max_pending == 50
    assert fast_read == list(range(FRAMES))  # the feed and other consumers were not held back
    bus.publish("trades", {"id": FRAMES})
    assert slow.pending == 0  # the overflowed subscription is closed and holds nothing more
