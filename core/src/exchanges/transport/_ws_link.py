"""One websocket socket of a :class:`~exchanges.transport.ws.WsConnection`, and how its failures read."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import attrs
from websockets.asyncio.client import ClientConnection, process_exception
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..errors import AuthenticationError, ConfigError, ExchangeError, NetworkError
from ._ws_throttle import MessageThrottle

if TYPE_CHECKING:
    from ._ws_connection import WsConnection

__all__ = ["WsHandshake"]


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
    buffer: list[Any] = attrs.Factory(list)

    async def send(self, frame: str | bytes) -> None:
        """Send within the socket's message budget."""
        await self.throttle.acquire()
        await self.ws.send(frame)

    async def close(self) -> None:
        """Stop reading and close the socket (never raises)."""
        self.role = "closed"
        reader = self.reader
        if reader is not None and not reader.done() and reader is not asyncio.current_task():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        if self.dead and self.ws.transport is not None:
            self.ws.transport.abort()
        with contextlib.suppress(Exception):
            await self.ws.close()


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
