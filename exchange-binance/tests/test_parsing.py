"""Parsers: payloads written from Binance's documented formats -> models with exact values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from exchange_binance import parsing as p
from exchange_binance.symbols import SpotSymbolMapper, UsdmSymbolMapper
from exchanges import Balance, ExchangeError, OrderState, OrderType, RateLimitRule, TimeInForce

SPOT_INFO = {
    "timezone": "UTC",
    "serverTime": 1731000000000,
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
    ],
    "symbols": [
        {
            "symbol": "ETHUSDT", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "9000.00000000", "stepSize": "0.00010000"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "2500.00000000", "stepSize": "0.00000000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "SOME_FUTURE_FILTER", "x": 1},
            ],
        },
        {"symbol": "OLDBTC", "status": "BREAK", "baseAsset": "OLD", "quoteAsset": "BTC",
         "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0", "maxPrice": "0", "tickSize": "0.00000001"},
                     {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "0", "stepSize": "1"},
                     {"filterType": "MIN_NOTIONAL", "minNotional": "0.0001", "applyToMarket": True, "avgPriceMins": 5}]},
    ],
}

USDM_INFO = {
    "rateLimits": [],
    "symbols": [
        {"symbol": "ETHUSDT", "pair": "ETHUSDT", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
         "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "USDT", "marginAsset": "USDT",
         "pricePrecision": 2, "quantityPrecision": 3,
         "filters": [{"filterType": "PRICE_FILTER", "minPrice": "39.86", "maxPrice": "306177", "tickSize": "0.01"},
                     {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "10000", "stepSize": "0.001"},
                     {"filterType": "MIN_NOTIONAL", "notional": "20"}]},
        {"symbol": "ETHUSDT_251226", "pair": "ETHUSDT", "contractType": "CURRENT_QUARTER", "deliveryDate": 1766736000000,
         "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "USDT", "marginAsset": "USDT",
         "filters": [{"filterType": "PRICE_FILTER", "minPrice": "1", "maxPrice": "100000", "tickSize": "0.10"},
                     {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "500", "stepSize": "0.001"}]},
        {"symbol": "XAUUSDT", "pair": "XAUUSDT", "contractType": "TRADIFI_PERPETUAL", "status": "TRADING",
         "baseAsset": "XAU", "quoteAsset": "USDT", "filters": []},
    ],
}


def test_spot_exchange_info_filters() -> None:
    """Every enforced filter lands on the instrument; unknown filter types are ignored."""
    eth, old = p.parse_exchange_info(SPOT_INFO, SpotSymbolMapper().normalize, futures=False)
    assert (eth.symbol, eth.raw_symbol, eth.instrument_type.value) == ("ETH/USDT", "ETHUSDT", "spot")
    assert (eth.tick_size, eth.step_size, eth.min_order_size, eth.max_order_size) == (
        Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal(9000))
    assert (eth.min_notional, eth.max_notional, eth.market_max_order_size, eth.max_open_orders) == (
        Decimal(5), Decimal(9000000), Decimal(2500), 200)
    assert (eth.price_precision, eth.quantity_precision, eth.active) == (2, 4, True)
    assert old.active is False and old.min_notional == Decimal("0.0001") and old.max_price is None


def test_usdm_exchange_info_products_and_expiry() -> None:
    """Perpetual and quarterly contracts map with their expiry; unsupported contract types are skipped."""
    perp, quarter = p.parse_exchange_info(USDM_INFO, UsdmSymbolMapper().normalize, futures=True)
    assert (perp.symbol, perp.min_notional, perp.tick_size, perp.settle_currency) == (
        "ETH/USDT:PERP", Decimal(20), Decimal("0.01"), "USDT")
    assert quarter.symbol == "ETH/USDT:FUT:20251226" and quarter.expiry == dt.date(2025, 12, 26)


def test_rate_limits_from_exchange_info() -> None:
    """exchangeInfo.rateLimits become fixed-window rules with the right keys, scopes and windows."""
    assert p.parse_rate_limits(SPOT_INFO) == [
        RateLimitRule("weight", 6000, 60, "ip", "fixed"),
        RateLimitRule("orders", 100, 10, "account", "fixed"),
        RateLimitRule("orders", 200000, 86400, "account", "fixed"),
        RateLimitRule("raw", 300000, 300, "ip", "fixed"),
    ]


def test_depth_snapshot() -> None:
    """A depth snapshot keeps level order and takes lastUpdateId as its sequence."""
    book = p.parse_depth_snapshot({"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]],
                                   "asks": [["4.00000200", "12.00000000"]]}, "ETH/USDT", "binance")
    assert (book.sequence, book.best_bid, book.best_ask, book.bids[0].quantity) == (
        1027024, Decimal(4), Decimal("4.000002"), Decimal(431))


def test_trades_taker_side() -> None:
    """isBuyerMaker=true means the taker sold."""
    trades = p.parse_trades([{"id": 7, "price": "2500.10", "qty": "0.5", "quoteQty": "1250.05", "time": 1731000000001,
                              "isBuyerMaker": True, "isBestMatch": True},
                             {"id": 8, "price": "2500.20", "qty": "0.1", "quoteQty": "250.02", "time": 1731000000002,
                              "isBuyerMaker": False, "isBestMatch": True}], "ETH/USDT", "binance")
    assert [(t.trade_id, t.side.value, t.price) for t in trades] == [("7", "sell", Decimal("2500.10")),
                                                                    ("8", "buy", Decimal("2500.20"))]


def test_stream_trade_and_agg_trade() -> None:
    """@trade and @aggTrade events map ids, prices and taker side."""
    t = p.parse_trade_event({"e": "trade", "E": 2, "s": "ETHUSDT", "t": 99, "p": "1.5", "q": "2", "T": 1, "m": False, "M": True},
                            "ETH/USDT", "binance")
    a = p.parse_agg_trade({"e": "aggTrade", "E": 2, "s": "ETHUSDT", "a": 5, "p": "1.6", "q": "3", "f": 10, "l": 12,
                           "T": 3, "m": True}, "ETH/USDT:PERP", "binance-usdm")
    assert (t.trade_id, t.side.value, t.timestamp) == ("99", "buy", 1)
    assert (a.trade_id, a.side.value, a.quantity) == ("5", "sell", Decimal(3))


def test_klines_rows_and_open_bar() -> None:
    """Kline rows map OHLCV; a bar whose close time is after now is not closed."""
    rows = [[1731000000000, "1", "2", "0.5", "1.5", "100", 1731000059999, "150", 10, "50", "75", "0"],
            [1731000060000, "1.5", "1.6", "1.4", "1.55", "10", 1731000119999, "15", 2, "5", "7", "0"]]
    closed, forming = p.parse_klines(rows, "ETH/USDT", "binance", "1m", now=1731000070000)
    assert (closed.open, closed.high, closed.low, closed.close, closed.volume, closed.quote_volume, closed.closed) == (
        Decimal(1), Decimal(2), Decimal("0.5"), Decimal("1.5"), Decimal(100), Decimal(150), True)
    assert forming.closed is False


def test_ws_kline() -> None:
    """A @kline event maps its interval and closed flag."""
    c = p.parse_ws_kline({"e": "kline", "E": 1, "s": "ETHUSDT", "k": {"t": 0, "T": 59999, "s": "ETHUSDT", "i": "1m",
                          "o": "1", "c": "2", "h": "3", "l": "0.5", "v": "9", "q": "10", "x": True}}, "ETH/USDT", "binance")
    assert (c.interval, c.close, c.closed) == ("1m", Decimal(2), True)


def test_tickers() -> None:
    """REST 24h ticker and spot bookTicker (which has no time field) map to Ticker."""
    t = p.parse_ticker_24h({"symbol": "ETHUSDT", "priceChangePercent": "1.25", "lastPrice": "2600", "bidPrice": "2599.9",
                            "bidQty": "3", "askPrice": "2600.1", "askQty": "4", "openPrice": "2568", "highPrice": "2610",
                            "lowPrice": "2550", "volume": "1000", "quoteVolume": "2590000", "closeTime": 1731000000000},
                           "ETH/USDT", "binance")
    assert (t.last, t.bid, t.ask, t.change_percent, t.timestamp) == (
        Decimal(2600), Decimal("2599.9"), Decimal("2600.1"), Decimal("1.25"), 1731000000000)
    b = p.parse_book_ticker({"u": 400900217, "s": "ETHUSDT", "b": "25.35", "B": "31.2", "a": "25.36", "A": "40.6"},
                            "ETH/USDT", "binance", timestamp=5)
    assert (b.bid, b.ask_size, b.timestamp) == (Decimal("25.35"), Decimal("40.6"), 5)


SPOT_NEW = {"symbol": "ETHUSDT", "orderId": 4242, "orderListId": -1, "clientOrderId": "abc123", "transactTime": 1731000000000,
            "price": "0.00000000", "origQty": "2.00000000", "executedQty": "2.00000000", "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": "5000.20000000", "status": "FILLED", "timeInForce": "GTC", "type": "MARKET", "side": "BUY",
            "fills": [{"price": "2500.00", "qty": "1.5", "commission": "0.0015", "commissionAsset": "ETH", "tradeId": 1},
                      {"price": "2500.40", "qty": "0.5", "commission": "0.0005", "commissionAsset": "ETH", "tradeId": 2}]}


def test_spot_new_order_full_response() -> None:
    """A FULL market response gives the filled state, the volume-weighted average and the taker fills."""
    status = p.parse_order(SPOT_NEW, "ETH/USDT", futures=False)
    assert (status.state, status.filled_quantity, status.average_price, status.order_type, status.price) == (
        OrderState.FILLED, Decimal(2), Decimal("2500.1"), OrderType.MARKET, None)
    fills = p.parse_order_fills(SPOT_NEW, "ETH/USDT", "binance")
    assert [(f.trade_id, f.quantity, f.fee, f.fee_currency) for f in fills] == [
        ("1", Decimal("1.5"), Decimal("0.0015"), "ETH"), ("2", Decimal("0.5"), Decimal("0.0005"), "ETH")]
    result = p.order_result(status)
    assert (result.order_id, result.client_order_id, result.status) == ("4242", "abc123", OrderState.FILLED)


def test_post_only_and_futures_orders() -> None:
    """LIMIT_MAKER and GTX orders are post-only; futures avgPrice and reduceOnly are kept."""
    maker = p.parse_order({"orderId": 1, "clientOrderId": "m", "status": "NEW", "type": "LIMIT_MAKER", "side": "SELL",
                           "price": "3000.00", "origQty": "1", "executedQty": "0", "timeInForce": "GTC"}, "ETH/USDT",
                          futures=False)
    fut = p.parse_order({"orderId": 2, "clientOrderId": "f", "status": "PARTIALLY_FILLED", "type": "LIMIT", "origType": "LIMIT",
                         "side": "SELL", "price": "3000.5", "avgPrice": "3000.5", "origQty": "2", "executedQty": "1",
                         "cumQuote": "3000.5", "timeInForce": "GTX", "reduceOnly": True, "stopPrice": "0",
                         "updateTime": 9}, "ETH/USDT:PERP", futures=True)
    assert maker.post_only and maker.order_type is OrderType.LIMIT and maker.time_in_force is TimeInForce.GTC
    assert (fut.post_only, fut.reduce_only, fut.average_price, fut.stop_price, fut.remaining_quantity) == (
        True, True, Decimal("3000.5"), None, Decimal(1))


USDM_TAKE_PROFIT = {"orderId": 3, "clientOrderId": "tp", "status": "NEW", "type": "TAKE_PROFIT", "origType": "TAKE_PROFIT",
                    "side": "SELL", "price": "31100", "stopPrice": "31000", "origQty": "0.01", "executedQty": "0",
                    "avgPrice": "0", "cumQuote": "0", "timeInForce": "GTC", "reduceOnly": False, "updateTime": 11}


def test_usdm_take_profit_is_the_limit_variant() -> None:
    """A USD-M TAKE_PROFIT order reads back as take_profit_limit with its price, from REST and from ORDER_TRADE_UPDATE."""
    rest = p.parse_order(USDM_TAKE_PROFIT, "BTC/USDT:PERP", futures=True)
    status, fill = p.parse_order_trade_update({"e": "ORDER_TRADE_UPDATE", "E": 12, "T": 11, "o": {
        "s": "BTCUSDT", "c": "tp", "S": "SELL", "o": "TAKE_PROFIT", "f": "GTC", "q": "0.01", "p": "31100", "ap": "0",
        "sp": "31000", "x": "NEW", "X": "NEW", "i": 3, "l": "0", "z": "0", "L": "0", "T": 11, "t": 0, "R": False,
        "ot": "TAKE_PROFIT", "ps": "BOTH"}}, UsdmSymbolMapper().normalize, "binance-usdm")
    for order in (rest, status):
        assert (order.order_type, order.price, order.stop_price) == (
            OrderType.TAKE_PROFIT_LIMIT, Decimal(31100), Decimal(31000))
    assert fill is None


def test_spot_take_profit_is_the_market_trigger() -> None:
    """A spot TAKE_PROFIT order stays a market trigger (no limit price), from REST and from executionReport."""
    rest = p.parse_order({**USDM_TAKE_PROFIT, "price": "0.00000000"}, "BTC/USDT", futures=False)
    status, _ = p.parse_execution_report({**EXEC_TRADE, "o": "TAKE_PROFIT", "p": "0.00000000", "P": "31000",
                                          "x": "NEW", "X": "NEW", "l": "0", "z": "0"},
                                         SpotSymbolMapper().normalize, "binance")
    for order in (rest, status):
        assert (order.order_type, order.price, order.stop_price) == (OrderType.TAKE_PROFIT_MARKET, None, Decimal(31000))


@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
def test_pending_cancel_is_still_open(futures: bool) -> None:
    """PENDING_CANCEL is an open state (the order may still trade), not a cancellation."""
    order = p.parse_order({**USDM_TAKE_PROFIT, "status": "PENDING_CANCEL"}, "BTC/USDT", futures=futures)
    assert p.order_state("PENDING_CANCEL") is OrderState.NEW and order.state.is_open


def test_cancel_uses_original_client_id() -> None:
    """Spot cancel responses name the original client id in origClientOrderId."""
    c = p.parse_cancel({"symbol": "ETHUSDT", "origClientOrderId": "orig", "orderId": 5, "clientOrderId": "cancel-req",
                        "status": "CANCELED", "transactTime": 7}, "ETH/USDT")
    assert (c.order_id, c.client_order_id, c.state, c.timestamp) == ("5", "orig", OrderState.CANCELED, 7)


def test_balances_and_positions() -> None:
    """Zero balances are omitted; futures free is the available balance; flat positions are skipped."""
    spot = p.parse_account_balances({"balances": [{"asset": "ETH", "free": "1.5", "locked": "0.5"},
                                                  {"asset": "XRP", "free": "0.00000000", "locked": "0.00000000"}]})
    assert spot == {"ETH": Balance("ETH", "1.5", "0.5")}
    fut = p.parse_usdm_balances([{"asset": "USDT", "balance": "1000", "availableBalance": "800", "crossWalletBalance": "1000"}])
    assert fut == {"USDT": Balance("USDT", "800", "200")}
    positions = p.parse_positions([
        {"symbol": "ETHUSDT", "positionAmt": "-0.5", "entryPrice": "2500", "markPrice": "2400", "unRealizedProfit": "50",
         "liquidationPrice": "4000", "leverage": "10", "marginType": "isolated", "updateTime": 3},
        {"symbol": "BTCUSDT", "positionAmt": "0.000", "entryPrice": "0", "markPrice": "60000", "unRealizedProfit": "0"},
    ], UsdmSymbolMapper().normalize, "binance-usdm")
    assert len(positions) == 1
    pos = positions[0]
    assert (pos.symbol, pos.side.value, pos.quantity, pos.unrealized_pnl, pos.leverage, pos.margin_mode) == (
        "ETH/USDT:PERP", "short", Decimal("0.5"), Decimal(50), Decimal(10), "isolated")


EXEC_TRADE = {"e": "executionReport", "E": 1731000000005, "s": "ETHUSDT", "c": "mine-1", "S": "SELL", "o": "LIMIT", "f": "GTC",
              "q": "2.00000000", "p": "2600.00000000", "P": "0.00000000", "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE",
              "i": 77, "l": "0.50000000", "z": "0.50000000", "L": "2600.00000000", "n": "1.30000000", "N": "USDT",
              "T": 1731000000004, "t": 555, "w": False, "m": True, "O": 1731000000000, "Z": "1300.00000000", "C": ""}


@pytest.mark.parametrize(
    "message",
    [EXEC_TRADE, {"subscriptionId": 0, "event": EXEC_TRADE}, {"stream": "listenkey", "data": EXEC_TRADE}],
    ids=["bare", "ws-api-subscription", "combined-stream"],
)
def test_execution_report_in_every_wrapper(message: dict) -> None:
    """executionReport parses the same in the three user-data wrappers, with the fill of a TRADE report."""
    status, fill = p.parse_execution_report(p.unwrap_user_event(message), SpotSymbolMapper().normalize, "binance")
    assert (status.order_id, status.client_order_id, status.state, status.filled_quantity, status.average_price) == (
        "77", "mine-1", OrderState.PARTIALLY_FILLED, Decimal("0.5"), Decimal(2600))
    assert fill is not None
    assert (fill.trade_id, fill.price, fill.quantity, fill.fee, fill.fee_currency, fill.is_maker, fill.side.value) == (
        "555", Decimal(2600), Decimal("0.5"), Decimal("1.3"), "USDT", True, "sell")


def test_canceled_report_has_original_client_id_and_no_fill() -> None:
    """A CANCELED executionReport carries the original client id in C and yields no fill."""
    event = {**EXEC_TRADE, "x": "CANCELED", "X": "CANCELED", "c": "cancel-req", "C": "mine-1", "l": "0", "N": None}
    status, fill = p.parse_execution_report(event, SpotSymbolMapper().normalize, "binance")
    assert status.client_order_id == "mine-1" and status.state is OrderState.CANCELED and fill is None


def test_order_trade_update_and_account_update() -> None:
    """USD-M ORDER_TRADE_UPDATE yields order + fill; ACCOUNT_UPDATE yields wallet balances."""
    status, fill = p.parse_order_trade_update({"e": "ORDER_TRADE_UPDATE", "E": 10, "T": 9, "o": {
        "s": "ETHUSDT", "c": "fut-1", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1", "p": "2500", "ap": "2500", "sp": "0",
        "x": "TRADE", "X": "FILLED", "i": 8, "l": "1", "z": "1", "L": "2500", "n": "0.5", "N": "USDT", "T": 9, "t": 3,
        "m": False, "R": True, "ot": "LIMIT", "ps": "BOTH"}}, UsdmSymbolMapper().normalize, "binance-usdm")
    assert (status.symbol, status.state, status.reduce_only, status.stop_price) == ("ETH/USDT:PERP", OrderState.FILLED, True, None)
    assert fill is not None and (fill.is_maker, fill.fee) == (False, Decimal("0.5"))
    balances = p.parse_account_update({"e": "ACCOUNT_UPDATE", "E": 1, "a": {"m": "ORDER", "B": [
        {"a": "USDT", "wb": "1000", "cw": "900", "bc": "0"}], "P": []}})
    assert balances == {"USDT": Balance("USDT", "900", "100")}


@pytest.mark.parametrize(
    ("parser", "payload", "message"),
    [
        (lambda d: p.parse_depth_snapshot(d, "ETH/USDT", "binance"), {"bids": [], "asks": []}, "missing 'lastUpdateId'"),
        (lambda d: p.parse_trades(d, "ETH/USDT", "binance"), [{"id": 1, "price": "x", "qty": "1", "time": 1,
                                                               "isBuyerMaker": True}], "malformed trades payload"),
        (lambda d: p.parse_order(d, "ETH/USDT", futures=False), {"orderId": 1, "status": "WEIRD", "type": "LIMIT", "side": "BUY"},
         "unknown Binance order status 'WEIRD'"),
        (lambda d: p.parse_klines(d, "ETH/USDT", "binance", "1m"), [[1, "1"]], "malformed klines payload"),
        (lambda d: p.parse_exchange_info(d, SpotSymbolMapper().normalize, futures=False), {"symbols": None},
         "malformed exchangeInfo payload"),
    ],
)
def test_malformed_payloads_raise_typed_errors(parser, payload, message: str) -> None:  # type: ignore[no-untyped-def]
    """A malformed payload raises ExchangeError naming the problem, never KeyError or TypeError."""
    with pytest.raises(ExchangeError, match=message):
        parser(payload)
