"""Heartbeat styles of WsConnection: text ping (OKX), JSON ping (Hyperliquid), protocol ping (Binance), stalls."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from exchanges.testing.emulator import Pause, VenueEmulator, WsFaults, json_pong, text_pong, wait_until
from exchanges.transport.ws import (
    Backoff,
    Heartbeat,
    JsonPing,
    ProtocolPing,
    TextPing,
    WsConnection,
    WsPolicy,
    WsState,
    WsStateEvent,
)


def okx_subscribe(streams: Any, request_id: int) -> str:
    args = [dict(zip(("channel", "instId"), s.split(":"), strict=True)) for s in streams]
    return orjson.dumps({"id": str(request_id), "op": "subscribe", "args": args}).decode()


def policy(heartbeat: Heartbeat, **overrides: Any) -> WsPolicy:
    return WsPolicy(
        name="venue",
        subscribe_message=okx_subscribe,
        heartbeat=heartbeat,
        backoff=Backoff(base=0.01, cap=0.02),
        **overrides,
    )


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("heartbeat", "responder", "ping_text"),
    [
        (TextPing(interval=0.05, timeout=1.0), text_pong(), "ping"),
        (JsonPing(interval=0.05, timeout=1.0), json_pong(), '{"method":"ping"}'),
    ],
    ids=["text", "json"],
)
async def test_application_ping_after_silence_and_pong_is_consumed(
    emu: VenueEmulator, heartbeat: Heartbeat, responder: Any, ping_text: str
) -> None:
    """After ``interval`` of silence the venue's ping goes out; the pong keeps the link and never reaches the router."""
    emu.websocket("/ws", heartbeat=responder)
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/ws", policy(heartbeat), got.append) as ws:
        await wait_until(lambda: ws.stats.pongs >= 3)
    pings = [m.data for m in emu.ws_messages]
    assert len(pings) >= 3 and set(pings) == {ping_text}
    assert got == []
    assert len(emu.ws_sessions) == 1
    assert ws.stats.disconnects == 0


async def test_no_application_ping_while_data_flows(emu: VenueEmulator) -> None:
    """Incoming data resets the silence timer, so no ping is spent while the stream is busy."""

    async def busy(session: Any) -> AsyncIterator[Any]:
        for i in range(60):
            yield {"arg": {"channel": "trades"}, "data": [i]}
            yield Pause(0.01)

    emu.websocket("/ws", frames=busy, heartbeat=text_pong())
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/ws", policy(TextPing(interval=0.3, timeout=1.0)), got.append) as ws:
        await wait_until(lambda: len(got) == 60)
        assert ws.stats.pings == 0
    assert emu.ws_messages == []


@pytest.mark.parametrize(
    ("heartbeat", "responder", "reason"),
    [
        (TextPing(interval=0.05, timeout=0.1), text_pong(), "heartbeat stalled: no answer to ping within 0.1s"),
        (JsonPing(interval=0.05, timeout=0.1), json_pong(), "heartbeat stalled: no answer to ping within 0.1s"),
        (ProtocolPing(interval=0.05, timeout=0.1), None, "heartbeat stalled: no answer to ping within 0.1s"),
    ],
    ids=["text", "json", "protocol"],
)
async def test_stalled_heartbeat_reconnects_and_resubscribes(
    emu: VenueEmulator, heartbeat: Heartbeat, responder: Any, reason: str
) -> None:
    """A venue that stops answering pings is abandoned; a new socket is opened and the streams are sent again."""
    emu.websocket("/ws", heartbeat=responder, faults=[WsFaults(stall_after=0)])
    events: list[WsStateEvent] = []
    ws = WsConnection(
        emu.ws_url + "/ws", policy(heartbeat), lambda m: None, on_state=events.append, rng=random.Random(3)
    )
    await ws.subscribe(["books:BTC-USDT"])
    async with ws:
        second = await emu.wait_for_session(1)
        await wait_until(lambda: second.messages())
        assert emu.ws_sessions[0].stalled
    (disconnected,) = [e for e in events if e.state is WsState.DISCONNECTED]
    assert disconnected.reason == reason
    assert second.messages() == [{"id": "2", "op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}]


async def test_protocol_ping_after_silence_and_pong_keeps_the_link(emu: VenueEmulator) -> None:
    """With ProtocolPing, websocket ping frames go out after silence and the venue's pongs keep the link."""
    emu.websocket("/ws")
    async with WsConnection(emu.ws_url + "/ws", policy(ProtocolPing(interval=0.05, timeout=0.2)), lambda m: None) as ws:
        await wait_until(lambda: ws.stats.pongs >= 3)
        assert ws.connected
    assert {m.kind for m in emu.ws_messages} == {"ping"}
    assert ws.stats.disconnects == 0


async def test_protocol_ping_can_rely_on_the_server_alone(emu: VenueEmulator) -> None:
    """ProtocolPing(interval=None) sends no ping frames at all (Binance meters every incoming frame)."""
    emu.websocket("/ws", frames=[{"n": i} for i in range(5)])
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/ws", policy(ProtocolPing(interval=None)), got.append):
        await wait_until(lambda: len(got) == 5)
    assert emu.ws_messages == []


async def test_idle_timeout_reconnects_a_silent_link(emu: VenueEmulator) -> None:
    """With idle_timeout, a socket on which nothing arrives is replaced even though pings are not used."""
    emu.websocket("/ws", faults=[WsFaults(stall_after=0)], frames=[{"n": 1}])
    events: list[WsStateEvent] = []
    got: list[Any] = []
    ws = WsConnection(
        emu.ws_url + "/ws", policy(ProtocolPing(interval=None), idle_timeout=0.1), got.append, on_state=events.append
    )
    async with ws:
        await wait_until(lambda: got == [{"n": 1}])
    (disconnected,) = [e for e in events if e.state is WsState.DISCONNECTED]
    assert disconnected.reason == "idle: nothing received for 0.1s"


@pytest.mark.parametrize(
    "make",
    [
        lambda: TextPing(interval=0),
        lambda: JsonPing(timeout=-1),
        lambda: ProtocolPing(interval=0),
        lambda: Backoff(base=0),
        lambda: Backoff(factor=0.5),
        lambda: policy(TextPing(), max_messages_per_second=2, reserved_messages=2),
        lambda: policy(TextPing(), max_streams_per_connection=0),
    ],
)
def test_invalid_policies_are_rejected(make: Any) -> None:
    """Nonsense numbers in a heartbeat, backoff or policy raise ValueError at declaration time."""
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "heartbeat",
    [TextPing(interval=0.05, timeout=0.1), ProtocolPing(interval=0.05, timeout=0.1)],
    ids=["text", "protocol"],
)
async def test_hung_peer_is_abandoned_without_a_closing_handshake(emu: VenueEmulator, heartbeat: Heartbeat) -> None:
    """A frozen venue (reads nothing, answers nothing) is cut at once, not after close_timeout (30 s here)."""
    emu.websocket("/ws", heartbeat=text_pong(), faults=[WsFaults(stall_after=0, freeze=True)])
    ws = WsConnection(emu.ws_url + "/ws", policy(heartbeat, close_timeout=30), lambda m: None)
    await ws.subscribe(["books:BTC-USDT"])
    async with ws:
        second = await emu.wait_for_session(1, timeout=10)
        await wait_until(lambda: second.messages(), timeout=10)
    assert emu.ws_sessions[0].stalled
