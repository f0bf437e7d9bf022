"""Discovery for real: wheels of exchange-core and exchange-sim installed into a fresh venv.

The venv is built once for the module: first ``exchange-core`` and
``exchange-sim`` alone (the plugin listing is captured at that point), then the
fixture distributions ``exchange-broken`` (fails on import) and
``exchange-future`` (requires ``exchange-core>=99``), both with ``--no-deps``
since pip would refuse the second. Every check runs in a child process of that
venv, through the installed console script where there is one.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

pytestmark = pytest.mark.slow

CORE_VERSION = "0.1.0"
PLUGIN_MODULES = ("exchange_sim", "exchange_broken", "exchange_future")
BROKEN_ERROR = "ModuleNotFoundError: No module named 'exchange_broken_missing_dependency'"
FUTURE_ERROR = f"IncompatiblePlugin: requires exchange-core>=99, running {CORE_VERSION}"


@attrs.frozen
class PluginVenv:
    """The module's venv, the plugin listing taken before the fixture plugins were installed, and the marker path."""

    venv: Any  # conftest.Venv
    clean_listing: list[dict[str, Any]]
    marker: Path

    def marker_env(self) -> dict[str, str]:
        """Environment that makes ``exchange_future`` leave a marker file if it is ever imported."""
        return {"EXCHANGE_FUTURE_MARKER": str(self.marker)}


def plugins_json(venv: Any, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Run the installed ``exchanges plugins --json`` (plus ``args``) and parse its output."""
    result: list[dict[str, Any]] = json.loads(venv.run("exchanges", "plugins", "--json", *args, env=env).stdout)
    return result


def by_dist(listing: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Plugin records keyed by distribution name."""
    return {record["dist"]: record for record in listing}


@pytest.fixture(scope="module")
def plugin_venv(make_venv: Callable[[str], Any], wheelhouse: dict[str, Path]) -> PluginVenv:
    """A fresh venv with exchange-core and exchange-sim, then the broken and the future fixture plugins."""
    venv = make_venv("discovery")
    # Wheel files by path, so pip cannot prefer a same-named distribution from the index.
    venv.pip_install(wheelhouse["exchange-core"], wheelhouse["exchange-sim"])
    clean = plugins_json(venv, "--all")
    venv.pip_install("--no-deps", wheelhouse["exchange-broken"], wheelhouse["exchange-future"])
    return PluginVenv(venv, clean, venv.root.parent / "exchange_future.imported")


@pytest.fixture(scope="module")
def listing(plugin_venv: PluginVenv) -> dict[str, dict[str, Any]]:
    """``exchanges plugins --json --all`` with every plugin installed, by distribution name."""
    return by_dist(plugins_json(plugin_venv.venv, "--all", env=plugin_venv.marker_env()))


def test_clean_venv_lists_sim_loaded(plugin_venv: PluginVenv) -> None:
    """With only core and sim installed, the listing is the built-in plugin and exchange-sim, both loaded."""
    records = by_dist(plugin_venv.clean_listing)
    assert sorted(records) == ["exchange-core", "exchange-sim"]
    sim = records["exchange-sim"]
    assert (sim["name"], sim["version"], sim["status"], sim["error"]) == ("sim", "0.1.0", "loaded", None)
    assert "sim" in sim["exchanges"] and "register_exchanges" in sim["hooks"]
    assert sim["requires_core"] and not sim["builtin"]
    core = records["exchange-core"]
    assert (core["version"], core["status"], core["builtin"]) == (CORE_VERSION, "loaded", True)


@pytest.mark.parametrize(
    ("dist", "name", "version", "status", "error"),
    [
        ("exchange-sim", "sim", "0.1.0", "loaded", None),
        ("exchange-broken", "broken", "0.1.0", "failed", BROKEN_ERROR),
        ("exchange-future", "future", "3.0.0", "incompatible", FUTURE_ERROR),
    ],
    ids=["sim", "broken", "future"],
)
def test_each_plugin_reported_with_its_status(
    listing: dict[str, dict[str, Any]], dist: str, name: str, version: str, status: str, error: str | None
) -> None:
    """Each installed plugin is listed by name, distribution and version with the right status and error."""
    record = listing[dist]
    assert (record["name"], record["version"], record["status"], record["error"]) == (name, version, status, error)


def test_listing_has_exactly_the_installed_plugins(listing: dict[str, dict[str, Any]]) -> None:
    """Nothing else is discovered, and only the loaded plugin registered an exchange."""
    assert sorted(listing) == ["exchange-broken", "exchange-core", "exchange-future", "exchange-sim"]
    registered = {dist: record["exchanges"] for dist, record in listing.items() if record["exchanges"]}
    assert list(registered) == ["exchange-sim"] and "sim" in registered["exchange-sim"]
    assert listing["exchange-future"]["requires_core"] == ">=99"


def test_incompatible_plugin_is_never_imported(plugin_venv: PluginVenv, listing: dict[str, dict[str, Any]]) -> None:
    """Listing and loading the plugins never imports the module of the plugin that requires exchange-core>=99."""
    code = textwrap.dedent(
        """
        import json, sys, exchanges
        host = exchanges.Host()
        statuses = {r.name: r.status for r in host.plugins}
        print(json.dumps({"statuses": statuses, "modules": sorted(m for m in sys.modules if m.startswith("exchange_"))}))
        """
    )
    seen = plugin_venv.venv.python_json(code, env=plugin_venv.marker_env())
    assert seen["statuses"]["future"] == "incompatible" and seen["statuses"]["sim"] == "loaded"
    assert "exchange_future" not in seen["modules"]
    assert "exchange_sim" in seen["modules"]  # the probe does see plugin modules that were imported
    assert listing["exchange-future"]["status"] == "incompatible"  # the CLI run also happened with the marker set
    assert not plugin_venv.marker.exists(), plugin_venv.marker.read_text()
    # Control: the marker does appear when the module is imported, so its absence above means something.
    control = plugin_venv.marker.with_name("control.imported")
    plugin_venv.venv.run(plugin_venv.venv.python, "-c", "import exchange_future", env={"EXCHANGE_FUTURE_MARKER": str(control)})
    assert control.read_text().startswith("exchange_future imported")


def test_broken_plugins_do_not_stop_the_cli(plugin_venv: PluginVenv) -> None:
    """`plugins` exits 0 with broken plugins installed; `plugins --check` exits 1 naming each of them."""
    venv = plugin_venv.venv
    assert venv.run("exchanges", "plugins").returncode == 0
    checked = venv.run("exchanges", "plugins", "--check", "--json", check=False)
    assert checked.returncode == 1
    assert "broken" in checked.stderr and "future" in checked.stderr and "sim" not in checked.stderr
    assert {r["name"] for r in json.loads(checked.stdout)} == {"sim", "broken", "future"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"EXCHANGES_DISABLE_PLUGINS": "exchange-sim"},
            {"sim": ("blocked", "blocked by EXCHANGES_DISABLE_PLUGINS"), "broken": ("failed", BROKEN_ERROR),
             "future": ("incompatible", FUTURE_ERROR)},
        ),
        (
            {"EXCHANGES_LOAD_PLUGINS": "sim"},
            {"sim": ("loaded", None), "broken": ("blocked", "not in EXCHANGES_LOAD_PLUGINS"),
             "future": ("blocked", "not in EXCHANGES_LOAD_PLUGINS")},
        ),
    ],
    ids=["disable-sim", "load-only-sim"],
)
def test_allow_and_deny_lists_in_installed_venv(
    plugin_venv: PluginVenv, environ: dict[str, str], expected: dict[str, tuple[str, str | None]]
) -> None:
    """The allow and deny variables select installed plugins by entry-point or distribution name."""
    records = {r["name"]: r for r in plugins_json(plugin_venv.venv, env=environ)}
    assert {name: (r["status"], r["error"]) for name, r in records.items()} == expected
    assert (records["sim"]["exchanges"] != []) == (records["sim"]["status"] == "loaded")


