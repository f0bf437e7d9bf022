"""The conformance kit itself, run with pytester against deliberately broken toy plugins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchanges.testing.conformance import TC_IDS

TOY = '''
from decimal import Decimal
import pytest
from exchanges import (BaseExchange, EndpointCost, ExchangeDescriptor, Execution, Host, Instrument, Instruments,
                       MarketData, OrderResult, OrderState, RateLimitRule, hookimpl, BadSymbol)
from exchanges.testing.conformance import ConformanceSuite


class Inst(Instruments):
    async def fetch(self):
        return [Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", "spot", tick_size="0.01", step_size="0.001"),
                Instrument("ETH/USDT", "ETHUSDT", "ETH", "USDT", "spot", tick_size="0.01", step_size="0.001")]


class Exec(Execution):
    async def place_order(self, order):
        return OrderResult("1", order.client_order_id, order.symbol, OrderState.NEW)


class Toy(BaseExchange):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.instruments, self.market_data, self.execution = Inst(self), MarketData(self), Exec(self)

    def reference_price(self, symbol):
        return Decimal("100")


class Mapper:
    def __init__(self, known):
        self.known = known

    def normalize(self, raw):
        if raw not in self.known:
            raise BadSymbol(f"unknown {raw!r}")
        return self.known[raw]

    def denormalize(self, symbol):
        for raw, sym in self.known.items():
            if sym == symbol:
                return raw
        raise BadSymbol(f"unknown {symbol!r}")


def descriptor():
    return ExchangeDescriptor(id="toy", name="Toy", kind="cex", products=["spot"],
                              capabilities=["place_order"], endpoints={"rest": "https://toy.example"}, connector=Toy)


class Plugin:
    def __init__(self, mapper=None, rules=None, costs=None):
        self.mapper = mapper or Mapper({"BTCUSDT": "BTC/USDT", "ETHUSDT": "ETH/USDT"})
        self.rules = [RateLimitRule("weight", 100, 60)] if rules is None else rules
        self.costs = [EndpointCost("GET /depth", {"weight": 1})] if costs is None else costs

    @hookimpl
    def register_exchanges(self, register):
        register(descriptor())

    @hookimpl
    def register_symbol_mappers(self, register):
        register("toy", self.mapper)

    @hookimpl
    def register_rate_limits(self, register):
        for item in [*self.rules, *self.costs]:
            register("toy", item)


PLUGINS = {plugins}


class TestToy(ConformanceSuite):
    exchange_id = "toy"
    symbol_cases = [("BTCUSDT", "BTC/USDT")]
    called_endpoints = ["GET /depth"]
    trade_symbol = "BTC/USDT"

    @pytest.fixture
    def host(self):
        host = Host(discover=False)
        for name, plugin in PLUGINS:
            host.register(plugin, name)
        return host
'''


def _outcomes(pytester: pytest.Pytester, plugins: str) -> dict[str, str]:
    pytester.makepyfile(test_toy=TOY.replace("{plugins}", plugins))
    result = pytester.runpytest("-p", "asyncio", "-o", "asyncio_default_fixture_loop_scope=function", "-v")
    outcomes: dict[str, str] = {}
    for line in result.outlines:
        match = re.search(r"::test_(TC_[A-Z]_\d\d)\w* (PASSED|FAILED|SKIPPED|ERROR)", line)
        if match:
            outcomes[match[1].replace("_", "-")] = match[2].lower()
    return outcomes


def test_healthy_toy_passes_every_group_it_declares(pytester: pytest.Pytester) -> None:
    """A well-behaved toy plugin passes its groups; groups it cannot run are skipped, not failed."""
    outcomes = _outcomes(pytester, '[("toy-plugin", Plugin())]')
    assert outcomes["TC-P-01"] == "passed" and outcomes["TC-S-02"] == "passed" and outcomes["TC-R-03"] == "passed"
    assert outcomes["TC-X-01"] == "passed" and outcomes["TC-X-04"] == "passed"
    assert outcomes["TC-W-01"] == "skipped" and outcomes["TC-X-05"] == "skipped"
    assert "failed" not in outcomes.values() and "error" not in outcomes.values()


@pytest.mark.parametrize(
    ("plugins", "failing"),
    [
        ('[("toy-plugin", Plugin()), ("copycat", Plugin())]', "TC-P-01"),
        ('[("toy-plugin", Plugin(mapper=Mapper({"BTCUSDT": "BTC/USDT"})))]', "TC-S-04"),
        ('[("toy-plugin", Plugin(costs=[EndpointCost("GET /depth", {"raw": 1})]))]', "TC-R-02"),
        ('[("toy-plugin", Plugin(rules=[]))]', "TC-R-01 TC-R-02"),
        ('[("toy-plugin", Plugin(costs=[]))]', "TC-R-03"),
        ('[("toy-plugin", Plugin(mapper=Mapper({"BTCUSDT": "BTC/USD", "ETHUSDT": "ETH/USDT"})))]', "TC-S-02 TC-S-04"),
    ],
    ids=["duplicate-id", "unmapped-symbol", "cost-key-without-rule", "no-rules", "uncosted-endpoint", "wrong-mapping"],
)
def test_broken_toy_fails_the_expected_id(pytester: pytest.Pytester, plugins: str, failing: str) -> None:
    """Each deliberately broken toy plugin fails exactly the TC ids that cover its defect, and no other."""
    outcomes = _outcomes(pytester, plugins)
    assert sorted(tc for tc, outcome in outcomes.items() if outcome == "failed") == failing.split(), outcomes


def test_docs_list_every_id() -> None:
    """docs/plugins/conformance.md lists every TC id with its meaning, and no id that does not exist."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "plugins" / "conformance.md").read_text()
    listed = set(re.findall(r"^\| `(TC-[A-Z]-\d\d)` \|", doc, re.MULTILINE))
    assert listed == set(TC_IDS)
    for tc, meaning in TC_IDS.items():
        assert f"| `{tc}` | {meaning} |" in doc
