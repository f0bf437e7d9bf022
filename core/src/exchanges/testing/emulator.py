"""A loopback venue emulator: scripted REST and websocket on 127.0.0.1, with fault injection.

Every websocket test of every venue runs against this (real sockets, real
``aiohttp`` server, no mocks of our own code). One :class:`VenueEmulator`
listens on a random free port and serves both HTTP routes and websocket
endpoints; it records every request and every client frame with a monotonic
timestamp, so tests can assert what was sent and how fast.

REST::

    async with VenueEmulator() as emu:
        emu.route("GET", "/api/v3/depth", {"lastUpdateId": 10, "bids": [], "asks": []})
        emu.route("POST", "/api/v3/order", [Reply(503), Reply(json={"orderId": 1})])  # one after the other
        emu.route("GET", "/api/v3/time", lambda req: {"serverTime": 1})                 # computed
        emu.fail("GET", "/api/v3/depth", Reply(429, headers={"Retry-After": "2"}))      # next request only
        emu.limit(HttpLimit(limit=6000, window=60, weight=weigh, used_header="X-MBX-USED-WEIGHT-1M"))
        ...  # point the client at emu.http_url
        assert emu.requests_for("/api/v3/depth")[0].query["symbol"] == "BTCUSDT"
        assert emu.max_in_window(60, weight=weigh) <= 6000

Websocket::

    def subscribed(msg):
        return isinstance(msg, dict) and msg.get("method") == "SUBSCRIBE"

    emu.websocket(
        "/stream",
        frames=[WaitFor(subscribed), {"stream": "btcusdt@trade", "data": {...}}, Pause(0.1), Drop()],
        on_message=lambda session, msg: {"result": None, "id": msg["id"]} if subscribed(msg) else None,
        heartbeat=text_pong(),                       # or json_pong(); protocol pings are always answered
        faults=[WsFaults(drop_after=3), WsFaults(skip={5}, duplicate={7}), WsFaults(stall_after=10)],
    )
    ...  # connect to emu.ws_url + "/stream"; connection 0 drops after 3 frames, 1 has a gap...
    session = await emu.wait_for_session(1)
    assert session.messages()[0]["method"] == "SUBSCRIBE"

``frames`` may also be a callable ``session -> iterable | async iterable |
coroutine`` (a live feed, different per ``session.index``); ``faults`` may be
one :class:`WsFaults` for every connection, a list by connection number, or
``index -> WsFaults``. :meth:`VenueEmulator.ws_max_in_window` counts the
client's frames per window (Binance's 5 messages/s rule).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
from aiohttp import web

from ._emulator_http import HttpLimit, RecordedRequest, Reply, Responder, _LimitState, max_in_window, per_window
from ._emulator_ws import (
    CloseWs,
    Drop,
    FrameSource,
    Pause,
    RecordedWsMessage,
    Stall,
    WaitFor,
    WsEndpoint,
    WsFaults,
    WsSession,
    json_pong,
    text_pong,
)

__all__ = [
    "CloseWs",
    "Drop",
    "HttpLimit",
    "Pause",
    "RecordedRequest",
    "RecordedWsMessage",
    "Reply",
    "Responder",
    "Stall",
    "VenueEmulator",
    "WaitFor",
    "WsEndpoint",
    "WsFaults",
    "WsSession",
    "json_pong",
    "max_in_window",
    "per_window",
    "text_pong",
    "wait_until",
]

log = logging.getLogger("exchanges.testing.emulator")


async def wait_until(predicate: Callable[[], Any], *, timeout: float = 5.0, interval: float = 0.005) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); :class:`TimeoutError` after ``timeout``.

    For tests that wait for the client under test to catch up with the emulator.
    """
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(interval)
    return result


@attrs.define
class _Route:
    replies: deque[Reply] | None = None
    last: Reply | None = None
    responder: Responder | None = None


@attrs.define
class _Fault:
    method: str | None
    path: str | None
    reply: Reply
    remaining: int


