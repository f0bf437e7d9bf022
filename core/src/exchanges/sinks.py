"""Event sinks: where normalized events go besides ``watch_*`` consumers.

A sink is any object with ``async write(topic, event)`` and ``async close()``
(:class:`exchanges.events.Sink`). Plugins register sink factories through
``register_sinks``; the core registers ``jsonl``. :func:`pump` feeds a sink
from an :class:`~exchanges.events.EventBus` until cancelled.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from .events import EventBus, Sink
from .models import to_dict

__all__ = ["JsonLinesSink", "event_record", "pump"]


def event_record(topic: str, event: Any) -> dict[str, Any]:
    """The JSON-able record of one event: topic, model type and the model as a dict."""
    return {"topic": topic, "type": type(event).__name__, "data": to_dict(event)}


class JsonLinesSink:
    """Appends one JSON object per event to a file (``-`` for standard output).

    Writes are buffered by the file object and flushed every ``flush_every``
    events and on :meth:`close`, so a crash loses at most that many lines.
    """

    def __init__(self, path: str | os.PathLike[str] = "-", *, flush_every: int = 1) -> None:
        self.path = str(path)
        self._flush_every = max(1, int(flush_every))
        self._pending = 0
        self._file: IO[bytes] | None = None
        self.written = 0

    def _open(self) -> IO[bytes]:
        if self._file is None:
            if self.path == "-":
                import sys

                self._file = sys.stdout.buffer
            else:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        return self._file

    async def write(self, topic: str, event: Any) -> None:
        """Append one event."""
        handle = self._open()
        handle.write(orjson.dumps(event_record(topic, event)) + b"\n")
        self.written += 1
        self._pending += 1
        if self._pending >= self._flush_every:
            handle.flush()
            self._pending = 0

    async def close(self) -> None:
        """Flush and close the file (standard output is only flushed)."""
        if self._file is not None:
            self._file.flush()
            if self.path != "-":
                self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"JsonLinesSink({self.path!r}, written={self.written})"


async def pump(bus: EventBus, topics: Iterable[str], sink: Sink, *, maxsize: int = 100_000) -> None:
    """Write every event published on ``topics`` to ``sink`` until cancelled (then closes the sink).

    Each topic is read through a bounded queue subscription: a sink that falls
    ``maxsize`` events behind fails loudly with SubscriptionOverflow instead of
    dropping events.
    """
    import asyncio

    subs = [bus.subscribe(topic, policy="queue", maxsize=maxsize) for topic in topics]

    async def drain(sub: Any) -> None:
        async for event in sub:
            await sink.write(sub.topic, event)

    try:
        async with asyncio.TaskGroup() as group:
            for sub in subs:
                group.create_task(drain(sub))
    except ExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:  # one failing topic: raise its error as documented
            raise group_error.exceptions[0] from None
        raise
    finally:
        for sub in subs:
            sub.close()
        await sink.close()
