"""Streams sharded over several websocket connections (Binance: 1024 streams per connection)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Literal

from ..errors import ExchangeError
from ..events import EventBus
from ._ws_connection import Handshake, Router, StateCallback, UrlSource, WsConnection
from ._ws_policy import WsPolicy

__all__ = ["ShardedWs"]


class ShardedWs:
    """A pool of :class:`WsConnection` that opens another connection when a shard is full.

    Streams fill the existing shards in order, up to the policy's
    ``max_streams_per_connection``; past that a new shard (connection) is
    opened. Each shard has its own message budget, heartbeat, backoff and
    lifetime; a shard left without streams is closed. Shards are named
    ``"<name>#<n>"`` in state events. Arguments are those of
    :class:`WsConnection`, plus ``max_connections`` (``None``: unbounded),
    beyond which :meth:`subscribe` raises :class:`ExchangeError`.
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
        max_connections: int | None = None,
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
        self._max_connections = max_connections
        self._shards: list[WsConnection] = []
        self._owner: dict[str, WsConnection] = {}
        self._opened = 0
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connections(self) -> tuple[WsConnection, ...]:
        """The open shards, oldest first."""
        return tuple(self._shards)

    @property
    def streams(self) -> tuple[str, ...]:
        """Every active stream."""
        return tuple(self._owner)

    def shard_of(self, stream: str) -> WsConnection | None:
        """The connection carrying ``stream``."""
        return self._owner.get(stream)

    async def subscribe(self, streams: Iterable[str]) -> list[str]:
        """Add streams, opening shards as needed; returns the ones that were new.

        Does not wait for new shards to connect (see :meth:`wait_ready`).
        """
        if self._closed:
            raise ExchangeError(f"{self._name}: closed", exchange=self._policy.name)
        async with self._lock:
            new = [s for s in dict.fromkeys(streams) if s not in self._owner]
            if not new:
                return []
            limit = self._policy.max_streams_per_connection
            plan: list[tuple[WsConnection | None, list[str]]] = []
            pending = list(new)
            for shard in self._shards:
                room = len(pending) if limit is None else limit - len(shard.streams)
                if room > 0 and pending:
                    plan.append((shard, pending[:room]))
                    pending = pending[room:]
            while pending:
                take = len(pending) if limit is None else limit
                plan.append((None, pending[:take]))
                pending = pending[take:]
            opening = sum(1 for shard, _ in plan if shard is None)
            if self._max_connections is not None and len(self._shards) + opening > self._max_connections:
                raise ExchangeError(
                    f"{self._name}: {len(self._owner) + len(new)} streams need more than "
                    f"{self._max_connections} connections",
                    exchange=self._policy.name,
                )
            for existing, batch in plan:
                shard = existing or self._new_shard()
                await shard.subscribe(batch)  # a new shard records them and sends them once connected
                if existing is None:
                    await shard.start(wait=False)
                for stream in batch:
                    self._owner[stream] = shard
        return new

    async def unsubscribe(self, streams: Iterable[str]) -> list[str]:
        """Remove streams; a shard left empty is closed. Returns the ones that were active."""
        async with self._lock:
            by_shard: dict[WsConnection, list[str]] = {}
            for stream in dict.fromkeys(streams):
                shard = self._owner.pop(stream, None)
                if shard is not None:
                    by_shard.setdefault(shard, []).append(stream)
            gone: list[str] = []
            for shard, batch in by_shard.items():
                if len(batch) == len(shard.streams):
                    self._shards.remove(shard)
                    await shard.close()
                    gone.extend(batch)
                else:
                    gone.extend(await shard.unsubscribe(batch))
            return gone

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until every shard is connected and subscribed."""
        async with asyncio.timeout(timeout):
            for shard in list(self._shards):
                await shard.wait_ready()

    async def close(self) -> None:
        """Close every shard."""
        self._closed = True
        shards, self._shards = self._shards, []
        self._owner.clear()
        for shard in shards:
            await shard.close()

    async def __aenter__(self) -> ShardedWs:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _new_shard(self) -> WsConnection:
        shard = WsConnection(
            self._url,
            self._policy,
            self._router,
            name=f"{self._name}#{self._opened}",
            handshake=self._handshake,
            on_state=self._on_state,
            bus=self._bus,
            state_topic=self._state_topic,
            rng=random.Random(self._rng.getrandbits(64)),
            connect_gate=self._connect_gate,
            headers=self._headers,
            proxy=self._proxy,
        )
        self._opened += 1
        self._shards.append(shard)
        return shard
