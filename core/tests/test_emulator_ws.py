"""The loopback venue emulator, websocket side, driven by a plain ``websockets`` client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus

from exchanges.testing.emulator import (
    CloseWs,
    Drop,
    Pause,
    Stall,
    VenueEmulator,
    WaitFor,
    WsFaults,
    WsSession,
    json_pong,
    text_pong,
    wait_until,
)


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


def frames(n: int) -> list[dict[str, int]]:
    return [{"i": i} for i in range(n)]


async def drain(ws: ClientConnection, timeout: float = 2.0) -> list[Any]:
    """Every frame until the server closes the socket."""
    got: list[Any] = []
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.recv()
                got.append(orjson.loads(raw) if raw[:1] in ("{", "[", b"{", b"[") else raw)
    return got


async def test_replays_the_script_on_every_connection(emu: VenueEmulator) -> None:
    """A list of frames is replayed from the start on each new connection; dict frames are JSON text."""
    emu.websocket("/ws", frames=[*frames(3), CloseWs(1000)])
    for _ in range(2):
        async with connect(emu.ws_url + "/ws") as ws:
            assert await drain(ws) == frames(3)
    assert [s.index for s in emu.ws_sessions] == [0, 1]
    assert [s.frames_sent for s in emu.ws_sessions] == [3, 3]


async def test_frame_types_keep_their_opcode(emu: VenueEmulator) -> None:
    """str frames go as text, bytes as binary, dicts and lists as JSON text."""
    emu.websocket(frames=["pong", b"\x01\x02", [1, 2], CloseWs()])
    async with connect(emu.ws_url + "/any/path") as ws:
        assert await ws.recv() == "pong"
        assert await ws.recv() == b"\x01\x02"
        assert await ws.recv() == "[1,2]"


@pytest.mark.parametrize(
    ("faults", "expected", "skipped", "duplicated"),
    [
        (WsFaults(skip={1, 3}), [0, 2, 4], [1, 3], []),
        (WsFaults(duplicate={0, 2}), [0, 0, 1, 2, 2, 3, 4], [], [0, 2]),
        (WsFaults(skip={1}, duplicate={2}), [0, 2, 2, 3, 4], [1], [2]),
    ],
)
async def test_skip_and_duplicate_faults(
    emu: VenueEmulator, faults: WsFaults, expected: list[int], skipped: list[int], duplicated: list[int]
) -> None:
    """skip leaves sequence gaps and duplicate sends a frame twice, at the given script positions."""
    emu.websocket(frames=[*frames(5), CloseWs()], faults=faults)
    async with connect(emu.ws_url) as ws:
        assert [f["i"] for f in await drain(ws)] == expected
    (session,) = emu.ws_sessions
    assert (session.skipped, session.duplicated) == (skipped, duplicated)


async def test_drop_after_aborts_without_a_close_frame(emu: VenueEmulator) -> None:
    """drop_after=N cuts the TCP connection after N frames: the client sees no close frame."""
    emu.websocket(frames=frames(10), faults=WsFaults(drop_after=4))
    async with connect(emu.ws_url) as ws:
        got = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                got.append(orjson.loads(await ws.recv()))
    assert got == frames(4)
    assert info.value.rcvd is None
    assert emu.ws_sessions[0].closed


async def test_close_after_closes_cleanly_with_the_code(emu: VenueEmulator) -> None:
    """close_after=N closes with close_code after N frames."""
    emu.websocket(frames=frames(10), faults=WsFaults(close_after=2, close_code=4000))
    async with connect(emu.ws_url) as ws:
        assert len(await drain(ws)) == 2
    assert ws.close_code == 4000


async def test_per_connection_fault_list(emu: VenueEmulator) -> None:
    """A list of faults applies by connection number; later connections have none."""
    emu.websocket(frames=[*frames(3), CloseWs()], faults=[WsFaults(drop_after=1), WsFaults(skip={0})])
    results = []
    for _ in range(3):
        async with connect(emu.ws_url) as ws:
            results.append([f["i"] for f in await drain(ws)])
    assert results == [[0], [1, 2], [0, 1, 2]]


async def test_script_actions_pause_wait_for_and_drop(emu: VenueEmulator) -> None:
    """WaitFor holds the script until a matching client message, then Drop aborts the socket."""
    emu.websocket(frames=[WaitFor(lambda m: m == {"op": "go"}), {"i": 0}, Pause(0.01), {"i": 1}, Drop(), {"i": 2}])
    async with connect(emu.ws_url) as ws:
        await ws.send('{"op":"wait"}')
        await ws.send('{"op":"go"}')
        assert await drain(ws) == frames(2)
    assert emu.ws_sessions[0].messages() == [{"op": "wait"}, {"op": "go"}]


async def test_callable_script_feeds_per_connection(emu: VenueEmulator) -> None:
    """A callable returning an async generator drives each connection, knowing its index."""

    async def feed(session: WsSession) -> AsyncIterator[dict[str, int]]:
        for i in range(2):
            yield {"conn": session.index, "i": i}
        yield CloseWs()  # type: ignore[misc]

    emu.websocket(frames=feed)
    got = []
    for _ in range(2):
        async with connect(emu.ws_url) as ws:
            got.append(await drain(ws))
    assert got == [[{"conn": 0, "i": 0}, {"conn": 0, "i": 1}], [{"conn": 1, "i": 0}, {"conn": 1, "i": 1}]]


async def test_coroutine_script_drives_the_session(emu: VenueEmulator) -> None:
    """A coroutine script can receive and send freely (send_raw bypasses faults)."""

    async def script(session: WsSession) -> None:
        request = await session.receive()
        await session.send_raw({"echo": request})
        await session.close(1000)

    emu.websocket(frames=script, faults=WsFaults(skip={0}))
    async with connect(emu.ws_url) as ws:
        await ws.send('{"hello":1}')
        assert await drain(ws) == [{"echo": {"hello": 1}}]


async def test_on_message_replies_to_requests(emu: VenueEmulator) -> None:
    """on_message answers each client message (a Binance-style SUBSCRIBE ack here)."""

    def ack(session: WsSession, message: Any) -> Any:
        return {"result": None, "id": message["id"]} if isinstance(message, dict) and "id" in message else None

    emu.websocket(on_message=ack)
    async with connect(emu.ws_url) as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}')
        assert orjson.loads(await ws.recv()) == {"result": None, "id": 7}


@pytest.mark.parametrize(
    ("heartbeat", "ping", "pong"),
    [(text_pong(), "ping", "pong"), (json_pong(), '{"method":"ping"}', '{"channel":"pong"}')],
)
async def test_heartbeat_responders(emu: VenueEmulator, heartbeat: Any, ping: str, pong: str) -> None:
    """Text and JSON pings are answered and recorded but not queued for the script."""
    emu.websocket(heartbeat=heartbeat)
    async with connect(emu.ws_url) as ws:
        await ws.send(ping)
        assert await ws.recv() == pong
        await ws.send('{"x":1}')
        session = await emu.wait_for_session(0)
        assert await session.receive() == {"x": 1}
    assert [m.kind for m in emu.ws_messages] == ["text", "text"]


async def test_protocol_pings_are_answered_until_stalled(emu: VenueEmulator) -> None:
    """Ping frames get pongs and are recorded; after a stall they get none while the socket stays open."""
    emu.websocket(frames=[{"i": 0}, WaitFor(lambda m: m == "stall now"), Stall()])
    async with connect(emu.ws_url, ping_interval=None) as ws:
        await ws.recv()
        await asyncio.wait_for(await ws.ping(b"1"), 1)  # answered before the stall
        await ws.send("stall now")
        session = await emu.wait_for_session(0)
        await wait_until(lambda: session.stalled)
        waiter = await ws.ping(b"2")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiter, 0.2)
        assert not session.closed
    assert [m.kind for m in emu.ws_messages] == ["ping", "text", "ping"]


@pytest.mark.parametrize("faults", [WsFaults(stall_after=2), WsFaults(ignore_pings=True)])
async def test_stall_and_ignore_pings_silence_application_pongs(emu: VenueEmulator, faults: WsFaults) -> None:
    """A stalled (or ping-ignoring) connection leaves text pings unanswered."""
    emu.websocket(frames=frames(2), heartbeat=text_pong(), faults=faults)
    async with connect(emu.ws_url) as ws:
        assert [orjson.loads(await ws.recv()) for _ in range(2)] == frames(2)
        await ws.send("ping")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


async def test_refused_upgrade_carries_status_and_headers(emu: VenueEmulator) -> None:
    """refuse=429 answers the upgrade with HTTP 429 and Retry-After; the next connection is accepted."""
    emu.websocket(faults=[WsFaults(refuse=429, refuse_headers={"Retry-After": "7"})])
    with pytest.raises(InvalidStatus) as info:
        async with connect(emu.ws_url + "/ws"):
            pass
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    async with connect(emu.ws_url + "/ws"):
        pass
    assert emu.ws_refused == [("/ws", 429)]
    assert len(emu.ws_sessions) == 1


async def test_path_specific_endpoint_wins_over_the_catch_all(emu: VenueEmulator) -> None:
    """An endpoint with a path serves it; the path-less one serves the others; without any, 404."""
    emu.websocket("/private", frames=["private", CloseWs()])
    emu.websocket(frames=["public", CloseWs()])
    async with connect(emu.ws_url + "/private") as ws:
        assert await ws.recv() == "private"
    async with connect(emu.ws_url + "/public") as ws:
        assert await ws.recv() == "public"


async def test_no_endpoint_refuses_with_404(emu: VenueEmulator) -> None:
    """Without websocket endpoints an upgrade is refused with 404."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(emu.ws_url + "/ws"):
            pass
    assert info.value.response.status_code == 404


