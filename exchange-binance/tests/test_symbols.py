"""Binance symbol mappers: spot and USD-M names both ways, learned splits, refusals."""

from __future__ import annotations

import pytest

from exchange_binance.symbols import SpotSymbolMapper, UsdmSymbolMapper
from exchanges import BadSymbol


@pytest.mark.parametrize(
    ("raw", "unified"),
    [("BTCUSDT", "BTC/USDT"), ("ETHBTC", "ETH/BTC"), ("BNBFDUSD", "BNB/FDUSD"), ("1000SATSUSDT", "1000SATS/USDT")],
)
def test_spot_round_trip(raw: str, unified: str) -> None:
    """Spot names split on the known quote assets and join back."""
    mapper = SpotSymbolMapper()
    assert mapper.normalize(raw) == unified
    assert mapper.denormalize(unified) == raw


@pytest.mark.parametrize(
    ("raw", "unified"),
    [("BTCUSDT", "BTC/USDT:PERP"), ("BTCUSDT_250328", "BTC/USDT:FUT:20250328"), ("ETHUSDC", "ETH/USDC:PERP")],
)
def test_usdm_round_trip(raw: str, unified: str) -> None:
    """USD-M perpetuals map to :PERP and dated contracts to :FUT:YYYYMMDD, and back."""
    mapper = UsdmSymbolMapper()
    assert mapper.normalize(raw) == unified
    assert mapper.denormalize(unified) == raw


def test_learned_pairs_win_over_the_suffix_guess() -> None:
    """A split learned from exchangeInfo beats the quote-suffix heuristic."""
    mapper = SpotSymbolMapper()
    assert mapper.normalize("BTCUSD1") == "BTC/USD1"
    mapper.learn([("BTCUSD1", "BTCUSD", "1")])  # hypothetical venue split
    assert mapper.normalize("BTCUSD1") == "BTCUSD/1"


@pytest.mark.parametrize(
    ("mapper", "call", "arg", "message"),
    [
        (SpotSymbolMapper(), "denormalize", "BTC/USDT:PERP", "not a spot symbol"),
        (UsdmSymbolMapper(), "denormalize", "BTC/USDT", "not a perpetual or dated future"),
        (SpotSymbolMapper(), "normalize", "NOTAPAIR", "cannot map 'NOTAPAIR'"),
        (SpotSymbolMapper(), "denormalize", "btc-usdt", "bad symbol 'btc-usdt'"),
        (UsdmSymbolMapper(), "normalize", "BTCUSDT_251399", "bad delivery date"),
    ],
)
def test_refusals_are_bad_symbol(mapper: object, call: str, arg: str, message: str) -> None:
    """Names a mapper cannot map raise BadSymbol saying why."""
    with pytest.raises(BadSymbol, match=message):
        getattr(mapper, call)(arg)
