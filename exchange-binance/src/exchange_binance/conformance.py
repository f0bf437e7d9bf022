"""The conformance suites of ``binance`` and ``binance-usdm`` (what ``exchanges conformance binance`` runs).

Everything they need ships in the package: hand-written payloads in the
documented formats (TC-D), the symbol cases (TC-S), the endpoints the connector
calls (TC-R), and the loopback Binance of :mod:`exchange_binance.testing`
behind the streaming (TC-W) and execution (TC-X) groups, so the suites run the
same in the plugin's tests and from the CLI, with no network and no files.

Collect one with pytest by subclassing it under a ``Test`` name::

    class TestSpotConformance(SpotSuite):
        pass
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import pytest_asyncio

from exchanges import (
    Balance,
    BaseExchange,
    CancelResult,
    Candle,
    ExchangeDescriptor,
    ExchangeError,
    Host,
    OrderBook,
    OrderStatus,
    Position,
    Ticker,
    Trade,
)
from exchanges.testing.conformance import ConformanceSuite, PayloadCase

from . import parsing
from .http import SPOT_ROUTES, USDM_ROUTES
from .symbols import SpotSymbolMapper, UsdmSymbolMapper

__all__ = ["FAST_SETTINGS", "BinanceWsScenario", "SpotSuite", "UsdmSuite"]

#: connector settings for tests against the loopback venue: fast heartbeats, short backoff
FAST_SETTINGS: Mapping[str, Any] = {
    "ws_ping_interval": 0.2,
    "ws_ping_timeout": 0.4,
    "ws_backoff_base": 0.02,
    "ws_backoff_cap": 0.1,
    "ws_open_timeout": 3.0,
    "book_retry_delay": 0.02,
    "book_first_event_timeout": 0.5,
    "reconcile_delay": 0.0,
    "ws_rollover_overlap": 0.2,
}


class BinanceWsScenario:
    """How the suite's TC-W-03..05 script Binance books on the emulator (see ``WsScenario``)."""

    def __init__(self, *, futures: bool) -> None:
        self.futures = futures
        self.snapshot_path: str | None = "/fapi/v1/depth" if futures else "/api/v3/depth"

    def install(self, emu: Any, symbol: str, faults: Any) -> None:
        """The loopback Binance with ``faults`` on its market-stream connections."""
        from .testing import FakeBinance

        FakeBinance(emu, futures=self.futures, tick=0.01).install(market_faults=faults)

    def endpoints(self, emu: Any) -> Mapping[str, str]:
        """Every endpoint of the connector on the emulator."""
        urls = {"rest": emu.http_url, "ws": emu.ws_url}
        if not self.futures:
            urls["ws_api"] = emu.ws_url
        return urls

    def subscribed(self, session: Any) -> bool:
        """True once the session carries a diff-depth subscription."""
        return any("@depth" in stream for stream in session.state.get("streams", ()))

    def connect_kwargs(self) -> Mapping[str, Any]:
        """Fast heartbeat and backoff for the fault tests."""
        return FAST_SETTINGS


class _BinanceSuite(ConformanceSuite):
    """What both product lines share: the loopback venue behind TC-S-04, TC-W and TC-X."""

    futures: ClassVar[bool] = False

    @pytest_asyncio.fixture
    async def exchange(self, host: Host, descriptor: ExchangeDescriptor) -> AsyncIterator[BaseExchange]:
        """A connector on the loopback Binance, with its fake (HMAC) credentials."""
        from exchanges.testing.emulator import VenueEmulator

        from .testing import FakeBinance

        async with VenueEmulator() as emu:
            fake = FakeBinance(emu, futures=self.futures).install()
            async with host.connect(self.exchange_id, endpoints=fake.endpoints, credentials=fake.credentials,
                                    **dict(FAST_SETTINGS)) as ex:
                yield ex


def _malformed(parse: Any, payload: Any, what: str) -> PayloadCase:
    return PayloadCase(f"malformed {what}", parse, payload, ExchangeError)


