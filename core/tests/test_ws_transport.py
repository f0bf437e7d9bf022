"""WsConnection against the loopback emulator: routing, resubscription, state events, handshakes, failures."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from exchanges.errors import AuthenticationError, ExchangeError, ExchangeUnavailable, NetworkError
from exchanges.events import EventBus
from exchanges.testing.emulator import Pause, VenueEmulator, WsFaults, WsSession, wait_until
from exchanges.transport.ws import Backoff, WsConnection, WsHandshake, WsPolicy, WsState, WsStateEvent

FAST = Backoff(base=0.01, cap=0.05)


def subscribe_message(streams: Any, request_id: int) -> str:
    return orjson.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": request_id}).decode()


def unsubscribe_message(streams: Any, request_id: int) -> str:
    return orjson.dumps({"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id}).decode()


def policy(**overrides: Any) -> WsPolicy:
    fields: dict[str, Any] = {
        "name": "venue",
        "subscribe_message": subscribe_message,
        "unsubscribe_message": unsubscribe_message,
        "backoff": FAST,
    }
    return WsPolicy(**{**fields, **overrides})


def is_method(name: str) -> Callable[[Any], bool]:
    return lambda m: isinstance(m, dict) and m.get("method") == name


def ack(session: WsSession, message: Any) -> Any:
    if isinstance(message, dict) and "id" in message:
        return {"result": None, "id": message["id"]}
    return None


def feed(count: int, pause: float = 0.0) -> Callable[[WsSession], AsyncIterator[Any]]:
    """After the first SUBSCRIBE, ``count`` rounds of one frame per subscribed stream."""

    async def frames(session: WsSession) -> AsyncIterator[Any]:
        request = await session.wait_for(is_method("SUBSCRIBE"))
        for i in range(count):
            for stream in request["params"]:
                yield {"stream": stream, "data": {"conn": session.index, "i": i}}
            if pause:
                yield Pause(pause)

    return frames


def data(messages: list[Any]) -> list[Any]:
    return [m for m in messages if isinstance(m, dict) and "stream" in m]


def states(events: list[WsStateEvent]) -> list[str]:
    return [e.state.value for e in events]


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


async def test_subscribe_sends_one_message_and_routes_decoded_frames(emu: VenueEmulator) -> None:
    """subscribe() sends the venue's message; every frame (acks too) reaches the router decoded."""
    emu.websocket("/stream", frames=feed(2), on_message=ack)
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/stream", policy(), got.append) as ws:
        assert await ws.subscribe(["a@trade", "b@trade", "a@trade"]) == ["a@trade", "b@trade"]
        assert await ws.subscribe(["a@trade"]) == []
        await wait_until(lambda: len(data(got)) == 4)
        assert ws.streams == ("a@trade", "b@trade")
        assert ws.connected
    assert emu.ws_sessions[0].messages() == [{"method": "SUBSCRIBE", "params": ["a@trade", "b@trade"], "id": 1}]
    assert got[0] == {"result": None, "id": 1}
    assert data(got) == [{"stream": s, "data": {"conn": 0, "i": i}} for i in range(2) for s in ("a@trade", "b@trade")]
    assert ws.stats.routed == 5


async def test_resubscribes_every_stream_after_a_drop(emu: VenueEmulator) -> None:
    """After the venue drops the socket, the new one gets one SUBSCRIBE with every active stream."""
    emu.websocket("/stream", frames=feed(10), on_message=ack, faults=[WsFaults(drop_after=3)])
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/stream", policy(), got.append, rng=random.Random(1)) as ws:
        await ws.subscribe(["a@trade"])
        await ws.subscribe(["b@trade"])
        await wait_until(lambda: any(m["data"]["conn"] == 1 for m in data(got)))
    first, second = emu.ws_sessions
    assert first.messages() == [
        {"method": "SUBSCRIBE", "params": ["a@trade"], "id": 1},
        {"method": "SUBSCRIBE", "params": ["b@trade"], "id": 2},
    ]
    assert second.messages()[0] == {"method": "SUBSCRIBE", "params": ["a@trade", "b@trade"], "id": 3}
    assert ws.stats.disconnects == 1


async def test_streams_added_before_start_are_sent_on_connect_in_batches(emu: VenueEmulator) -> None:
    """Streams subscribed while disconnected go out on connect, split by max_streams_per_message."""
    emu.websocket("/stream", on_message=ack)
    ws = WsConnection(emu.ws_url + "/stream", policy(max_streams_per_message=2), lambda m: None)
    await ws.subscribe(["a", "b", "c", "d", "e"])
    async with ws:
        session = await emu.wait_for_session(0)
        await wait_until(lambda: len(session.messages()) == 3)
    assert [m["params"] for m in session.messages()] == [["a", "b"], ["c", "d"], ["e"]]


