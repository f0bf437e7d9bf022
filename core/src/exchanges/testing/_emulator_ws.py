"""Websocket side of the venue emulator: scripted frames per connection, fault injection, recording."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .emulator import VenueEmulator

log = logging.getLogger("exchanges.testing.emulator")

__all__ = [
    "CloseWs",
    "Drop",
    "Pause",
    "RecordedWsMessage",
    "Stall",
    "WaitFor",
    "WsEndpoint",
    "WsFaults",
    "WsSession",
    "json_pong",
    "text_pong",
]

_NOT_JSON: Any = object()


def _frozenset(values: Iterable[int]) -> frozenset[int]:
    return frozenset(values)


@attrs.frozen
class WsFaults:
    """Faults injected into one websocket connection. Positions count the script's frames from 0.

    :param drop_after: abort the TCP connection (no close frame) once this many frames were handled.
    :param close_after: close cleanly with ``close_code`` once this many frames were handled.
    :param delay: seconds to wait before each frame.
    :param duplicate: positions of frames sent twice.
    :param skip: positions of frames never sent (a sequence gap).
    :param stall_after: once this many frames were handled, send nothing more and answer
        no ping (protocol, text or JSON); the socket stays open.
    :param freeze: when the stall starts, also stop reading the socket: a hung peer that
        answers neither pings nor the closing handshake.
    :param ignore_pings: never answer pings, while data keeps flowing.
    :param refuse: answer the upgrade request with this HTTP status instead of accepting it.
    :param refuse_headers: headers of that refusal (e.g. ``Retry-After``).
    """

    drop_after: int | None = None
    close_after: int | None = None
    close_code: int = 1001
    delay: float = 0.0
    duplicate: frozenset[int] = attrs.field(default=frozenset(), converter=_frozenset)
    skip: frozenset[int] = attrs.field(default=frozenset(), converter=_frozenset)
    stall_after: int | None = None
    freeze: bool = False
    ignore_pings: bool = False
    refuse: int | None = None
    refuse_headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Pause:
    """Script action: wait ``seconds`` before the next item."""

    seconds: float


@attrs.frozen
class Drop:
    """Script action: abort the TCP connection without a close frame."""


@attrs.frozen
class CloseWs:
    """Script action: close the websocket cleanly with ``code`` and ``reason``."""

    code: int = 1000
    reason: str = ""


@attrs.frozen
class Stall:
    """Script action: go silent (no frames, no answers to pings) while keeping the socket open."""


@attrs.frozen
class WaitFor:
    """Script action: wait until the client sends a message for which ``predicate`` is true."""

    predicate: Callable[[Any], bool]
    timeout: float | None = 5.0


@attrs.frozen
class RecordedWsMessage:
    """A frame a client sent on connection ``session`` (its ``WsSession.number``).

    ``kind`` is ``text``, ``binary``, ``ping`` or ``pong``; ``time`` is monotonic.
    """

    session: int
    time: float
    kind: str
    data: str | bytes

    def json(self) -> Any:
        """The frame decoded as JSON (raises on non-JSON)."""
        return orjson.loads(self.data)

    def decoded(self) -> Any:
        """The frame decoded as JSON, or the raw text/bytes when it is not JSON."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError:
            return self.data


def text_pong(ping: str = "ping", pong: str = "pong") -> Callable[[Any], Any]:
    """Heartbeat responder answering the text frame ``ping`` with ``pong`` (OKX)."""
    return lambda message: pong if message == ping else None


def json_pong(ping: Any = None, pong: Any = None) -> Callable[[Any], Any]:
    """Heartbeat responder answering ``{"method":"ping"}`` with ``{"channel":"pong"}`` (Hyperliquid)."""
    expected = {"method": "ping"} if ping is None else ping
    answer = {"channel": "pong"} if pong is None else pong
    return lambda message: answer if message == expected else None


#: What an endpoint replays: a list of frames/actions, or ``session -> iterable | async iterable | coroutine``.
FrameSource = Sequence[Any] | Callable[["WsSession"], "Iterable[Any] | AsyncIterable[Any] | Awaitable[None]"]


