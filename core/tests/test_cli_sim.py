"""The ``exchanges`` data and trading commands end to end against the simulated venue (exchange-sim).

Each CLI invocation connects anew, and each connection of the simulated venue
is its own market, so every test asserts what one command printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from exchanges import Host
from exchanges.cli import cli

# Fast background flow so --watch tests see several updates in a fraction of a second.
FAST = ("--set", "flow_interval=0.02")


@pytest.fixture
def sim_host(monkeypatch: pytest.MonkeyPatch) -> Host:
    """A host that loads only the installed exchange-sim plugin (entry point discovery for real)."""
    for name in ("EXCHANGES_DISABLE_PLUGINS", "EXCHANGES_STRICT_PLUGINS", "EXCHANGES_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    host = Host(environ={"EXCHANGES_LOAD_PLUGINS": "exchange-sim"})
    assert "sim" in host.exchanges, "exchange-sim is not installed: .venv/bin/pip install -e plugins/exchange-sim"
    return host


def invoke(host: Host, *args: str) -> Result:
    """Run the CLI in-process on ``host``."""
    return CliRunner().invoke(cli, list(args), obj=host)


def ok_json(host: Host, *args: str) -> Any:
    """Run a --json command, check it succeeded with nothing on stderr, return the parsed stdout."""
    result = invoke(host, *args, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return json.loads(result.stdout)


def json_lines(result: Result) -> list[dict]:
    """Every line of a --watch --json run, parsed."""
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def prices(levels: list[list]) -> list[Decimal]:
    """The prices of book levels as JSON prints them ([price, quantity, ...])."""
    return [Decimal(level[0]) for level in levels]


def test_markets_json(sim_host: Host) -> None:
    """`markets --json` lists every instrument with its rules; --type filters by product."""
    instruments = ok_json(sim_host, "markets", "sim")
    assert [i["symbol"] for i in instruments] == ["BTC/USDT", "BTC/USDT:PERP", "ETH/USDT"]
    btc = instruments[0]
    assert (btc["raw_symbol"], btc["tick_size"], btc["instrument_type"]) == ("BTCUSDT", "0.01", "spot")
    perps = ok_json(sim_host, "markets", "sim", "--type", "perpetual")
    assert [i["symbol"] for i in perps] == ["BTC/USDT:PERP"]


def test_markets_table(sim_host: Host) -> None:
    """`markets` renders one row per instrument with its tick and step."""
    result = invoke(sim_host, "markets", "sim")
    assert result.exit_code == 0, result.output
    assert "BTC/USDT:PERP" in result.stdout and "BTCUSDT-PERP" in result.stdout and "0.00001" in result.stdout


def test_ticker_json(sim_host: Host) -> None:
    """`ticker --json` gives the best bid below the best ask."""
    ticker = ok_json(sim_host, "ticker", "sim", "ETH/USDT")
    assert ticker["symbol"] == "ETH/USDT" and ticker["exchange"] == "sim"
    assert Decimal(ticker["bid"]) < Decimal(ticker["ask"])


def test_book_json_is_sorted_and_limited(sim_host: Host) -> None:
    """`book --json` prints `--depth` levels per side: bids descending, asks ascending, not crossed."""
    book = ok_json(sim_host, "book", "sim", "BTC/USDT", "--depth", "5")
    bids, asks = prices(book["bids"]), prices(book["asks"])
    assert len(bids) == len(asks) == 5
    assert bids == sorted(bids, reverse=True) and len(set(bids)) == 5
    assert asks == sorted(asks) and len(set(asks)) == 5
    assert bids[0] < asks[0]
    assert (Decimal(book["best_bid"]), Decimal(book["best_ask"])) == (bids[0], asks[0])
    assert Decimal(book["spread"]) == asks[0] - bids[0]


def test_settings_reach_the_connector(sim_host: Host) -> None:
    """`--set` passes typed settings (JSON values) to connect(): a start price moves the simulated book there."""
    book = ok_json(sim_host, "book", "sim", "ETH/USDT", "--set", "flow=false", "--set", 'prices={"ETH/USDT": 2500}')
    assert Decimal(2400) < Decimal(book["best_bid"]) < Decimal(2500) < Decimal(book["best_ask"]) < Decimal(2600)
    result = invoke(sim_host, "book", "sim", "ETH/USDT", "--set", "colour=blue")
    assert result.exit_code == 2
    assert "unknown setting(s) colour for sim" in result.stderr


def test_config_file_reaches_the_connector(sim_host: Host, tmp_path: Path) -> None:
    """`--config PATH` is read by connect(): its options become settings; a broken file is a usage error."""
    good = tmp_path / "exchanges.yaml"
    good.write_text('exchanges:\n  sim:\n    options: {flow: false, prices: {"ETH/USDT": 2500}}\n')
    book = ok_json(sim_host, "book", "sim", "ETH/USDT", "--config", str(good))
    assert Decimal(2400) < Decimal(book["best_bid"]) < Decimal(2500)
    bad = tmp_path / "bad.yaml"
    bad.write_text("exchanges:\n  sim:\n    colour: blue\n")
    result = invoke(sim_host, "book", "sim", "ETH/USDT", "--config", str(bad))
    assert result.exit_code == 2
    assert "colour" in result.stderr and result.stderr.count("\n") == 1


def test_trades_json(sim_host: Host) -> None:
    """`trades --json` prints a JSON list of trades of the symbol (none before the flow trades)."""
    trades = ok_json(sim_host, "trades", "sim", "BTC/USDT", "--limit", "5", "--set", "flow=false")
    assert trades == []


def test_book_watch_json_lines(sim_host: Host) -> None:
    """`book --watch --json --seconds S` prints one valid, sorted book per line and stops by itself."""
    result = invoke(sim_host, "book", "sim", "BTC/USDT", "--watch", "--json", "--seconds", "0.5", "--depth", "3",
                    *FAST)
    books = json_lines(result)
    assert len(books) >= 2
    for book in books:
        bids = prices(book["bids"])
        assert book["symbol"] == "BTC/USDT" and len(bids) <= 3
        assert bids == sorted(bids, reverse=True) and bids[0] < Decimal(book["asks"][0][0])
    assert [b["sequence"] for b in books] == sorted(b["sequence"] for b in books)


def test_book_watch_table(sim_host: Host) -> None:
    """`book --watch` without a terminal prints the last state of the live table once and exits 0."""
    result = invoke(sim_host, "book", "sim", "BTC/USDT", "--watch", "--seconds", "0.3", *FAST)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("sim BTC/USDT") == 1
    assert "spread" in result.stdout and result.stdout.endswith("\n")


def test_watch_stops_cleanly_on_ctrl_c() -> None:
    """Ctrl-C (SIGINT) ends `book --watch --json` with exit status 0, no traceback, only whole JSON lines."""
    env = {**os.environ, "EXCHANGES_LOAD_PLUGINS": "exchange-sim"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exchanges.cli", "book", "sim", "BTC/USDT", "--watch", "--json", *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert json.loads(first)["symbol"] == "BTC/USDT"
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert all(json.loads(line)["symbol"] == "BTC/USDT" for line in rest.splitlines())


def test_trades_watch_json_lines(sim_host: Host) -> None:
    """`trades --watch --json` streams the flow's trades as JSON lines."""
    result = invoke(sim_host, "trades", "sim", "BTC/USDT", "--watch", "--json", "--seconds", "1", *FAST)
    trades = json_lines(result)
    assert trades, "the simulated flow traded nothing in a second"
    assert {t["symbol"] for t in trades} == {"BTC/USDT"}
    assert {t["side"] for t in trades} <= {"buy", "sell"}


