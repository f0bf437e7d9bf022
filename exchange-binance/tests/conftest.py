"""Shared fixtures of the exchange-binance tests: the loopback Binance and connectors pointed at it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import stamina

from exchange_binance.conformance import FAST_SETTINGS
from exchange_binance.testing import FakeBinance
from exchanges import BaseExchange, Host
from exchanges.testing.emulator import VenueEmulator


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retries of idempotent requests do not sleep in tests."""
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    """A host discovering the installed plugins, untouched by the developer's environment."""
    for name in ("EXCHANGES_LOAD_PLUGINS", "EXCHANGES_DISABLE_PLUGINS", "EXCHANGES_CONFIG",
                 "EXCHANGES_BINANCE_API_KEY", "EXCHANGES_BINANCE_SECRET",
                 "EXCHANGES_BINANCE_USDM_API_KEY", "EXCHANGES_BINANCE_USDM_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return Host()


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A running loopback venue emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


@pytest.fixture
def spot(emu: VenueEmulator) -> FakeBinance:
    """The loopback Binance spot venue."""
    return FakeBinance(emu, futures=False).install()


@pytest.fixture
def usdm(emu: VenueEmulator) -> FakeBinance:
    """The loopback Binance USD-M venue."""
    return FakeBinance(emu, futures=True).install()


Connect = Callable[..., contextlib.AbstractAsyncContextManager[BaseExchange]]


@pytest.fixture
def connect(host: Host) -> Connect:
    """``async with connect(fake, **settings) as ex``: a connected exchange on a loopback venue (fast settings)."""

    @contextlib.asynccontextmanager
    async def opened(fake: FakeBinance, *, credentials: Any = "fake", **settings: Any) -> AsyncIterator[BaseExchange]:
        exchange_id = "binance-usdm" if fake.futures else "binance"
        creds = fake.credentials if credentials == "fake" else credentials
        merged = {**FAST_SETTINGS, **settings}
        async with host.connect(exchange_id, endpoints=fake.endpoints, credentials=creds, **merged) as ex:
            yield ex

    return opened
