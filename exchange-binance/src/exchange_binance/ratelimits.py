"""Binance's limits as data: rules per scope and the cost of every endpoint we call.

Defaults from the docs (venues.md §1.3, §2.2-2.3); the venue's live numbers
(``exchangeInfo.rateLimits``) and the usage headers correct them at run time.
"""

from __future__ import annotations

from exchanges import EndpointCost, RateLimitRule

__all__ = [
    "SPOT_COSTS",
    "SPOT_RULES",
    "USDM_COSTS",
    "USDM_RULES",
    "spot_depth_weight",
    "usdm_depth_weight",
    "usdm_klines_weight",
]

SPOT_RULES: tuple[RateLimitRule, ...] = (
    RateLimitRule("weight", 6000, 60, scope="ip", kind="fixed"),
    RateLimitRule("raw", 300_000, 300, scope="ip", kind="fixed"),
    RateLimitRule("orders", 100, 10, scope="account", kind="fixed"),
    RateLimitRule("orders", 200_000, 86_400, scope="account", kind="fixed"),
    RateLimitRule("ws_messages", 5, 1, scope="connection"),
    RateLimitRule("ws_connections", 300, 300, scope="ip"),
)

USDM_RULES: tuple[RateLimitRule, ...] = (
    RateLimitRule("weight", 2400, 60, scope="ip", kind="fixed"),
    RateLimitRule("orders", 300, 10, scope="account", kind="fixed"),
    RateLimitRule("orders", 1200, 60, scope="account", kind="fixed"),
    RateLimitRule("ws_messages", 10, 1, scope="connection"),
)


def _w(weight: int, **extra: int) -> dict[str, int]:
    return {"weight": weight, **extra}


SPOT_COSTS: tuple[EndpointCost, ...] = (
    *(EndpointCost(endpoint, {**costs, "raw": 1}) for endpoint, costs in {
        "GET /api/v3/ping": _w(1),
        "GET /api/v3/time": _w(1),
        "GET /api/v3/exchangeInfo": _w(20),
        "GET /api/v3/depth": _w(5),  # limit <= 100; see spot_depth_weight
        "GET /api/v3/trades": _w(25),
        "GET /api/v3/klines": _w(2),
        "GET /api/v3/ticker/24hr": _w(2),
        "GET /api/v3/ticker/bookTicker": _w(2),
        "POST /api/v3/order": _w(1, orders=1),
        "DELETE /api/v3/order": _w(1),
        "DELETE /api/v3/openOrders": _w(1),
        "GET /api/v3/order": _w(4),
        "GET /api/v3/openOrders": _w(6),  # with symbol; 80 without
        "GET /api/v3/account": _w(20),
        "GET /api/v3/myTrades": _w(20),
    }.items()),
    EndpointCost("ws:subscribe", {"ws_messages": 1}),
    EndpointCost("ws:connect", {"ws_connections": 1}),
    EndpointCost("ws_api:connect", {"weight": 2}),
    EndpointCost("ws_api:userDataStream.subscribe.signature", {"weight": 2}),
)

USDM_COSTS: tuple[EndpointCost, ...] = tuple(
    EndpointCost(endpoint, costs)
    for endpoint, costs in {
        "GET /fapi/v1/ping": _w(1),
        "GET /fapi/v1/time": _w(1),
        "GET /fapi/v1/exchangeInfo": _w(1),
        "GET /fapi/v1/depth": _w(10),  # default limit 500; see usdm_depth_weight
        "GET /fapi/v1/trades": _w(5),
        "GET /fapi/v1/klines": _w(2),  # see usdm_klines_weight
        "GET /fapi/v1/ticker/24hr": _w(1),
        "GET /fapi/v1/ticker/bookTicker": _w(2),
        "GET /fapi/v1/premiumIndex": _w(1),
        "POST /fapi/v1/order": {"weight": 0, "orders": 1},
        "DELETE /fapi/v1/order": _w(1),
        "DELETE /fapi/v1/allOpenOrders": _w(1),
        "GET /fapi/v1/order": _w(1),
        "GET /fapi/v1/openOrders": _w(1),  # with symbol; 40 without
        "GET /fapi/v3/positionRisk": _w(5),
        "POST /fapi/v1/leverage": _w(1),
        "GET /fapi/v3/account": _w(5),
        "GET /fapi/v3/balance": _w(5),
        "POST /fapi/v1/listenKey": _w(1),
        "PUT /fapi/v1/listenKey": _w(1),
        "DELETE /fapi/v1/listenKey": _w(1),
        "ws:subscribe": {"ws_messages": 1},
        # no documented connection budget on USD-M; weight 0 still goes through the IP limiter (bans)
        "ws:connect": {"weight": 0},
    }.items()
)


def spot_depth_weight(limit: int) -> int:
    """Weight of ``GET /api/v3/depth`` for ``limit`` (1-100: 5, 101-500: 25, 501-1000: 50, else 250)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def usdm_depth_weight(limit: int) -> int:
    """Weight of ``GET /fapi/v1/depth`` for ``limit`` (<=50: 2, 100: 5, 500: 10, 1000: 20)."""
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


def usdm_klines_weight(limit: int) -> int:
    """Weight of ``GET /fapi/v1/klines`` for ``limit`` ([1,100): 1, [100,500): 2, [500,1000]: 5, more: 10)."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


SPOT_DEPTH_LIMITS: tuple[int, ...] = (5, 10, 20, 50, 100, 500, 1000, 5000)
USDM_DEPTH_LIMITS: tuple[int, ...] = (5, 10, 20, 50, 100, 500, 1000)
