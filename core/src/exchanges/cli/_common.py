"""What every command shares: the context object, error handling, connect options, JSON output.

Only click and the cheap parts of ``exchanges`` are imported here; asyncio,
the connector machinery, orjson and rich load inside the commands that need
them, so ``exchanges plugins --json`` starts fast.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import BadSymbol, ConfigError, ExchangeError

if TYPE_CHECKING:
    from ..connector import BaseExchange
    from ..host import Host

__all__ = [
    "DECIMAL",
    "CliState",
    "ConnectSpec",
    "ExchangesGroup",
    "connect_options",
    "emit_json",
    "emit_json_line",
    "json_option",
    "run_async",
    "settings_option",
]

T = TypeVar("T")

#: exit status of errors about what was asked (unknown exchange id, bad symbol, bad config).
EXIT_USAGE = 2
#: exit status of every other error (the venue refused, network, invalid order...).
EXIT_FAILURE = 1


class CliState:
    """The click context object: the host in use and the global flags.

    ``obj`` given to :meth:`click.Command.main` may be a ``Host`` (tests), a
    ``CliState`` or None (the default host, created on first use).
    """

    def __init__(self, host: Host | None = None, *, debug: bool = False) -> None:
        self._host = host
        self.debug = debug
        self._plugin_commands: dict[str, click.Command] | None = None

    @classmethod
    def of(cls, ctx: click.Context) -> CliState:
        """The state of this invocation (created from the root context's ``obj`` on first use)."""
        root = ctx.find_root()
        if not isinstance(root.obj, CliState):
            root.obj = cls(root.obj)
        if ctx.obj is not root.obj:
            ctx.obj = root.obj
        return root.obj

    @property
    def host(self) -> Host:
        """The injected host, else the process-wide default host."""
        if self._host is None:
            from .._connect import default_host

            self._host = default_host()
        return self._host

    def plugin_commands(self, reserved: Iterable[str]) -> dict[str, click.Command]:
        """Commands added by plugins' ``register_commands`` hooks, except those named in ``reserved``.

        The hooks run once per invocation against a scratch group, so the
        module-level group is never mutated and a plugin that raises is
        isolated (and reported as failed) by the host. A plugin cannot
        replace a built-in command: ``reserved`` names win.
        """
        if self._plugin_commands is None:
            scratch = click.Group("exchanges")
            self.host.add_commands(scratch)
            taken = set(reserved)
            self._plugin_commands = {n: c for n, c in scratch.commands.items() if n not in taken}
        return self._plugin_commands


class ExchangesGroup(click.Group):
    """The root group: built-in commands imported on first use, plugin commands, one-line errors.

    ``lazy_commands`` maps a command name to ``"module:attribute"`` (relative
    to this package), so a run imports only the module of the command it runs.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def builtin_names(self) -> set[str]:
        """Names of the built-in commands (loaded or not)."""
        return {*self.commands, *self.lazy_commands}

    def builtin_command(self, name: str) -> click.Command | None:
        """A built-in command, importing its module on first use."""
        command = self.commands.get(name)
        if command is None and name in self.lazy_commands:
            from importlib import import_module

            module, _, attribute = self.lazy_commands[name].partition(":")
            command = getattr(import_module(module, __package__), attribute)
            self.commands[name] = command
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.builtin_names() | set(CliState.of(ctx).plugin_commands(self.builtin_names())))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.builtin_command(cmd_name)
        if command is None:
            command = CliState.of(ctx).plugin_commands(self.builtin_names()).get(cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            # The hooks run when the CLI starts, whichever command runs, so
            # `exchanges plugins` reports a plugin whose register_commands raised.
            CliState.of(ctx).plugin_commands(self.builtin_names())
            return super().invoke(ctx)
        except ExchangeError as exc:
            if CliState.of(ctx).debug or ctx.params.get("debug"):
                raise
            fail(exc)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        # `--debug` is parsed before the subcommand is resolved: record it now so
        # errors raised while resolving honour it.
        if ctx.params.get("debug"):
            CliState.of(ctx).debug = True
        return super().resolve_command(ctx, args)


def exit_code(exc: ExchangeError) -> int:
    """2 when the request named something that does not exist or is malformed, else 1."""
    from ..host import UnknownExchange

    return EXIT_USAGE if isinstance(exc, UnknownExchange | BadSymbol | ConfigError) else EXIT_FAILURE


def fail(exc: ExchangeError) -> None:
    """Print ``exc`` as one red line on stderr and exit with :func:`exit_code`."""
    # Several problems (a config file's) stay readable on one line, separated by "; ".
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    message = "; ".join(lines) or type(exc).__name__
    click.secho(f"Error: {message}", fg="red", err=True)
    raise click.exceptions.Exit(exit_code(exc))


# -- parameters ----------------------------------------------------------------------------


class DecimalType(click.ParamType):
    """A decimal number given as text (never through float)."""

    name = "decimal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not a decimal number", param, ctx)
        if not number.is_finite():
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


DECIMAL = DecimalType()


def _pairs(what: str) -> Callable[[click.Context, click.Parameter, tuple[str, ...]], dict[str, str]]:
    def parse(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in values:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise click.BadParameter(f"expected {what}, got {item!r}", ctx, param)
            out[name.strip()] = value.strip()
        return out

    return parse


def _setting_value(text: str) -> Any:
    """A ``--set`` value: JSON when it parses (numbers, true/false, null, objects, lists), else the text.

    JSON decimals become :class:`~decimal.Decimal`, never float.
    """
    import json

    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def _parse_settings(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
    return {key: _setting_value(value) for key, value in _pairs("KEY=VALUE")(ctx, param, values).items()}


def settings_option(func: Callable[..., T]) -> Callable[..., T]:
    """Add ``--set KEY=VALUE`` (repeatable): connector settings, passed as ``settings``."""
    return click.option(
        "--set", "settings", multiple=True, metavar="KEY=VALUE", callback=_parse_settings,
        help="A connector setting (repeatable), e.g. seed=7; the value is read as JSON when it parses, else as text.",
    )(func)


class ConnectSpec:
    """How a command connects: the options shared by every command that talks to a venue."""

    def __init__(
        self,
        testnet: bool = False,
        config: str | None = None,
        endpoints: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.testnet = testnet
        self.config = config
        self.endpoints = dict(endpoints or {})
        self.settings = dict(settings or {})

    def exchange(self, host: Host, exchange_id: str) -> BaseExchange:
        """The (not yet connected) exchange object; use it with ``async with``."""
        return host.connect(
            exchange_id,
            testnet=self.testnet,
            config=self.config,
            endpoints=self.endpoints or None,
            **self.settings,
        )


def connect_options(func: Callable[..., T]) -> Callable[..., T]:
    """Add ``--testnet``, ``--config``, ``--endpoint NAME=URL`` and ``--set KEY=VALUE``; pass ``conn``."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        testnet: bool,
        config_path: str | None,
        endpoints: dict[str, str],
        settings: dict[str, Any],
        **kwargs: Any,
    ) -> T:
        return func(*args, conn=ConnectSpec(testnet, config_path, endpoints, settings), **kwargs)

    options: list[Callable[[Callable[..., T]], Callable[..., T]]] = [
        click.option("--testnet", is_flag=True, help="Use the venue's testnet endpoints."),
        click.option(
            "--config", "config_path", type=click.Path(dir_okay=False, exists=True),
            help="YAML config file (default: exchanges.yaml or $EXCHANGES_CONFIG).",
        ),
        click.option(
            "--endpoint", "endpoints", multiple=True, metavar="NAME=URL", callback=_pairs("NAME=URL"),
            help="Override an endpoint's base URL by name (repeatable), e.g. rest=http://127.0.0.1:8080.",
        ),
        settings_option,
    ]
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def json_option(func: Callable[..., T]) -> Callable[..., T]:
    """Add ``--json`` (machine-readable output on stdout, nothing else)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table.")(func)


def state(ctx: click.Context | None = None) -> CliState:
    """The :class:`CliState` of the current invocation."""
    return CliState.of(ctx or click.get_current_context())


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run one coroutine to completion in a fresh event loop."""
    import asyncio

    return asyncio.run(factory())