_SPOT = SpotSymbolMapper().normalize
_USDM = UsdmSymbolMapper().normalize

SPOT_PAYLOADS: tuple[PayloadCase, ...] = (
    PayloadCase(
        "depth snapshot",
        lambda d: parsing.parse_depth_snapshot(d, "BTC/USDT", "binance", timestamp=7),
        {"lastUpdateId": 1027024, "bids": [["4.00000000", "431.00000000"]], "asks": [["4.00000200", "12.00000000"]]},
        OrderBook("BTC/USDT", "binance", 7, [["4.00000000", "431.00000000"]], [["4.00000200", "12.00000000"]], 1027024),
    ),
    PayloadCase(
        "recent trades",
        lambda d: parsing.parse_trades(d, "BTC/USDT", "binance"),
        [{"id": 28457, "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012", "time": 1499865549590,
          "isBuyerMaker": True, "isBestMatch": True}],
        [Trade("BTC/USDT", "binance", "28457", "4.000001", "12", "sell", 1499865549590)],
    ),
    PayloadCase(
        "trade event",
        lambda d: parsing.stream_trade(d, "BTC/USDT", "binance"),
        {"e": "trade", "E": 1672515782136, "s": "BNBBTC", "t": 12345, "p": "0.001", "q": "100", "T": 1672515782136,
         "m": False, "M": True},
        Trade("BTC/USDT", "binance", "12345", "0.001", "100", "buy", 1672515782136),
    ),
    PayloadCase(
        "book ticker event without time",
        lambda d: parsing.parse_book_ticker(d, "BTC/USDT", "binance", timestamp=11),
        {"u": 400900217, "s": "BNBUSDT", "b": "25.35190000", "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"},
        Ticker("BTC/USDT", "binance", 11, bid="25.3519", ask="25.3652", bid_size="31.21", ask_size="40.66"),
    ),
    PayloadCase(
        "kline rows",
        lambda d: parsing.parse_klines(d, "BTC/USDT", "binance", "1m", now=1499040000000 + 120_000),
        [[1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815", 1499040059999,
          "2434.19055334", 308, "1756.87402397", "28.46694368", "0"]],
        [Candle("BTC/USDT", "binance", "1m", 1499040000000, "0.0163479", "0.8", "0.015758", "0.015771",
                "148976.11427815", "2434.19055334", closed=True)],
    ),
    PayloadCase(
        "new order FULL",
        lambda d: parsing.order_result(parsing.parse_order(d, "BTC/USDT", futures=False)),
        {"symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "6gCrw2kRUAF9CvJDGP16IP",
         "transactTime": 1507725176595, "price": "0.00000000", "origQty": "10.00000000", "executedQty": "10.00000000",
         "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "10.00000000", "status": "FILLED",
         "timeInForce": "GTC", "type": "MARKET", "side": "SELL", "workingTime": 1507725176595,
         "selfTradePreventionMode": "NONE",
         "fills": [{"price": "1.00000000", "qty": "10.00000000", "commission": "0.01", "commissionAsset": "USDT",
                    "tradeId": 56}]},
        parsing.order_result(OrderStatus("28", "6gCrw2kRUAF9CvJDGP16IP", "BTC/USDT", "filled", "10", "1",
                                         1507725176595)),
    ),
    PayloadCase(
        "cancel",
        lambda d: parsing.parse_cancel(d, "BTC/USDT"),
        {"symbol": "BTCUSDT", "origClientOrderId": "myOrder1", "orderId": 4, "orderListId": -1,
         "clientOrderId": "cancelMyOrder1", "transactTime": 1684804350068, "price": "2.00000000", "origQty": "1.00000000",
         "executedQty": "0.00000000", "cummulativeQuoteQty": "0.00000000", "status": "CANCELED", "timeInForce": "GTC",
         "type": "LIMIT", "side": "BUY", "selfTradePreventionMode": "NONE"},
        CancelResult("4", "myOrder1", "BTC/USDT", "canceled", 1684804350068),
    ),
    PayloadCase(
        "account balances",
        parsing.parse_account_balances,
        {"makerCommission": 15, "balances": [{"asset": "BTC", "free": "4723846.89208129", "locked": "0.00000000"},
                                             {"asset": "LTC", "free": "0.00000000", "locked": "0.00000000"}]},
        {"BTC": Balance("BTC", "4723846.89208129", "0")},
    ),
    PayloadCase(
        "executionReport in a WS API subscription",
        lambda d: parsing.parse_execution_report(parsing.unwrap_user_event(d), _SPOT, "binance")[0],
        {"subscriptionId": 0, "event": {
            "e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY",
            "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0.00000000", "F": "0.00000000",
            "g": -1, "C": "", "x": "NEW", "X": "NEW", "r": "NONE", "i": 4293153, "l": "0.00000000",
            "z": "0.00000000", "L": "0.00000000", "n": "0", "N": None, "T": 1499405658657, "t": -1, "I": 8641984,
            "w": True, "m": False, "M": False, "O": 1499405658657, "Z": "0.00000000", "Y": "0.00000000",
            "Q": "0.00000000", "W": 1499405658657, "V": "NONE"}},
        OrderStatus("4293153", "mUvoqJxFIILMdfAW5iGSOW", "ETH/BTC", "new", "0", None, 1499405658657, side="buy",
                    order_type="limit", quantity="1", price="0.1026441", time_in_force="gtc"),
    ),
    _malformed(lambda d: parsing.parse_depth_snapshot(d, "BTC/USDT", "binance"), {"bids": [], "asks": []}, "depth"),
    _malformed(lambda d: parsing.parse_order(d, "BTC/USDT", futures=False), {"orderId": 1, "status": "BOGUS", "type": "LIMIT",
                                                              "side": "BUY"}, "order status"),
    _malformed(lambda d: parsing.parse_klines(d, "BTC/USDT", "binance", "1m"), [[1, "1"]], "kline row"),
)

