"""The ``exchanges`` command line (click; rich is imported only by commands that draw tables).

``main`` is the console script. Tests and applications pass their own
:class:`~exchanges.Host` as the click context object::

    CliRunner().invoke(cli, ["plugins", "--json"], obj=host)

Without one, the process-wide :func:`exchanges._connect.default_host` is used.
Each built-in command lives in a private module imported only when that
command runs (or when ``--help`` lists them).
"""

from __future__ import annotations

from typing import Any

import click

from .._version import __version__
from ._common import CliState, ExchangesGroup

__all__ = ["BUILTIN_COMMANDS", "CliState", "cli", "main"]

#: built-in command name -> "module:attribute" in this package.
BUILTIN_COMMANDS: dict[str, str] = {
    "plugins": "._plugins:plugins_command",
    "list": "._plugins:list_command",
    "info": "._plugins:info_command",
    "markets": "._market:markets_command",
    "ticker": "._market:ticker_command",
    "book": "._market:book_command",
    "trades": "._market:trades_command",
    "order": "._trading:order_command",
    "cancel": "._trading:cancel_command",
    "orders": "._trading:orders_command",
    "balance": "._trading:balance_command",
    "demo": "._demo:demo_command",
    "conformance": "._conformance:conformance_command",
}


@click.group(
    cls=ExchangesGroup,
    lazy_commands=BUILTIN_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.version_option(__version__, prog_name="exchanges")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """One command line for every installed venue plugin."""
    state = CliState.of(ctx)
    state.debug = state.debug or debug


def main(args: list[str] | None = None, **extra: Any) -> Any:
    """Run the command line (``extra`` goes to :meth:`click.Command.main`, e.g. ``obj=host``)."""
    return cli.main(args=args, prog_name="exchanges", **extra)