async def test_client_frames_are_counted_per_window(emu: VenueEmulator) -> None:
    """Every client frame is recorded with a timestamp; window counters count them per session."""
    emu.websocket()
    async with connect(emu.ws_url) as ws:
        for i in range(3):
            await ws.send(f'{{"i":{i}}}')
        await ws.send(b"\x00")
        await wait_until(lambda: len(emu.ws_messages) == 4)
    assert [m.kind for m in emu.ws_messages] == ["text", "text", "text", "binary"]
    assert emu.ws_max_in_window(60, session=0) == 4
    assert emu.ws_max_in_window(60, session=1) == 0
    assert emu.ws_max_in_window(60, kinds=("binary",)) == 1
    assert sum(emu.ws_count_by_window(60).values()) == 4


async def test_broken_script_is_reported_and_closes_the_socket(emu: VenueEmulator) -> None:
    """An exception in a script is kept in emu.errors and the connection is closed, not left hanging."""

    async def broken(session: WsSession) -> None:
        raise RuntimeError("script bug")

    emu.websocket(frames=broken)
    async with connect(emu.ws_url) as ws:
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), 2)
    await wait_until(lambda: emu.errors)
    assert [str(e) for e in emu.errors] == ["script bug"]


async def test_broadcast_reaches_every_open_connection(emu: VenueEmulator) -> None:
    """broadcast() sends a frame to all open connections."""
    emu.websocket()
    async with connect(emu.ws_url) as a, connect(emu.ws_url) as b:
        await emu.wait_for_session(1)
        assert await emu.broadcast({"hello": 1}) == 2
        assert [await a.recv(), await b.recv()] == ['{"hello":1}', '{"hello":1}']


async def test_delay_fault_holds_each_frame_back(emu: VenueEmulator) -> None:
    """WsFaults(delay=...) makes each frame wait: a short client timeout fires before the first arrives."""
    emu.websocket(frames=[{"i": 0}, CloseWs()], faults=WsFaults(delay=0.5))
    async with connect(emu.ws_url) as ws:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.05)
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {"i": 0}
