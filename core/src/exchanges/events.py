"""In-process event bus; ``watch_*`` iterators are subscriptions on it.

Two delivery policies, chosen per subscription:

- ``"latest"`` (books, tickers): the subscriber holds at most one pending
  value; a newer one replaces it (conflation). A slow consumer always gets the
  current state, memory stays constant.
- ``"queue"`` (trades, fills, orders): every value is kept in a bounded queue;
  when it is full the subscription fails with :class:`SubscriptionOverflow` on
  the next read. Nothing is ever dropped silently and memory never grows
  without bound.

Publishing never awaits, so one slow consumer cannot slow the feed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from .errors import SubscriptionOverflow

__all__ = ["EventBus", "Sink", "Subscription"]

T = TypeVar("T")
Policy = Literal["latest", "queue"]
_EMPTY: Any = object()


@runtime_checkable
class Sink(Protocol):
    """Where normalized events can be written (JSON lines, Redis streams...)."""

    async def write(self, topic: str, event: Any) -> None:
        """Write one event published on ``topic``."""
        ...

    async def close(self) -> None:
        """Flush and release resources."""
        ...


class Subscription(Generic[T]):
    """An async iterator over the values published on one topic."""

    __slots__ = ("_bus", "_closed", "_error", "_latest", "_maxsize", "_policy", "_queue", "_waiter", "topic")

    def __init__(self, bus: EventBus, topic: str, policy: Policy, maxsize: int) -> None:
        self._bus = bus
        self.topic = topic
        self._policy = policy
        self._maxsize = maxsize
        self._queue: deque[T] = deque()
        self._latest: Any = _EMPTY
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._closed = False

    def _push(self, value: T) -> None:
        if self._closed or self._error is not None:
            return
        if self._policy == "latest":
            self._latest = value
        elif len(self._queue) >= self._maxsize:
            self._error = SubscriptionOverflow(
                f"consumer of {self.topic!r} fell {self._maxsize} events behind; "
                "read faster or subscribe with a larger maxsize"
            )
        else:
            self._queue.append(value)
        self._wake()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def pending(self) -> int:
        """Values waiting to be read."""
        if self._policy == "latest":
            return 0 if self._latest is _EMPTY else 1
        return len(self._queue)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            if self._policy == "latest":
                if self._latest is not _EMPTY:
                    value, self._latest = self._latest, _EMPTY
                    return value  # type: ignore[no-any-return]
            elif self._queue:
                return self._queue.popleft()
            if self._error is not None:
                error, self._error = self._error, None
                self.close()
                raise error
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Stop receiving; a pending read ends the iteration."""
        if not self._closed:
            self._closed = True
            self._bus._remove(self)
            self._wake()

    async def aclose(self) -> None:
        """Async alias of :meth:`close` (for ``contextlib.aclosing``)."""
        self.close()


class EventBus:
    """Topic-based publish/subscribe inside one process.

    ``on_first``/``on_last`` callbacks let a connector start a venue stream
    when the first subscriber of a topic arrives and stop it when the last
    one leaves.
    """

    def __init__(
        self,
        on_first: Callable[[str], None] | None = None,
        on_last: Callable[[str], None] | None = None,
    ) -> None:
        self._subs: dict[str, list[Subscription[Any]]] = {}
        self._on_first = on_first
        self._on_last = on_last

    def subscribe(self, topic: str, *, policy: Policy = "queue", maxsize: int = 10_000) -> Subscription[Any]:
        """A new subscription on ``topic``."""
        if policy not in ("latest", "queue"):
            raise ValueError(f"policy must be 'latest' or 'queue', got {policy!r}")
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        sub: Subscription[Any] = Subscription(self, topic, policy, maxsize)
        subs = self._subs.setdefault(topic, [])
        subs.append(sub)
        if len(subs) == 1 and self._on_first is not None:
            self._on_first(topic)
        return sub

    def publish(self, topic: str, value: Any) -> int:
        """Deliver ``value`` to every subscriber of ``topic``; returns how many there were."""
        subs = self._subs.get(topic)
        if not subs:
            return 0
        for sub in subs:
            sub._push(value)
        return len(subs)

    def fail(self, topic: str, error: BaseException) -> None:
        """End every subscription of ``topic`` with ``error`` (raised on their next read)."""
        for sub in list(self._subs.get(topic, ())):
            sub._fail(error)

    def close_topic(self, topic: str) -> None:
        """End every subscription of ``topic`` normally."""
        for sub in list(self._subs.get(topic, ())):
            sub.close()

    def close(self) -> None:
        """End every subscription."""
        for topic in list(self._subs):
            self.close_topic(topic)

    def has_subscribers(self, topic: str) -> bool:
        """True when someone listens on ``topic``."""
        return bool(self._subs.get(topic))

    @property
    def topics(self) -> list[str]:
        """Topics with at least one subscriber."""
        return [t for t, subs in self._subs.items() if subs]

    def _remove(self, sub: Subscription[Any]) -> None:
        subs = self._subs.get(sub.topic)
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.topic]
                if self._on_last is not None:
                    self._on_last(sub.topic)

    async def stream(self, topic: str, *, policy: Policy = "queue", maxsize: int = 10_000) -> AsyncIterator[Any]:
        """Subscribe and yield values until the subscription ends (closes it on exit)."""
        sub = self.subscribe(topic, policy=policy, maxsize=maxsize)
        try:
            async for value in sub:
                yield value
        finally:
            sub.close()
