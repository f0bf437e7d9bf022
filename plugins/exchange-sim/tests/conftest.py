"""Fixtures of the exchange-sim tests: a real Host (entry-point discovery) and connected venues with flow off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

import exchanges
from exchange_sim.connector import SimExchange
from exchange_sim.engine import EngineOrder, MatchingEngine
from exchanges import Host, OrderSide, OrderType, TimeInForce

_ENV = ("EXCHANGES_LOAD_PLUGINS", "EXCHANGES_DISABLE_PLUGINS", "EXCHANGES_STRICT_PLUGINS", "EXCHANGES_CONFIG")


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Host:
    """A host that discovers the installed plugins through their entry points, with no config file around."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Host()


@pytest.fixture
def open_sim(host: Host) -> Callable[..., contextlib.AbstractAsyncContextManager[SimExchange]]:
    """Connect to ``sim`` with flow off (unless overridden) and the given settings."""

    @contextlib.asynccontextmanager
    async def opener(**settings: Any) -> AsyncIterator[SimExchange]:
        settings.setdefault("flow", False)
        async with exchanges.connect("sim", host=host, **settings) as ex:
            assert isinstance(ex, SimExchange)
            yield ex

    return opener


@pytest.fixture
async def ex(open_sim: Callable[..., contextlib.AbstractAsyncContextManager[SimExchange]]) -> AsyncIterator[SimExchange]:
    """A connected simulated venue with the background flow off (seed 42, default funds)."""
    async with open_sim() as venue:
        yield venue


@pytest.fixture
def set_book() -> Callable[..., None]:
    """Replace the other participants' orders of a book with the given ``(price, quantity)`` levels."""

    def setter(
        ex: SimExchange, symbol: str, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = ()
    ) -> None:
        ex.venue.clear_external(symbol)
        for price, quantity in bids:
            ex.venue.submit_external(symbol, "buy", quantity, price)
        for price, quantity in asks:
            ex.venue.submit_external(symbol, "sell", quantity, price)

    return setter


@pytest.fixture
def first_item() -> Callable[[Any], Awaitable[asyncio.Future[Any]]]:
    """Start reading a stream and let it subscribe; returns the future of its first item."""

    async def start(stream: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.ensure_future(anext(stream))
        for _ in range(3):  # let the generator run up to its subscription
            await asyncio.sleep(0)
        return future

    return start


@pytest.fixture
def engine() -> MatchingEngine:
    """A bare engine for ``TEST`` with last price 100."""
    ids = count(1)
    return MatchingEngine("TEST", last_price=Decimal(100), next_trade_id=lambda: f"t{next(ids)}")


@pytest.fixture
def make_order() -> Callable[..., EngineOrder]:
    """Build engine orders with fresh ids: ``make_order("buy", "1", "100")`` (no price: market)."""
    ids = count(1)

    def make(
        side: str, quantity: str, price: str | None = None, *, tif: str = "gtc", owner: str | None = None,
        order_type: str | None = None, stop: str | None = None, post_only: bool = False,
    ) -> EngineOrder:
        kind = order_type or ("limit" if price is not None else "market")
        return EngineOrder(
            order_id=f"o{next(ids)}",
            side=OrderSide(side),
            quantity=Decimal(quantity),
            price=None if price is None else Decimal(price),
            order_type=OrderType(kind),
            time_in_force=TimeInForce(tif),
            owner=owner,
            post_only=post_only,
            stop_price=None if stop is None else Decimal(stop),
        )

    return make
