"""Instrument payloads of the loopback Binance, written by us in the documented ``exchangeInfo`` format."""

from __future__ import annotations

from typing import Any

__all__ = ["MARKETS", "spot_exchange_info", "usdm_exchange_info"]

#: raw symbol -> (base, quote, tick, step, min qty, min notional, start mid price)
MARKETS: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "BTCUSDT": ("BTC", "USDT", "0.01", "0.00001", "0.00001", "5", "30000.00"),
    "ETHUSDT": ("ETH", "USDT", "0.01", "0.0001", "0.0001", "5", "2000.00"),
    "ETHBTC": ("ETH", "BTC", "0.00001", "0.0001", "0.0001", "0.0001", "0.06000"),
}
#: USD-M raw symbol -> (base, quote, contract type, delivery ms, tick, step, min qty, min notional, mid)
USDM_MARKETS: dict[str, tuple[str, str, str, int, str, str, str, str, str]] = {
    "BTCUSDT": ("BTC", "USDT", "PERPETUAL", 4133404800000, "0.10", "0.001", "0.001", "100", "30000.0"),
    "ETHUSDT": ("ETH", "USDT", "PERPETUAL", 4133404800000, "0.01", "0.001", "0.001", "20", "2000.00"),
    "BTCUSDT_261225": ("BTC", "USDT", "CURRENT_QUARTER", 1798185600000, "0.10", "0.001", "0.001", "5", "30500.0"),
}


def _limits(weight: int, orders: list[tuple[str, int, int]], raw: int | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight}
    ]
    out += [{"rateLimitType": "ORDERS", "interval": unit, "intervalNum": num, "limit": limit} for unit, num, limit in orders]
    if raw is not None:
        out.append({"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": raw})
    return out


def spot_exchange_info(server_time: int, *, weight_limit: int = 6000) -> dict[str, Any]:
    """``GET /api/v3/exchangeInfo`` for the loopback spot markets."""
    symbols = []
    for raw, (base, quote, tick, step, min_qty, notional, _mid) in MARKETS.items():
        symbols.append({
            "symbol": raw, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8, "quoteAsset": quote,
            "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                           "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": "9000.00000000", "stepSize": step},
                {"filterType": "ICEBERG_PARTS", "limit": 10},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
                 "stepSize": "0.00000000"},
                {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
                 "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
                {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
                 "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
                {"filterType": "NOTIONAL", "minNotional": notional, "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        })
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": _limits(weight_limit, [("SECOND", 10, 100), ("DAY", 1, 200000)], 300000),
        "exchangeFilters": [],
        "symbols": symbols,
    }


def usdm_exchange_info(server_time: int, *, weight_limit: int = 2400) -> dict[str, Any]:
    """``GET /fapi/v1/exchangeInfo`` for the loopback USD-M contracts."""
    symbols = []
    for raw, (base, quote, kind, delivery, tick, step, min_qty, notional, _mid) in USDM_MARKETS.items():
        symbols.append({
            "symbol": raw, "pair": raw.split("_")[0], "contractType": kind, "deliveryDate": delivery,
            "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": base, "quoteAsset": quote, "marginAsset": quote,
            "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
            "underlyingType": "COIN", "underlyingSubType": [], "triggerProtect": "0.0500",
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                           "TRAILING_STOP_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000", "tickSize": tick},
                {"filterType": "LOT_SIZE", "stepSize": step, "maxQty": "1000", "minQty": min_qty},
                {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "maxQty": "120", "minQty": min_qty},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": notional},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
        })
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": "U_MARGINED",
        "rateLimits": _limits(weight_limit, [("MINUTE", 1, 1200), ("SECOND", 10, 300)], None),
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": symbols,
    }
