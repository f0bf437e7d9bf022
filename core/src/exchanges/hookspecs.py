"""The hooks a plugin may implement. All are called at registration time, never per message.

Each ``register_*`` hook receives a ``register`` callable from the host. The
callable validates the item on the spot (a bad item raises immediately, naming
the plugin) and records which plugin registered it. Adding a keyword argument
to a hookspec is a compatible change; renaming or removing one is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .descriptors import ExchangeDescriptor

__all__ = [
    "hookimpl",
    "hookspec",
    "register_commands",
    "register_exchanges",
    "register_rate_limits",
    "register_sinks",
    "register_symbol_mappers",
    "resolve_credentials",
    "spec_names",
]

PROJECT = "exchanges"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_exchanges(register: Callable[[ExchangeDescriptor], None]) -> None:
    """Declare the venues (one descriptor per venue or product line) this plugin provides.

    :param register: call ``register(descriptor)`` once per
        :class:`~exchanges.ExchangeDescriptor`. Raises
        :class:`~exchanges.errors.DuplicateRegistration` naming both plugins
        when another plugin already registered the same id, and ``TypeError``
        for anything that is not a descriptor.
    :returns: nothing; results are collected through ``register``.
    """


@hookspec
def register_symbol_mappers(register: Callable[..., None]) -> None:
    """Provide the symbol mapper of an exchange id.

    :param register: call ``register(exchange_id, mapper, override=False)``.
        ``mapper`` must have ``normalize(raw) -> str`` and
        ``denormalize(symbol) -> str`` (:class:`~exchanges.symbols.SymbolMapper`).
        Replacing a mapper another plugin registered needs ``override=True``;
        without it the call raises ``DuplicateRegistration``.
    :returns: nothing.
    """


@hookspec
def register_rate_limits(register: Callable[..., None]) -> None:
    """Declare the rate-limit rules and endpoint costs of an exchange id.

    :param register: call ``register(exchange_id, item, override=False)``
        where ``item`` is a :class:`~exchanges.ratelimit.RateLimitRule`
        (keyed by ``(exchange_id, rule.name)``) or an
        :class:`~exchanges.ratelimit.EndpointCost` (keyed by its endpoint).
        Replacing an existing rule or cost (say, a VIP tier overlay) needs
        ``override=True``.
    :returns: nothing.
    """


@hookspec
def register_sinks(register: Callable[..., None]) -> None:
    """Provide event sinks (where normalized events can be written: JSON lines, Redis streams...).

    :param register: call ``register(name, factory)``; ``factory(**options)``
        returns an object with ``async write(event)`` and ``async close()``
        (:class:`~exchanges.events.Sink`). Names are unique across plugins.
    :returns: nothing.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``exchanges`` command line.

    :param cli: the root :class:`click.Group`; call ``cli.command()`` or
        ``cli.add_command(...)``. Called only when the CLI starts, after every
        plugin is loaded. A plugin whose hook raises is reported by
        ``exchanges plugins`` and its commands are skipped; the CLI still runs.
    :returns: nothing.
    """


@hookspec(firstresult=True)
def resolve_credentials(exchange_id: str, account: str | None) -> Mapping[str, str] | None:
    """Return the credentials for ``exchange_id`` (and the named ``account``), or None to pass.

    :param exchange_id: the exchange id being connected, e.g. ``"binance"``.
    :param account: an account name from the config or ``connect()``, or None
        for the default account.
    :returns: a mapping with the venue's documented keys (``api_key``,
        ``secret``, ``passphrase``, ``private_key``...) or None. The first
        non-None answer wins; the built-in environment-variable provider
        (``EXCHANGES_<ID>_API_KEY``...) runs last.
    """


def spec_names() -> tuple[str, ...]:
    """Names of every hookspec in this module (used by the meta-tests and the CLI)."""
    return tuple(
        name for name, value in globals().items() if callable(value) and hasattr(value, f"{PROJECT}_spec")
    )
