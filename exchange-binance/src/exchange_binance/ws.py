"""Market streams: names, subscription messages, the websocket policy, routing, sharding.

One :class:`StreamPool` per connector carries every market stream over
combined-stream connections (``<ws>/stream``): streams are added and removed
with ``SUBSCRIBE``/``UNSUBSCRIBE`` messages (ids from the transport), events
arrive wrapped as ``{"stream": name, "data": event}`` and are routed by the
stream name, because spot ``bookTicker`` events carry no ``e`` field.

One URL serves every connection and every reconnect (the transport resends
``SUBSCRIBE`` for the live streams of a new socket), so there is no
``/stream?streams=`` URL to rebuild; both forms deliver the same wrapped events.

Venue rules kept here (venues.md §1.7, §2.7):

- at most 1024 streams per connection: past that a new connection is opened;
- 5 (spot) / 10 (USD-M) incoming messages per second per connection, pings and
  pongs included: the transport meters what we send, keeping a slot for pongs;
- heartbeat: the server pings (20 s spot, 3 min USD-M) and the ``websockets``
  library answers; its own keep-alive ping is slow (default every 30 s) so it
  costs nothing of the message budget, and a missing pong replaces the socket;
- a connection lives at most 24 h: it is replaced before, overlapping the old
  and new sockets and dropping repeated events (``dedupe_key``), so books stay
  continuous; a ``serverShutdown`` event triggers the same replacement at once;
- after an unplanned reconnect the connection's books are rebuilt (``on_break``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from exchanges.transport import Backoff, ProtocolPing, WsPolicy, WsState, WsStateEvent

if TYPE_CHECKING:
    from exchanges.transport import WsConnection

__all__ = [
    "SPOT_MESSAGES_PER_SECOND",
    "USDM_MESSAGES_PER_SECOND",
    "StreamPool",
    "combined_router",
    "decoder",
    "dedupe_key",
    "make_policy",
    "stream_name",
    "subscribe_message",
    "unsubscribe_message",
]

log = logging.getLogger("exchange_binance.ws")

SPOT_MESSAGES_PER_SECOND = 5
USDM_MESSAGES_PER_SECOND = 10
MAX_STREAMS_PER_CONNECTION = 1024
#: streams per SUBSCRIBE message: 1024 streams take 6 messages (a bit over a second at 5/s)
STREAMS_PER_MESSAGE = 200

#: the event id that repeats when the same event comes over two sockets (rollover overlap)
_EVENT_IDS = ("u", "a", "t")


def stream_name(raw_symbol: str, channel: str) -> str:
    """``<lowercase symbol>@<channel>``, e.g. ``btcusdt@depth@100ms``."""
    return f"{raw_symbol.lower()}@{channel}"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def subscribe_message(streams: Sequence[str], request_id: int) -> str:
    """``{"method": "SUBSCRIBE", "params": [...], "id": n}``."""
    return _dumps({"method": "SUBSCRIBE", "params": list(streams), "id": request_id})


def unsubscribe_message(streams: Sequence[str], request_id: int) -> str:
    """``{"method": "UNSUBSCRIBE", "params": [...], "id": n}``."""
    return _dumps({"method": "UNSUBSCRIBE", "params": list(streams), "id": request_id})


def dedupe_key(message: Any) -> Hashable | None:
    """``(stream, event id)`` of a combined-stream event, to drop repeats while two sockets overlap.

    Depth and book tickers repeat ``u``, aggregate trades ``a``, trades ``t``;
    klines and other events use their event time ``E``.
    """
    if not isinstance(message, dict):
        return None
    stream = message.get("stream")
    data = message.get("data")
    if stream is None or not isinstance(data, dict):
        return None
    for key in _EVENT_IDS:
        value = data.get(key)
        if value is not None:
            return (stream, key, value)
    value = data.get("E")
    return None if value is None else (stream, "E", value)


def decoder(name: str) -> Callable[[bytes], Any]:
    """The JSON decoder for frames: ``"orjson"`` (fast, the default) or ``"json"`` (the standard library)."""
    if name == "orjson":
        return orjson.loads
    if name == "json":
        return json.loads
    raise ValueError(f"json decoder must be 'orjson' or 'json', got {name!r}")


def make_policy(
    name: str,
    *,
    futures: bool,
    ping_interval: float | None = 30.0,
    ping_timeout: float | None = 30.0,
    max_lifetime: float = 23.5 * 3600,
    max_streams: int = MAX_STREAMS_PER_CONNECTION,
    backoff: Backoff | None = None,
    json_decoder: str = "orjson",
    rollover_overlap: float = 2.0,
    dedupe: bool = True,
) -> WsPolicy:
    """The websocket policy of Binance market streams (spot or USD-M); arguments are the tunables."""
    return WsPolicy(
        name=name,
        subscribe_message=subscribe_message,
        unsubscribe_message=unsubscribe_message,
        heartbeat=ProtocolPing(interval=ping_interval, timeout=ping_timeout),
        max_streams_per_connection=max_streams,
        max_streams_per_message=STREAMS_PER_MESSAGE,
        max_messages_per_second=USDM_MESSAGES_PER_SECOND if futures else SPOT_MESSAGES_PER_SECOND,
        reserved_messages=1,  # a pong to the server's ping must always fit
        max_lifetime=max_lifetime,
        dedupe_key=dedupe_key if dedupe else None,
        rollover_overlap=rollover_overlap,
        backoff=backoff or Backoff(),
        decode=decoder(json_decoder),
    )


Handler = Callable[[Any], None]
BreakCallback = Callable[[Sequence[str], str], None]


def combined_router(handlers: Mapping[str, Handler], other: Handler) -> Handler:
    """The router of a combined-stream connection: ``data`` to the handler of ``stream``, the rest to ``other``.

    The hot path of every market event: one dict lookup by stream name (spot
    ``bookTicker`` events have no ``e`` to route on) and one call.
    """

    def route(message: Any) -> None:
        stream = message.get("stream")
        if stream is not None:
            handler = handlers.get(stream)
            if handler is not None:
                handler(message["data"])
                return
        other(message)

    return route


@attrs.define(eq=False)
class _Shard:
    """One connection of the pool and what the pool knows about it."""

    number: int
    connection: WsConnection | None = None
    ready_once: bool = False
    broken: bool = False


class StreamPool:
    """Every market stream of one connector, over as many connections as the stream limit needs.

    :param url: ``<ws base>/stream``.
    :param policy: see :func:`make_policy`.
    :param on_break: called with the streams of a connection whose continuity
        was lost (dropped socket, non-overlapped replacement) and the reason;
        the connector rebuilds the books among them.
    :param connect_gate: awaited before each connection attempt (connection-rate limiter).
    :param on_state: also receives every connection state event.
    """

    def __init__(
        self,
        url: str,
        policy: WsPolicy,
        *,
        on_break: BreakCallback | None = None,
        connect_gate: Callable[[], Any] | None = None,
        on_state: Callable[[WsStateEvent], None] | None = None,
    ) -> None:
        self.url = url
        self.policy = policy
        self._on_break = on_break
        self._connect_gate = connect_gate
        self._on_state = on_state
        self._handlers: dict[str, Handler] = {}
        self._owner: dict[str, _Shard] = {}
        self._shards: list[_Shard] = []
        self._opened = 0
        self._closed = False
        self._lock = asyncio.Lock()  # placing a stream on a connection must not race another placement
        #: frames that were neither a routed event nor an acknowledgement (diagnostics)
        self.unrouted = 0
        #: venue answers to SUBSCRIBE/UNSUBSCRIBE carrying an error
        self.errors: list[Any] = []

    @property
    def streams(self) -> tuple[str, ...]:
        """Every subscribed stream."""
        return tuple(self._owner)

    @property
    def connections(self) -> tuple[WsConnection, ...]:
        """The open connections, oldest first."""
        return tuple(s.connection for s in self._shards if s.connection is not None)

    def connection_of(self, stream: str) -> WsConnection | None:
        """The connection carrying ``stream``."""
        shard = self._owner.get(stream)
        return None if shard is None else shard.connection

    async def add(self, stream: str, handler: Handler) -> None:
        """Subscribe ``stream``; its events go to ``handler`` (called synchronously in the reader)."""
        from exchanges import ExchangeError

        if self._closed:
            raise ExchangeError(f"{self.policy.name}: market streams are closed", exchange=self.policy.name)
        self._handlers[stream] = handler
        async with self._lock:
            if stream in self._owner:
                return
            limit = self.policy.max_streams_per_connection or MAX_STREAMS_PER_CONNECTION
            shard = next((s for s in self._shards if s.connection is not None and len(s.connection.streams) < limit),
                         None)
            new = shard is None
            if shard is None:
                shard = self._new_shard()
            self._owner[stream] = shard
            assert shard.connection is not None
            await shard.connection.subscribe([stream])
            if new:
                await shard.connection.start(wait=False)

    async def remove(self, stream: str) -> None:
        """Unsubscribe ``stream``; a connection left without streams is closed."""
        self._handlers.pop(stream, None)
        async with self._lock:
            shard = self._owner.pop(stream, None)
            if shard is None or shard.connection is None:
                return
            if len(shard.connection.streams) <= 1:
                self._shards.remove(shard)
                connection, shard.connection = shard.connection, None
                await connection.close()
            else:
                await shard.connection.unsubscribe([stream])

    async def wait_ready(self, stream: str, timeout: float | None = None) -> None:
        """Wait until the connection of ``stream`` is open and has sent its subscriptions."""
        connection = self.connection_of(stream)
        if connection is None:
            from exchanges import ExchangeError

            raise ExchangeError(f"{stream} is not subscribed", exchange=self.policy.name)
        await connection.wait_ready(timeout)

    async def close(self) -> None:
        """Close every connection."""
        self._closed = True
        shards, self._shards = self._shards, []
        self._owner.clear()
        self._handlers.clear()
        for shard in shards:
            if shard.connection is not None:
                connection, shard.connection = shard.connection, None
                await connection.close()

    # -- internals -------------------------------------------------------------------------

    def _new_shard(self) -> _Shard:
        from exchanges.transport import WsConnection

        shard = _Shard(self._opened)
        self._opened += 1
        shard.connection = WsConnection(
            self.url,
            self.policy,
            self._router(shard),
            name=f"{self.policy.name}-streams#{shard.number}",
            on_state=lambda event: self._state(shard, event),
            connect_gate=self._connect_gate,
        )
        self._shards.append(shard)
        return shard

    def _router(self, shard: _Shard) -> Handler:
        return combined_router(self._handlers, lambda message: self._other(shard, message))

    def _other(self, shard: _Shard, message: Any) -> None:
        stream = message.get("stream") if isinstance(message, dict) else None
        if stream is None:
            self._control(shard, message)
            return
        data = message.get("data")
        if isinstance(data, dict) and data.get("e") == "serverShutdown":
            self._shutdown(shard)
        else:
            self.unrouted += 1  # an event of a stream just unsubscribed

    def _control(self, shard: _Shard, message: Any) -> None:
        if not isinstance(message, dict):
            self.unrouted += 1
            return
        if message.get("e") == "serverShutdown":
            self._shutdown(shard)
        elif "id" in message and ("result" in message or "error" in message):
            if message.get("error") is not None:
                self.errors.append(message)
                log.error("%s: the venue refused a subscription request: %s", self.policy.name, message)
        else:
            self.unrouted += 1

    def _shutdown(self, shard: _Shard) -> None:
        log.info("%s: serverShutdown on connection #%d; replacing it", self.policy.name, shard.number)
        if shard.connection is not None:
            shard.connection.request_rollover("serverShutdown")

    def _state(self, shard: _Shard, event: WsStateEvent) -> None:
        if event.state is WsState.DISCONNECTED:
            if shard.ready_once and not shard.broken:
                shard.broken = True
                self._broke(shard, f"connection lost: {event.reason}")
        elif event.state is WsState.RESUBSCRIBED:
            if shard.ready_once and not event.continuous and not shard.broken:
                self._broke(shard, "connection replaced without overlap")
            shard.ready_once = True
            shard.broken = False
        if self._on_state is not None:
            self._on_state(event)

    def _broke(self, shard: _Shard, reason: str) -> None:
        if self._on_break is None:
            return
        streams = [stream for stream, owner in self._owner.items() if owner is shard]
        if streams:
            self._on_break(streams, reason)

