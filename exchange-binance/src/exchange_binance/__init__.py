"""exchange-binance: Binance spot (``binance``) and USD-M futures (``binance-usdm``).

This module holds the hook implementations and descriptors only, so listing
plugins stays cheap; the connector, transports and parsers load on connect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchanges import hookimpl

from .ratelimits import SPOT_COSTS, SPOT_RULES, USDM_COSTS, USDM_RULES
from .symbols import SpotSymbolMapper, UsdmSymbolMapper
from .venue import SPOT, USDM

__version__ = "0.1.0"


@hookimpl
def register_exchanges(register: Callable[..., None]) -> None:
    """Register ``binance`` and ``binance-usdm``."""
    register(SPOT)
    register(USDM)


@hookimpl
def register_symbol_mappers(register: Callable[..., None]) -> None:
    """One mapper per product line."""
    register(SPOT.id, SpotSymbolMapper())
    register(USDM.id, UsdmSymbolMapper())


@hookimpl
def register_rate_limits(register: Callable[..., Any]) -> None:
    """Rules and endpoint costs as data (ratelimits.py)."""
    for item in (*SPOT_RULES, *SPOT_COSTS):
        register(SPOT.id, item)
    for item in (*USDM_RULES, *USDM_COSTS):
        register(USDM.id, item)
