"""The conformance suite of the simulated venue, as ``exchanges conformance sim`` runs it.

The venue connects with the background flow off and the suite's ``drive``
steps the simulated participants, so every streaming check is deterministic.
"""

from __future__ import annotations

from typing import Any, ClassVar

from exchanges import BaseExchange
from exchanges.testing.conformance import ConformanceSuite

from .ratelimits import ENDPOINTS

__all__ = ["SimConformance"]


class SimConformance(ConformanceSuite):
    """Conformance cases of ``sim`` (subclass it with a ``Test`` name to collect it with pytest)."""

    exchange_id = "sim"
    symbol_cases: ClassVar[Any] = [
        ("BTCUSDT", "BTC/USDT"),
        ("ETHUSDT", "ETH/USDT"),
        ("BTCUSDT-PERP", "BTC/USDT:PERP"),
    ]
    called_endpoints: ClassVar[Any] = list(ENDPOINTS)
    connect_kwargs: ClassVar[Any] = {"flow": False}
    trade_symbol = "BTC/USDT"

    async def drive(self, exchange: BaseExchange) -> None:
        """One step of the simulated participants."""
        exchange.venue.step()  # type: ignore[attr-defined]
