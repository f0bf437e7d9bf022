"""Pure functions: Binance payloads -> our models. No I/O, no state.

Every parser raises :class:`exchanges.ExchangeError` (never ``KeyError`` or
``TypeError``) on a malformed payload, naming what was missing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ParamSpec, TypeVar

from exchanges import (
    Balance,
    CancelResult,
    Candle,
    ExchangeError,
    Fill,
    Instrument,
    OrderBook,
    OrderResult,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    RateLimitRule,
    Ticker,
    TimeInForce,
    Trade,
)

__all__ = [
    "order_state",
    "parse_account_balances",
    "parse_agg_trade",
    "parse_book_ticker",
    "parse_cancel",
    "parse_depth_snapshot",
    "parse_exchange_info",
    "parse_klines",
    "parse_order",
    "parse_positions",
    "parse_rate_limits",
    "parse_ticker_24h",
    "parse_trade_event",
    "parse_trades",
    "parse_usdm_balances",
    "parse_ws_kline",
    "stream_agg_trade",
    "stream_trade",
]

P = ParamSpec("P")
R = TypeVar("R")

_STATES = {
    "NEW": OrderState.NEW,
    "PENDING_NEW": OrderState.NEW,
    "NEW_INSURANCE": OrderState.NEW,
    "NEW_ADL": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "PENDING_CANCEL": OrderState.NEW,  # not canceled yet: the order may still trade
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
}

#: spot order types (and the names both product lines share)
_TYPES = {
    "LIMIT": OrderType.LIMIT,
    "LIMIT_MAKER": OrderType.LIMIT,
    "MARKET": OrderType.MARKET,
    "STOP_LOSS": OrderType.STOP_MARKET,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT,
    "STOP": OrderType.STOP_LIMIT,
    "TAKE_PROFIT": OrderType.TAKE_PROFIT_MARKET,  # spot TAKE_PROFIT is a market trigger
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
    "TAKE_PROFIT_LIMIT": OrderType.TAKE_PROFIT_LIMIT,
    "TRAILING_STOP_MARKET": OrderType.STOP_MARKET,
}
#: USD-M order types: ``TAKE_PROFIT`` is the limit variant there (``STOP`` is stop-limit on both tables)
_USDM_TYPES = {**_TYPES, "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT}

_INTERVAL_UNITS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_RULE_KEYS = {"REQUEST_WEIGHT": ("weight", "ip"), "ORDERS": ("orders", "account"), "RAW_REQUESTS": ("raw", "ip")}


def guarded(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn KeyError/TypeError/ValueError/InvalidOperation inside a parser into a typed ExchangeError."""

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def parse(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except ExchangeError:
                raise
            except KeyError as exc:
                raise ExchangeError(f"malformed {what} payload: missing {exc.args[0]!r}", exchange="binance") from None
            except (TypeError, ValueError, InvalidOperation, IndexError, AttributeError) as exc:
                raise ExchangeError(f"malformed {what} payload: {type(exc).__name__}: {exc}", exchange="binance") from None

        return parse

    return wrap


def order_state(status: str) -> OrderState:
    """Binance order status -> OrderState (unknown statuses are an error, not a guess)."""
    try:
        return _STATES[status]
    except KeyError:
        raise ExchangeError(f"unknown Binance order status {status!r}", exchange="binance") from None


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _positive_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    number = _d(value)
    return number if number > 0 else None


# -- instruments ---------------------------------------------------------------------------


@guarded("exchangeInfo")
def parse_exchange_info(payload: Mapping[str, Any], normalize: Callable[[str], str], *, futures: bool) -> list[Instrument]:
    """Instruments from ``exchangeInfo`` with every filter we enforce locally.

    Futures ``pricePrecision``/``quantityPrecision`` are not used as tick/step
    (venues.md §2.6); tick and step come from PRICE_FILTER and LOT_SIZE.
    """
    out: list[Instrument] = []
    # one Decimal per distinct text: thousands of instruments share a few tick and step sizes
    interned: dict[str, Decimal] = {}

    def dec(value: Any) -> Decimal:
        text = str(value)
        number = interned.get(text)
        if number is None:
            number = interned[text] = Decimal(text)
        return number

    def positive(value: Any) -> Decimal | None:
        if value is None or value == "":
            return None
        number = dec(value)
        return number if number > 0 else None

    for sym in payload["symbols"]:
        if futures and sym.get("contractType") not in ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER", None):
            continue  # e.g. TRADIFI_PERPETUAL or settlement contracts we do not map
        filters = {f["filterType"]: f for f in sym.get("filters", ())}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        market_lot = filters.get("MARKET_LOT_SIZE", {})
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        min_notional = notional.get("minNotional", notional.get("notional", "0"))
        max_orders = filters.get("MAX_NUM_ORDERS", {})
        expiry = None
        kind = "spot"
        if futures:
            kind = "perpetual" if sym.get("contractType") == "PERPETUAL" else "future"
            if kind == "future":
                expiry = dt.datetime.fromtimestamp(int(sym["deliveryDate"]) / 1000, dt.UTC).date()
        out.append(
            Instrument(
                symbol=normalize(sym["symbol"]),
                raw_symbol=sym["symbol"],
                base_currency=sym["baseAsset"],
                quote_currency=sym["quoteAsset"],
                instrument_type=kind,
                tick_size=dec(price.get("tickSize", "0")),
                step_size=dec(lot.get("stepSize", "0")),
                min_order_size=dec(lot.get("minQty", "0")),
                max_order_size=positive(lot.get("maxQty")),
                min_notional=dec(min_notional),
                max_notional=positive(notional.get("maxNotional")),
                min_price=positive(price.get("minPrice")),
                max_price=positive(price.get("maxPrice")),
                market_min_order_size=positive(market_lot.get("minQty")),
                market_max_order_size=positive(market_lot.get("maxQty")),
                settle_currency=sym.get("marginAsset") if futures else None,
                expiry=expiry,
                max_open_orders=max_orders.get("maxNumOrders", max_orders.get("limit")),
                active=sym.get("status") == "TRADING",
            )
        )
    return out


@guarded("exchangeInfo.rateLimits")
def parse_rate_limits(payload: Mapping[str, Any]) -> list[RateLimitRule]:
    """The venue's live limits as rules (they replace the registered defaults of the same name)."""
    rules = []
    for item in payload.get("rateLimits", ()):
        mapped = _RULE_KEYS.get(item["rateLimitType"])
        if mapped is None:
            continue
        key, scope = mapped
        window = _INTERVAL_UNITS[item["interval"]] * int(item["intervalNum"])
        rules.append(RateLimitRule(key, int(item["limit"]), window, scope=scope, kind="fixed"))
    return rules


def learned_pairs(payload: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
    """(pair, base, quote) triples to teach the symbol mapper how Binance names split."""
    for sym in payload.get("symbols", ()):
        pair = sym.get("pair") or sym.get("symbol")
        if pair and sym.get("baseAsset") and sym.get("quoteAsset"):
            yield pair, sym["baseAsset"], sym["quoteAsset"]


# -- market data ----------------------------------------------------------------------------


@guarded("depth")
def parse_depth_snapshot(payload: Mapping[str, Any], symbol: str, exchange: str, *, timestamp: int = 0) -> OrderBook:
    """REST depth snapshot -> OrderBook with ``sequence = lastUpdateId``."""
    return OrderBook(
        symbol,
        exchange,
        int(payload.get("E", payload.get("T", timestamp))),
        payload["bids"],
        payload["asks"],
        int(payload["lastUpdateId"]),
    )


@guarded("trades")
def parse_trades(payload: Iterable[Mapping[str, Any]], symbol: str, exchange: str) -> list[Trade]:
    """REST recent trades; the taker sold when the buyer was the maker."""
    return [
        Trade(symbol, exchange, str(t["id"]), t["price"], t["qty"], "sell" if t["isBuyerMaker"] else "buy", int(t["time"]))
        for t in payload
    ]


def _stream_trade_parser(id_key: str) -> Callable[[Mapping[str, Any], str, str], Trade]:
    """A hot-path ``@trade``/``@aggTrade`` parser: the trade id is ``data[id_key]``.

    Builds the frozen :class:`Trade` through its slots, skipping the attrs
    converters (they cost more than the rest of a trade frame); the values are
    exactly what the converters would produce: two ``Decimal`` parses and an
    enum member. Unchecked: the stream router catches and counts failures.
    """
    names = ("symbol", "exchange", "trade_id", "price", "quantity", "side", "timestamp")
    try:
        setters = tuple(vars(Trade)[name].__set__ for name in names)
    except (KeyError, AttributeError):  # not a slotted class: use the normal constructor

        def slow(data: Mapping[str, Any], symbol: str, exchange: str) -> Trade:
            return Trade(symbol, exchange, str(data[id_key]), data["p"], data["q"],
                         "sell" if data["m"] else "buy", data["T"])

        return slow
    s_symbol, s_exchange, s_id, s_price, s_quantity, s_side, s_time = setters
    new = object.__new__
    buy, sell = OrderSide.BUY, OrderSide.SELL
    decimal = Decimal

    def fast(data: Mapping[str, Any], symbol: str, exchange: str) -> Trade:
        trade = new(Trade)
        s_symbol(trade, symbol)
        s_exchange(trade, exchange)
        s_id(trade, str(data[id_key]))
        s_price(trade, decimal(data["p"]))
        s_quantity(trade, decimal(data["q"]))
        s_side(trade, sell if data["m"] else buy)
        s_time(trade, data["T"])
        return trade

    return fast


#: ``@trade`` event -> Trade (hot path, unchecked)
stream_trade = _stream_trade_parser("t")
#: ``@aggTrade`` event -> Trade, id = aggregate trade id (hot path, unchecked)
stream_agg_trade = _stream_trade_parser("a")


@guarded("trade event")
def parse_trade_event(data: Mapping[str, Any], symbol: str, exchange: str) -> Trade:
    """``@trade`` (spot) event -> Trade."""
    return Trade(symbol, exchange, str(data["t"]), data["p"], data["q"], "sell" if data["m"] else "buy", int(data["T"]))


@guarded("aggTrade event")
def parse_agg_trade(data: Mapping[str, Any], symbol: str, exchange: str) -> Trade:
    """``@aggTrade`` event -> Trade (id = aggregate trade id)."""
    return Trade(symbol, exchange, str(data["a"]), data["p"], data["q"], "sell" if data["m"] else "buy", int(data["T"]))


@guarded("klines")
def parse_klines(payload: Iterable[list[Any]], symbol: str, exchange: str, interval: str, *, now: int | None = None) -> list[Candle]:
    """REST kline rows ``[openTime, o, h, l, c, vol, closeTime, quoteVol, ...]``; a bar whose close time is in the future is open."""
    return [
        Candle(symbol, exchange, interval, int(row[0]), row[1], row[2], row[3], row[4], row[5], row[7],
               closed=now is None or int(row[6]) < now)
        for row in payload
    ]


@guarded("kline event")
def parse_ws_kline(data: Mapping[str, Any], symbol: str, exchange: str) -> Candle:
    """``@kline_<interval>`` event -> Candle (``closed`` from ``k.x``)."""
    k = data["k"]
    return Candle(symbol, exchange, k["i"], int(k["t"]), k["o"], k["h"], k["l"], k["c"], k["v"], k["q"], closed=bool(k["x"]))


@guarded("24h ticker")
def parse_ticker_24h(data: Mapping[str, Any], symbol: str, exchange: str) -> Ticker:
    """REST ``ticker/24hr`` or the ``@ticker`` stream event -> Ticker."""
    if "e" in data:  # stream: single-letter keys
        return Ticker(symbol, exchange, int(data["E"]), bid=data.get("b"), ask=data.get("a"), last=data["c"],
                      bid_size=data.get("B"), ask_size=data.get("A"), open=data["o"], high=data["h"], low=data["l"],
                      volume=data["v"], quote_volume=data["q"], change_percent=data["P"])
    return Ticker(symbol, exchange, int(data["closeTime"]), bid=data.get("bidPrice"), ask=data.get("askPrice"),
                  last=data["lastPrice"], bid_size=data.get("bidQty"), ask_size=data.get("askQty"),
                  open=data["openPrice"], high=data["highPrice"], low=data["lowPrice"], volume=data["volume"],
                  quote_volume=data["quoteVolume"], change_percent=data["priceChangePercent"])


@guarded("book ticker")
def parse_book_ticker(data: Mapping[str, Any], symbol: str, exchange: str, *, timestamp: int = 0) -> Ticker:
    """REST ``ticker/bookTicker`` or the ``@bookTicker`` event (spot has no time field) -> Ticker."""
    if "b" in data:
        return Ticker(symbol, exchange, int(data.get("T", data.get("E", timestamp))), bid=data["b"], ask=data["a"],
                      bid_size=data["B"], ask_size=data["A"])
    return Ticker(symbol, exchange, int(data.get("time", timestamp)), bid=data["bidPrice"], ask=data["askPrice"],
                  bid_size=data["bidQty"], ask_size=data["askQty"])


# -- trading ----------------------------------------------------------------------------------


def _average(data: Mapping[str, Any], executed: Decimal) -> Decimal | None:
    if "avgPrice" in data and _d(data["avgPrice"]) > 0:
        return _d(data["avgPrice"])
    quote = data.get("cummulativeQuoteQty", data.get("cumQuote"))
    if quote is not None and executed > 0 and _d(quote) > 0:
        return _d(quote) / executed
    return None


def _order_type(raw_type: str, *, futures: bool) -> OrderType:
    """Binance order type -> OrderType; ``TAKE_PROFIT`` is a market trigger on spot, a limit one on USD-M."""
    return (_USDM_TYPES if futures else _TYPES).get(raw_type, OrderType.LIMIT)


@guarded("order")
def parse_order(data: Mapping[str, Any], symbol: str, *, futures: bool) -> OrderStatus:
    """A REST order (new-order FULL/RESULT response, query, open orders) of spot or USD-M (``futures``) -> OrderStatus."""
    executed = _d(data.get("executedQty", "0"))
    raw_type = data.get("origType") or data["type"]
    tif = data.get("timeInForce")
    stop = _positive_or_none(data.get("stopPrice"))
    price = _positive_or_none(data.get("price"))
    order_type = _order_type(raw_type, futures=futures)
    return OrderStatus(
        order_id=str(data["orderId"]),
        client_order_id=data.get("clientOrderId") or None,
        symbol=symbol,
        state=order_state(data["status"]),
        filled_quantity=executed,
        average_price=_average(data, executed),
        timestamp=int(data.get("updateTime") or data.get("transactTime") or data.get("time") or 0),
        side=data["side"].lower(),
        order_type=order_type,
        quantity=_positive_or_none(data.get("origQty")),
        price=price if order_type not in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET) else None,
        stop_price=stop,
        time_in_force={"GTC": TimeInForce.GTC, "GTX": TimeInForce.GTC, "IOC": TimeInForce.IOC,
                       "FOK": TimeInForce.FOK}.get(tif or ""),
        reduce_only=bool(data.get("reduceOnly", False)),
        post_only=raw_type == "LIMIT_MAKER" or tif == "GTX",
    )


def order_result(status: OrderStatus) -> OrderResult:
    """The OrderResult view of an OrderStatus."""
    return OrderResult(status.order_id, status.client_order_id, status.symbol, status.state,
                       status.filled_quantity, status.average_price, status.timestamp)


@guarded("cancel")
def parse_cancel(data: Mapping[str, Any], symbol: str) -> CancelResult:
    """A cancel response -> CancelResult (spot's client id is ``origClientOrderId``)."""
    return CancelResult(
        str(data["orderId"]),
        data.get("origClientOrderId") or data.get("clientOrderId") or None,
        symbol,
        order_state(data["status"]),
        int(data.get("transactTime") or data.get("updateTime") or 0),
    )


@guarded("fills")
def parse_order_fills(data: Mapping[str, Any], symbol: str, exchange: str) -> list[Fill]:
    """The ``fills`` of a spot FULL new-order response -> Fill models (taker fills)."""
    return [
        Fill(symbol, exchange, str(data["orderId"]), data.get("clientOrderId"), str(f["tradeId"]), data["side"].lower(),
             f["price"], f["qty"], f["commission"], f["commissionAsset"], False, int(data.get("transactTime", 0)))
        for f in data.get("fills", ())
    ]


@guarded("account")
def parse_account_balances(data: Mapping[str, Any]) -> dict[str, Balance]:
    """Spot ``/api/v3/account`` -> non-zero balances by asset."""
    out = {}
    for b in data["balances"]:
        balance = Balance(b["asset"], b["free"], b["locked"])
        if balance.total:
            out[balance.currency] = balance
    return out


@guarded("futures balance")
def parse_usdm_balances(data: Iterable[Mapping[str, Any]]) -> dict[str, Balance]:
    """USD-M ``/fapi/v3/balance`` -> balances: free = availableBalance, locked = the rest of the wallet."""
    out = {}
    for b in data:
        wallet, free = _d(b["balance"]), _d(b["availableBalance"])
        if wallet or free:
            out[b["asset"]] = Balance(b["asset"], free, max(wallet - free, Decimal(0)))
    return out


@guarded("positionRisk")
def parse_positions(data: Iterable[Mapping[str, Any]], normalize: Callable[[str], str], exchange: str) -> list[Position]:
    """USD-M ``positionRisk`` -> open positions (zero amounts skipped)."""
    out = []
    for p in data:
        amount = _d(p["positionAmt"])
        if not amount:
            continue
        leverage = p.get("leverage")
        out.append(
            Position(
                normalize(p["symbol"]), exchange, "long" if amount > 0 else "short", abs(amount),
                entry_price=_positive_or_none(p.get("entryPrice")), mark_price=_positive_or_none(p.get("markPrice")),
                unrealized_pnl=p.get("unRealizedProfit"), leverage=leverage if leverage not in (None, "") else None,
                liquidation_price=_positive_or_none(p.get("liquidationPrice")),
                margin_mode=p.get("marginType"), timestamp=int(p.get("updateTime", 0)),
            )
        )
    return out


# -- user data events -------------------------------------------------------------------------


def unwrap_user_event(message: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept the three user-data wrappers: bare, ``{"stream", "data"}`` and ``{"subscriptionId", "event"}``."""
    if "event" in message and "subscriptionId" in message:
        return message["event"]  # type: ignore[no-any-return]
    if "data" in message and "stream" in message:
        return message["data"]  # type: ignore[no-any-return]
    return message


def _event_order(o: Mapping[str, Any], symbol: str, *, futures: bool) -> OrderStatus:
    raw_type = o.get("ot") or o["o"]
    order_type = _order_type(raw_type, futures=futures)
    executed = _d(o["z"])
    average = _positive_or_none(o.get("ap"))
    if average is None and executed > 0 and _positive_or_none(o.get("Z")):
        average = _d(o["Z"]) / executed
    tif = o.get("f")
    return OrderStatus(
        order_id=str(o["i"]),
        client_order_id=(o.get("C") or o.get("c") or None) if o.get("X") == "CANCELED" and not futures else (o.get("c") or None),
        symbol=symbol,
        state=order_state(o["X"]),
        filled_quantity=executed,
        average_price=average,
        timestamp=int(o.get("T") or o.get("E") or 0),
        side=o["S"].lower(),
        order_type=order_type,
        quantity=_positive_or_none(o.get("q")),
        price=_positive_or_none(o.get("p")),
        stop_price=_positive_or_none(o.get("sp") if futures else o.get("P")),
        time_in_force={"GTC": TimeInForce.GTC, "GTX": TimeInForce.GTC, "IOC": TimeInForce.IOC,
                       "FOK": TimeInForce.FOK}.get(tif or ""),
        reduce_only=bool(o.get("R", False)),
        post_only=raw_type == "LIMIT_MAKER" or tif == "GTX",
    )


def _event_fill(o: Mapping[str, Any], status: OrderStatus, exchange: str) -> Fill | None:
    if o.get("x") != "TRADE" or not _positive_or_none(o.get("l")):
        return None
    return Fill(
        status.symbol, exchange, status.order_id, status.client_order_id, str(o["t"]), status.side or "buy",
        o["L"], o["l"], o.get("n") or "0", o.get("N") or None, bool(o.get("m", False)), int(o.get("T") or 0),
    )


@guarded("executionReport")
def parse_execution_report(event: Mapping[str, Any], normalize: Callable[[str], str], exchange: str) -> tuple[OrderStatus, Fill | None]:
    """Spot ``executionReport`` -> (order update, fill if this report is a trade)."""
    status = _event_order(event, normalize(event["s"]), futures=False)
    return status, _event_fill(event, status, exchange)


@guarded("ORDER_TRADE_UPDATE")
def parse_order_trade_update(event: Mapping[str, Any], normalize: Callable[[str], str], exchange: str) -> tuple[OrderStatus, Fill | None]:
    """USD-M ``ORDER_TRADE_UPDATE`` -> (order update, fill if this update is a trade)."""
    o = event["o"]
    status = _event_order({**o, "E": event.get("E")}, normalize(o["s"]), futures=True)
    return status, _event_fill(o, status, exchange)


@guarded("outboundAccountPosition")
def parse_account_position(event: Mapping[str, Any]) -> dict[str, Balance]:
    """Spot ``outboundAccountPosition`` -> the balances it reports (those that changed)."""
    return {b["a"]: Balance(b["a"], b["f"], b["l"]) for b in event["B"]}


@guarded("ACCOUNT_UPDATE")
def parse_account_update(event: Mapping[str, Any]) -> dict[str, Balance]:
    """USD-M ``ACCOUNT_UPDATE`` -> wallet balances (free = cross wallet balance)."""
    out = {}
    for b in event["a"]["B"]:
        wallet, cross = _d(b["wb"]), _d(b.get("cw", b["wb"]))
        out[b["a"]] = Balance(b["a"], cross, max(wallet - cross, Decimal(0)))
    return out
