"""exchange-sim: the simulated venue ``sim`` (spot BTC/USDT, ETH/USDT and the BTC/USDT:PERP perpetual).

This module holds the hook implementations and the descriptor only, so
listing plugins stays cheap; the matching engine, the simulated participants
and the connector load on connect (``exchange_sim.connector:create_exchange``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchanges import hookimpl

from .ratelimits import COSTS, RULES
from .symbols import SimSymbolMapper
from .venue import DESCRIPTOR, EXCHANGE_ID

__all__ = ["DESCRIPTOR", "register_exchanges", "register_rate_limits", "register_symbol_mappers"]

__version__ = "0.1.0"


@hookimpl
def register_exchanges(register: Callable[..., None]) -> None:
    """Register the ``sim`` descriptor."""
    register(DESCRIPTOR)


@hookimpl
def register_symbol_mappers(register: Callable[..., None]) -> None:
    """Register the table mapper (``BTCUSDT`` <-> ``BTC/USDT``, ``BTCUSDT-PERP`` <-> ``BTC/USDT:PERP``)."""
    register(EXCHANGE_ID, SimSymbolMapper())


@hookimpl
def register_rate_limits(register: Callable[..., Any]) -> None:
    """Register the venue's rules and the cost of each call."""
    for item in (*RULES, *COSTS):
        register(EXCHANGE_ID, item)