def test_import_exchanges_loads_no_plugin_and_no_network_stack(plugin_venv: PluginVenv) -> None:
    """`import exchanges` in the installed venv imports neither aiohttp nor websockets nor any plugin module."""
    code = "import json, sys, exchanges; print(json.dumps(sorted(sys.modules)))"
    modules = set(plugin_venv.venv.python_json(code, env=plugin_venv.marker_env()))
    tops = {m.split(".")[0] for m in modules}
    assert "exchanges" in tops
    assert tops.isdisjoint({"aiohttp", "websockets", "pluggy", *PLUGIN_MODULES})
    assert not plugin_venv.marker.exists()


# Runs in the venv: a marketable IOC limit buy at the best ask of a still book (flow off), then the account state.
SIM_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import exchanges

    async def main():
        async with exchanges.connect("sim", flow=False) as ex:
            book = await ex.market_data.order_book("BTC/USDT", depth=5)
            ask = book.asks[0]
            order = exchanges.Order.limit("BTC/USDT", "buy", "0.001", ask.price, time_in_force="ioc")
            result = await ex.execution.place_order(order)
            status = await ex.execution.order_status(result.order_id, "BTC/USDT")
            balances = await ex.execution.balances()
        return {
            "bids": [str(level.price) for level in book.bids],
            "asks": [[str(level.price), str(level.quantity)] for level in book.asks],
            "result": [result.status.value, str(result.filled_quantity), str(result.average_price)],
            "client_order_id": [order.client_order_id, result.client_order_id],
            "state": status.state.value,
            "balances": {c: str(b.free) for c, b in balances.items()},
            "plugin_modules": sorted(m for m in sys.modules if m.split(".")[0] in %r),
        }

    print(json.dumps(asyncio.run(main())))
    """
) % (PLUGIN_MODULES,)


def test_sim_venue_trades_next_to_broken_plugins(plugin_venv: PluginVenv) -> None:
    """The simulated venue installed from its wheel fills a marketable order at the best ask and debits the account."""
    out = plugin_venv.venv.python_json(SIM_SCRIPT, env=plugin_venv.marker_env())
    bids = [Decimal(p) for p in out["bids"]]
    asks = [Decimal(p) for p, _ in out["asks"]]
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    best_ask, best_ask_size = Decimal(out["asks"][0][0]), Decimal(out["asks"][0][1])
    assert best_ask_size >= Decimal("0.001")  # the whole order fits in the first level
    assert out["result"] == ["filled", "0.001", str(best_ask)]
    assert out["state"] == "filled"
    assert out["client_order_id"][0] == out["client_order_id"][1]
    notional = Decimal("0.001") * best_ask
    assert Decimal(out["balances"]["BTC"]) == Decimal("2.001")
    assert Decimal(out["balances"]["USDT"]) == Decimal("100000") - notional - notional * Decimal("0.0005")
    # the connector loaded lazily from exchange_sim; the broken and incompatible plugins stayed out
    assert "exchange_sim" in out["plugin_modules"] and len(out["plugin_modules"]) > 1
    assert not {"exchange_future", "exchange_broken"} & set(out["plugin_modules"])
    assert not plugin_venv.marker.exists()
