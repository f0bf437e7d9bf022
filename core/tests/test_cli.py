"""The ``exchanges`` command line on in-process plugins: plugins, list, info, errors, plugin commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner, Result

from core_toys import ToyPlugin, toy_descriptor
from exchanges import EndpointCost, Host, RateLimitRule, UnknownExchange, hookimpl
from exchanges.cli import BUILTIN_COMMANDS, cli, main


class _Mapper:
    """A symbol mapper for the toy venue (BTC/USDT <-> BTCUSDT)."""

    def normalize(self, raw: str) -> str:
        return f"{raw[:-4]}/{raw[-4:]}"

    def denormalize(self, symbol: str) -> str:
        return symbol.replace("/", "")


class _Limits:
    """Registers the toy venue's mapper, two rules and one endpoint cost."""

    @hookimpl
    def register_symbol_mappers(self, register):  # type: ignore[no-untyped-def]
        register("toy", _Mapper())

    @hookimpl
    def register_rate_limits(self, register):  # type: ignore[no-untyped-def]
        register("toy", RateLimitRule("weight", 1200, 60))
        register("toy", RateLimitRule("orders", 10, 1, scope="account"))
        register("toy", EndpointCost("GET /depth", {"weight": 5}))


class _VipTier:
    """Overrides the toy venue's weight rule (a VIP overlay)."""

    @hookimpl
    def register_rate_limits(self, register):  # type: ignore[no-untyped-def]
        register("toy", RateLimitRule("weight", 6000, 60), override=True)


def _explode_in_registration() -> None:
    raise RuntimeError("venue table is corrupt")


class _Broken:
    """A plugin whose registration raises."""

    @hookimpl
    def register_exchanges(self, register):  # type: ignore[no-untyped-def]
        _explode_in_registration()


@pytest.fixture
def cli_host(host: Host) -> Host:
    """A host with the toy venue, its limits and mapper, and one broken plugin."""
    host.register(ToyPlugin(toy_descriptor(capabilities=("order_book", "place_order", "post_only"))), "toy-plugin")
    host.register(_Limits(), "toy-limits")
    host.register(_Broken(), "broken")
    return host


def invoke(host: Host, *args: str) -> Result:
    """Run the CLI in-process on ``host``."""
    return CliRunner().invoke(cli, list(args), obj=host)


def test_plugins_table_shows_status_and_error(cli_host: Host) -> None:
    """The table lists each plugin with its status and the failed plugin's one-line error."""
    result = invoke(cli_host, "plugins")
    assert result.exit_code == 0, result.output
    assert "toy-plugin" in result.stdout and "loaded" in result.stdout
    assert "broken" in result.stdout and "failed" in result.stdout
    assert "RuntimeError: venue table is corrupt" in result.stdout
    assert "exchanges.builtin" not in result.stdout


@pytest.mark.parametrize(
    ("flags", "names"),
    [
        ((), ["toy-plugin", "toy-limits", "broken"]),
        (("--all",), ["exchanges.builtin", "toy-plugin", "toy-limits", "broken"]),
    ],
)
def test_plugins_json(cli_host: Host, flags: tuple[str, ...], names: list[str]) -> None:
    """--json prints the records as JSON (the built-in core plugin only with --all)."""
    result = invoke(cli_host, "plugins", "--json", *flags)
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["name"] for r in records] == names
    toy = next(r for r in records if r["name"] == "toy-plugin")
    assert toy["status"] == "loaded" and toy["exchanges"] == ["toy"] and toy["hooks"] == ["register_exchanges"]
    broken = next(r for r in records if r["name"] == "broken")
    assert broken["status"] == "failed" and broken["error"] == "RuntimeError: venue table is corrupt"
    assert "traceback" not in broken


def test_plugins_check_fails_when_a_plugin_failed(cli_host: Host) -> None:
    """--check exits 1 and names the plugin that did not load; the JSON is still printed."""
    result = invoke(cli_host, "plugins", "--check", "--json")
    assert result.exit_code == 1
    assert "broken" in result.stderr and "did not load" in result.stderr
    assert len(json.loads(result.stdout)) == 3


def test_plugins_check_passes_when_all_loaded(host: Host) -> None:
    """--check exits 0 when every plugin loaded."""
    host.register(ToyPlugin(), "toy-plugin")
    result = invoke(host, "plugins", "--check")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_plugins_check_fails_when_a_plugin_is_blocked() -> None:
    """--check exits 1 when a plugin was blocked by the deny list: it did not load either."""
    host = Host(environ={"EXCHANGES_DISABLE_PLUGINS": "exchange-sim"})
    result = invoke(host, "plugins", "--check", "--json")
    assert result.exit_code == 1
    assert "sim (blocked)" in result.stderr
    assert {r["name"]: r["status"] for r in json.loads(result.stdout)}["sim"] == "blocked"


