"""Execution: unified orders -> Binance parameters, REST trading calls, unknown-outcome reconciliation.

Order mapping (venues.md §1.2, §2.2):

==================  =====================================  =======================================
unified             spot ``type``                          USD-M ``type``
==================  =====================================  =======================================
market              MARKET (``quantity`` or                MARKET
                    ``quoteOrderQty``)
limit               LIMIT + timeInForce                    LIMIT + timeInForce
limit, post_only    LIMIT_MAKER (no timeInForce)           LIMIT + timeInForce=GTX
stop_market         STOP_LOSS + stopPrice                  STOP_MARKET + stopPrice
stop_limit          STOP_LOSS_LIMIT + price, stopPrice     STOP + price, stopPrice
take_profit_market  TAKE_PROFIT + stopPrice                TAKE_PROFIT_MARKET + stopPrice
take_profit_limit   TAKE_PROFIT_LIMIT + price, stopPrice   TAKE_PROFIT + price, stopPrice
==================  =====================================  =======================================

Every order carries our ``newClientOrderId``. A new-order request that may have
reached the venue without an answer (5xx, ``-1007``, a timeout after sending)
is an :class:`~exchanges.UnknownOutcome`: the order is looked up by that client
id and its state returned if it exists. It is never sent a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from exchanges import (
    Balance,
    CancelResult,
    ExchangeError,
    Execution,
    Fill,
    InvalidOrder,
    Order,
    OrderNotFound,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    UnknownOutcome,
)

from . import parsing

if TYPE_CHECKING:
    from .connector import BinanceExchange

__all__ = ["BinanceExecution", "decimal_text", "order_params"]

log = logging.getLogger("exchange_binance.orders")

_SPOT_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP_MARKET: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
_USDM_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOP_MARKET: "STOP_MARKET",
    OrderType.STOP_LIMIT: "STOP",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT_MARKET",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT",
}
_WITH_PRICE = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
#: newClientOrderId: at most 36 characters of ``[.A-Z:/a-z0-9_-]`` on both product lines
_CLIENT_ID_CHARS = frozenset(".:/_-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def decimal_text(value: Decimal) -> str:
    """A decimal as Binance wants it: plain notation, no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def order_params(order: Order, raw_symbol: str, *, futures: bool) -> dict[str, Any]:
    """The new-order parameters of ``order`` on spot or USD-M, in the order they are sent."""
    cid = order.client_order_id
    if len(cid) > 36 or not set(cid) <= _CLIENT_ID_CHARS:
        raise InvalidOrder(f"client order id {cid!r} must be at most 36 characters of letters, digits and .:/_-",
                           exchange="binance-usdm" if futures else "binance")
    kind = order.order_type
    params: dict[str, Any] = {"symbol": raw_symbol, "side": order.side.value.upper()}
    if kind is OrderType.LIMIT and order.post_only and not futures:
        params["type"] = "LIMIT_MAKER"  # post-only on spot: no timeInForce
    else:
        params["type"] = (_USDM_TYPES if futures else _SPOT_TYPES)[kind]
        if kind in _WITH_PRICE:
            params["timeInForce"] = "GTX" if order.post_only else order.time_in_force.value.upper()
    if order.quantity is not None:
        params["quantity"] = decimal_text(order.quantity)
    elif order.quote_quantity is not None:
        params["quoteOrderQty"] = decimal_text(order.quote_quantity)
    if order.price is not None:
        params["price"] = decimal_text(order.price)
    if order.stop_price is not None:
        params["stopPrice"] = decimal_text(order.stop_price)
    if order.reduce_only:
        params["reduceOnly"] = "true"
    params["newClientOrderId"] = cid
    # FULL (spot) gives the fills of a taker order; RESULT is the richest answer on futures
    params["newOrderRespType"] = "RESULT" if futures else "FULL"
    return params


