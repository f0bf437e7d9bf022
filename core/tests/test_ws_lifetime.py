"""Planned reconnects before the venue's connection lifetime (Binance: 24 h), with and without overlap."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from exchanges.testing.emulator import Pause, VenueEmulator, WsFaults, WsSession, wait_until
from exchanges.transport.ws import Backoff, WsConnection, WsPolicy, WsState, WsStateEvent

TICK = 0.002  # one venue event every 2 ms


def subscribe_message(streams: Any, request_id: int) -> str:
    return orjson.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": request_id}).decode()


def policy(**overrides: Any) -> WsPolicy:
    fields: dict[str, Any] = {
        "name": "venue",
        "subscribe_message": subscribe_message,
        "backoff": Backoff(base=0.01, cap=0.05),
    }
    return WsPolicy(**{**fields, **overrides})


def market_feed(origin: float) -> Any:
    """Every connection streams the same global sequence (one id per TICK) from its SUBSCRIBE on."""

    async def frames(session: WsSession) -> AsyncIterator[Any]:
        request = await session.wait_for(lambda m: isinstance(m, dict) and m.get("method") == "SUBSCRIBE")
        (stream,) = request["params"]
        last = int((time.monotonic() - origin) / TICK)
        while True:
            now = int((time.monotonic() - origin) / TICK)
            for seq in range(last + 1, now + 1):
                yield {"stream": stream, "data": {"u": seq, "conn": session.index}}
            last = now
            yield Pause(TICK)

    return frames


def dedupe(message: Any) -> Any:
    return message["data"]["u"] if "data" in message else None


def states(events: list[WsStateEvent]) -> list[str]:
    return [e.state.value for e in events]


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


async def test_lifetime_rollover_opens_the_new_socket_before_closing_the_old(emu: VenueEmulator) -> None:
    """At max_lifetime a fresh socket is opened first, then streams move; no disconnect is reported."""
    emu.websocket("/stream", frames=market_feed(time.monotonic()))
    events: list[WsStateEvent] = []
    got: list[Any] = []
    ws = WsConnection(emu.ws_url + "/stream", policy(max_lifetime=0.2), got.append, on_state=events.append)
    await ws.subscribe(["btcusdt@depth"])
    async with ws:
        await wait_until(lambda: any(m["data"]["conn"] == 1 for m in got))
    first, second = emu.ws_sessions[:2]
    assert first.closed_at is not None and second.opened_at < first.closed_at
    assert second.messages() == [{"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 2}]
    assert states(events)[:6] == ["connecting", "connected", "resubscribed", "rollover", "connected", "resubscribed"]
    assert "disconnected" not in states(events)
    rollover = events[3]
    assert rollover.reason == "max_lifetime"
    assert events[5].continuous is False  # without a dedupe key consumers must resync
    conns = [m["data"]["conn"] for m in got]
    assert conns == sorted(conns)  # the old socket is never routed after the switch


async def test_overlapped_rollover_loses_and_doubles_nothing(emu: VenueEmulator) -> None:
    """With a dedupe key both sockets overlap; the router sees every sequence number exactly once, in order."""
    emu.websocket("/stream", frames=market_feed(time.monotonic()))
    events: list[WsStateEvent] = []
    got: list[Any] = []
    ws = WsConnection(
        emu.ws_url + "/stream",
        policy(max_lifetime=0.25, dedupe_key=dedupe, rollover_overlap=0.08),
        got.append,
        on_state=events.append,
    )
    await ws.subscribe(["btcusdt@depth"])
    async with ws:
        await wait_until(lambda: states(events).count("resubscribed") == 3, timeout=10)
        await wait_until(lambda: any(m["data"]["conn"] == 2 for m in got))
    seqs = [m["data"]["u"] for m in got if "data" in m]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    resubscribed = [e for e in events if e.state is WsState.RESUBSCRIBED]
    assert [e.continuous for e in resubscribed[:3]] == [False, True, True]
    assert ws.stats.duplicates_dropped > 0
    assert "disconnected" not in states(events)


async def test_request_rollover_replaces_the_socket_now(emu: VenueEmulator) -> None:
    """request_rollover() (e.g. on a serverShutdown notice) moves the streams to a new socket at once."""
    emu.websocket("/stream")
    events: list[WsStateEvent] = []
    ws = WsConnection(emu.ws_url + "/stream", policy(), lambda m: None, on_state=events.append)
    await ws.subscribe(["a"])
    async with ws:
        ws.request_rollover("serverShutdown")
        second = await emu.wait_for_session(1)
        await wait_until(lambda: second.messages())
        await emu.ws_sessions[0].wait_closed(timeout=2)
    assert [e.reason for e in events if e.state is WsState.ROLLOVER] == ["serverShutdown"]
    assert second.messages() == [{"method": "SUBSCRIBE", "params": ["a"], "id": 2}]


async def test_failed_rollover_keeps_the_old_socket_and_retries(emu: VenueEmulator) -> None:
    """If the replacement cannot connect, the old socket keeps serving and the rollover is retried later."""
    emu.websocket("/stream", frames=market_feed(time.monotonic()), faults=[WsFaults(), WsFaults(refuse=503)])
    events: list[WsStateEvent] = []
    got: list[Any] = []
    ws = WsConnection(emu.ws_url + "/stream", policy(max_lifetime=0.15), got.append, on_state=events.append)
    await ws.subscribe(["a"])
    async with ws:
        await wait_until(lambda: any(m["data"]["conn"] == 2 for m in got))
    assert emu.ws_refused == [("/stream", 503)]
    assert states(events)[:7] == [
        "connecting", "connected", "resubscribed", "rollover", "rollover", "connected", "resubscribed",
    ]  # fmt: skip
    assert "disconnected" not in states(events)
    old = emu.ws_sessions[0]
    assert old.closed_at is not None and old.closed_at > emu.ws_sessions[1].opened_at


async def test_venue_shutdown_notice_triggers_a_rollover(emu: VenueEmulator) -> None:
    """A message matched by rollover_on (Binance serverShutdown) is routed and moves the streams to a new socket."""
    emu.websocket("/stream", frames=[{"e": "serverShutdown", "E": 1}], faults=[WsFaults(), WsFaults(skip={0})])
    events: list[WsStateEvent] = []
    got: list[Any] = []
    shutdown = policy(rollover_on=lambda m: m.get("e") == "serverShutdown")
    ws = WsConnection(emu.ws_url + "/stream", shutdown, got.append, on_state=events.append)
    await ws.subscribe(["a"])
    async with ws:
        second = await emu.wait_for_session(1)
        await wait_until(lambda: second.messages())
    assert got == [{"e": "serverShutdown", "E": 1}]
    assert [e.reason for e in events if e.state is WsState.ROLLOVER] == ["venue notice"]


async def test_rollover_requested_while_connecting_applies_to_the_new_socket(emu: VenueEmulator) -> None:
    """request_rollover() before the socket is up is kept and carried out once it is."""
    emu.websocket("/stream")
    events: list[WsStateEvent] = []
    ws = WsConnection(emu.ws_url + "/stream", policy(), lambda m: None, on_state=events.append)
    ws.request_rollover("early")
    async with ws:
        await emu.wait_for_session(1)
        await wait_until(lambda: states(events).count("resubscribed") == 2)
    assert [e.reason for e in events if e.state is WsState.ROLLOVER] == ["early"]
