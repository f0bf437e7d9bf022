"""How a venue's websocket behaves, as data: heartbeat style, limits, backoff, state events.

Import-cheap (attrs only) so a venue plugin can declare its :class:`WsPolicy`
at import time without pulling in the ``websockets`` library.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs

__all__ = [
    "Backoff",
    "Heartbeat",
    "JsonPing",
    "ProtocolPing",
    "SubscribeMessage",
    "TextPing",
    "WsPolicy",
    "WsState",
    "WsStateEvent",
    "is_channel_pong",
]

#: Builds one subscribe (or unsubscribe) message: ``(streams, request_id) -> frame``.
SubscribeMessage = Callable[[Sequence[str], int], "str | bytes"]


def _positive(_instance: Any, attribute: Any, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _optional_positive(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _at_least_one(_instance: Any, attribute: Any, value: Any) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value!r}")


def _non_negative(_instance: Any, attribute: Any, value: Any) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class ProtocolPing:
    """Keep-alive with websocket protocol ping frames (Binance).

    The ``websockets`` library answers the server's pings by itself (Binance
    pings every 20 s, USD-M every 3 min, and expects the pong). The client
    pings only after ``interval`` seconds without any incoming frame (``None``:
    never; rely on the server and on ``WsPolicy.idle_timeout``), through the
    connection's message budget, never in a fast loop. No pong (and no other
    frame) within ``timeout`` seconds means the peer is gone: the socket is
    aborted and reconnected (``timeout=None``: pings keep the link warm but are
    not judged).
    """

    interval: float | None = attrs.field(default=20.0, validator=_optional_positive)
    timeout: float | None = attrs.field(default=20.0, validator=_optional_positive)


@attrs.frozen
class TextPing:
    """Application keep-alive with literal text frames (OKX: send ``ping``, expect ``pong``).

    After ``interval`` seconds without any incoming message the transport sends
    ``ping``; if nothing at all (``pong`` or data) arrives within ``timeout``
    seconds after that, the heartbeat is stalled and the link is reconnected.
    The ``pong`` frame is consumed by the transport, never routed.
    """

    interval: float = attrs.field(default=20.0, validator=_positive)
    timeout: float = attrs.field(default=10.0, validator=_positive)
    ping: str = "ping"
    pong: str = "pong"


def is_channel_pong(message: Any) -> bool:
    """True for Hyperliquid's pong, ``{"channel": "pong"}``."""
    return isinstance(message, dict) and message.get("channel") == "pong"


@attrs.frozen
class JsonPing:
    """Application keep-alive with a JSON message (Hyperliquid: ``{"method":"ping"}`` → ``{"channel":"pong"}``).

    Same timing rules as :class:`TextPing`; ``is_pong`` recognizes the decoded
    answer, which is consumed by the transport, never routed.
    """

    interval: float = attrs.field(default=50.0, validator=_positive)
    timeout: float = attrs.field(default=10.0, validator=_positive)
    message: str = '{"method":"ping"}'
    is_pong: Callable[[Any], bool] = is_channel_pong


#: One of the three heartbeat styles.
Heartbeat = ProtocolPing | TextPing | JsonPing


@attrs.frozen
class Backoff:
    """Capped exponential backoff with full jitter between reconnect attempts.

    The delay before attempt ``n`` (1-based) is drawn uniformly from
    ``[0, min(cap, base * factor ** (n - 1))]`` ("full jitter", which spreads
    a crowd of clients reconnecting after one outage). The attempt counter
    restarts once a connection has stayed up for ``reset_after`` seconds, so a
    link that flaps (connects, then drops at once) keeps backing off.
    ``max_attempts`` (``None``: forever) bounds consecutive failed attempts.
    """

    base: float = attrs.field(default=0.5, validator=_positive)
    cap: float = attrs.field(default=30.0, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_at_least_one)
    reset_after: float = attrs.field(default=30.0, validator=_non_negative)
    max_attempts: int | None = attrs.field(default=None, validator=_optional_positive)

    def ceiling(self, attempt: int) -> float:
        """The upper bound of the delay before attempt ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        try:
            raw = self.base * self.factor ** (attempt - 1)
        except OverflowError:
            return self.cap
        return min(self.cap, raw)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The jittered delay before attempt ``attempt``, drawn from ``rng``."""
        return rng.uniform(0.0, self.ceiling(attempt))


