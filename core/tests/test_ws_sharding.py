"""Stream sharding over several connections, and the per-connection outgoing message budget."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from exchanges.errors import ExchangeError
from exchanges.testing.emulator import VenueEmulator, WsSession, text_pong, wait_until
from exchanges.transport.ws import Backoff, MessageThrottle, ShardedWs, TextPing, WsConnection, WsPolicy


def subscribe_message(streams: Any, request_id: int) -> str:
    return orjson.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": request_id}).decode()


def unsubscribe_message(streams: Any, request_id: int) -> str:
    return orjson.dumps({"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id}).decode()


def policy(**overrides: Any) -> WsPolicy:
    fields: dict[str, Any] = {
        "name": "venue",
        "subscribe_message": subscribe_message,
        "unsubscribe_message": unsubscribe_message,
        "backoff": Backoff(base=0.01, cap=0.05),
    }
    return WsPolicy(**{**fields, **overrides})


def echo_streams(session: WsSession, message: Any) -> Any:
    """Answer a SUBSCRIBE with one data frame per stream (sent as one array frame)."""
    if isinstance(message, dict) and message.get("method") == "SUBSCRIBE":
        return [{"stream": s, "conn": session.number} for s in message["params"]]
    return None


def subscribed_params(session: WsSession, method: str = "SUBSCRIBE") -> list[str]:
    return [p for m in session.messages() if m.get("method") == method for p in m["params"]]


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


async def test_streams_fill_shards_in_order_and_open_new_ones(emu: VenueEmulator) -> None:
    """Past max_streams_per_connection a new connection opens; later streams fill the last shard first."""
    emu.websocket("/stream", on_message=echo_streams)
    got: list[Any] = []
    streams = [f"s{i}" for i in range(9)]
    async with ShardedWs(
        emu.ws_url + "/stream", policy(max_streams_per_connection=3), got.extend, rng=random.Random(0)
    ) as pool:
        assert await pool.subscribe(streams[:7]) == streams[:7]
        await pool.wait_ready(timeout=5)
        await pool.subscribe(streams[7:])
        await wait_until(lambda: len(got) == 9)
        shards = pool.connections
        assert [c.streams for c in shards] == [("s0", "s1", "s2"), ("s3", "s4", "s5"), ("s6", "s7", "s8")]
        assert [c.name for c in shards] == ["venue#0", "venue#1", "venue#2"]
        assert pool.shard_of("s7") is shards[2]
    assert len(emu.ws_sessions) == 3
    assert sorted(subscribed_params(s) for s in emu.ws_sessions) == [
        ["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6", "s7", "s8"],
    ]  # fmt: skip
    assert sorted(m["stream"] for m in got) == streams
    by_conn: dict[int, set[str]] = {}
    for m in got:
        by_conn.setdefault(m["conn"], set()).add(m["stream"])
    assert sorted(map(sorted, by_conn.values())) == [["s0", "s1", "s2"], ["s3", "s4", "s5"], ["s6", "s7", "s8"]]


async def test_emptied_shard_is_closed_and_others_unsubscribe(emu: VenueEmulator) -> None:
    """Unsubscribing every stream of a shard closes it; a partial unsubscribe sends UNSUBSCRIBE."""
    emu.websocket("/stream", on_message=echo_streams)
    async with ShardedWs(emu.ws_url + "/stream", policy(max_streams_per_connection=2), lambda m: None) as pool:
        await pool.subscribe(["a", "b", "c", "d"])
        await pool.wait_ready(timeout=5)
        _first, second = pool.connections
        assert await pool.unsubscribe(["a", "b", "c", "unknown"]) == ["a", "b", "c"]
        assert pool.connections == (second,)
        assert pool.streams == ("d",)
        assert pool.shard_of("a") is None
        session = next(s for s in emu.ws_sessions if "c" in subscribed_params(s))
        await wait_until(lambda: subscribed_params(session, "UNSUBSCRIBE") == ["c"])
        gone = next(s for s in emu.ws_sessions if "a" in subscribed_params(s))
        await gone.wait_closed(timeout=2)


async def test_connection_cap_refuses_extra_streams_without_side_effects(emu: VenueEmulator) -> None:
    """Streams needing more than max_connections shards raise ExchangeError and open nothing."""
    pool = ShardedWs(emu.ws_url, policy(max_streams_per_connection=3), lambda m: None, max_connections=2)
    with pytest.raises(ExchangeError, match="more than 2 connections"):
        await pool.subscribe([f"s{i}" for i in range(7)])
    assert pool.connections == () and pool.streams == ()
    await pool.close()


async def test_unlimited_policy_uses_a_single_shard(emu: VenueEmulator) -> None:
    """Without a stream limit every stream goes on one connection."""
    emu.websocket("/stream", on_message=echo_streams)
    async with ShardedWs(emu.ws_url + "/stream", policy(), lambda m: None) as pool:
        await pool.subscribe([f"s{i}" for i in range(50)])
        await pool.subscribe(["x"])
        await pool.wait_ready(timeout=5)
        assert len(pool.connections) == 1


async def test_outgoing_messages_respect_the_per_second_budget(emu: VenueEmulator) -> None:
    """Eight concurrent subscribes on a 5 msg/s budget (1 reserved) never put more than 4 in any second."""
    emu.websocket("/stream")
    async with WsConnection(
        emu.ws_url + "/stream", policy(max_messages_per_second=5, reserved_messages=1), lambda m: None
    ) as ws:
        await asyncio.gather(*(ws.subscribe([f"s{i}"]) for i in range(8)))
        await wait_until(lambda: len(emu.ws_messages) == 8)
    assert emu.ws_max_in_window(1.0, session=0) == 4
    assert max(emu.ws_count_by_window(1.0, session=0).values()) <= 4
    assert sorted(m.json()["params"][0] for m in emu.ws_messages) == sorted(f"s{i}" for i in range(8))


async def test_heartbeat_pings_count_against_the_budget(emu: VenueEmulator) -> None:
    """Pings wait for the message budget like any other frame (2 per second here)."""
    emu.websocket("/ws", heartbeat=text_pong())
    heartbeat = TextPing(interval=0.001, timeout=1.0)
    async with WsConnection(
        emu.ws_url + "/ws", policy(heartbeat=heartbeat, max_messages_per_second=2), lambda m: None
    ) as ws:
        await wait_until(lambda: ws.stats.pings >= 3, timeout=10)
    assert emu.ws_max_in_window(1.0) <= 2
    assert max(emu.ws_count_by_window(1.0).values()) <= 2


@pytest.mark.parametrize(("limit", "sends"), [(3, 7), (1, 3)])
async def test_throttle_never_exceeds_its_limit_in_a_window(limit: int, sends: int) -> None:
    """MessageThrottle stamps at most ``limit`` sends in any window of window + margin seconds."""
    loop = asyncio.get_running_loop()
    throttle = MessageThrottle(limit, window=0.1, margin=0.01)
    stamps: list[float] = []

    async def send() -> None:
        await throttle.acquire()
        stamps.append(loop.time())

    await asyncio.gather(*(send() for _ in range(sends)))
    stamps.sort()
    later: Callable[[int], float] = lambda i: stamps[i + limit] - stamps[i]  # noqa: E731
    assert all(later(i) >= 0.11 for i in range(len(stamps) - limit))
    assert throttle.waited > 0


async def test_unlimited_throttle_never_waits() -> None:
    """A throttle without a limit returns at once."""
    throttle = MessageThrottle(None)
    assert [await throttle.acquire() for _ in range(100)] == [0.0] * 100