def test_resting_order_then_cancel_by_client_id(sim_host: Host) -> None:
    """A post-only buy below the bid rests (state new); cancelling an order another connection placed is not found."""
    bid = Decimal(ok_json(sim_host, "book", "sim", "BTC/USDT", "--set", "flow=false")["best_bid"])
    price = str(bid - 100)
    placed = ok_json(sim_host, "order", "sim", "BTC/USDT", "buy", "0.001", "--price", price, "--post-only",
                     "--client-id", "cli-test-1", "--set", "flow=false")
    assert placed["status"] == "new" and placed["client_order_id"] == "cli-test-1"
    assert placed["filled_quantity"] == "0" and placed["symbol"] == "BTC/USDT"
    gone = invoke(sim_host, "cancel", "sim", "BTC/USDT", "cli-test-1", "--client-id")
    assert gone.exit_code == 1
    assert "cli-test-1" in gone.stderr


def test_market_order_fills(sim_host: Host) -> None:
    """A market buy fills in full at the best ask or above."""
    ask = Decimal(ok_json(sim_host, "ticker", "sim", "BTC/USDT", "--set", "flow=false")["ask"])
    result = ok_json(sim_host, "order", "sim", "BTC/USDT", "buy", "0.001", "--set", "flow=false")
    assert result["status"] == "filled" and result["filled_quantity"] == "0.001"
    assert Decimal(result["average_price"]) >= ask