async def with_exchange(conn: ConnectSpec, exchange_id: str, body: Callable[[BaseExchange], Coroutine[Any, Any, T]]) -> T:
    """Connect, run ``body(exchange)`` and close, whatever happens."""
    exchange = conn.exchange(state().host, exchange_id)
    async with exchange:
        return await body(exchange)


# -- JSON ----------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Models through the project's converter; dicts and lists of models element by element."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and value and hasattr(type(value[0]), "__attrs_attrs__"):
        return [to_jsonable(v) for v in value]
    if hasattr(type(value), "__attrs_attrs__"):
        from ..models import to_dict

        return to_dict(value)
    return value


def _dumps(value: Any, *, indent: bool) -> str:
    import orjson

    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(to_jsonable(value), option=option, default=str).decode()


def emit_json(value: Any) -> None:
    """Print one JSON document (indented) on stdout."""
    click.echo(_dumps(value, indent=True))


def show(value: Any, as_json: bool, table: str, *args: Any) -> None:
    """Print ``value`` as JSON, or as the rich renderable ``_render.<table>(*args)`` (rich loads only then)."""
    if as_json:
        emit_json(value)
        return
    from . import _render

    _render.console().print(getattr(_render, table)(*args))


def emit_json_line(value: Any) -> None:
    """Print one compact JSON document on its own line (streams: JSON lines)."""
    click.echo(_dumps(value, indent=False))


def fmt(value: Any) -> str:
    """Text for a table cell: decimals without exponent, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return str(value.value)
    return str(value)