@attrs.define
class WsEndpoint:
    """A websocket endpoint of the emulator (see :meth:`VenueEmulator.websocket`)."""

    path: str | None = None
    frames: FrameSource | None = None
    on_message: Callable[[WsSession, Any], Any] | None = None
    heartbeat: Callable[[Any], Any] | None = None
    faults: WsFaults | Sequence[WsFaults] | Callable[[int], WsFaults] | None = None
    keep_open: bool = True

    def faults_for(self, index: int) -> WsFaults:
        """The faults of connection number ``index`` (0-based, per endpoint)."""
        faults = self.faults
        if faults is None:
            return WsFaults()
        if isinstance(faults, WsFaults):
            return faults
        if callable(faults):
            return faults(index)
        return faults[index] if index < len(faults) else WsFaults()


class WsSession:
    """One accepted websocket connection of the emulator, driven by its endpoint's script and faults.

    Frames are ``dict``/``list`` (sent as JSON text), ``str`` (text) or ``bytes`` (binary).
    """

    def __init__(
        self,
        emulator: VenueEmulator,
        endpoint: WsEndpoint,
        request: web.Request,
        ws: web.WebSocketResponse,
        index: int,
        number: int,
        faults: WsFaults,
    ) -> None:
        self._emulator = emulator
        self._endpoint = endpoint
        self._request = request
        self._ws = ws
        #: connection number on its endpoint, from 0 (what ``faults`` lists are indexed by).
        self.index = index
        #: position in ``VenueEmulator.ws_sessions`` (all endpoints), as in recorded messages.
        self.number = number
        self.path = request.path
        self.query: dict[str, str] = dict(request.query)
        self.headers: dict[str, str] = dict(request.headers)
        self.faults = faults
        #: every frame the client sent on this connection.
        self.received: list[RecordedWsMessage] = []
        #: frames actually written (duplicates count twice).
        self.frames_sent = 0
        #: script frames handled (sent, duplicated or skipped): the fault positions.
        self.position = 0
        self.skipped: list[int] = []
        self.duplicated: list[int] = []
        self.stalled = False
        self.closed = False
        self.opened_at = time.monotonic()
        #: monotonic time the connection went away (``None`` while open).
        self.closed_at: float | None = None
        #: free-form per-connection state for scripts (e.g. subscribed streams).
        self.state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._gone = asyncio.Event()

    # --------------------------------------------------------------- sending

    async def send(self, frame: Any) -> bool:
        """Send one script frame through the faults; False once the connection is gone or stalled."""
        if self.closed or self.stalled:
            return False
        faults = self.faults
        position = self.position
        self.position += 1
        if position in faults.skip:
            self.skipped.append(position)
        else:
            if faults.delay:
                await asyncio.sleep(faults.delay)
            copies = 2 if position in faults.duplicate else 1
            if copies == 2:
                self.duplicated.append(position)
            for _ in range(copies):
                if not await self.send_raw(frame):
                    return False
        handled = self.position
        if faults.drop_after is not None and handled >= faults.drop_after:
            await self.drop()
            return False
        if faults.close_after is not None and handled >= faults.close_after:
            await self.close(faults.close_code, "emulator: close_after")
            return False
        if faults.stall_after is not None and handled >= faults.stall_after:
            self.stall()
            return False
        return True

    async def send_raw(self, frame: Any) -> bool:
        """Send one frame as is (no faults); False when the connection is gone."""
        if self.closed:
            return False
        try:
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            elif isinstance(frame, str):
                await self._ws.send_str(frame)
            else:
                await self._ws.send_frame(orjson.dumps(frame), WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            self._mark_gone()
            return False
        self.frames_sent += 1
        return True

    def stall(self) -> None:
        """Go silent: no more frames, no answers to pings (the socket stays open).

        With ``faults.freeze`` the socket is not even read any more (no closing handshake).
        """
        self.stalled = True
        transport = self._request.transport
        if self.faults.freeze and transport is not None:
            transport.pause_reading()

    def resume(self) -> None:
        """End a stall."""
        self.stalled = False
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    async def drop(self) -> None:
        """Abort the TCP connection without a close frame."""
        transport = self._request.transport
        if transport is not None:
            transport.abort()
        self._mark_gone()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the websocket cleanly."""
        if not self.closed:
            self._mark_gone()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.close(code=code, message=reason.encode())

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the connection is gone."""
        await asyncio.wait_for(self._gone.wait(), timeout)

    # --------------------------------------------------------------- receiving

    async def receive(self, timeout: float | None = 5.0) -> Any:
        """The next client message (JSON decoded when possible; heartbeat pings excluded)."""
        return await asyncio.wait_for(self._inbox.get(), timeout)

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float | None = 5.0) -> Any:
        """The next client message for which ``predicate`` is true (earlier ones are consumed)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self._inbox.get()
                if predicate(message):
                    return message

    def messages(self, kind: str | None = "text") -> list[Any]:
        """Decoded client messages of ``kind`` (``None``: every kind) received so far."""
        return [m.decoded() for m in self.received if kind is None or m.kind == kind]

    # --------------------------------------------------------------- internals

    def _mark_gone(self) -> None:
        if not self.closed:
            self.closed = True
            self.closed_at = time.monotonic()
        self._gone.set()

    def _record(self, kind: str, data: str | bytes) -> RecordedWsMessage:
        record = RecordedWsMessage(self.number, time.monotonic(), kind, data)
        self.received.append(record)
        self._emulator.ws_messages.append(record)
        return record

    async def _read(self) -> None:
        ws = self._ws
        endpoint = self._endpoint
        async for msg in ws:
            if msg.type is WSMsgType.PING:
                self._record("ping", msg.data)
                if not (self.stalled or self.faults.ignore_pings):
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.pong(msg.data)
                continue
            if msg.type is WSMsgType.PONG:
                self._record("pong", msg.data)
                continue
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            record = self._record("text" if msg.type is WSMsgType.TEXT else "binary", msg.data)
            message = record.decoded()
            if endpoint.heartbeat is not None:
                answer = endpoint.heartbeat(message)
                if answer is not None:
                    if not (self.stalled or self.faults.ignore_pings):
                        await self.send_raw(answer)
                    continue
            if endpoint.on_message is not None:
                reply = endpoint.on_message(self, message)
                if inspect.isawaitable(reply):
                    reply = await reply
                if reply is not None and not self.stalled:
                    await self.send_raw(reply)
            self._inbox.put_nowait(message)
        self._mark_gone()

    async def _play(self, item: Any) -> bool:
        if isinstance(item, Pause):
            await asyncio.sleep(item.seconds)
            return not self.closed
        if isinstance(item, Drop):
            await self.drop()
            return False
        if isinstance(item, CloseWs):
            await self.close(item.code, item.reason)
            return False
        if isinstance(item, Stall):
            self.stall()
            return False
        if isinstance(item, WaitFor):
            await self.wait_for(item.predicate, item.timeout)
            return not self.closed
        return await self.send(item)

    async def _run_script(self) -> None:
        faults = self.faults
        if faults.drop_after == 0:
            await self.drop()
            return
        if faults.close_after == 0:
            await self.close(faults.close_code, "emulator: close_after")
            return
        if faults.stall_after == 0:
            self.stall()
            return
        source = self._endpoint.frames
        if source is None:
            return
        items: Any = source(self) if callable(source) else source
        if inspect.isawaitable(items):
            await items
            return
        if isinstance(items, AsyncIterable):
            async with contextlib.aclosing(items) as stream:  # type: ignore[type-var]
                async for item in stream:
                    if not await self._play(item):
                        return
        else:
            for item in items:
                if not await self._play(item):
                    return
        if not self._endpoint.keep_open and not self.closed and not self.stalled:
            await self.close(1000, "emulator: script done")

    async def _serve(self) -> None:
        script = asyncio.create_task(self._run_script(), name=f"emulator-ws-script#{self.index}")
        reader = asyncio.create_task(self._read(), name=f"emulator-ws-read#{self.index}")
        try:
            await asyncio.wait({script, reader}, return_when=asyncio.FIRST_COMPLETED)
            if script.done() and not script.cancelled() and script.exception() is None and not reader.done():
                await reader  # the script ended; keep answering until the client leaves
        finally:
            self._mark_gone()
            for task in (script, reader):
                task.cancel()
            results = await asyncio.gather(script, reader, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception) and not isinstance(result, ConnectionError | TimeoutError):
                    log.error("emulator websocket #%d: %r", self.number, result, exc_info=result)
                    self._emulator.errors.append(result)
            if not self._ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._ws.close()