def test_order_table(sim_host: Host) -> None:
    """Without --json the order result is a table naming the order's state."""
    result = invoke(sim_host, "order", "sim", "ETH/USDT", "sell", "0.01", "--type", "market")
    assert result.exit_code == 0, result.output
    assert "filled" in result.stdout and "ETH/USDT" in result.stdout


def test_open_orders_and_balances_of_a_fresh_account(sim_host: Host) -> None:
    """A fresh connection has no open orders and the funded starting balances."""
    assert ok_json(sim_host, "orders", "sim") == []
    assert ok_json(sim_host, "orders", "sim", "BTC/USDT") == []
    balances = ok_json(sim_host, "balance", "sim")
    assert balances["USDT"] == {"currency": "USDT", "free": "100000", "locked": "0"}
    assert balances["BTC"]["free"] == "2"
    table = invoke(sim_host, "balance", "sim")
    assert table.exit_code == 0 and "100000" in table.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("order", "sim", "BTC/USDT", "buy", "0.001", "--price", "50000.001"), 1,
         "price 50000.001 breaks the tick size rule of BTC/USDT: must be a multiple of 0.01"),
        (("order", "sim", "BTC/USDT", "buy", "0.000001", "--price", "50000"), 1,
         "quantity 0.000001 breaks the step size rule of BTC/USDT"),
        (("order", "sim", "BTC/USDT:PERP", "buy", "0.001", "--price", "50000"), 1, "notional"),
        (("order", "sim", "BTC/USDT", "buy", "0.001", "--price", "50000", "--reduce-only"), 1,
         "reduce_only applies to derivatives"),
        (("cancel", "sim", "BTC/USDT", "999999"), 1, "999999"),
        (("book", "sim", "DOGE/USDT"), 2, "'DOGE/USDT' is not listed on sim"),
        (("ticker", "sim", "not a symbol"), 2, "not a symbol"),
        (("orders", "sim", "XRP/USDT"), 2, "'XRP/USDT' is not listed on sim"),
        (("balance", "sim", "--testnet"), 1, "testnet is not supported by sim"),
    ],
)
def test_refusals_are_one_line_with_exit_code(sim_host: Host, args: tuple[str, ...], code: int, message: str) -> None:
    """Invalid orders (exit 1) and bad symbols (exit 2) print one red line naming the rule, no traceback."""
    result = invoke(sim_host, *args)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr


def test_demo_runs_to_completion(sim_host: Host) -> None:
    """`exchanges demo` shows plugins, a live book, two orders and a cancel, fills and balances, and exits 0."""
    result = invoke(sim_host, "demo", "--seconds", "0.5")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("installed plugins", "live order book", "post-only limit buy", "market buy", "canceled",
                 "fills seen on watch_fills (1)", "balances", "demo finished"):
        assert text in out, text
    assert out.index("live order book") < out.index("post-only limit buy") < out.index("market buy")
    assert out.index("market buy") < out.index("canceled") < out.index("fills seen") < out.index("balances")
