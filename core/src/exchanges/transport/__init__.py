"""Transports: HTTP (:mod:`exchanges.transport.http`) and websocket (:mod:`exchanges.transport.ws`).

Import-cheap: nothing here imports aiohttp or websockets. The websocket
policy types (:class:`WsPolicy`, heartbeats, :class:`Backoff`) live in a
module without heavy imports, so a venue plugin can declare its policy at
import time; the connection classes load on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # websocket policy (attrs only, cheap)
    "Backoff": "._ws_policy",
    "JsonPing": "._ws_policy",
    "ProtocolPing": "._ws_policy",
    "TextPing": "._ws_policy",
    "WsPolicy": "._ws_policy",
    "WsState": "._ws_policy",
    "WsStateEvent": "._ws_policy",
    # websocket transport (imports websockets on first use)
    "MessageThrottle": "._ws_throttle",
    "ShardedWs": "._ws_pool",
    "WsConnection": "._ws_connection",
    "WsHandshake": "._ws_link",
    "WsStats": "._ws_connection",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)






if TYPE_CHECKING:  # pragma: no cover
    from ._ws_connection import WsConnection as WsConnection
    from ._ws_connection import WsStats as WsStats
    from ._ws_link import WsHandshake as WsHandshake
    from ._ws_policy import Backoff as Backoff
    from ._ws_policy import JsonPing as JsonPing
    from ._ws_policy import ProtocolPing as ProtocolPing
    from ._ws_policy import TextPing as TextPing
    from ._ws_policy import WsPolicy as WsPolicy
    from ._ws_policy import WsState as WsState
    from ._ws_policy import WsStateEvent as WsStateEvent
    from ._ws_pool import ShardedWs as ShardedWs
    from ._ws_throttle import MessageThrottle as MessageThrottle
