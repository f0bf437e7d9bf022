"""``exchanges.connect``: resolve config, credentials, endpoints and limits, build the connector."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from .credentials import Credentials
from .errors import ConfigError, NotSupported

if TYPE_CHECKING:
    from .connector import BaseExchange
    from .host import Host

__all__ = ["connect", "default_host"]


@cache
def default_host() -> Host:
    """The host used by :func:`connect` when none is given (created on first use)."""
    from .host import Host

    return Host()


def _merge_endpoints(
    exchange_id: str, base: Mapping[str, str], *overrides: Mapping[str, str] | None
) -> dict[str, str]:
    merged = dict(base)
    for override in overrides:
        for name, url in (override or {}).items():
            if name not in base:
                valid = ", ".join(sorted(base)) or "none"
                raise ConfigError(f"unknown endpoint name {name!r} for {exchange_id}; valid names: {valid}")
            if not isinstance(url, str) or "://" not in url:
                raise ConfigError(f"endpoint {name!r} for {exchange_id} must be a URL, got {url!r}")
            merged[name] = url.rstrip("/")
    return merged


def connect(
    exchange_id: str,
    *,
    testnet: bool = False,
    credentials: Mapping[str, str] | None = None,
    endpoints: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | None = None,
    account: str | None = None,
    host: Host | None = None,
    **settings: Any,
) -> BaseExchange:
    """Build the exchange object of ``exchange_id``; use it as an async context manager.

    Credentials come from ``credentials``, else the config file's section,
    else the ``resolve_credentials`` hook (the environment provider runs
    last). ``endpoints`` overrides base URLs by name (``rest``, ``ws``...),
    after any override in the config. Extra keyword arguments are passed to
    the connector as settings (venue-specific options).
    """
    from .config import load_config

    host = host or default_host()
    descriptor = host.descriptor(exchange_id)
    cfg = load_config(config)
    section = cfg.exchange(exchange_id)
    use_testnet = bool(testnet or (section is not None and section.testnet))
    if use_testnet and not descriptor.has_testnet:
        raise NotSupported("testnet", exchange=exchange_id)
    base = descriptor.testnet_endpoints if use_testnet else descriptor.endpoints
    resolved = _merge_endpoints(exchange_id, base, section.endpoints if section else None, endpoints)

    account = account or (section.account if section else None)
    creds: Credentials | None
    if credentials is not None:
        creds = credentials if isinstance(credentials, Credentials) else Credentials(credentials)
    elif section is not None and section.credentials:
        creds = section.credentials
    else:
        found = host.resolve_credentials(exchange_id, account)
        creds = None if not found else found if isinstance(found, Credentials) else Credentials(found, source="plugin")

    rules = {rule.name: rule for rule in host.rate_limit_rules(exchange_id)}
    for rule in section.rate_limits if section else ():
        rules[rule.name] = rule
    options = dict(section.options) if section else {}
    options.update(settings)

    from .connector import ConnectorContext

    context = ConnectorContext(
        descriptor=descriptor,
        host=host,
        testnet=use_testnet,
        credentials=creds,
        endpoints=resolved,
        rate_limit_rules=tuple(sorted(rules.values(), key=lambda r: r.name)),
        endpoint_costs=host.endpoint_costs(exchange_id),
        symbol_mapper=host.symbol_mapper(exchange_id),
        settings=options,
        account=account,
    )
    return descriptor.load_factory()(context)
