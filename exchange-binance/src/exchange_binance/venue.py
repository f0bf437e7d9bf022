"""What Binance is: endpoints (live and testnet), products, capabilities, stream names."""

from __future__ import annotations

from exchanges import Capability, ExchangeDescriptor

__all__ = ["KLINE_INTERVALS", "SPOT", "USDM"]

#: documented kline intervals (case sensitive: "1m" is a minute, "1M" a month)
KLINE_INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
)
USDM_KLINE_INTERVALS: tuple[str, ...] = KLINE_INTERVALS[1:]  # no 1s on futures

_COMMON = {
    Capability.ORDER_BOOK, Capability.TRADES, Capability.TICKER, Capability.CANDLES,
    Capability.WATCH_ORDER_BOOK, Capability.WATCH_TRADES, Capability.WATCH_TICKER, Capability.WATCH_CANDLES,
    Capability.PLACE_ORDER, Capability.CANCEL_ORDER, Capability.CANCEL_ALL, Capability.ORDER_STATUS,
    Capability.OPEN_ORDERS, Capability.BALANCES, Capability.WATCH_ORDERS, Capability.WATCH_FILLS,
    Capability.WATCH_BALANCES, Capability.MARKET_ORDERS, Capability.STOP_ORDERS, Capability.TAKE_PROFIT_ORDERS,
    Capability.POST_ONLY,
}

# Base URLs carry scheme, host and port only: the connector appends the venue's own paths
# (/api/v3/..., /ws, /stream, /ws-api/v3), so an `endpoints=` override may point anywhere.
SPOT = ExchangeDescriptor(
    id="binance",
    name="Binance (spot)",
    kind="cex",
    products=["spot"],
    capabilities=_COMMON | {Capability.QUOTE_QUANTITY},
    endpoints={
        "rest": "https://api.binance.com",
        "ws": "wss://stream.binance.com:9443",
        "ws_api": "wss://ws-api.binance.com:443",
    },
    testnet_endpoints={
        "rest": "https://testnet.binance.vision",
        "ws": "wss://stream.testnet.binance.vision",
        "ws_api": "wss://ws-api.testnet.binance.vision",
    },
    connector="exchange_binance.connector:spot_exchange",
    credential_keys=("api_key", "secret"),
    description="Binance spot: REST market data and trading, diff-depth books, WS API user data.",
    homepage="https://www.binance.com",
    conformance="exchange_binance.conformance:SpotSuite",
)

USDM = ExchangeDescriptor(
    id="binance-usdm",
    name="Binance USD-M futures",
    kind="cex",
    products=["perpetual", "future"],
    capabilities=_COMMON | {Capability.REDUCE_ONLY, Capability.POSITIONS, Capability.SET_LEVERAGE},
    endpoints={
        "rest": "https://fapi.binance.com",
        "ws": "wss://fstream.binance.com",
    },
    testnet_endpoints={
        "rest": "https://testnet.binancefuture.com",
        "ws": "wss://fstream.binancefuture.com",
    },
    connector="exchange_binance.connector:usdm_exchange",
    credential_keys=("api_key", "secret"),
    description="Binance USD-M perpetual and dated futures: REST, diff-depth books, listen-key user data.",
    homepage="https://www.binance.com",
    conformance="exchange_binance.conformance:UsdmSuite",
)