class VenueEmulator:
    """A scripted venue on ``127.0.0.1`` serving REST routes and websocket endpoints (see the module doc).

    Use as ``async with VenueEmulator() as emu:``; ``port=0`` picks a free port.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._routes: dict[tuple[str, str], _Route] = {}
        self._faults: list[_Fault] = []
        self._limits: list[_LimitState] = []
        self._endpoints: list[WsEndpoint] = []
        self._counters: dict[int, itertools.count[int]] = {}
        self._session_added = asyncio.Event()
        #: every HTTP request received, in order (websocket upgrades excluded).
        self.requests: list[RecordedRequest] = []
        #: every websocket connection accepted, in order, all endpoints together.
        self.ws_sessions: list[WsSession] = []
        #: every websocket upgrade refused by a fault, as ``(path, status)``.
        self.ws_refused: list[tuple[str, int]] = []
        #: every frame clients sent on any websocket, in order.
        self.ws_messages: list[RecordedWsMessage] = []
        #: exceptions raised by scripts and responders (a test can assert it stays empty).
        self.errors: list[BaseException] = []
        #: monotonic time the emulator started; fixed windows are aligned to it.
        self.started_at = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind and start serving."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self.started_at = time.monotonic()

    async def close(self) -> None:
        """Stop serving and drop every open websocket."""
        for session in self.ws_sessions:
            if not session.closed:
                await session.drop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> VenueEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound port."""
        return self._port

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:<port>`` (no trailing slash); append the endpoint path."""
        return f"ws://{self._host}:{self._port}"

    # ------------------------------------------------------------------ REST scripting

    def route(self, method: str, path: str, response: Reply | Sequence[Reply] | Responder | Any = None) -> None:
        """Script the answers of ``method path`` (``"*"`` matches any method), replacing earlier ones.

        ``response`` is a :class:`Reply`; a list of replies (served in turn, the
        last one repeats); a callable ``request -> Reply | JSON value`` (sync or
        async); or any other value, sent as a 200 JSON body.
        """
        route = _Route()
        if isinstance(response, Reply):
            route.last = response
        elif isinstance(response, list | tuple) and response and all(isinstance(r, Reply) for r in response):
            route.replies = deque(response)
        elif callable(response):
            route.responder = response
        else:
            route.last = Reply(json=response)
        self._routes[(method.upper(), path)] = route

    def fail(self, method: str | None, path: str | None, reply: Reply, *, times: int = 1) -> None:
        """Answer the next ``times`` requests matching ``method``/``path`` (``None``: any) with ``reply``.

        Faults take precedence over limits and routes, and are not counted by limits.
        """
        self._faults.append(_Fault(method.upper() if method else None, path, reply, times))

    def limit(self, rule: HttpLimit) -> HttpLimit:
        """Enforce ``rule`` from now on (see :class:`HttpLimit`); returns it."""
        self._limits.append(_LimitState(rule, origin=self.started_at))
        return rule

    def requests_for(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        """The recorded requests of ``path`` (and ``method``)."""
        wanted = method.upper() if method else None
        return [r for r in self.requests if r.path == path and (wanted is None or r.method == wanted)]

    # ------------------------------------------------------------------ websocket scripting

    def websocket(
        self,
        path: str | None = None,
        *,
        frames: FrameSource | None = None,
        on_message: Callable[[WsSession, Any], Any] | None = None,
        heartbeat: Callable[[Any], Any] | None = None,
        faults: WsFaults | Sequence[WsFaults] | Callable[[int], WsFaults] | None = None,
        keep_open: bool = True,
    ) -> WsEndpoint:
        """Add a websocket endpoint at ``path`` (``None``: any path not claimed by another endpoint).

        :param frames: what each connection replays (see the module doc).
        :param on_message: ``(session, message) -> reply frame | None`` (sync or async) for every
            client message except heartbeat pings; ``message`` is decoded JSON or the raw text.
        :param heartbeat: answers application pings, e.g. :func:`text_pong` or :func:`json_pong`.
            Protocol ping frames are always answered (unless stalled).
        :param faults: per connection, see :class:`WsFaults`.
        :param keep_open: after the frames run out, keep the socket open until the client leaves.
        """
        endpoint = WsEndpoint(path, frames, on_message, heartbeat, faults, keep_open)
        self._endpoints.append(endpoint)
        return endpoint

    async def wait_for_session(self, index: int, timeout: float = 5.0) -> WsSession:
        """The ``index``-th accepted websocket connection (all endpoints), waiting for it if needed."""
        async with asyncio.timeout(timeout):
            while len(self.ws_sessions) <= index:
                self._session_added.clear()
                await self._session_added.wait()
        return self.ws_sessions[index]

    async def broadcast(self, frame: Any) -> int:
        """Send ``frame`` (no faults) on every open connection; returns how many got it."""
        sent = 0
        for session in self.ws_sessions:
            if not session.closed and await session.send_raw(frame):
                sent += 1
        return sent

    # ------------------------------------------------------------------ counters

    def count_by_window(
        self,
        window: float,
        path: str | None = None,
        *,
        method: str | None = None,
        weight: Callable[[RecordedRequest], int] | None = None,
    ) -> dict[int, int]:
        """Requests (or summed ``weight``) per fixed window aligned to the emulator's start."""
        chosen = self._select(path, method)
        weights = [weight(r) for r in chosen] if weight else None
        return per_window((r.time for r in chosen), window, origin=self.started_at, weights=weights)

    def max_in_window(
        self,
        window: float,
        path: str | None = None,
        *,
        method: str | None = None,
        weight: Callable[[RecordedRequest], int] | None = None,
    ) -> int:
        """The most requests (or summed ``weight``) seen in any interval of ``window`` seconds."""
        chosen = self._select(path, method)
        weights = [weight(r) for r in chosen] if weight else None
        return max_in_window([r.time for r in chosen], window, weights=weights)

    def ws_max_in_window(
        self,
        window: float = 1.0,
        *,
        session: int | None = None,
        kinds: Iterable[str] = ("text", "binary", "ping", "pong"),
    ) -> int:
        """The most client frames (of ``kinds``; pings and pongs included by default) in any ``window``.

        ``session`` restricts to one connection (Binance meters per connection).
        """
        wanted = set(kinds)
        times = [m.time for m in self.ws_messages if m.kind in wanted and (session is None or m.session == session)]
        return max_in_window(times, window)

    def ws_count_by_window(
        self,
        window: float = 1.0,
        *,
        session: int | None = None,
        kinds: Iterable[str] = ("text", "binary", "ping", "pong"),
    ) -> dict[int, int]:
        """Client frames per fixed window aligned to the emulator's start."""
        wanted = set(kinds)
        times = [m.time for m in self.ws_messages if m.kind in wanted and (session is None or m.session == session)]
        return per_window(times, window, origin=self.started_at)

    def _select(self, path: str | None, method: str | None) -> list[RecordedRequest]:
        wanted = method.upper() if method else None
        return [r for r in self.requests if (path is None or r.path == path) and (wanted is None or r.method == wanted)]

    # ------------------------------------------------------------------ serving

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._handle_ws(request)
        body = await request.read()
        record = RecordedRequest(
            index=len(self.requests),
            time=time.monotonic(),
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            raw_query_string=request.rel_url.raw_query_string,
        )
        self.requests.append(record)
        try:
            reply, extra = await self._reply_for(record)
        except Exception as exc:  # a broken responder: answer 500 and keep the error for the test
            self.errors.append(exc)
            log.exception("emulator responder failed for %s %s", record.method, record.path)
            reply, extra = Reply(500, json={"error": f"emulator responder failed: {exc!r}"}), {}
        record.status = reply.status
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.disconnect:
            if request.transport is not None:
                request.transport.abort()  # nothing is answered; the response below goes nowhere
            return web.Response(status=reply.status)
        payload, content_type = reply.encoded()
        headers = {**extra, **reply.headers}
        headers.pop("Content-Type", None)
        return web.Response(status=reply.status, body=payload, headers=headers, content_type=content_type)

    async def _reply_for(self, request: RecordedRequest) -> tuple[Reply, dict[str, str]]:
        for fault in self._faults:
            if (
                fault.remaining > 0
                and (fault.path is None or fault.path == request.path)
                and (fault.method is None or fault.method == request.method)
            ):
                fault.remaining -= 1
                return fault.reply, {}
        self._faults = [f for f in self._faults if f.remaining > 0]
        extra: dict[str, str] = {}
        for state in self._limits:
            if not state.rule.matches(request):
                continue
            rejected, headers = state.admit(request)
            extra.update(headers)
            if rejected is not None:
                return Reply(rejected, json=state.rule.json), extra
        route = self._routes.get((request.method, request.path)) or self._routes.get(("*", request.path))
        if route is None:
            return Reply(404, json={"error": f"emulator: no route for {request.method} {request.path}"}), extra
        if route.responder is not None:
            result = route.responder(request)
            if inspect.isawaitable(result):
                result = await result
            return (result if isinstance(result, Reply) else Reply(json=result)), extra
        if route.replies:
            route.last = route.replies.popleft()
            return route.last, extra
        assert route.last is not None
        return route.last, extra

    def _endpoint_for(self, path: str) -> WsEndpoint | None:
        for endpoint in self._endpoints:
            if endpoint.path == path:
                return endpoint
        for endpoint in self._endpoints:
            if endpoint.path is None:
                return endpoint
        return None

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        endpoint = self._endpoint_for(request.path)
        if endpoint is None:
            self.ws_refused.append((request.path, 404))
            return web.json_response({"error": f"emulator: no websocket at {request.path}"}, status=404)
        index = next(self._counters.setdefault(id(endpoint), itertools.count()))
        faults = endpoint.faults_for(index)
        if faults.refuse is not None:
            self.ws_refused.append((request.path, faults.refuse))
            return web.json_response(
                {"error": "emulator: refused"}, status=faults.refuse, headers=dict(faults.refuse_headers)
            )
        ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
        await ws.prepare(request)
        session = WsSession(self, endpoint, request, ws, index, len(self.ws_sessions), faults)
        self.ws_sessions.append(session)
        self._session_added.set()
        await session._serve()
        return ws