async def test_state_events_follow_the_connection_lifecycle(emu: VenueEmulator) -> None:
    """Events run connecting, connected, resubscribed, disconnected, reconnecting, ... closed, also on the bus."""
    emu.websocket("/stream", frames=feed(5), on_message=ack, faults=[WsFaults(drop_after=2)])
    events: list[WsStateEvent] = []
    bus = EventBus()
    on_bus = bus.subscribe("ws.state", policy="queue")
    ws = WsConnection(emu.ws_url + "/stream", policy(), lambda m: None, on_state=events.append, bus=bus, name="conn-a")
    await ws.subscribe(["a@trade"])
    await ws.start()
    await wait_until(lambda: states(events).count("resubscribed") == 2)
    await ws.close()
    assert states(events) == [
        "connecting", "connected", "resubscribed", "disconnected", "reconnecting",
        "connecting", "connected", "resubscribed", "closed",
    ]  # fmt: skip
    assert {e.connection for e in events} == {"conn-a"}
    assert events[2].streams == 1 and not events[2].continuous
    assert events[3].reason == "connection lost without a close frame"
    assert (events[4].attempt, events[5].attempt) == (1, 1)
    assert events[4].delay is not None and 0 <= events[4].delay <= FAST.base
    published = on_bus.pending
    assert [await anext(on_bus) for _ in range(published)] == events
    assert ws.state is WsState.CLOSED


async def test_unsubscribe_sends_the_venue_message(emu: VenueEmulator) -> None:
    """unsubscribe() sends UNSUBSCRIBE for the active streams only and forgets them."""
    emu.websocket("/stream", on_message=ack)
    async with WsConnection(emu.ws_url + "/stream", policy(), lambda m: None) as ws:
        await ws.subscribe(["a", "b"])
        assert await ws.unsubscribe(["b", "zzz"]) == ["b"]
        assert ws.streams == ("a",)
        session = emu.ws_sessions[0]
        await wait_until(lambda: len(session.messages()) == 2)
    assert session.messages()[1] == {"method": "UNSUBSCRIBE", "params": ["b"], "id": 2}


async def test_unsubscribe_without_a_venue_message_moves_to_a_fresh_socket(emu: VenueEmulator) -> None:
    """Without an unsubscribe message the connection is replaced by one carrying only the remaining streams."""
    emu.websocket("/stream", on_message=ack)
    events: list[WsStateEvent] = []
    ws = WsConnection(emu.ws_url + "/stream", policy(unsubscribe_message=None), lambda m: None, on_state=events.append)
    async with ws:
        await ws.subscribe(["a", "b"])
        await ws.unsubscribe(["a"])
        second = await emu.wait_for_session(1)
        await wait_until(lambda: second.messages())
    assert second.messages() == [{"method": "SUBSCRIBE", "params": ["b"], "id": 2}]
    assert emu.ws_sessions[0].closed
    assert "rollover" in states(events) and "disconnected" not in states(events)


async def test_handshake_runs_on_every_socket_before_streams(emu: VenueEmulator) -> None:
    """The handshake (an OKX-style login) runs first on each new socket; its reply is not routed."""

    def login_then_ack(session: WsSession, message: Any) -> Any:
        if message.get("op") == "login":
            return {"event": "login", "code": "0"}
        return ack(session, message)

    emu.websocket("/private", on_message=login_then_ack, frames=feed(3), faults=[WsFaults(drop_after=1)])
    logins: list[Any] = []

    async def login(channel: WsHandshake) -> None:
        await channel.send('{"op":"login","args":[{"apiKey":"k"}]}')
        logins.append(await channel.receive(timeout=2))

    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/private", policy(), got.append, handshake=login) as ws:
        await ws.subscribe(["orders"])
        await wait_until(lambda: len(emu.ws_sessions) == 2 and len(emu.ws_sessions[1].messages()) == 2)
    assert logins == [{"event": "login", "code": "0"}] * 2
    for session in emu.ws_sessions:
        assert [m.get("op") or m.get("method") for m in session.messages()] == ["login", "SUBSCRIBE"]
    assert {"event": "login", "code": "0"} not in got


async def test_authentication_failure_in_handshake_is_fatal(emu: VenueEmulator) -> None:
    """An AuthenticationError from the handshake stops the connection without retrying."""
    emu.websocket("/private")
    events: list[WsStateEvent] = []

    async def login(channel: WsHandshake) -> None:
        raise AuthenticationError("bad key", exchange="venue")

    ws = WsConnection(emu.ws_url + "/private", policy(), lambda m: None, handshake=login, on_state=events.append)
    with pytest.raises(AuthenticationError):
        await ws.start(timeout=5)
    assert states(events) == ["connecting", "closed"]
    assert isinstance(ws.error, AuthenticationError)
    assert len(emu.ws_sessions) == 1
    await ws.close()


async def test_rejected_url_is_fatal(emu: VenueEmulator) -> None:
    """An upgrade answered 404 is not retried: wait_ready raises NetworkError."""
    with pytest.raises(NetworkError, match="HTTP 404"):
        async with WsConnection(emu.ws_url + "/nowhere", policy(), lambda m: None):
            pass
    assert emu.ws_refused == [("/nowhere", 404)]