@pytest.mark.parametrize("as_json", [False, True])
def test_plugins_verbose_shows_traceback(cli_host: Host, as_json: bool) -> None:
    """--verbose shows the failed plugin's traceback (in the table view and in the JSON)."""
    args = ["plugins", "--verbose"] + (["--json"] if as_json else [])
    result = invoke(cli_host, *args)
    assert result.exit_code == 0
    if as_json:
        broken = next(r for r in json.loads(result.stdout) if r["name"] == "broken")
        text = broken["traceback"]
    else:
        text = result.stdout
    assert "Traceback (most recent call last)" in text and "_explode_in_registration" in text
    assert "_explode_in_registration" not in invoke(cli_host, "plugins").stdout


def test_list_table_and_json(cli_host: Host) -> None:
    """`list` shows each exchange id with name, kind, products and plugin."""
    table = invoke(cli_host, "list")
    assert table.exit_code == 0
    assert "toy" in table.stdout and "Toy venue" in table.stdout and "perpetual, spot" in table.stdout
    rows = json.loads(invoke(cli_host, "list", "--json").stdout)
    assert rows == [
        {
            "id": "toy",
            "name": "Toy venue",
            "kind": "cex",
            "products": ["perpetual", "spot"],
            "plugin": "toy-plugin",
            "capabilities": ["order_book", "place_order", "post_only"],
        }
    ]


def test_info_json_shows_mapper_and_effective_limits(cli_host: Host) -> None:
    """`info --json` names the mapper's plugin and shows the rules in force (an override replaces a rule)."""
    cli_host.register(_VipTier(), "vip")
    info = json.loads(invoke(cli_host, "info", "toy", "--json").stdout)
    assert info["plugin"] == {"name": "toy-plugin", "dist": None, "version": None}
    assert info["mapper"] == {"plugin": "toy-limits", "class": f"{__name__}:_Mapper"}
    assert info["endpoints"] == {"rest": "https://toy.example", "ws": "wss://toy.example/ws"}
    assert info["testnet_endpoints"]["rest"] == "https://testnet.toy.example"
    assert {(r["name"], r["limit"], r["scope"]) for r in info["rate_limits"]} == {
        ("orders/1s", 10, "account"),
        ("weight/60s", 6000, "ip"),
    }
    assert info["endpoint_costs"] == {"GET /depth": {"weight": 5}}
    assert info["capabilities"] == ["order_book", "place_order", "post_only"]


