"""``plugins``, ``list`` and ``info``: what is installed, without connecting to anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import emit_json, json_option, show, state

if TYPE_CHECKING:
    from ..host import Host

__all__ = ["exchange_info", "exchange_rows"]



@click.command("plugins")
@json_option
@click.option("--all", "show_all", is_flag=True, help="Include the built-in core plugin.")
@click.option("--check", is_flag=True, help="Exit with status 1 unless every plugin loaded.")
@click.option("--verbose", "-v", is_flag=True, help="Show the traceback of each failed plugin.")
def plugins_command(as_json: bool, show_all: bool, check: bool, verbose: bool) -> None:
    """List installed plugins: name, distribution, version, status, hooks, exchanges, error."""
    records = [r for r in state().host.plugins if show_all or not r.builtin]
    if as_json:
        emit_json([r.as_dict(verbose=verbose) for r in records])
    else:
        from ._render import console, plugins_table

        out = console()
        out.print(plugins_table(records))
        if verbose:
            for record in records:
                if record.traceback:
                    out.print(f"\n[bold red]{record.name}[/] traceback:", highlight=False)
                    out.print(record.traceback.rstrip(), markup=False, highlight=False)
    # Literal "every plugin loaded": a plugin blocked by the allow/deny lists did not load either.
    broken = [f"{r.name} ({r.status})" for r in records if r.status != "loaded"]
    if check and broken:
        click.secho(f"Error: {len(broken)} plugin(s) did not load: {', '.join(broken)}", fg="red", err=True)
        raise click.exceptions.Exit(1)


def exchange_rows(host: Host) -> list[dict[str, Any]]:
    """One dict per exchange id: id, name, kind, products, plugin, capabilities."""
    return [
        {
            "id": exchange_id,
            "name": descriptor.name,
            "kind": descriptor.kind.value,
            "products": sorted(p.value for p in descriptor.products),
            "plugin": host.owner(exchange_id),
            "capabilities": sorted(descriptor.capabilities),
        }
        for exchange_id, descriptor in host.exchanges.items()
    ]


@click.command("list")
@json_option
def list_command(as_json: bool) -> None:
    """List exchange ids with name, kind, products and the plugin providing each."""
    rows = exchange_rows(state().host)
    show(rows, as_json, "exchanges_table", rows)


def _qualname(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    target = obj if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__qualname__")) else type(obj)
    return f"{target.__module__}:{target.__qualname__}"


def exchange_info(host: Host, exchange_id: str) -> dict[str, Any]:
    """Everything the host knows about ``exchange_id`` (raises ``UnknownExchange``)."""
    descriptor = host.descriptor(exchange_id)
    owner = host.owner(exchange_id)
    record = host.plugin(owner)
    mapper = host.symbol_mapper(exchange_id)
    return {
        "id": descriptor.id,
        "name": descriptor.name,
        "kind": descriptor.kind.value,
        "products": sorted(p.value for p in descriptor.products),
        "description": descriptor.description,
        "homepage": descriptor.homepage,
        "plugin": {"name": owner, "dist": record.dist, "version": record.version},
        "mapper": {
            "plugin": host.mapper_owner(exchange_id),
            "class": None if mapper is None else _qualname(type(mapper)),
        },
        "capabilities": sorted(descriptor.capabilities),
        "endpoints": dict(descriptor.endpoints),
        "testnet_endpoints": dict(descriptor.testnet_endpoints),
        "credential_keys": list(descriptor.credential_keys),
        "connector": _qualname(descriptor.connector),
        "rate_limits": [
            {"name": r.name, "key": r.key, "limit": r.limit, "window": r.window, "scope": r.scope, "kind": r.kind}
            for r in host.rate_limit_rules(exchange_id)
        ],
        "endpoint_costs": {ep: dict(cost.costs) for ep, cost in host.endpoint_costs(exchange_id).items()},
    }


@click.command("info")
@click.argument("exchange_id", metavar="ID")
@json_option
def info_command(exchange_id: str, as_json: bool) -> None:
    """Show an exchange's descriptor, symbol mapper, rate-limit rules and endpoint costs."""
    info = exchange_info(state().host, exchange_id)
    show(info, as_json, "info_renderable", info)


