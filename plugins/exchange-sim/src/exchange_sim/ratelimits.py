"""The simulated venue's limits as data, shaped like a real venue's.

The simulator does not throttle by itself: these rules describe the budget a
client-side limiter meters (and what ``exchanges info sim`` shows), so code
written against the simulator keeps a realistic pace.
"""

from __future__ import annotations

from exchanges import EndpointCost, RateLimitRule

__all__ = ["COSTS", "ENDPOINTS", "RULES"]

RULES: tuple[RateLimitRule, ...] = (
    RateLimitRule("weight", 1200, 60, scope="ip"),
    RateLimitRule("orders", 50, 1.0, scope="account"),
    RateLimitRule("orders", 100_000, 86_400, scope="account", kind="fixed"),
)

#: what one call of each connector method draws from the budgets (the venue is embedded: names, not paths)
_COSTS: dict[str, dict[str, int]] = {
    "sim:order_book": {"weight": 5},
    "sim:trades": {"weight": 5},
    "sim:ticker": {"weight": 1},
    "sim:candles": {"weight": 2},
    "sim:place_order": {"weight": 1, "orders": 1},
    "sim:cancel_order": {"weight": 1},
    "sim:cancel_all": {"weight": 5},
    "sim:order_status": {"weight": 2},
    "sim:open_orders": {"weight": 5},
    "sim:balances": {"weight": 5},
    "sim:positions": {"weight": 5},
    "sim:set_leverage": {"weight": 1},
}

COSTS: tuple[EndpointCost, ...] = tuple(EndpointCost(name, costs) for name, costs in _COSTS.items())

#: every endpoint name the connector calls (each has a cost above)
ENDPOINTS: tuple[str, ...] = tuple(_COSTS)
