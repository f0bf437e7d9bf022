"""Unified symbol grammar: parsing, formatting, round trips, errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchanges import BadSymbol, InstrumentType, Symbol, format_symbol, parse_symbol

assets = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2199, 12, 31))
strikes = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("10000000"), places=4, allow_nan=False)

symbols = st.one_of(
    st.builds(Symbol, assets, assets),
    st.builds(Symbol, assets, assets, st.just(InstrumentType.PERPETUAL)),
    st.builds(lambda b, q, d: Symbol(b, q, InstrumentType.FUTURE, expiry=d), assets, assets, dates),
    st.builds(
        lambda b, q, d, k, r: Symbol(b, q, InstrumentType.OPTION, expiry=d, strike=k, option_type=r),
        assets, assets, dates, strikes, st.sampled_from("CP"),
    ),
)


@given(symbols)
def test_parse_format_round_trip(symbol: Symbol) -> None:
    """Formatting any symbol and parsing the text gives the same symbol, and the text is stable."""
    text = format_symbol(symbol)
    parsed = parse_symbol(text)
    assert parsed == symbol
    assert format_symbol(parsed) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT", Symbol("BTC", "USDT")),
        ("BTC/USDT:PERP", Symbol("BTC", "USDT", InstrumentType.PERPETUAL)),
        ("BTC/USDT:FUT:20241231", Symbol("BTC", "USDT", InstrumentType.FUTURE, expiry=dt.date(2024, 12, 31))),
        (
            "BTC/USDT:OPT:C:50000:20241231",
            Symbol("BTC", "USDT", InstrumentType.OPTION, dt.date(2024, 12, 31), Decimal(50000), "C"),
        ),
        ("kPEPE/USDC:PERP", Symbol("kPEPE", "USDC", InstrumentType.PERPETUAL)),
    ],
)
def test_documented_examples(text: str, expected: Symbol) -> None:
    """The grammar's documented examples parse to the expected parts and format back to the same text."""
    assert parse_symbol(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text",
    ["BTCUSDT", "BTC/", "/USDT", "BTC/USDT:", "BTC/USDT:SWAP", "BTC/USDT:FUT:2024-12-31", "BTC/USDT:FUT:20241331",
     "BTC/USDT:OPT:X:1:20241231", "BTC/USDT:OPT:C:0:20241231", "BTC-USDT", " BTC/USDT", "BTC/USDT:perp", "",
     "BTC/USDT\n"],
)
def test_bad_symbol_quotes_text(text: str) -> None:
    """Text outside the grammar raises BadSymbol quoting the text."""
    with pytest.raises(BadSymbol) as err:
        parse_symbol(text)
    assert repr(text) in str(err.value)
    assert err.value.symbol == text
