"""Sinks: the built-in JSON-lines sink, registered through register_sinks, fed from the event bus."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from exchanges import Host, SubscriptionOverflow, Trade
from exchanges.events import EventBus
from exchanges.sinks import JsonLinesSink, pump


def test_jsonl_is_registered_by_the_core(host: Host, tmp_path: Path) -> None:
    """The core's built-in plugin registers a jsonl factory that builds a JsonLinesSink with its options."""
    sink = host.sinks["jsonl"](path=tmp_path / "x.jsonl")
    assert isinstance(sink, JsonLinesSink) and sink.path == str(tmp_path / "x.jsonl")


async def test_pump_writes_every_event_as_json_lines(tmp_path: Path) -> None:
    """Events published on the bus are written one JSON object per line, with Decimals as strings."""
    bus = EventBus()
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    task = asyncio.create_task(pump(bus, ["trades:BTC/USDT"], sink))
    await asyncio.sleep(0)
    for i in range(3):
        bus.publish("trades:BTC/USDT", Trade("BTC/USDT", "sim", str(i), "100.5", "0.1", "buy", i))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [line["data"]["trade_id"] for line in lines] == ["0", "1", "2"]
    assert lines[0] == {"topic": "trades:BTC/USDT", "type": "Trade", "data": {
        "symbol": "BTC/USDT", "exchange": "sim", "trade_id": "0", "price": "100.5", "quantity": "0.1",
        "side": "buy", "timestamp": 0}}


async def test_slow_sink_overflows_loudly() -> None:
    """A sink that falls behind its bound ends the pump with SubscriptionOverflow instead of dropping events."""
    written: list[object] = []

    class Slow:
        async def write(self, topic: str, event: object) -> None:
            await asyncio.sleep(0.01)
            written.append(event)

        async def close(self) -> None:
            written.append("closed")

    bus = EventBus()
    task = asyncio.create_task(pump(bus, ["t"], Slow(), maxsize=2))
    await asyncio.sleep(0)
    for i in range(10):
        bus.publish("t", i)
    with pytest.raises(SubscriptionOverflow):
        await asyncio.wait_for(task, 5)
    assert written == [0, 1, "closed"]  # the two buffered events, then the error; the sink is closed