@attrs.frozen
class WsPolicy:
    """Everything the transport needs to know about one venue's websocket; no venue is hard-coded.

    :param name: venue id, used in errors and logs.
    :param subscribe_message: ``(streams, request_id) -> frame`` for a batch of streams.
    :param unsubscribe_message: the same for unsubscribing; ``None`` when the venue has none.
    :param heartbeat: :class:`ProtocolPing`, :class:`TextPing` or :class:`JsonPing`.
    :param idle_timeout: reconnect when nothing at all arrived for this many seconds.
    :param max_streams_per_connection: stream limit of one connection (Binance 1024);
        :class:`~exchanges.transport.ws.ShardedWs` opens another connection past it.
    :param max_streams_per_message: split subscribe messages into batches of this size.
    :param max_messages_per_second: outgoing frames per connection per second (Binance 5,
        USD-M 10), control messages and pings included.
    :param reserved_messages: slots per second left free for frames the ``websockets``
        library sends by itself (the pongs answering the server's pings).
    :param rate_margin: seconds added to the one-second window, to absorb scheduling jitter.
    :param max_lifetime: seconds after which a connection is replaced proactively
        (set a little under the venue's hard limit: Binance 24 h).
    :param dedupe_key: ``message -> key or None``; when given, a planned replacement
        overlaps both connections for ``rollover_overlap`` seconds and drops the
        messages the new one repeats, so nothing is lost or doubled. Without it the
        new connection is opened (and logged in) first, then streams move over.
    :param rollover_overlap: seconds both connections run side by side in an overlapped rollover.
    :param rollover_buffer: most messages held from the new connection during the overlap;
        reaching it ends the overlap early (memory stays bounded).
    :param rollover_on: ``message -> bool`` recognizing a venue's notice of an imminent
        disconnect (Binance ``serverShutdown``): the connection rolls over to a new socket
        (the message is still routed).
    :param backoff: reconnect schedule.
    :param open_timeout: seconds for the opening handshake plus the ``handshake`` callback.
    :param close_timeout: seconds to wait for the closing handshake.
    :param max_message_size: largest incoming frame in bytes (``None``: unlimited).
    :param max_queue: incoming frames the library buffers while the router is busy.
    :param compression: ``"deflate"`` (permessage-deflate) or ``None``.
    :param decode: ``bytes -> message``; default :func:`orjson.loads`.
    """

    name: str
    subscribe_message: SubscribeMessage
    unsubscribe_message: SubscribeMessage | None = None
    heartbeat: Heartbeat = attrs.field(factory=ProtocolPing)
    idle_timeout: float | None = attrs.field(default=None, validator=_optional_positive)
    max_streams_per_connection: int | None = attrs.field(default=None, validator=_optional_positive)
    max_streams_per_message: int | None = attrs.field(default=None, validator=_optional_positive)
    max_messages_per_second: int | None = attrs.field(default=None, validator=_optional_positive)
    reserved_messages: int = attrs.field(default=0, validator=_non_negative)
    rate_margin: float = attrs.field(default=0.05, validator=_non_negative)
    max_lifetime: float | None = attrs.field(default=None, validator=_optional_positive)
    dedupe_key: Callable[[Any], Hashable | None] | None = None
    rollover_overlap: float = attrs.field(default=2.0, validator=_non_negative)
    rollover_buffer: int = attrs.field(default=50_000, validator=_positive)
    rollover_on: Callable[[Any], bool] | None = None
    backoff: Backoff = attrs.field(factory=Backoff)
    open_timeout: float = attrs.field(default=10.0, validator=_positive)
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
    max_message_size: int | None = 2**24
    max_queue: int = attrs.field(default=64, validator=_positive)
    compression: str | None = "deflate"
    decode: Callable[[bytes], Any] | None = None

    def __attrs_post_init__(self) -> None:
        limit = self.max_messages_per_second
        if limit is not None and self.reserved_messages >= limit:
            raise ValueError(
                f"reserved_messages ({self.reserved_messages}) must be below max_messages_per_second ({limit})"
            )


class WsState(enum.StrEnum):
    """The states a connection reports through :class:`WsStateEvent`."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RESUBSCRIBED = "resubscribed"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"
    ROLLOVER = "rollover"
    CLOSED = "closed"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@attrs.frozen
class WsStateEvent:
    """A change of connection state, published to ``on_state`` and/or the event bus.

    - ``connecting(attempt)``: a socket is being opened (attempt 0 is the first ever).
    - ``connected``: the socket is open and the handshake callback (login) succeeded.
    - ``resubscribed(streams, continuous)``: every active stream was sent on the new
      socket; ``continuous`` is True only after an overlapped rollover, when no
      message can have been missed. Otherwise consumers must resync (books!).
    - ``disconnected(reason)``: the live socket ended.
    - ``reconnecting(attempt, delay, reason)``: waiting ``delay`` seconds before attempt ``attempt``.
    - ``rollover(reason)``: a planned replacement started (lifetime, server notice).
    - ``closed(reason)``: the connection stopped for good (by the caller or a fatal error).
    """

    state: WsState
    connection: str
    attempt: int = 0
    delay: float | None = None
    reason: str | None = None
    streams: int = 0
    continuous: bool = False
    timestamp: int = attrs.field(factory=_now_ms)
