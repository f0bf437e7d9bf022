"""Rich tables for the commands. Imported only by code paths that draw (never by ``--json``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._common import fmt

if TYPE_CHECKING:
    from .._loader import PluginRecord
    from ..models import (
        Balance,
        CancelResult,
        Fill,
        Instrument,
        OrderBook,
        OrderResult,
        OrderStatus,
        Ticker,
        Trade,
    )

__all__ = [
    "balances_table",
    "book_table",
    "cancel_table",
    "console",
    "exchanges_table",
    "fills_table",
    "info_renderable",
    "instruments_table",
    "live_view",
    "order_result_table",
    "orders_table",
    "plugins_table",
    "ticker_table",
    "trades_table",
]

_STATUS_STYLE = {"loaded": "green", "failed": "red", "incompatible": "red", "blocked": "yellow"}
_SIDE_STYLE = {"buy": "green", "sell": "red"}


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout (or stderr); wide when not a terminal so piped tables don't wrap."""
    probe = Console(stderr=stderr)
    if probe.is_terminal or "COLUMNS" in os.environ:
        return probe
    return Console(stderr=stderr, width=160)


@contextmanager
def live_view(out: Console, initial: RenderableType) -> Iterator[Live]:
    """A rich ``Live`` display; without a terminal only the last state is printed, once, at the end."""
    try:
        with Live(initial, console=out, refresh_per_second=8) as view:
            yield view
    finally:
        if not out.is_terminal:
            out.line()  # Live ends its last render without a newline when it cannot move the cursor


def _side(value: Any) -> Text:
    text = fmt(value)
    return Text(text, style=_SIDE_STYLE.get(text, ""))


