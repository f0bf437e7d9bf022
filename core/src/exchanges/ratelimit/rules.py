"""Rate-limit rules and endpoint costs as data (what plugins register)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import attrs

__all__ = ["SCOPES", "EndpointCost", "RateLimitRule"]

Scope = Literal["ip", "account", "endpoint", "connection", "order"]
SCOPES: tuple[str, ...] = ("ip", "account", "endpoint", "connection", "order")
KINDS: tuple[str, ...] = ("rolling", "fixed")


def _positive_int(instance: object, attribute: attrs.Attribute, value: int) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"RateLimitRule.{attribute.name} must be a positive integer, got {value!r}")


def _positive_number(instance: object, attribute: attrs.Attribute, value: float) -> None:  # type: ignore[type-arg]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"RateLimitRule.{attribute.name} must be a positive number of seconds, got {value!r}")


def _key(instance: object, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if not isinstance(value, str) or not value.strip():
        raise ValueError("RateLimitRule.key must be a non-empty string")


@attrs.frozen
class RateLimitRule:
    """``limit`` units of ``key`` per ``window`` seconds, metered per ``scope``.

    ``key`` names the budget a request draws on (``"weight"``, ``"orders"``,
    ``"raw"``...); several rules may share a key with different windows (e.g.
    orders per 10 s and per day). ``kind`` is ``"rolling"`` (sliding window) or
    ``"fixed"`` (counter reset at window boundaries, as Binance does).
    """

    key: str = attrs.field(validator=_key)
    limit: int = attrs.field(validator=_positive_int)
    window: float = attrs.field(validator=_positive_number)
    scope: str = attrs.field(default="ip", validator=attrs.validators.in_(SCOPES))
    kind: str = attrs.field(default="rolling", validator=attrs.validators.in_(KINDS))

    @property
    def name(self) -> str:
        """Unique name of the rule within a venue: ``key/window``."""
        window = int(self.window) if float(self.window).is_integer() else self.window
        return f"{self.key}/{window}s"


def _costs(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _cost_values(instance: object, attribute: attrs.Attribute, value: Mapping[str, int]) -> None:  # type: ignore[type-arg]
    for key, cost in value.items():
        if not isinstance(key, str) or not key or isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise ValueError(f"EndpointCost cost {key!r}={cost!r} must map a rule key to an integer >= 0")


@attrs.frozen
class EndpointCost:
    """What one call of ``endpoint`` draws from each budget key, e.g. ``{"weight": 20}``.

    ``endpoint`` is ``"METHOD /path"`` for REST or a name such as
    ``"ws:subscribe"``. Costs that vary with a parameter (Binance depth weight
    by ``limit``) are registered at their default and computed by the plugin.
    """

    endpoint: str
    costs: Mapping[str, int] = attrs.field(converter=_costs, validator=_cost_values)
