"""Market data commands: ``markets``, ``ticker``, ``book`` and ``trades`` (snapshots or live)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ._common import (
    ConnectSpec,
    connect_options,
    emit_json_line,
    json_option,
    run_async,
    show,
    with_exchange,
)

if TYPE_CHECKING:
    from ..connector import BaseExchange
    from ..models import OrderBook

__all__ = ["book_json", "consume_for"]

T = TypeVar("T")

_SECONDS = click.option(
    "--seconds", type=click.FloatRange(min=0), default=None,
    help="With --watch: stop after this many seconds (default: run until Ctrl-C).",
)


async def consume_for(stream: AsyncIterator[T], seconds: float | None, on_item: Callable[[T], Any]) -> int:
    """Feed every item of ``stream`` to ``on_item`` until it ends or ``seconds`` pass; return the count."""
    import asyncio
    from contextlib import aclosing

    count = 0

    async def drain() -> None:
        nonlocal count
        async with aclosing(stream):  # type: ignore[type-var]
            async for item in stream:
                on_item(item)
                count += 1

    if seconds is None:
        await drain()
    else:
        try:
            async with asyncio.timeout(seconds):
                await drain()
        except TimeoutError:
            pass
    return count


def _seconds_need_watch(seconds: float | None, watch: bool) -> None:
    if seconds is not None and not watch:
        raise click.UsageError("--seconds applies only with --watch")


def run_watch(factory: Callable[[], Any]) -> None:
    """Run a watching coroutine; Ctrl-C is the normal way to stop it (exit status 0)."""
    try:
        run_async(factory)
    except KeyboardInterrupt:
        pass


def book_json(book: OrderBook, depth: int | None = None) -> dict[str, Any]:
    """The book as JSON-able data, ``depth`` levels per side, with best prices and spread."""
    from ..models import to_dict

    data: dict[str, Any] = to_dict(book)
    if depth is not None:
        data["bids"], data["asks"] = data["bids"][:depth], data["asks"][:depth]
    for name in ("best_bid", "best_ask", "spread", "mid"):
        value = getattr(book, name)
        data[name] = None if value is None else str(value)
    return data


@click.command("markets")
@click.argument("exchange_id", metavar="ID")
@click.option("--type", "instrument_type", type=click.Choice(["spot", "perpetual", "future", "option"]),
              help="Only instruments of this type.")
@json_option
@connect_options
def markets_command(exchange_id: str, instrument_type: str | None, as_json: bool, conn: ConnectSpec) -> None:
    """List the instruments of an exchange with their trading rules."""

    async def body(ex: BaseExchange) -> Any:
        return ex.instruments.list(instrument_type)

    instruments = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(instruments, as_json, "instruments_table", exchange_id, instruments)


@click.command("ticker")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol")
@json_option
@connect_options
def ticker_command(exchange_id: str, symbol: str, as_json: bool, conn: ConnectSpec) -> None:
    """Show best prices and 24 h statistics of SYMBOL."""

    async def body(ex: BaseExchange) -> Any:
        ex.instruments.get(symbol)
        return await ex.market_data.ticker(symbol)

    ticker = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(ticker, as_json, "ticker_table", ticker)


@click.command("book")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol")
@click.option("--depth", type=click.IntRange(min=1), default=10, show_default=True, help="Levels per side.")
@click.option("--watch", is_flag=True, help="Keep the book updated live (websocket) until Ctrl-C or --seconds.")
@_SECONDS
@json_option
@connect_options
def book_command(
    exchange_id: str, symbol: str, depth: int, watch: bool, seconds: float | None, as_json: bool, conn: ConnectSpec
) -> None:
    """Show the order book of SYMBOL; with --watch, a live table (or JSON lines with --json)."""
    _seconds_need_watch(seconds, watch)
    if not watch:

        async def snapshot(ex: BaseExchange) -> Any:
            ex.instruments.get(symbol)
            return await ex.market_data.order_book(symbol, depth=depth)

        book = run_async(lambda: with_exchange(conn, exchange_id, snapshot))
        show(book_json(book, depth), as_json, "book_table", book, depth)
        return

    if as_json:

        async def lines(ex: BaseExchange) -> None:
            ex.instruments.get(symbol)
            # The full synced book (every venue streams one; a given depth may not be
            # one the venue offers), cut to --depth here.
            stream = ex.market_data.watch_order_book(symbol)
            await consume_for(stream, seconds, lambda book: emit_json_line(book_json(book, depth)))

        run_watch(lambda: with_exchange(conn, exchange_id, lines))
        return

    from rich.text import Text

    from ._render import book_table, console, live_view

    async def live(ex: BaseExchange) -> None:
        ex.instruments.get(symbol)
        with live_view(console(), Text(f"waiting for the {symbol} book...")) as view:
            stream = ex.market_data.watch_order_book(symbol)
            await consume_for(stream, seconds, lambda book: view.update(book_table(book, depth)))

    run_watch(lambda: with_exchange(conn, exchange_id, live))


@click.command("trades")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Trades to fetch (or to keep on screen with --watch).")
@click.option("--watch", is_flag=True, help="Stream trades live until Ctrl-C or --seconds.")
@_SECONDS
@json_option
@connect_options
def trades_command(
    exchange_id: str, symbol: str, limit: int, watch: bool, seconds: float | None, as_json: bool, conn: ConnectSpec
) -> None:
    """Show recent public trades of SYMBOL; with --watch, stream them (JSON lines with --json)."""
    _seconds_need_watch(seconds, watch)
    if not watch:

        async def recent(ex: BaseExchange) -> Any:
            ex.instruments.get(symbol)
            return await ex.market_data.trades(symbol, limit=limit)

        trades = run_async(lambda: with_exchange(conn, exchange_id, recent))
        show(trades, as_json, "trades_table", f"{exchange_id} {symbol} trades", trades)
        return

    if as_json:

        async def lines(ex: BaseExchange) -> None:
            ex.instruments.get(symbol)
            await consume_for(ex.market_data.watch_trades(symbol), seconds, emit_json_line)

        run_watch(lambda: with_exchange(conn, exchange_id, lines))
        return

    from collections import deque

    from rich.live import Live

    from ._render import console, live_view, trades_table

    title = f"{exchange_id} {symbol} trades (live)"
    recent_trades: deque[Any] = deque(maxlen=limit)

    def redraw(view: Live, trade: Any) -> None:
        recent_trades.appendleft(trade)
        view.update(trades_table(title, recent_trades))

    async def live(ex: BaseExchange) -> None:
        ex.instruments.get(symbol)
        with live_view(console(), trades_table(title, ())) as view:
            await consume_for(ex.market_data.watch_trades(symbol), seconds, lambda trade: redraw(view, trade))

    run_watch(lambda: with_exchange(conn, exchange_id, live))


