"""The conformance suites of binance and binance-usdm, run against the loopback Binance."""

from __future__ import annotations

from exchange_binance.conformance import SpotSuite, UsdmSuite


class TestSpotConformance(SpotSuite):
    """Every conformance group binance declares."""


class TestUsdmConformance(UsdmSuite):
    """Every conformance group binance-usdm declares."""
