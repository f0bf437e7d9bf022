"""Resilient websocket transport: one venue-neutral client driven by a :class:`WsPolicy`.

A :class:`WsConnection` keeps one logical connection alive: it reconnects with
capped, fully jittered exponential backoff, runs the venue's handshake (login)
on every new socket, resubscribes every active stream, keeps the venue's
heartbeat (protocol ping, text ``ping``/``pong`` or a JSON ping), meters its own
outgoing frames, and replaces itself before the venue's maximum lifetime.
Each decoded message goes synchronously to the venue's ``router`` callback:
the transport keeps no queue of its own, so memory is bounded by the
``websockets`` library's small read buffer. Downstream, publish books on an
:class:`~exchanges.events.EventBus` with policy ``"latest"`` and trades with
``"queue"`` (overflow raises :class:`~exchanges.errors.SubscriptionOverflow`).

:class:`ShardedWs` spreads streams over several connections when one
connection's stream limit is reached.

Example (Binance-style combined streams)::

    import orjson
    from exchanges.transport.ws import ProtocolPing, WsConnection, WsPolicy

    policy = WsPolicy(
        name="binance",
        subscribe_message=lambda streams, rid: orjson.dumps(
            {"method": "SUBSCRIBE", "params": list(streams), "id": rid}).decode(),
        unsubscribe_message=lambda streams, rid: orjson.dumps(
            {"method": "UNSUBSCRIBE", "params": list(streams), "id": rid}).decode(),
        heartbeat=ProtocolPing(interval=30, timeout=30),
        max_streams_per_connection=1024,
        max_messages_per_second=5,
        reserved_messages=1,
        max_lifetime=23.5 * 3600,
    )
    async with WsConnection("wss://stream.binance.com:9443/stream", policy, router=print) as ws:
        await ws.subscribe(["btcusdt@depth@100ms"])
"""

from __future__ import annotations

from ._ws_connection import Handshake, Router, StateCallback, UrlSource, WsConnection, WsStats
from ._ws_link import WsHandshake
from ._ws_policy import (
    Backoff,
    Heartbeat,
    JsonPing,
    ProtocolPing,
    SubscribeMessage,
    TextPing,
    WsPolicy,
    WsState,
    WsStateEvent,
    is_channel_pong,
)
from ._ws_pool import ShardedWs
from ._ws_throttle import MessageThrottle

__all__ = [
    "Backoff",
    "Handshake",
    "Heartbeat",
    "JsonPing",
    "MessageThrottle",
    "ProtocolPing",
    "Router",
    "ShardedWs",
    "StateCallback",
    "SubscribeMessage",
    "TextPing",
    "UrlSource",
    "WsConnection",
    "WsHandshake",
    "WsPolicy",
    "WsState",
    "WsStateEvent",
    "WsStats",
    "is_channel_pong",
]