def plugins_table(records: Iterable[PluginRecord]) -> Table:
    """Name, distribution, version, status, exchanges, hooks and error of each plugin."""
    table = Table(title="Plugins", title_justify="left")
    for column in ("name", "distribution", "version", "status", "exchanges", "hooks", "error"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(
            record.name,
            record.dist or ("built-in" if record.builtin else "in-process"),
            record.version or "—",
            Text(record.status, style=_STATUS_STYLE.get(record.status, "")),
            ", ".join(record.exchanges) or "—",
            ", ".join(sorted(record.hooks)) or "—",
            Text(record.error or "", style="red"),
        )
    return table


def exchanges_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One row per exchange id: name, kind, products, plugin."""
    table = Table(title="Exchanges", title_justify="left")
    for column in ("id", "name", "kind", "products", "plugin"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], row["name"], row["kind"], ", ".join(row["products"]), row["plugin"])
    return table


def info_renderable(info: Mapping[str, Any]) -> Group:
    """The descriptor as key/value pairs, then the rate-limit rules and the endpoint costs."""
    facts = Table(title=f"{info['name']} ({info['id']})", title_justify="left", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value", overflow="fold")
    plugin = info["plugin"]
    mapper = info["mapper"]
    facts.add_row("kind", info["kind"])
    facts.add_row("products", ", ".join(info["products"]))
    facts.add_row("plugin", f"{plugin['name']} ({plugin['dist'] or 'in-process'} {plugin['version'] or ''})".rstrip())
    facts.add_row(
        "symbol mapper",
        f"{mapper['class']} from plugin {mapper['plugin']}" if mapper["plugin"] else "none (instrument table only)",
    )
    facts.add_row("capabilities", ", ".join(info["capabilities"]))
    for label, key in (("endpoints", "endpoints"), ("testnet endpoints", "testnet_endpoints")):
        facts.add_row(label, "\n".join(f"{k} = {v}" for k, v in info[key].items()) or "—")
    facts.add_row("credential keys", ", ".join(info["credential_keys"]) or "—")
    facts.add_row("connector", info["connector"])
    if info.get("description"):
        facts.add_row("description", info["description"])
    if info.get("homepage"):
        facts.add_row("homepage", info["homepage"])

    rules = Table(title="Rate-limit rules (effective)", title_justify="left")
    for column in ("rule", "limit", "window (s)", "scope", "kind"):
        rules.add_column(column)
    for rule in info["rate_limits"]:
        rules.add_row(rule["name"], str(rule["limit"]), fmt(rule["window"]), rule["scope"], rule["kind"])

    costs = Table(title="Endpoint costs", title_justify="left")
    costs.add_column("endpoint")
    costs.add_column("costs")
    for endpoint, cost in info["endpoint_costs"].items():
        costs.add_row(endpoint, ", ".join(f"{k}={v}" for k, v in cost.items()))
    return Group(facts, rules, costs)


def instruments_table(exchange_id: str, instruments: Iterable[Instrument]) -> Table:
    """The instrument table of a venue with its trading rules."""
    table = Table(title=f"{exchange_id} markets", title_justify="left")
    for column in ("symbol", "raw", "type", "tick", "step", "min size", "max size", "min notional", "active"):
        table.add_column(column)
    for inst in instruments:
        table.add_row(
            inst.symbol, inst.raw_symbol, fmt(inst.instrument_type), fmt(inst.tick_size), fmt(inst.step_size),
            fmt(inst.min_order_size), fmt(inst.max_order_size), fmt(inst.min_notional), "yes" if inst.active else "no",
        )
    return table


def ticker_table(ticker: Ticker) -> Table:
    """One ticker as field/value rows."""
    table = Table(title=f"{ticker.exchange} {ticker.symbol} ticker", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for name in ("bid", "bid_size", "ask", "ask_size", "last", "open", "high", "low", "volume",
                 "quote_volume", "change_percent", "timestamp"):
        table.add_row(name, fmt(getattr(ticker, name)))
    return table


def book_table(book: OrderBook, depth: int) -> Table:
    """Bids (high to low) beside asks (low to high), ``depth`` levels each."""
    table = Table(
        title=f"{book.exchange} {book.symbol}",
        title_justify="left",
        caption=f"spread {fmt(book.spread)}  mid {fmt(book.mid)}  seq {fmt(book.sequence)}",
        caption_justify="left",
    )
    table.add_column("bid size", justify="right")
    table.add_column("bid", justify="right", style="green")
    table.add_column("ask", justify="right", style="red")
    table.add_column("ask size", justify="right")
    bids, asks = list(book.bids[:depth]), list(book.asks[:depth])
    for i in range(max(len(bids), len(asks))):
        bid = bids[i] if i < len(bids) else None
        ask = asks[i] if i < len(asks) else None
        table.add_row(
            fmt(bid.quantity) if bid else "", fmt(bid.price) if bid else "",
            fmt(ask.price) if ask else "", fmt(ask.quantity) if ask else "",
        )
    return table


def trades_table(title: str, trades: Iterable[Trade]) -> Table:
    """Public trades, one row each."""
    table = Table(title=title, title_justify="left")
    for column in ("time (ms)", "id", "side", "price", "quantity"):
        table.add_column(column, justify="right" if column in ("price", "quantity") else "left")
    for trade in trades:
        table.add_row(str(trade.timestamp), trade.trade_id, _side(trade.side), fmt(trade.price), fmt(trade.quantity))
    return table


def order_result_table(title: str, result: OrderResult) -> Table:
    """What the venue answered to a new order."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name in ("order_id", "client_order_id", "symbol", "status", "filled_quantity", "average_price", "timestamp"):
        table.add_row(name, fmt(getattr(result, name)))
    return table


def orders_table(title: str, orders: Iterable[OrderStatus]) -> Table:
    """Orders and their state."""
    table = Table(title=title, title_justify="left")
    for column in ("order id", "client id", "symbol", "side", "type", "price", "quantity", "filled", "state"):
        table.add_column(column, overflow="fold")
    for order in orders:
        table.add_row(
            order.order_id, order.client_order_id or "—", order.symbol, _side(order.side), fmt(order.order_type),
            fmt(order.price), fmt(order.quantity), fmt(order.filled_quantity), fmt(order.state),
        )
    return table


def cancel_table(title: str, result: CancelResult) -> Table:
    """What the venue answered to a cancel."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name in ("order_id", "client_order_id", "symbol", "state", "timestamp"):
        table.add_row(name, fmt(getattr(result, name)))
    return table


def balances_table(title: str, balances: Mapping[str, Balance]) -> Table:
    """Free, locked and total per currency."""
    table = Table(title=title, title_justify="left")
    table.add_column("currency")
    for column in ("free", "locked", "total"):
        table.add_column(column, justify="right")
    for currency, balance in sorted(balances.items()):
        table.add_row(currency, fmt(balance.free), fmt(balance.locked), fmt(balance.total))
    return table


def fills_table(title: str, fills: Iterable[Fill]) -> Table:
    """Our fills, one row each."""
    table = Table(title=title, title_justify="left")
    for column in ("order id", "trade id", "side", "price", "quantity", "fee", "fee currency", "maker"):
        table.add_column(column)
    for fill in fills:
        table.add_row(
            fill.order_id, fill.trade_id, _side(fill.side), fmt(fill.price), fmt(fill.quantity), fmt(fill.fee),
            fmt(fill.fee_currency), "yes" if fill.is_maker else "no",
        )
    return table
