"""``exchanges demo``: a tour of the API against the simulated venue (plugin ``exchange-sim``)."""

from __future__ import annotations

import time
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

import click

from ._common import ConnectSpec, run_async, settings_option, state

if TYPE_CHECKING:
    from rich.console import Console

    from ..connector import BaseExchange
    from ..models import Fill, Instrument, OrderBook

__all__ = ["demo_quantity"]

SIM_ID = "sim"


def demo_quantity(instrument: Instrument, price: Decimal) -> Decimal:
    """A small, round quantity the instrument accepts at ``price``.

    About twice the minimum notional (one significant digit, rounded up),
    never below the minimum size, always a multiple of the step size.
    """
    step = instrument.step_size if instrument.step_size > 0 else Decimal(1)
    quantity = max(instrument.min_order_size, step)
    if instrument.min_notional > 0 and price > 0:
        wanted = 2 * instrument.min_notional / price
        unit = Decimal(1).scaleb(wanted.adjusted())
        quantity = max(quantity, (wanted / unit).to_integral_value(rounding=ROUND_UP) * unit)
    return ((quantity / step).to_integral_value(rounding=ROUND_UP) * step).normalize()


async def _tour(ex: BaseExchange, out: Console, symbol: str, seconds: float, depth: int) -> None:
    import asyncio

    from rich.live import Live
    from rich.text import Text

    from ..models import Order
    from ._market import consume_for
    from ._render import balances_table, book_table, cancel_table, fills_table, live_view, order_result_table

    instrument = ex.instruments.get(symbol)
    out.print(f"connected to [bold]{ex.id}[/]: {len(ex.instruments)} instruments; "
              f"{symbol} tick {instrument.tick_size}, step {instrument.step_size}")

    fills: list[Fill] = []

    async def collect_fills() -> None:
        async for fill in ex.execution.watch_fills():
            fills.append(fill)

    collector = asyncio.create_task(collect_fills())
    await asyncio.sleep(0)  # let the collector subscribe before any order is sent

    out.rule(f"live order book, {seconds:g} s (watch_order_book)")
    last: list[OrderBook] = []

    def show(view: Live, book: OrderBook) -> None:
        last[:] = [book]
        view.update(book_table(book, depth))

    with live_view(out, Text(f"waiting for the {symbol} book...")) as view:
        updates = await consume_for(
            ex.market_data.watch_order_book(symbol), seconds, lambda book: show(view, book)
        )
    out.print(f"{updates} book updates received")
    # A fresh snapshot right before pricing: the live book above may be a few updates old.
    book = await ex.market_data.order_book(symbol, depth=depth)
    if book.best_bid is None:
        raise click.ClickException(f"the {symbol} book has no bids; nothing to rest an order below")

    out.rule("orders")
    # 0.2 % below the bid (at least 5 ticks) so background flow cannot make it take before it lands.
    gap = max(5 * instrument.tick_size, book.best_bid * Decimal("0.002"))
    rest_price = ex.instruments.round_price(symbol, book.best_bid - gap, "buy")
    quantity = demo_quantity(instrument, book.best_ask or rest_price)
    resting = Order.limit(symbol, "buy", quantity, rest_price, post_only=True)
    out.print(f"post-only limit buy {quantity} @ {rest_price}, below the best bid {book.best_bid}: it rests")
    placed = await ex.execution.place_order(resting)
    out.print(order_result_table("post-only limit buy", placed))
    out.print(f"market buy {quantity}: it takes the best ask")
    taken = await ex.execution.place_order(Order.market(symbol, "buy", quantity))
    out.print(order_result_table("market buy", taken))
    out.print(f"cancel order {placed.order_id}")
    canceled = await ex.execution.cancel_order(placed.order_id, symbol)
    out.print(cancel_table("cancel", canceled))

    # Fills arrive on the stream shortly after the market order; wait a little for them.
    deadline = time.monotonic() + 2.0
    while not fills and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    collector.cancel()
    try:
        await collector
    except asyncio.CancelledError:
        pass
    out.print(fills_table(f"fills seen on watch_fills ({len(fills)})", fills))
    out.print(balances_table("balances", await ex.execution.balances()))


@click.command("demo")
@click.option("--seconds", type=click.FloatRange(min=0, max=25), default=5.0, show_default=True,
              help="How long to show the live order book.")
@click.option("--symbol", default="BTC/USDT", show_default=True, help="Symbol of the simulated venue to use.")
@click.option("--depth", type=click.IntRange(min=1), default=10, show_default=True, help="Book levels per side.")
@settings_option
def demo_command(seconds: float, symbol: str, depth: int, settings: dict[str, Any]) -> None:
    """Tour the API on the simulated venue: plugins, a live book, orders, a cancel, fills and balances."""
    from ._render import console, plugins_table

    host = state().host
    out = console()
    started = time.monotonic()
    out.rule("installed plugins")
    out.print(plugins_table([r for r in host.plugins if not r.builtin]))
    if SIM_ID not in host.exchanges:
        click.secho(
            f"Error: the demo needs the simulated venue {SIM_ID!r}: pip install exchange-sim "
            "(see `exchanges plugins`)", fg="red", err=True,
        )
        raise click.exceptions.Exit(1)
    conn = ConnectSpec(settings=settings)

    async def body() -> Any:
        async with conn.exchange(host, SIM_ID) as ex:
            await _tour(ex, out, symbol, seconds, depth)

    try:
        run_async(body)
    except KeyboardInterrupt:
        out.print("interrupted")
        return
    out.rule(f"demo finished in {time.monotonic() - started:.1f} s")


