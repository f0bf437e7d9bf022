"""The plugin as the host sees it: entry-point discovery, descriptor, mapper, limits, settings, conformance."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

import exchanges
from exchange_sim.conformance import SimConformance
from exchange_sim.settings import SETTING_NAMES
from exchanges import BadSymbol, Capability, ConfigError, Host, InstrumentType, NotSupported, Order


class TestConformance(SimConformance):
    """The kit's conformance suite against the installed plugin (flow off, driven by steps)."""


def test_registered_only_through_its_entry_point(host: Host) -> None:
    """The host finds ``sim`` through the ``exchanges`` entry point of the exchange-sim distribution."""
    record = host.plugin(host.owner("sim"))
    assert (record.name, record.dist, record.version, record.status) == ("sim", "exchange-sim", "0.1.0", "loaded")
    assert record.requires_core == "<0.2,>=0.1"
    assert record.exchanges == ["sim"]


def test_descriptor(host: Host) -> None:
    """The descriptor names the venue, its products, every supported capability and the embedded endpoint."""
    d = host.descriptor("sim")
    assert (d.name, d.kind.value, d.endpoints["rest"], d.has_testnet) == ("Simulated venue", "cex", "sim://embedded", False)
    assert d.products == {InstrumentType.SPOT, InstrumentType.PERPETUAL}
    assert Capability.QUOTE_QUANTITY not in d.capabilities
    everything_else = {v for k, v in vars(Capability).items() if k.isupper()} - {Capability.QUOTE_QUANTITY}
    assert d.capabilities == everything_else


@pytest.mark.parametrize(("raw", "unified"), [
    ("BTCUSDT", "BTC/USDT"), ("ETHUSDT", "ETH/USDT"), ("BTCUSDT-PERP", "BTC/USDT:PERP"),
])
def test_symbol_mapper(host: Host, raw: str, unified: str) -> None:
    """The registered mapper maps listed raw names both ways."""
    mapper = host.symbol_mapper("sim")
    assert mapper is not None
    assert mapper.normalize(raw) == unified and mapper.denormalize(unified) == raw


@pytest.mark.parametrize(("method", "value"), [
    ("normalize", "DOGEUSDT"), ("denormalize", "DOGE/USDT"), ("denormalize", "BTC-USDT"), ("normalize", "BTC/USDT"),
])
def test_symbol_mapper_refuses_unlisted(host: Host, method: str, value: str) -> None:
    """Names the venue does not list raise BadSymbol."""
    with pytest.raises(BadSymbol):
        getattr(host.symbol_mapper("sim"), method)(value)


def test_rate_limits_registered(host: Host) -> None:
    """The order and weight rules and a cost per call are registered for ``sim``."""
    names = [r.name for r in host.rate_limit_rules("sim")]
    assert names == ["orders/1s", "orders/86400s", "weight/60s"]
    orders = next(r for r in host.rate_limit_rules("sim") if r.name == "orders/1s")
    assert (orders.limit, orders.scope) == (50, "account")
    assert host.endpoint_costs("sim")["sim:place_order"].costs == {"weight": 1, "orders": 1}


@pytest.mark.parametrize(("settings", "message"), [
    ({"sede": 1}, "unknown setting.*sede"),
    ({"seed": "abc"}, "seed must be an integer"),
    ({"flow": "maybe"}, "flow must be true or false"),
    ({"flow_interval": 0}, "flow_interval must be positive"),
    ({"balances": {"USDT": "-1"}}, r"balances\[USDT\] must not be negative"),
    ({"prices": {"DOGE/USDT": "1"}}, "does not list"),
    ({"leverage": 500}, "leverage must be between 1 and 125"),
    ({"clock": "sundial"}, "clock must be"),
])
def test_bad_settings_raise_config_error(host: Host, settings: dict, message: str) -> None:
    """connect() with a bad setting raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        exchanges.connect("sim", host=host, **settings)


async def test_settings_from_text(host: Host) -> None:
    """Settings given as text (``--set seed=7``) are converted like typed ones."""
    ex = exchanges.connect("sim", host=host, seed="7", flow="false", flow_interval="0.5", maker_fee="0.001",
                           balances={"usdt": "10"})
    s = ex.settings  # type: ignore[attr-defined]
    assert (s.seed, s.flow, s.flow_interval, s.maker_fee, s.clock, s.step_ms) == (7, False, 0.5, Decimal("0.001"), "virtual", 500)
    async with ex:
        assert {c: b.free for c, b in (await ex.execution.balances()).items()} == {"USDT": Decimal(10)}
    assert set(SETTING_NAMES) >= {"seed", "flow", "flow_interval", "balances", "prices", "leverage"}


async def test_quote_quantity_is_not_supported(open_sim) -> None:
    """A market order sized in quote currency raises NotSupported naming the venue."""
    async with open_sim() as ex:
        with pytest.raises(NotSupported, match="quote_quantity is not supported by sim"):
            await ex.execution.place_order(Order.market("BTC/USDT", "buy", quote_quantity="100"))


def test_importing_the_plugin_is_cheap() -> None:
    """Importing exchange_sim loads neither its engine nor its connector (checked in a fresh interpreter)."""
    code = (
        "import sys, exchange_sim; print(sorted(m for m in sys.modules if m.startswith('exchange_sim.') "
        "or m.split('.')[0] in ('aiohttp', 'websockets', 'sortedcontainers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['exchange_sim.ratelimits', 'exchange_sim.symbols', 'exchange_sim.venue']"


async def test_reconnect_keeps_the_venue(host: Host) -> None:
    """Closing and connecting again keeps the same simulated venue: orders and streams work on."""
    ex = exchanges.connect("sim", host=host, flow=False)
    async with ex:
        placed = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.1", "50000.00"))
    assert not ex.is_connected
    async with ex:
        assert [o.order_id for o in await ex.execution.open_orders()] == [placed.order_id]
        stream = ex.market_data.watch_order_book("BTC/USDT", depth=1)
        assert (await anext(stream)).symbol == "BTC/USDT"
        await stream.aclose()
