"""TC-W-03..05: the websocket contract, checked against the loopback venue emulator.

A venue plugin describes how to script its own streams with a
:class:`WsScenario`; the suite then injects the faults (a dropped connection,
a sequence gap, a stalled heartbeat) and checks what the connector does:
reconnect and resubscribe, resync only the broken book, replace a stalled
connection. No stale or crossed book may be yielded at any point.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import pytest
import pytest_asyncio

from exchanges import BaseExchange, ExchangeDescriptor, Host, OrderBook

__all__ = ["WsContract", "WsScenario"]


@runtime_checkable
class WsScenario(Protocol):
    """How to script one venue's book stream on the emulator."""

    #: REST path of the book snapshot (None for venues whose stream carries snapshots)
    snapshot_path: str | None

    def install(self, emu: Any, symbol: str, faults: Any) -> None:
        """Route the snapshot and a websocket endpoint streaming a valid, continuing book for ``symbol``.

        ``faults`` is what :meth:`VenueEmulator.websocket` accepts (one
        ``WsFaults``, a list by connection number, or a callable); frame
        positions count the scripted frames from 0. The stream must keep
        producing updates on every connection (e.g. a live generator keyed by
        ``session.index``), with sequence numbers that continue across
        connections, and the snapshot route must answer consistently.
        """
        ...

    def endpoints(self, emu: Any) -> Mapping[str, str]:
        """``endpoints=`` overrides that point the connector at the emulator."""
        ...

    def subscribed(self, session: Any) -> bool:
        """True once ``session`` (an emulator ``WsSession``) carries a subscription for the book."""
        ...

    def connect_kwargs(self) -> Mapping[str, Any]:
        """Extra ``connect`` settings for fast tests (short heartbeat timeouts, backoff caps)."""
        ...


def _check(book: OrderBook, last_seq: int | None) -> int | None:
    bids = [lv.price for lv in book.bids]
    asks = [lv.price for lv in book.asks]
    assert bids == sorted(bids, reverse=True), "bids not descending"
    assert asks == sorted(asks), "asks not ascending"
    assert not book.is_crossed, f"crossed book yielded: {book.best_bid} >= {book.best_ask}"
    if last_seq is not None and book.sequence is not None:
        assert book.sequence >= last_seq, f"sequence went back: {book.sequence} < {last_seq}"
    return book.sequence


class WsContract:
    """Mixin of :class:`~exchanges.testing.conformance.ConformanceSuite` holding TC-W-03..05."""

    exchange_id: ClassVar[str]
    trade_symbol: ClassVar[str]
    #: the venue's scenario; None skips TC-W-03..05
    ws_scenario: ClassVar[WsScenario | None] = None
    #: frames a fault waits for before it strikes
    fault_after: ClassVar[int] = 5

    @pytest_asyncio.fixture
    async def emulator(self) -> AsyncIterator[Any]:
        """A running loopback venue emulator."""
        from .emulator import VenueEmulator

        async with VenueEmulator() as emu:
            yield emu

    def _scenario(self, descriptor: ExchangeDescriptor) -> WsScenario:
        if not descriptor.supports("watch_order_book"):
            pytest.skip(f"gated: {descriptor.id} does not declare watch_order_book")
        if self.ws_scenario is None:
            pytest.skip(f"gated: no ws_scenario for {descriptor.id}")
        return self.ws_scenario

    async def _watch(self, host: Host, emu: Any, scenario: WsScenario, until: Any, *, timeout: float = 20.0) -> int:
        """Watch the book until ``until()`` holds and one more book arrived; check every book yielded."""
        settings = dict(scenario.connect_kwargs())
        async with host.connect(self.exchange_id, endpoints=scenario.endpoints(emu), **settings) as ex:
            return await asyncio.wait_for(self._consume(ex, until), timeout)

    async def _consume(self, ex: BaseExchange, until: Any) -> int:
        last: int | None = None
        seen = 0
        done_at: int | None = None
        stream = ex.market_data.watch_order_book(self.trade_symbol)
        try:
            async for book in stream:
                last = _check(book, last)
                seen += 1
                if done_at is None and until():
                    done_at = seen
                if done_at is not None and seen > done_at:
                    return seen
        finally:
            await stream.aclose()  # type: ignore[attr-defined]  # an async generator
        return seen

    @pytest.mark.asyncio
    async def test_TC_W_03_reconnect_resubscribe(self, host: Host, descriptor: ExchangeDescriptor, emulator: Any) -> None:
        """TC-W-03: after a dropped connection the stream reconnects, resubscribes and keeps yielding synced books."""
        from .emulator import WsFaults

        scenario = self._scenario(descriptor)
        scenario.install(emulator, self.trade_symbol, [WsFaults(drop_after=self.fault_after), WsFaults()])

        def resubscribed() -> bool:
            live = emulator.ws_sessions
            return len(live) >= 2 and scenario.subscribed(live[1])

        await self._watch(host, emulator, scenario, resubscribed)

    @pytest.mark.asyncio
    async def test_TC_W_04_gap_resync(self, host: Host, descriptor: ExchangeDescriptor, emulator: Any) -> None:
        """TC-W-04: a sequence gap marks the book stale; it is resynced from a fresh snapshot before the next yield."""
        from .emulator import WsFaults

        scenario = self._scenario(descriptor)
        scenario.install(emulator, self.trade_symbol, WsFaults(skip={self.fault_after}))

        def resynced() -> bool:
            if scenario.snapshot_path is None:
                return True
            return len(emulator.requests_for(scenario.snapshot_path)) >= 2

        await self._watch(host, emulator, scenario, resynced)
        if scenario.snapshot_path is not None:
            assert len(emulator.requests_for(scenario.snapshot_path)) >= 2, "the gap was not resynced"

    @pytest.mark.asyncio
    async def test_TC_W_05_stalled_heartbeat(self, host: Host, descriptor: ExchangeDescriptor, emulator: Any) -> None:
        """TC-W-05: a connection that stops answering heartbeats is replaced and the stream goes on."""
        from .emulator import WsFaults

        scenario = self._scenario(descriptor)
        scenario.install(emulator, self.trade_symbol, [WsFaults(stall_after=self.fault_after), WsFaults()])

        def replaced() -> bool:
            live = emulator.ws_sessions
            return len(live) >= 2 and scenario.subscribed(live[1])

        await self._watch(host, emulator, scenario, replaced, timeout=30.0)