class BinanceExecution(Execution):
    """Trading over REST, account state, and the private streams (see :mod:`exchange_binance.userdata`)."""

    exchange: BinanceExchange

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _futures(self) -> bool:
        return self.exchange.futures

    def _raw(self, symbol: str) -> str:
        return self.exchange.instruments.get(symbol).raw_symbol

    def _normalize(self, raw: str) -> str:
        return self.exchange.instruments.normalize(raw)

    @staticmethod
    def _order_ref(order_id: str | None, client_order_id: str | None) -> dict[str, Any]:
        if order_id:
            return {"orderId": order_id}
        if client_order_id:
            return {"origClientOrderId": client_order_id}
        raise InvalidOrder("give an order id or a client order id")

    # -- orders ----------------------------------------------------------------------------

    async def place_order(self, order: Order) -> OrderResult:
        """Send ``order`` (validated locally by the core first); reconcile an unknown outcome by client id."""
        params = order_params(order, self._raw(order.symbol), futures=self._futures)
        rest = self.exchange.rest
        try:
            data = await rest.call("order_new", params, client_order_id=order.client_order_id)
        except UnknownOutcome as exc:
            return await self._reconcile(order, exc)
        return parsing.order_result(parsing.parse_order(data, order.symbol, futures=self._futures))

    async def _reconcile(self, order: Order, unknown: UnknownOutcome) -> OrderResult:
        """Look the order up by client id after an unknown outcome; never resend it.

        Returns the order's result when the venue knows it. When every lookup
        says ``-2013`` (no such order), raises :class:`UnknownOutcome` saying so:
        the order was most likely not placed, but a request still in flight at
        the venue could create it later, so only the caller may decide to resend.
        """
        settings = self.exchange.settings
        symbol = order.symbol
        cid = order.client_order_id
        log.warning("%s: new order %s has an unknown outcome (%s); reconciling by client order id",
                    self.exchange.id, cid, unknown)
        last_error: ExchangeError | None = None
        for attempt in range(settings.reconcile_attempts):
            if attempt:
                await asyncio.sleep(settings.reconcile_delay)
            try:
                status = await self.order_status(None, symbol, client_order_id=cid)
            except OrderNotFound as exc:
                last_error = exc
                continue
            except ExchangeError as exc:  # the lookup itself failed: keep the original unknown outcome
                raise UnknownOutcome(
                    f"{unknown}; the reconciliation query failed too ({type(exc).__name__}: {exc}); "
                    f"check order_status(client_order_id={cid!r}) before sending it again",
                    exchange=self.exchange.id, client_order_id=cid,
                ) from exc
            log.info("%s: order %s exists after an unknown outcome: %s", self.exchange.id, cid, status.state)
            return parsing.order_result(status)
        raise UnknownOutcome(
            f"{unknown}; no order with client id {cid!r} was found after {settings.reconcile_attempts} queries "
            f"({last_error}); it was probably not placed, but a request still in flight may create it: "
            "it was not resent",
            exchange=self.exchange.id, client_order_id=cid,
        ) from unknown

    async def cancel_order(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> CancelResult:
        """Cancel one order by venue id or by client order id."""
        params = {"symbol": self._raw(symbol), **self._order_ref(order_id, client_order_id)}
        data = await self.exchange.rest.call("order_cancel", params)
        return parsing.parse_cancel(data, symbol)

    async def cancel_all(self, symbol: str | None = None) -> list[CancelResult]:
        """Cancel every open order of ``symbol`` (or of every symbol with open orders).

        Spot answers with the canceled orders. USD-M answers with a bare
        acknowledgement, so its open orders are listed first and reported as canceled.
        """
        symbols = [symbol] if symbol is not None else sorted({s.symbol for s in await self.open_orders()})
        results: list[CancelResult] = []
        for sym in symbols:
            raw = self._raw(sym)
            if self._futures:
                listed = await self.open_orders(sym)
                await self.exchange.rest.call("cancel_all", {"symbol": raw})
                results.extend(CancelResult(s.order_id, s.client_order_id, sym, "canceled", s.timestamp) for s in listed)
                continue
            data = await self.exchange.rest.call("cancel_all", {"symbol": raw})
            for entry in data:
                if "orderId" in entry:
                    results.append(parsing.parse_cancel(entry, sym))
                else:  # an order list: its legs are in orderReports
                    results.extend(parsing.parse_cancel(leg, sym) for leg in entry.get("orderReports", ()))
        return results

    async def order_status(
        self, order_id: str | None, symbol: str, *, client_order_id: str | None = None
    ) -> OrderStatus:
        """One order by venue id or client order id (``OrderNotFound`` when the venue has none)."""
        params = {"symbol": self._raw(symbol), **self._order_ref(order_id, client_order_id)}
        data = await self.exchange.rest.call("order_query", params)
        return parsing.parse_order(data, symbol, futures=self._futures)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        """Open orders of one symbol (cheap) or of every symbol (weight 80 spot, 40 USD-M)."""
        params = {"symbol": self._raw(symbol)} if symbol else {}
        data = await self.exchange.rest.call("open_orders", params)
        return [parsing.parse_order(item, symbol or self._normalize(item["symbol"]), futures=self._futures)
                for item in data]

    # -- account ---------------------------------------------------------------------------

    async def balances(self) -> dict[str, Balance]:
        """Non-zero balances: spot free/locked; USD-M free = available balance."""
        if self._futures:
            return parsing.parse_usdm_balances(await self.exchange.rest.call("balance"))
        return parsing.parse_account_balances(await self.exchange.rest.call("account", {"omitZeroBalances": "true"}))

    async def positions(self, symbol: str | None = None) -> list[Position]:
        """Open USD-M positions (flat ones omitted)."""
        params = {"symbol": self._raw(symbol)} if symbol else {}
        data = await self.exchange.rest.call("positions", params)
        return parsing.parse_positions(data, self._normalize, self.exchange.id)

    async def set_leverage(self, symbol: str, leverage: int) -> Decimal:
        """Set the leverage of a USD-M symbol; returns the leverage the venue now applies."""
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= 125:
            raise InvalidOrder(f"leverage must be an integer from 1 to 125, got {leverage!r}", exchange=self.exchange.id)
        data = await self.exchange.rest.call("leverage", {"symbol": self._raw(symbol), "leverage": leverage})
        try:
            return Decimal(str(data["leverage"]))
        except (KeyError, TypeError, ArithmeticError):
            raise ExchangeError(f"malformed leverage payload: {data!r}", exchange=self.exchange.id) from None

    # -- private streams -------------------------------------------------------------------

    async def watch_orders(self, symbol: str | None = None) -> AsyncIterator[OrderStatus]:
        """Our order updates from the user-data stream (every update, queued)."""
        async with contextlib.aclosing(self.exchange.user_data.stream("orders")) as values:
            async for status in values:
                if symbol is None or status.symbol == symbol:
                    yield status

    async def watch_fills(self, symbol: str | None = None) -> AsyncIterator[Fill]:
        """Our fills from the user-data stream (every fill, queued)."""
        async with contextlib.aclosing(self.exchange.user_data.stream("fills")) as values:
            async for fill in values:
                if symbol is None or fill.symbol == symbol:
                    yield fill

    async def watch_balances(self) -> AsyncIterator[dict[str, Balance]]:
        """The balances after each change: a REST snapshot first, then updated by the stream."""
        async with contextlib.aclosing(self.exchange.user_data.stream("balances")) as values:
            async for balances in values:
                yield balances

