"""One websocket socket of a :class:`~exchanges.transport.ws.WsConnection`, and how its failures read."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
from websockets.asyncio.client import ClientConnection, process_exception
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..errors import AuthenticationError, ConfigError, ExchangeError, NetworkError
from ._ws_policy import Heartbeat, ProtocolPing, TextPing, WsStateEvent
from ._ws_throttle import MessageThrottle

if TYPE_CHECKING:
    from ._ws_connection import WsConnection

__all__ = ["Handshake", "Router", "StateCallback", "UrlSource", "WsHandshake", "WsStats"]

log = logging.getLogger("exchanges.transport.ws")


#: Receives every decoded message, synchronously (publish to an EventBus, update a book...).
Router = Callable[[Any], None]
#: Receives every state change.
StateCallback = Callable[[WsStateEvent], None]
#: Runs on every new socket before streams are sent (login).
Handshake = Callable[["WsHandshake"], Awaitable[None]]
#: A URL, or a callable returning one (sync or async), asked before every connect.
UrlSource = str | Callable[[], "str | Awaitable[str]"]


@attrs.define
class WsStats:
    """Counters of one connection (diagnostics and tests)."""

    received: int = 0
    routed: int = 0
    sent: int = 0
    pings: int = 0
    pongs: int = 0
    undecodable: int = 0
    router_errors: int = 0
    duplicates_dropped: int = 0
    connects: int = 0
    disconnects: int = 0
    rollovers: int = 0


@attrs.define(eq=False)
class _Link:
    """A socket plus what the connection tracks about it.

    ``role`` is ``live`` (routed), ``pending`` (a rollover's new socket, held
    back), ``retiring`` (the old socket during an overlapped rollover, still
    routed) or ``closed``.
    """

    ws: ClientConnection
    number: int
    throttle: MessageThrottle
    opened_at: float
    last_rx: float
    retire_at: float | None = None
    rollover_failures: int = 0
    role: str = "live"
    subscribed: bool = False
    dead: bool = False  # heartbeat or idle timeout: the peer is gone, do not wait for a closing handshake
    reader: asyncio.Task[str] | None = None
    watchdog: asyncio.Task[None] | None = None
    dead_reason: str | None = None
    buffer: list[Any] = attrs.Factory(list)

    async def send(self, frame: str | bytes) -> None:
        """Send within the socket's message budget."""
        await self.throttle.acquire()
        await self.ws.send(frame)

    def kill(self, reason: str) -> None:
        """The peer is gone: abort the TCP connection (the reader then ends with ``reason``)."""
        self.dead = True
        self.dead_reason = reason
        if self.ws.transport is not None:
            self.ws.transport.abort()

    async def close(self) -> None:
        """Stop reading and close the socket (never raises)."""
        self.role = "closed"
        for task in (self.watchdog, self.reader):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self.dead and self.ws.transport is not None:
            self.ws.transport.abort()
        with contextlib.suppress(Exception):
            await self.ws.close()


