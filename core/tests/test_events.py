"""The in-process event bus: conflation for state, bounded queues for events, clean shutdown."""

from __future__ import annotations

import asyncio

import pytest

from exchanges import SubscriptionOverflow
from exchanges.events import EventBus


async def test_latest_policy_conflates_for_slow_consumers() -> None:
    """A slow 'latest' subscriber reads only the newest value, and memory holds one value."""
    bus = EventBus()
    sub = bus.subscribe("book", policy="latest")
    for i in range(1000):
        bus.publish("book", i)
    assert sub.pending == 1
    assert await sub.__anext__() == 999


async def test_queue_policy_delivers_everything_in_order() -> None:
    """A 'queue' subscriber receives every value in publish order."""
    bus = EventBus()
    sub = bus.subscribe("trades", maxsize=10)
    for i in range(10):
        bus.publish("trades", i)
    assert [await sub.__anext__() for _ in range(10)] == list(range(10))


async def test_queue_overflow_is_an_explicit_error() -> None:
    """When a queue subscriber falls maxsize behind it gets the buffered values, then SubscriptionOverflow."""
    bus = EventBus()
    sub = bus.subscribe("trades", maxsize=3)
    for i in range(5):
        bus.publish("trades", i)
    assert [await sub.__anext__() for _ in range(3)] == [0, 1, 2]
    with pytest.raises(SubscriptionOverflow, match="fell 3 events behind"):
        await sub.__anext__()
    assert not bus.has_subscribers("trades")


async def test_waiting_reader_is_woken_by_publish() -> None:
    """A reader awaiting the next value resumes when it is published."""
    bus = EventBus()
    sub = bus.subscribe("t")
    reader = asyncio.create_task(sub.__anext__())
    await asyncio.sleep(0)
    bus.publish("t", "hello")
    assert await asyncio.wait_for(reader, 1) == "hello"


async def test_first_and_last_subscriber_callbacks() -> None:
    """on_first fires when a topic gains its first subscriber and on_last when the last one leaves."""
    seen: list[tuple[str, str]] = []
    bus = EventBus(on_first=lambda t: seen.append(("first", t)), on_last=lambda t: seen.append(("last", t)))
    a, b = bus.subscribe("x"), bus.subscribe("x")
    a.close()
    b.close()
    assert seen == [("first", "x"), ("last", "x")]


async def test_fail_and_close_end_iteration() -> None:
    """fail() raises the error on the next read; close_topic() ends iteration normally."""
    bus = EventBus()
    failing, ending = bus.subscribe("a"), bus.subscribe("b")
    bus.fail("a", RuntimeError("venue went away"))
    with pytest.raises(RuntimeError, match="venue went away"):
        await failing.__anext__()
    bus.publish("b", 1)
    bus.close_topic("b")
    assert [v async for v in ending] == [1]


async def test_stream_helper_unsubscribes_on_exit() -> None:
    """EventBus.stream removes its subscription when the consumer stops iterating."""
    bus = EventBus()
    stream = bus.stream("t")
    task = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0)
    bus.publish("t", 1)
    assert await task == 1
    await stream.aclose()
    assert not bus.has_subscribers("t")


def test_bad_policy_is_refused() -> None:
    """Only the two documented policies exist."""
    with pytest.raises(ValueError, match="policy must be"):
        EventBus().subscribe("t", policy="drop")  # type: ignore[arg-type]
