"""The resilient websocket connection (see :mod:`exchanges.transport.ws`)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal

import orjson
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from ..errors import ExchangeError, ExchangeUnavailable, NetworkError
from ..events import EventBus
from ._ws_link import (
    Handshake,
    Router,
    StateCallback,
    UrlSource,
    WsHandshake,
    WsStats,
    _Beat,
    _Link,
    classify_failure,
    describe_close,
)
from ._ws_policy import Backoff, JsonPing, SubscribeMessage, TextPing, WsPolicy, WsState, WsStateEvent
from ._ws_throttle import MessageThrottle

__all__ = ["Handshake", "Router", "StateCallback", "UrlSource", "WsConnection", "WsStats"]

log = logging.getLogger("exchanges.transport.ws")


class WsConnection:
    """One logical websocket connection that stays up: reconnects, resubscribes, keeps the heartbeat.

    :param url: the socket URL, or a callable (sync or async) asked before every
        connect (a Binance listen key may change).
    :param policy: the venue's :class:`WsPolicy`.
    :param router: called synchronously with every decoded message except heartbeat answers.
        It must not block; exceptions it raises are logged and counted, never fatal.
    :param name: used in state events and logs (default ``policy.name``).
    :param handshake: ``async (WsHandshake) -> None`` run on every new socket (login).
    :param on_state: called with every :class:`WsStateEvent`.
    :param bus: also publish state events on this bus, topic ``state_topic``.
    :param rng: random source of the backoff jitter (seed it in tests).
    :param connect_gate: awaited before each connection attempt (a shared
        connections-per-IP limiter, for instance).
    :param headers: extra HTTP headers of the opening handshake.
    :param proxy: ``True`` (from the environment), a proxy URL, or ``None``.
    """

    def __init__(
        self,
        url: UrlSource,
        policy: WsPolicy,
        router: Router,
        *,
        name: str | None = None,
        handshake: Handshake | None = None,
        on_state: StateCallback | None = None,
        bus: EventBus | None = None,
        state_topic: str = "ws.state",
        rng: random.Random | None = None,
        connect_gate: Callable[[], Awaitable[None]] | None = None,
        headers: Mapping[str, str] | None = None,
        proxy: str | Literal[True] | None = True,
    ) -> None:
        self._url = url
        self._policy = policy
        self._router = router
        self._name = name or policy.name
        self._handshake = handshake
        self._on_state = on_state
        self._bus = bus
        self._state_topic = state_topic
        self._rng = rng or random.Random()
        self._connect_gate = connect_gate
        self._headers = dict(headers or {})
        self._proxy = proxy
        self._streams: dict[str, None] = {}  # insertion-ordered set
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._links: set[_Link] = set()
        self._live: _Link | None = None
        self._link_count = 0
        self._attempt = 0
        self._state: WsState | None = None
        self._ready = asyncio.Event()
        self._error: ExchangeError | None = None
        self._closed = False
        self._supervisor: asyncio.Task[None] | None = None
        self._rollover_wanted: asyncio.Future[str] | None = None
        self._rollover_pending: str | None = None
        self._overlap_full: asyncio.Future[None] | None = None
        self._seen: set[Hashable] | None = None
        self._seen_until = 0.0
        self._decode_fn: Callable[[bytes], Any] = policy.decode or orjson.loads
        #: counters, see :class:`WsStats`.
        self.stats = WsStats()

    # ------------------------------------------------------------------ public API

    @property
    def name(self) -> str:
        """The connection's name (state events, logs)."""
        return self._name

    @property
    def policy(self) -> WsPolicy:
        """The venue policy."""
        return self._policy

    @property
    def streams(self) -> tuple[str, ...]:
        """Active streams, in subscription order (kept across reconnects)."""
        return tuple(self._streams)

    @property
    def state(self) -> WsState | None:
        """The last state reported (``None`` before :meth:`start`)."""
        return self._state

    @property
    def connected(self) -> bool:
        """True while a socket is open and every stream has been sent on it."""
        return self._ready.is_set() and not self._closed and self._error is None

    @property
    def error(self) -> ExchangeError | None:
        """The fatal error that stopped the connection, if any."""
        return self._error

    def next_request_id(self) -> int:
        """A fresh request id (shared with subscribe messages), for venue requests sent with :meth:`send`."""
        return next(self._ids)

    async def start(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Start connecting; with ``wait``, return once connected and subscribed (see :meth:`wait_ready`)."""
        if self._closed:
            raise NetworkError(f"{self._name}: connection is closed", exchange=self._policy.name)
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"ws:{self._name}")
        if wait:
            await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until a socket is open and every stream was sent on it.

        Raises the fatal error if the connection gave up, :class:`NetworkError` if it was
        closed, :class:`TimeoutError` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                if self._error is not None:
                    raise self._error
                if self._closed:
                    raise NetworkError(f"{self._name}: connection is closed", exchange=self._policy.name)
                if self._ready.is_set():
                    return
                await self._ready.wait()

    async def subscribe(self, streams: Iterable[str]) -> list[str]:
        """Add streams; sent now if connected, else on connect. Returns the ones that were new.

        Raises :class:`ExchangeError` past ``max_streams_per_connection`` (use :class:`ShardedWs`),
        :class:`NetworkError` once closed, or the fatal error that stopped the connection.
        """
        requested = list(dict.fromkeys(streams))
        if self._error is not None:
            raise self._error
        if self._closed:
            raise NetworkError(f"{self._name}: connection is closed", exchange=self._policy.name)
        async with self._lock:
            new = [s for s in requested if s not in self._streams]
            if not new:
                return []
            limit = self._policy.max_streams_per_connection
            if limit is not None and len(self._streams) + len(new) > limit:
                raise ExchangeError(
                    f"{self._name}: {len(self._streams) + len(new)} streams exceed the limit of {limit} "
                    "per connection (use ShardedWs)",
                    exchange=self._policy.name,
                )
            self._streams.update(dict.fromkeys(new))
            for link in self._subscribed_links():
                with contextlib.suppress(ConnectionClosed):  # resent on reconnect
                    await self._send_streams(link, new, self._policy.subscribe_message)
        return new

    async def unsubscribe(self, streams: Iterable[str]) -> list[str]:
        """Remove streams; returns the ones that were active.

        Without an ``unsubscribe_message`` in the policy, the connection is
        replaced by a fresh one carrying only the remaining streams.
        """
        async with self._lock:
            gone = [s for s in dict.fromkeys(streams) if s in self._streams]
            if not gone:
                return []
            for stream in gone:
                del self._streams[stream]
            message = self._policy.unsubscribe_message
            links = self._subscribed_links()
            if message is not None:
                for link in links:
                    with contextlib.suppress(ConnectionClosed):
                        await self._send_streams(link, gone, message)
        if message is None and links:
            self.request_rollover("unsubscribe without an unsubscribe message")
        return gone

    async def send(self, frame: str | bytes) -> None:
        """Send one frame on the live socket, within the message budget.

        Raises :class:`NetworkError` when no socket is live.
        """
        link = self._live
        if link is None or link.role != "live":
            raise NetworkError(f"{self._name}: not connected", exchange=self._policy.name)
        try:
            await link.send(frame)
        except ConnectionClosed as exc:
            raise NetworkError(f"{self._name}: {describe_close(exc)}", exchange=self._policy.name) from exc
        self.stats.sent += 1

    def request_rollover(self, reason: str = "requested") -> None:
        """Replace the live socket soon, as at the end of its lifetime (e.g. on a venue's shutdown notice).

        Asked while connecting, it applies to the socket being opened.
        """
        wanted = self._rollover_wanted
        if wanted is not None and not wanted.done():
            wanted.set_result(reason)
        else:
            self._rollover_pending = reason

    async def close(self) -> None:
        """Close for good: stop reconnecting, close the sockets, report ``closed``."""
        if self._closed:
            return
        self._closed = True
        task, self._supervisor = self._supervisor, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for link in list(self._links):
            await self._discard(link)
        self._live = None
        self._ready.set()  # wake waiters; they see the closed flag
        if self._state is not WsState.CLOSED:
            self._emit(WsState.CLOSED, reason="closed by client")

    async def __aenter__(self) -> WsConnection:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = self._state.value if self._state else "new"
        return f"<WsConnection {self._name} {state} streams={len(self._streams)}>"

    # ------------------------------------------------------------------ supervisor

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            link = await self._establish(first=True)
            while True:
                self._live = link
                link.role = "live"
                self._start_reader(link)
                await self._activate(link, continuous=False)
                reason = await self._serve()
                live = self._live or link
                self._ready.clear()
                self._live = None
                if loop.time() - live.opened_at >= self._policy.backoff.reset_after:
                    self._attempt = 0
                await self._discard(live)
                self.stats.disconnects += 1
                self._emit(WsState.DISCONNECTED, reason=reason)
                link = await self._establish(first=False, reason=reason)
        except asyncio.CancelledError:
            raise
        except ExchangeError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: stop visibly rather than spin
            log.exception("websocket supervisor of %s crashed", self._name)
            self._fail(NetworkError(f"{self._name}: transport failed: {exc!r}", exchange=self._policy.name))

    def _fail(self, error: ExchangeError) -> None:
        self._error = error
        self._ready.set()
        self._emit(WsState.CLOSED, reason=str(error))

    async def _establish(self, *, first: bool, reason: str | None = None) -> _Link:
        """Open a socket, retrying with backoff; raises the fatal error when giving up."""
        backoff: Backoff = self._policy.backoff
        retry_after: float | None = None
        wait = not first
        while True:
            if wait:
                self._attempt += 1
                if backoff.max_attempts is not None and self._attempt > backoff.max_attempts:
                    raise ExchangeUnavailable(
                        f"{self._name}: gave up after {backoff.max_attempts} attempts ({reason})",
                        exchange=self._policy.name,
                    )
                delay = backoff.delay(self._attempt, self._rng)
                if retry_after is not None:
                    delay = max(delay, retry_after)
                self._emit(WsState.RECONNECTING, attempt=self._attempt, delay=delay, reason=reason)
                await asyncio.sleep(delay)
            wait = True
            self._emit(WsState.CONNECTING, attempt=self._attempt)
            try:
                link = await self._open_link()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                fatal, retry_after, reason = classify_failure(exc, self._policy.name)
                if fatal is not None:
                    raise fatal from exc
                log.info("%s: connection attempt failed: %s", self._name, reason)
                continue
            self.stats.connects += 1
            self._emit(WsState.CONNECTED, attempt=self._attempt)
            return link

    async def _open_link(self) -> _Link:
        if self._connect_gate is not None:
            await self._connect_gate()
        url = self._url() if callable(self._url) else self._url
        if inspect.isawaitable(url):
            url = await url
        policy = self._policy
        ws = await ws_connect(
            url,
            # the reader schedules pings itself (within the message budget, only after silence,
            # and a dead peer is aborted at once); the library still answers the server's pings
            ping_interval=None,
            ping_timeout=None,
            open_timeout=policy.open_timeout,
            close_timeout=policy.close_timeout,
            max_size=policy.max_message_size,
            max_queue=policy.max_queue,
            compression=policy.compression,
            additional_headers=self._headers or None,
            proxy=self._proxy,
        )
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._link_count += 1
        throttle_limit = None
        if policy.max_messages_per_second is not None:
            throttle_limit = policy.max_messages_per_second - policy.reserved_messages
        link = _Link(
            ws=ws,
            number=self._link_count,
            throttle=MessageThrottle(throttle_limit, margin=policy.rate_margin),
            opened_at=now,
            last_rx=now,
            retire_at=now + policy.max_lifetime if policy.max_lifetime else None,
            role="pending",
        )
        self._links.add(link)
        try:
            if self._handshake is not None:
                await asyncio.wait_for(self._handshake(WsHandshake(self, link)), policy.open_timeout)
                link.last_rx = loop.time()
        except BaseException:
            await self._discard(link)
            raise
        return link

    async def _activate(self, link: _Link, *, continuous: bool) -> None:
        """Send every active stream on ``link`` and report ``resubscribed``."""
        async with self._lock:
            streams = list(self._streams)
            try:
                await self._send_streams(link, streams, self._policy.subscribe_message)
            except ConnectionClosed:
                return  # the reader reports the closure
            link.subscribed = True
        self._emit(WsState.RESUBSCRIBED, streams=len(streams), continuous=continuous)
        if link is self._live:
            self._ready.set()

    async def _serve(self) -> str:
        """Watch the live socket, rolling it over when due; returns why it ended."""
        loop = asyncio.get_running_loop()
        while True:
            link = self._live
            assert link is not None and link.reader is not None
            if self._rollover_wanted is None or self._rollover_wanted.done():
                self._rollover_wanted = loop.create_future()
                if self._rollover_pending is not None:
                    self._rollover_wanted.set_result(self._rollover_pending)
                    self._rollover_pending = None
            timeout = None if link.retire_at is None else max(0.0, link.retire_at - loop.time())
            await asyncio.wait(
                {link.reader, self._rollover_wanted}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if link.reader.done():
                return self._reader_reason(link)
            wanted = self._rollover_wanted
            reason = wanted.result() if wanted.done() else "max_lifetime"
            await self._rollover(link, reason)

    # ------------------------------------------------------------------ rollover

    async def _rollover(self, old: _Link, reason: str) -> None:
        loop = asyncio.get_running_loop()
        policy = self._policy
        self.stats.rollovers += 1
        self._emit(WsState.ROLLOVER, reason=reason)
        try:
            new = await self._open_link()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001  (any failure: keep the old socket)
            old.rollover_failures += 1
            old.retire_at = loop.time() + policy.backoff.ceiling(old.rollover_failures)
            log.warning("%s: rollover failed, keeping the old socket: %r", self._name, exc)
            return
        self.stats.connects += 1
        self._emit(WsState.CONNECTED, attempt=0)
        if policy.dedupe_key is None or policy.rollover_overlap == 0:
            # make-before-break without overlap: the new socket is open (and logged in) first;
            # the old one stops being routed at once and is closed once the new one is subscribed
            old.role = "closed"
            self._live = new
            new.role = "live"
            self._start_reader(new)
            await self._activate(new, continuous=False)
            await self._discard(old)
            return
        await self._overlap(old, new)

    async def _overlap(self, old: _Link, new: _Link) -> None:
        """Run both sockets for ``rollover_overlap`` s, then switch, dropping what the new one repeats."""
        loop = asyncio.get_running_loop()
        policy = self._policy
        self._seen = set()
        self._seen_until = float("inf")
        self._overlap_full = loop.create_future()
        old.role = "retiring"
        self._start_reader(new)
        async with self._lock:
            streams = list(self._streams)
            with contextlib.suppress(ConnectionClosed):
                await self._send_streams(new, streams, policy.subscribe_message)
                new.subscribed = True
        assert old.reader is not None and new.reader is not None
        watched: set[asyncio.Future[Any]] = {old.reader, new.reader, self._overlap_full}
        await asyncio.wait(
            watched,
            timeout=policy.rollover_overlap,
            return_when=asyncio.FIRST_COMPLETED,
        )
        self._overlap_full = None
        if new.reader.done() or not new.subscribed:
            # the new socket failed: keep the old one, try again later
            self._seen = None
            old.role = "live"
            old.rollover_failures += 1
            old.retire_at = loop.time() + policy.backoff.ceiling(old.rollover_failures)
            await self._discard(new)
            return
        continuous = not old.reader.done()
        old.role = "closed"
        new.role = "live"
        self._live = new
        self._seen_until = loop.time() + policy.rollover_overlap
        held, new.buffer = new.buffer, []
        for message in held:
            self._deliver(new, message)
        self._emit(WsState.RESUBSCRIBED, streams=len(streams), continuous=continuous)
        await self._discard(old)

    # ------------------------------------------------------------------ reading

    def _start_reader(self, link: _Link) -> None:
        link.reader = asyncio.create_task(self._read(link), name=f"ws-read:{self._name}#{link.number}")
        beat = _Beat(self._policy.heartbeat, self._policy.idle_timeout, self.stats)
        if beat.needed:
            link.watchdog = asyncio.create_task(beat.watch(link), name=f"ws-beat:{self._name}#{link.number}")

    def _reader_reason(self, link: _Link) -> str:
        reader = link.reader
        assert reader is not None
        if reader.cancelled():
            return "reader cancelled"
        error = reader.exception()
        if error is not None:
            return f"reader failed: {error!r}"
        return reader.result()

    def _decode(self, raw: bytes | str) -> Any:
        return self._decode_fn(raw)  # type: ignore[arg-type]

    async def _read(self, link: _Link) -> str:
        """Read ``link`` until it ends; returns the reason it ended (the watchdog keeps the heartbeat)."""
        heartbeat = self._policy.heartbeat
        text_pong = heartbeat.pong.encode() if isinstance(heartbeat, TextPing) else None
        json_pong = heartbeat.is_pong if isinstance(heartbeat, JsonPing) else None
        rollover_on = self._policy.rollover_on
        clock = asyncio.get_running_loop().time
        recv = link.ws.recv
        stats = self.stats
        decode = self._decode_fn
        deliver = self._deliver
        try:
            while True:
                raw = await recv(decode=False)
                link.last_rx = clock()
                stats.received += 1
                if text_pong is not None and raw == text_pong:
                    stats.pongs += 1
                    continue
                try:
                    message = decode(raw)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001  (decoder errors vary by decoder)
                    stats.undecodable += 1
                    log.warning("%s: undecodable frame (%d bytes) ignored", self._name, len(raw))
                    continue
                if json_pong is not None and json_pong(message):
                    stats.pongs += 1
                    continue
                if rollover_on is not None and rollover_on(message):
                    self.request_rollover("venue notice")
                deliver(link, message)
        except ConnectionClosed as exc:
            return link.dead_reason or describe_close(exc)

    def _deliver(self, link: _Link, message: Any) -> None:
        role = link.role
        seen = self._seen
        if role == "live":
            if seen is not None:
                if asyncio.get_running_loop().time() > self._seen_until:
                    self._seen = None
                else:
                    key = self._policy.dedupe_key(message)  # type: ignore[misc]
                    if key is not None and key in seen:
                        self.stats.duplicates_dropped += 1
                        return
            self._route(message)
        elif role == "retiring":
            if seen is not None:
                key = self._policy.dedupe_key(message)  # type: ignore[misc]
                if key is not None:
                    seen.add(key)
                    if len(seen) >= self._policy.rollover_buffer:
                        self._end_overlap()
            self._route(message)
        elif role == "pending":
            link.buffer.append(message)
            if len(link.buffer) >= self._policy.rollover_buffer:
                self._end_overlap()

    def _end_overlap(self) -> None:
        """Cut an overlapped rollover short: its buffers reached ``rollover_buffer``."""
        full = self._overlap_full
        if full is not None and not full.done():
            full.set_result(None)

    def _route(self, message: Any) -> None:
        try:
            self._router(message)
        except Exception:
            self.stats.router_errors += 1
            log.exception("%s: router raised; message dropped", self._name)
        else:
            self.stats.routed += 1

    # ------------------------------------------------------------------ helpers

    def _subscribed_links(self) -> list[_Link]:
        return [link for link in self._links if link.subscribed and link.role != "closed"]

    async def _send_streams(self, link: _Link, streams: Sequence[str], build: SubscribeMessage) -> None:
        if not streams:
            return
        size = self._policy.max_streams_per_message or len(streams)
        for start in range(0, len(streams), size):
            await link.send(build(streams[start : start + size], next(self._ids)))
            self.stats.sent += 1

    async def _discard(self, link: _Link) -> None:
        self._links.discard(link)
        await link.close()

    def _emit(self, state: WsState, **fields: Any) -> None:
        self._state = state
        event = WsStateEvent(state, self._name, **fields)
        log.debug("%s: %s", self._name, event)
        if self._on_state is not None:
            try:
                self._on_state(event)
            except Exception:
                log.exception("%s: on_state callback raised", self._name)
        if self._bus is not None:
            self._bus.publish(self._state_topic, event)