class _Beat:
    """The client side of a heartbeat on one socket, run as a watchdog task beside the reader.

    A ping goes out only after ``interval`` seconds without any incoming frame,
    through the socket's message budget. Any incoming frame (or, for protocol
    pings, the pong) counts as the answer; none within ``timeout`` means the
    peer is gone and the socket is aborted (no closing handshake with a dead
    peer). ``idle`` (``WsPolicy.idle_timeout``) aborts a socket on which nothing
    arrived for that long. The reader only stamps ``link.last_rx``: no timer
    per message.
    """

    __slots__ = ("_frame", "_protocol", "_stats", "idle", "interval", "pong_at", "timeout")

    def __init__(self, heartbeat: Heartbeat, idle: float | None, stats: WsStats) -> None:
        self.interval: float | None = heartbeat.interval
        self.timeout: float | None = heartbeat.timeout
        self.idle = idle
        self._protocol = isinstance(heartbeat, ProtocolPing)
        if isinstance(heartbeat, ProtocolPing):
            self._frame = ""
        else:
            self._frame = heartbeat.ping if isinstance(heartbeat, TextPing) else heartbeat.message
        self._stats = stats
        self.pong_at = 0.0

    @property
    def needed(self) -> bool:
        """False when there is nothing to watch."""
        return self.interval is not None or self.idle is not None

    def _on_pong(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.cancelled() and waiter.exception() is None:  # retrieving it also silences a late error
            self.pong_at = asyncio.get_running_loop().time()
            self._stats.pongs += 1

    async def watch(self, link: _Link) -> None:
        """Ping when due and abort the socket when the peer stops answering; returns when the link ends."""
        loop = asyncio.get_running_loop()
        interval, timeout, idle = self.interval, self.timeout, self.idle
        sent_at: float | None = None
        keepalive_at = 0.0  # a ping that is not judged (timeout None) also restarts the interval
        try:
            while True:
                heard = max(link.last_rx, self.pong_at)
                if sent_at is not None and heard >= sent_at:
                    sent_at = None  # answered
                deadlines = []
                if idle is not None:
                    deadlines.append(link.last_rx + idle)
                if interval is not None:
                    if sent_at is None:
                        deadlines.append(max(heard, keepalive_at) + interval)
                    elif timeout is not None:
                        # look again one interval after the ping (the answer usually came long
                        # before), and at the latest when the timeout expires
                        early = sent_at + interval
                        deadlines.append(early if loop.time() < early < sent_at + timeout else sent_at + timeout)
                await asyncio.sleep(max(0.0, min(deadlines) - loop.time()))
                now = loop.time()
                heard = max(link.last_rx, self.pong_at)
                if idle is not None and now - link.last_rx >= idle:
                    link.kill(f"idle: nothing received for {idle:g}s")
                    return
                if interval is None:
                    continue
                if sent_at is not None:
                    if heard < sent_at and timeout is not None and now - sent_at >= timeout:
                        link.kill(f"heartbeat stalled: no answer to ping within {timeout:g}s")
                        return
                    continue
                if now - max(heard, keepalive_at) < interval:
                    continue
                if self._protocol:
                    await link.throttle.acquire()
                    waiter = await link.ws.ping()
                    waiter.add_done_callback(self._on_pong)  # type: ignore[attr-defined]
                else:
                    await link.send(self._frame)
                self._stats.pings += 1
                self._stats.sent += 1
                if timeout is None:
                    keepalive_at = loop.time()
                else:
                    sent_at = loop.time()
        except ConnectionClosed:
            return  # the reader reports it
        except Exception as exc:  # a bug must not leave the socket unwatched: give it up
            log.exception("heartbeat of socket #%d failed", link.number)
            link.kill(f"heartbeat failed: {exc!r}")


class WsHandshake:
    """A fresh socket as seen by a ``handshake`` callback (e.g. OKX login), before any stream is sent.

    The callback runs on every new socket (first connect, reconnects, rollovers)
    within ``WsPolicy.open_timeout``; raising :class:`~exchanges.errors.AuthenticationError`
    stops the connection for good, any other exception counts as a failed attempt.
    """

    __slots__ = ("_conn", "_link")

    def __init__(self, conn: WsConnection, link: _Link) -> None:
        self._conn = conn
        self._link = link

    @property
    def connection(self) -> str:
        """Name of the connection the socket belongs to."""
        return self._conn.name

    async def send(self, frame: str | bytes) -> None:
        """Send one frame (counted against the message budget)."""
        await self._link.send(frame)
        self._conn.stats.sent += 1

    async def receive(self, timeout: float | None = None) -> Any:
        """The next incoming message, decoded; :class:`TimeoutError` after ``timeout`` seconds."""
        raw = await asyncio.wait_for(self._link.ws.recv(decode=False), timeout)
        return self._conn._decode(raw)


def describe_close(exc: ConnectionClosed) -> str:
    """A short human reason for a closed socket."""
    if exc.rcvd is not None:
        return f"closed by server: code {exc.rcvd.code} {exc.rcvd.reason}".rstrip()
    if exc.sent is not None:
        return f"closed: code {exc.sent.code} {exc.sent.reason}".rstrip()
    return "connection lost without a close frame"


def classify_failure(exc: BaseException, venue: str) -> tuple[ExchangeError | None, float | None, str]:
    """``(fatal_error_or_None, retry_after_seconds_or_None, reason)`` for a failed connection attempt.

    Network errors, timeouts, 5xx and 429/418 (honouring ``Retry-After``) are
    retried; bad credentials, a rejected URL (4xx) or a bad configuration are fatal.
    The ``websockets`` library's own :func:`process_exception` decides the rest.
    """
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, AuthenticationError | ConfigError):
        return exc, None, reason
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        if status in (408, 429, 418) or 500 <= status < 600:
            header = exc.response.headers.get("Retry-After")
            retry_after: float | None = None
            if header is not None:
                with contextlib.suppress(ValueError):
                    retry_after = max(0.0, float(header))
            return None, retry_after, f"HTTP {status} on websocket handshake"
        fatal = NetworkError(f"websocket handshake rejected with HTTP {status}", exchange=venue)
        return fatal, None, reason
    if isinstance(exc, ExchangeError | ConnectionClosed | TimeoutError):
        return None, None, reason
    if not isinstance(exc, Exception):
        return NetworkError(reason, exchange=venue), None, reason
    if process_exception(exc) is None:
        return None, None, reason
    return NetworkError(f"cannot open websocket: {reason}", exchange=venue), None, reason
