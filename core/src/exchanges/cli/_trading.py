"""Trading commands: ``order``, ``cancel``, ``orders`` and ``balance`` (credentials from config/env)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import click

from ._common import DECIMAL, ConnectSpec, connect_options, json_option, run_async, show, with_exchange

if TYPE_CHECKING:
    from ..connector import BaseExchange
    from ..models import Order

__all__ = ["build_order"]

ORDER_TYPES = ("limit", "market", "stop_limit", "stop_market")


def build_order(
    symbol: str,
    side: str,
    quantity: Decimal,
    *,
    price: Decimal | None = None,
    order_type: str | None = None,
    stop_price: Decimal | None = None,
    time_in_force: str | None = None,
    post_only: bool = False,
    reduce_only: bool = False,
    client_order_id: str | None = None,
) -> Order:
    """The :class:`~exchanges.Order` the ``order`` command sends; ``ValueError`` names what is wrong.

    Without ``order_type`` the type follows from the prices given: a price
    makes it a limit order, a stop price a stop order, neither a market order.
    Market orders default to IOC, the others to GTC.
    """
    from ..models import Order

    if order_type is None:
        if stop_price is not None:
            order_type = "stop_limit" if price is not None else "stop_market"
        else:
            order_type = "limit" if price is not None else "market"
    if time_in_force is None:
        time_in_force = "ioc" if order_type == "market" else "gtc"
    extra: dict[str, Any] = {} if client_order_id is None else {"client_order_id": client_order_id}
    return Order(
        symbol, side, order_type, quantity, price, stop_price,
        time_in_force=time_in_force, post_only=post_only, reduce_only=reduce_only, **extra,
    )


@click.command("order")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol")
@click.argument("side", type=click.Choice(["buy", "sell"], case_sensitive=False))
@click.argument("quantity", metavar="QTY", type=DECIMAL)
@click.option("--price", type=DECIMAL, help="Limit price (makes the order a limit order unless --type says otherwise).")
@click.option("--type", "order_type", type=click.Choice(ORDER_TYPES),
              help="Order type (default: limit with --price, market without).")
@click.option("--stop-price", type=DECIMAL, help="Trigger price of stop orders.")
@click.option("--tif", "time_in_force", type=click.Choice(["gtc", "ioc", "fok"]),
              help="Time in force (default: gtc; ioc for market orders).")
@click.option("--post-only", is_flag=True, help="Reject the order rather than take liquidity.")
@click.option("--reduce-only", is_flag=True, help="Only reduce a derivatives position.")
@click.option("--client-id", "client_order_id", help="Client order id (default: a fresh one).")
@json_option
@connect_options
def order_command(
    exchange_id: str,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal | None,
    order_type: str | None,
    stop_price: Decimal | None,
    time_in_force: str | None,
    post_only: bool,
    reduce_only: bool,
    client_order_id: str | None,
    as_json: bool,
    conn: ConnectSpec,
) -> None:
    """Place an order: ID SYMBOL SIDE QTY, validated against the instrument's rules before it is sent."""
    try:
        order = build_order(
            symbol, side.lower(), quantity, price=price, order_type=order_type, stop_price=stop_price,
            time_in_force=time_in_force, post_only=post_only, reduce_only=reduce_only,
            client_order_id=client_order_id,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def body(ex: BaseExchange) -> Any:
        return await ex.execution.place_order(order)

    result = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(result, as_json, "order_result_table", f"{exchange_id} order", result)


@click.command("cancel")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol")
@click.argument("order_id")
@click.option("--client-id", "by_client_id", is_flag=True, help="ORDER_ID is a client order id.")
@json_option
@connect_options
def cancel_command(
    exchange_id: str, symbol: str, order_id: str, by_client_id: bool, as_json: bool, conn: ConnectSpec
) -> None:
    """Cancel one order of SYMBOL by its venue id (or its client order id with --client-id)."""

    async def body(ex: BaseExchange) -> Any:
        if by_client_id:
            return await ex.execution.cancel_order(None, symbol, client_order_id=order_id)
        return await ex.execution.cancel_order(order_id, symbol)

    result = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(result, as_json, "cancel_table", f"{exchange_id} cancel", result)


@click.command("orders")
@click.argument("exchange_id", metavar="ID")
@click.argument("symbol", required=False)
@json_option
@connect_options
def orders_command(exchange_id: str, symbol: str | None, as_json: bool, conn: ConnectSpec) -> None:
    """List open orders (of SYMBOL, or of every symbol)."""

    async def body(ex: BaseExchange) -> Any:
        if symbol is not None:
            ex.instruments.get(symbol)
        return await ex.execution.open_orders(symbol)

    orders = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(orders, as_json, "orders_table", f"{exchange_id} open orders", orders)


@click.command("balance")
@click.argument("exchange_id", metavar="ID")
@json_option
@connect_options
def balance_command(exchange_id: str, as_json: bool, conn: ConnectSpec) -> None:
    """Show balances by currency (free, locked, total)."""

    async def body(ex: BaseExchange) -> Any:
        return await ex.execution.balances()

    balances = run_async(lambda: with_exchange(conn, exchange_id, body))
    show(balances, as_json, "balances_table", f"{exchange_id} balances", balances)