USDM_PAYLOADS: tuple[PayloadCase, ...] = (
    PayloadCase(
        "depth snapshot with E",
        lambda d: parsing.parse_depth_snapshot(d, "BTC/USDT:PERP", "binance-usdm"),
        {"lastUpdateId": 1027024, "E": 1589436922972, "T": 1589436922959, "bids": [["4.00000000", "431.00000000"]],
         "asks": [["4.00000200", "12.00000000"]]},
        OrderBook("BTC/USDT:PERP", "binance-usdm", 1589436922972, [["4", "431"]], [["4.000002", "12"]], 1027024),
    ),
    PayloadCase(
        "aggTrade event",
        lambda d: parsing.stream_agg_trade(d, "BTC/USDT:PERP", "binance-usdm"),
        {"e": "aggTrade", "E": 123456789, "s": "BTCUSDT", "a": 5933014, "p": "0.001", "q": "100", "f": 100, "l": 105,
         "T": 123456785, "m": True},
        Trade("BTC/USDT:PERP", "binance-usdm", "5933014", "0.001", "100", "sell", 123456785),
    ),
    PayloadCase(
        "book ticker event",
        lambda d: parsing.parse_book_ticker(d, "BTC/USDT:PERP", "binance-usdm"),
        {"e": "bookTicker", "u": 400900217, "E": 1568014460893, "T": 1568014460891, "s": "BNBUSDT", "b": "25.35190000",
         "B": "31.21000000", "a": "25.36520000", "A": "40.66000000"},
        Ticker("BTC/USDT:PERP", "binance-usdm", 1568014460891, bid="25.3519", ask="25.3652", bid_size="31.21",
               ask_size="40.66"),
    ),
    PayloadCase(
        "new order RESULT",
        lambda d: parsing.parse_order(d, "BTC/USDT:PERP", futures=True),
        {"clientOrderId": "testOrder", "cumQty": "0", "cumQuote": "0", "executedQty": "0", "orderId": 22542179,
         "avgPrice": "0.00000", "origQty": "10", "price": "0", "reduceOnly": True, "side": "BUY",
         "positionSide": "SHORT", "status": "NEW", "stopPrice": "9300", "closePosition": False, "symbol": "BTCUSDT",
         "timeInForce": "GTD", "type": "TRAILING_STOP_MARKET", "origType": "TRAILING_STOP_MARKET",
         "updateTime": 1566818724722, "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
         "selfTradePreventionMode": "NONE", "goodTillDate": 1693207680000},
        OrderStatus("22542179", "testOrder", "BTC/USDT:PERP", "new", "0", None, 1566818724722, side="buy",
                    order_type="stop_market", quantity="10", stop_price="9300", reduce_only=True),
    ),
    PayloadCase(
        "futures balance",
        parsing.parse_usdm_balances,
        [{"accountAlias": "SgsR", "asset": "USDT", "balance": "122607.35137903", "crossWalletBalance": "23.72469206",
          "crossUnPnl": "0.00000000", "availableBalance": "23.72469206", "maxWithdrawAmount": "23.72469206",
          "marginAvailable": True, "updateTime": 1617939110373}],
        {"USDT": Balance("USDT", "23.72469206", "122583.62668697")},
    ),
    PayloadCase(
        "positionRisk",
        lambda d: parsing.parse_positions(d, _USDM, "binance-usdm"),
        [{"symbol": "ADAUSDT", "positionSide": "BOTH", "positionAmt": "30", "entryPrice": "0.385",
          "breakEvenPrice": "0.385077", "markPrice": "0.41047590", "unRealizedProfit": "0.76427700",
          "liquidationPrice": "0", "isolatedMargin": "0", "notional": "12.31427700", "marginAsset": "USDT",
          "isolatedWallet": "0", "initialMargin": "0.61571385", "maintMargin": "0.08004280", "leverage": "20",
          "marginType": "cross", "updateTime": 1720736417660}],
        [Position("ADA/USDT:PERP", "binance-usdm", "long", "30", entry_price="0.385", mark_price="0.4104759",
                  unrealized_pnl="0.764277", leverage="20", liquidation_price=None, margin_mode="cross",
                  timestamp=1720736417660)],
    ),
    _malformed(lambda d: parsing.parse_usdm_balances(d), [{"asset": "USDT"}], "balance"),
    _malformed(lambda d: parsing.parse_order_trade_update(d, _USDM, "binance-usdm"), {"e": "ORDER_TRADE_UPDATE"},
               "ORDER_TRADE_UPDATE"),
)


