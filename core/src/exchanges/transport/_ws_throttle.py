"""Outgoing message budget of one websocket connection (Binance: 5 frames/s, pings included)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

__all__ = ["MessageThrottle"]


class MessageThrottle:
    """A token bucket of ``limit`` tokens where each token comes back one window after it was spent.

    That is exact where a classic refill-rate bucket is not: any interval of
    ``window + margin`` seconds holds at most ``limit`` sends, so every fixed
    one-second window the venue may count holds at most ``limit`` too (a
    refill-rate bucket allows ``2 * limit`` across a window boundary). Memory is
    ``limit`` timestamps. Waiters are served in arrival order.
    """

    __slots__ = ("_clock", "_limit", "_lock", "_sent", "_span", "waited")

    def __init__(
        self,
        limit: int | None,
        *,
        window: float = 1.0,
        margin: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit is not None and limit <= 0:
            raise ValueError("limit must be positive")
        self._limit = limit
        self._span = window + margin
        self._clock = clock
        self._sent: deque[float] = deque(maxlen=limit or 1)
        self._lock = asyncio.Lock()
        #: total seconds spent waiting for a token (diagnostics).
        self.waited = 0.0

    @property
    def limit(self) -> int | None:
        """Sends allowed per window (``None``: unlimited)."""
        return self._limit

    async def acquire(self) -> float:
        """Wait until one more frame may be sent; returns the seconds waited."""
        if self._limit is None:
            return 0.0
        async with self._lock:
            waited = 0.0
            now = self._clock()
            # a loop, not an if: a timer may fire a hair early
            while len(self._sent) == self._limit and (wait := self._sent[0] + self._span - now) > 0:
                await asyncio.sleep(wait)
                waited += wait
                now = self._clock()
            self._sent.append(now)  # the deque's maxlen drops the oldest token stamp
            self.waited += waited
            return waited