def test_info_table(cli_host: Host) -> None:
    """`info` renders the descriptor, the mapper's plugin, the rules and the endpoint costs."""
    result = invoke(cli_host, "info", "toy")
    assert result.exit_code == 0, result.output
    for text in ("Toy venue", "from plugin toy-limits", "weight/60s", "1200", "GET /depth", "weight=5",
                 "https://testnet.toy.example"):
        assert text in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("info", "nope"),
        ("info", "nope", "--json"),
        ("markets", "nope"),
        ("book", "nope", "BTC/USDT", "--json"),
        ("order", "nope", "BTC/USDT", "buy", "1", "--price", "100"),
        ("balance", "nope"),
    ],
)
def test_unknown_exchange_is_one_red_line_and_exit_2(cli_host: Host, args: tuple[str, ...]) -> None:
    """An unknown exchange id prints one error line naming the known ids on stderr and exits 2."""
    result = invoke(cli_host, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "Error: unknown exchange 'nope'; known: toy\n"


def test_debug_shows_the_traceback(cli_host: Host) -> None:
    """With --debug the error propagates (a traceback) instead of the one-line message."""
    result = invoke(cli_host, "--debug", "info", "nope")
    assert isinstance(result.exception, UnknownExchange)
    assert "Error:" not in result.stderr


def test_bad_symbol_exits_2(cli_host: Host) -> None:
    """A symbol the venue does not list is a one-line error with exit status 2."""
    result = invoke(cli_host, "book", "toy", "ETH/BTC")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "'ETH/BTC' is not listed on toy" in result.stderr
    assert "Traceback" not in result.output


def test_book_json_snapshot(cli_host: Host) -> None:
    """`book --json` prints the snapshot: bids high to low, asks low to high, best prices."""
    result = invoke(cli_host, "book", "toy", "BTC/USDT", "--json")
    assert result.exit_code == 0, result.output
    book = json.loads(result.stdout)
    assert book["bids"] == [["100", "1"], ["99", "2"]]
    assert book["asks"] == [["101", "1"]]
    assert (book["best_bid"], book["best_ask"], book["spread"], book["sequence"]) == ("100", "101", "1", 7)


def test_book_depth_limits_levels(cli_host: Host) -> None:
    """--depth N keeps N levels per side."""
    book = json.loads(invoke(cli_host, "book", "toy", "BTC/USDT", "--depth", "1", "--json").stdout)
    assert book["bids"] == [["100", "1"]]


def test_book_table(cli_host: Host) -> None:
    """Without --json the book is a table with both sides."""
    result = invoke(cli_host, "book", "toy", "BTC/USDT")
    assert result.exit_code == 0, result.output
    assert "toy BTC/USDT" in result.stdout and "100" in result.stdout and "101" in result.stdout


def test_order_off_tick_names_the_rule(cli_host: Host) -> None:
    """A price off the tick is refused before sending, with a message naming the tick size rule; exit 1."""
    result = invoke(cli_host, "order", "toy", "BTC/USDT", "buy", "0.5", "--price", "100.001", "--post-only")
    assert result.exit_code == 1
    assert "tick size rule" in result.stderr and "0.01" in result.stderr
    assert result.stderr.count("\n") == 1


def test_order_json_on_the_toy_venue(cli_host: Host) -> None:
    """A valid limit order is sent and its result printed as JSON with our client order id."""
    result = invoke(cli_host, "order", "toy", "BTC/USDT", "buy", "0.5", "--price", "100", "--client-id", "abc123",
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "order_id": "1", "client_order_id": "abc123", "symbol": "BTC/USDT", "status": "new",
        "filled_quantity": "0", "average_price": None, "timestamp": 0,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--type", "limit"), "a limit order needs a price"),
        (("--type", "market", "--price", "100"), "a market order takes no price"),
        (("--type", "stop_market"), "needs a stop_price"),
        (("--price", "abc"), "'abc' is not a decimal number"),
    ],
)
def test_malformed_order_is_a_usage_error(cli_host: Host, args: tuple[str, ...], message: str) -> None:
    """An order the model refuses is a usage error (exit 2) saying why."""
    result = invoke(cli_host, "order", "toy", "BTC/USDT", "buy", "1", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unsupported_call_names_the_venue(cli_host: Host) -> None:
    """A call the venue does not declare fails with NotSupported naming it (exit 1)."""
    result = invoke(cli_host, "balance", "toy")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "balances is not supported by toy" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--endpoint", "rest"), "expected NAME=URL"),
        (("--endpoint", "grpc=http://127.0.0.1:1"), "unknown endpoint name 'grpc' for toy; valid names: rest, ws"),
        (("--endpoint", "rest=toy.example"), "must be a URL"),
        (("--seconds", "2"), "--seconds applies only with --watch"),
    ],
)
def test_bad_options_exit_2(cli_host: Host, args: tuple[str, ...], message: str) -> None:
    """A malformed or unknown --endpoint, or --seconds without --watch, is refused with exit status 2."""
    result = invoke(cli_host, "book", "toy", "BTC/USDT", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_plugin_commands_are_added_and_isolated(cli_host: Host) -> None:
    """A plugin's register_commands adds a command; one that raises is marked failed and the CLI still works."""

    class Adds:
        @hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command("hello")
            @click.argument("name")
            def hello(name: str) -> None:
                """Greet someone."""
                click.echo(f"hello {name}")

            @cli.command("list")
            def hijack() -> None:
                click.echo("hijacked")

    class Raises:
        @hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            raise RuntimeError("no commands today")

    cli_host.register(Adds(), "adds")
    cli_host.register(Raises(), "raises")
    assert invoke(cli_host, "hello", "world").stdout == "hello world\n"
    assert "hello" in invoke(cli_host, "--help").stdout
    assert json.loads(invoke(cli_host, "list", "--json").stdout)[0]["id"] == "toy"  # built-ins cannot be replaced
    records = {r["name"]: r for r in json.loads(invoke(cli_host, "plugins", "--json").stdout)}
    assert records["raises"]["status"] == "failed"
    assert records["raises"]["error"] == "RuntimeError: no commands today"


def test_demo_without_the_simulated_venue_says_what_to_install(cli_host: Host) -> None:
    """`demo` on a host without the `sim` exchange lists the plugins, then exits 1 naming exchange-sim."""
    result = invoke(cli_host, "demo", "--seconds", "0")
    assert result.exit_code == 1
    assert "toy-plugin" in result.stdout
    assert "pip install exchange-sim" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", sorted(BUILTIN_COMMANDS))
def test_builtin_commands_resolve_and_are_listed(cli_host: Host, name: str) -> None:
    """Every built-in command imports on demand under its own name and is listed by --help."""
    command = cli.get_command(click.Context(cli, obj=cli_host), name)
    assert command is not None and command.name == name
    assert f"  {name} " in invoke(cli_host, "--help").stdout


def test_main_accepts_a_host(cli_host: Host) -> None:
    """`main(args, obj=host)` runs the CLI on that host (the console script uses the default host)."""
    assert main(["list", "--json"], obj=cli_host, standalone_mode=False) is None


@pytest.mark.parametrize("command", ["plugins", "list"])
def test_json_paths_do_not_import_rich_or_connectors(command: str) -> None:
    """`exchanges plugins --json` and `list --json` never import rich or the connector machinery."""
    code = (
        "import sys\n"
        "from exchanges.cli import main\n"
        "try:\n"
        f"    main([{command!r}, '--json'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'rich', 'aiohttp', 'websockets'}"
        " or m in {'exchanges.connector', 'exchanges.instruments'})\n"
        "print(heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "EXCHANGES_LOAD_PLUGINS": ""}  # the CLI's own imports, whatever is installed
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    assert isinstance(json.loads(proc.stdout), list)