class SpotSuite(_BinanceSuite):
    """Conformance cases of ``binance`` (spot)."""

    exchange_id = "binance"
    futures = False
    trade_symbol = "BTC/USDT"
    symbol_cases: ClassVar[Any] = [("BTCUSDT", "BTC/USDT"), ("ETHBTC", "ETH/BTC"), ("BNBFDUSD", "BNB/FDUSD"),
                                   ("1000SATSUSDT", "1000SATS/USDT")]
    payload_cases: ClassVar[Any] = SPOT_PAYLOADS
    called_endpoints: ClassVar[Any] = [
        *(route.endpoint for route in SPOT_ROUTES.values()),
        "ws:connect", "ws_api:connect", "ws_api:userDataStream.subscribe.signature",
    ]
    ws_scenario = BinanceWsScenario(futures=False)


class UsdmSuite(_BinanceSuite):
    """Conformance cases of ``binance-usdm`` (USD-M futures)."""

    exchange_id = "binance-usdm"
    futures = True
    trade_symbol = "BTC/USDT:PERP"
    symbol_cases: ClassVar[Any] = [("BTCUSDT", "BTC/USDT:PERP"), ("ETHUSDC", "ETH/USDC:PERP"),
                                   ("BTCUSDT_261225", "BTC/USDT:FUT:20261225")]
    payload_cases: ClassVar[Any] = USDM_PAYLOADS
    called_endpoints: ClassVar[Any] = [*(route.endpoint for route in USDM_ROUTES.values()), "ws:connect"]
    ws_scenario = BinanceWsScenario(futures=True)