async def test_retry_after_of_a_429_refusal_is_honoured(emu: VenueEmulator) -> None:
    """A 429 on the upgrade is retried no sooner than its Retry-After."""
    emu.websocket("/ws", faults=[WsFaults(refuse=429, refuse_headers={"Retry-After": "0.2"})])
    events: list[WsStateEvent] = []
    async with WsConnection(emu.ws_url + "/ws", policy(), lambda m: None, on_state=events.append):
        pass
    (reconnecting,) = [e for e in events if e.state is WsState.RECONNECTING]
    assert reconnecting.delay == 0.2
    assert reconnecting.reason == "HTTP 429 on websocket handshake"


async def test_gives_up_after_max_attempts(emu: VenueEmulator) -> None:
    """With max_attempts, consecutive failures end in ExchangeUnavailable and a closed event."""
    emu.websocket("/ws", faults=WsFaults(refuse=503))
    events: list[WsStateEvent] = []
    ws = WsConnection(
        emu.ws_url + "/ws",
        policy(backoff=Backoff(base=0.01, cap=0.01, max_attempts=2)),
        lambda m: None,
        on_state=events.append,
    )
    with pytest.raises(ExchangeUnavailable, match="gave up after 2 attempts"):
        await ws.start(timeout=5)
    assert [e.attempt for e in events if e.state is WsState.RECONNECTING] == [1, 2]
    assert events[-1].state is WsState.CLOSED
    assert len(emu.ws_refused) == 3
    await ws.close()


async def test_router_errors_and_undecodable_frames_do_not_stop_the_stream(emu: VenueEmulator) -> None:
    """A raising router and a non-JSON frame are counted and skipped; later frames still arrive."""
    emu.websocket("/ws", frames=['{"n":1}', "not json", '{"n":2}', '{"n":3}'])
    got: list[Any] = []

    def router(message: Any) -> None:
        if message["n"] == 2:
            raise ValueError("bug in venue code")
        got.append(message)

    async with WsConnection(emu.ws_url + "/ws", policy(), router) as ws:
        await wait_until(lambda: len(got) == 2)
    assert got == [{"n": 1}, {"n": 3}]
    assert (ws.stats.router_errors, ws.stats.undecodable, ws.stats.routed) == (1, 1, 2)


async def test_stream_limit_of_one_connection_is_enforced(emu: VenueEmulator) -> None:
    """Past max_streams_per_connection, subscribe raises and keeps the earlier streams."""
    ws = WsConnection(emu.ws_url, policy(max_streams_per_connection=2), lambda m: None)
    await ws.subscribe(["a", "b"])
    with pytest.raises(ExchangeError, match="exceed the limit of 2"):
        await ws.subscribe(["c"])
    assert ws.streams == ("a", "b")


async def test_send_requires_a_live_socket(emu: VenueEmulator) -> None:
    """send() raises NetworkError before connecting and after closing; works in between."""
    emu.websocket("/ws")
    ws = WsConnection(emu.ws_url + "/ws", policy(), lambda m: None)
    with pytest.raises(NetworkError, match="not connected"):
        await ws.send("x")
    async with ws:
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": ws.next_request_id()}).decode())
        await wait_until(lambda: emu.ws_sessions[0].messages())
    assert emu.ws_sessions[0].messages() == [{"method": "LIST_SUBSCRIPTIONS", "id": 1}]
    with pytest.raises(NetworkError):
        await ws.send("x")
    with pytest.raises(NetworkError, match="closed"):
        await ws.wait_ready()
    await ws.close()  # idempotent


async def test_url_callable_is_asked_before_every_connect(emu: VenueEmulator) -> None:
    """A URL callable (a rotating listen key) is resolved again for each new socket."""
    emu.websocket(faults=[WsFaults(drop_after=0)])
    keys = iter(["k1", "k2", "k3"])

    async def url() -> str:
        return f"{emu.ws_url}/ws/{next(keys)}"

    async with WsConnection(url, policy(), lambda m: None):
        await wait_until(lambda: len(emu.ws_sessions) == 2)
    assert [s.path for s in emu.ws_sessions] == ["/ws/k1", "/ws/k2"]


async def test_subscribe_after_close_raises(emu: VenueEmulator) -> None:
    """A closed connection refuses new streams instead of recording them silently."""
    emu.websocket("/ws")
    async with WsConnection(emu.ws_url + "/ws", policy(), lambda m: None) as ws:
        pass
    with pytest.raises(NetworkError, match="closed"):
        await ws.subscribe(["a"])


def test_policy_declaration_imports_no_network_library() -> None:
    """A venue plugin can declare its WsPolicy without importing websockets or aiohttp."""
    code = (
        "import sys, exchanges.transport as t\n"
        "t.WsPolicy(name='x', subscribe_message=lambda s, i: '', heartbeat=t.TextPing(), backoff=t.Backoff())\n"
        "print('websockets' in sys.modules, 'aiohttp' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
