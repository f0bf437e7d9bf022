"""Unified symbols and the ``SymbolMapper`` protocol.

Grammar::

    BASE/QUOTE                         spot                 BTC/USDT
    BASE/QUOTE:PERP                    perpetual            BTC/USDT:PERP
    BASE/QUOTE:FUT:YYYYMMDD            dated future         BTC/USDT:FUT:20241231
    BASE/QUOTE:OPT:C|P:STRIKE:YYYYMMDD option               BTC/USDT:OPT:C:50000:20241231

``BASE`` and ``QUOTE`` are letters and digits (venues use mixed case such as
``kPEPE``); ``STRIKE`` is a positive decimal without exponent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Protocol, runtime_checkable

import attrs

from .errors import BadSymbol
from .models.enums import InstrumentType

__all__ = ["Symbol", "SymbolMapper", "format_symbol", "parse_symbol"]

_ASSET = r"[A-Za-z0-9]{1,32}"
_PATTERN = re.compile(
    rf"^(?P<base>{_ASSET})/(?P<quote>{_ASSET})"
    r"(?::(?:(?P<perp>PERP)"
    r"|FUT:(?P<fut>\d{8})"
    r"|OPT:(?P<right>[CP]):(?P<strike>\d+(?:\.\d+)?):(?P<opt>\d{8})))?"
)


@attrs.frozen
class Symbol:
    """A parsed unified symbol."""

    base: str
    quote: str
    instrument_type: InstrumentType = InstrumentType.SPOT
    expiry: dt.date | None = None
    strike: Decimal | None = None
    option_type: str | None = None  # "C" or "P"

    def __str__(self) -> str:
        return format_symbol(self)


def _date(text: str, symbol: str) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise BadSymbol(f"bad date {text!r} in symbol {symbol!r}: expected YYYYMMDD", symbol=symbol) from None


def parse_symbol(text: str) -> Symbol:
    """Parse a unified symbol; raise :class:`BadSymbol` quoting the text when it does not fit the grammar."""
    if not isinstance(text, str):
        raise BadSymbol(f"a symbol must be a string, got {text!r}", symbol=str(text))
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise BadSymbol(
            f"bad symbol {text!r}: expected BASE/QUOTE, BASE/QUOTE:PERP, BASE/QUOTE:FUT:YYYYMMDD "
            "or BASE/QUOTE:OPT:C|P:STRIKE:YYYYMMDD",
            symbol=text,
        )
    base, quote = match["base"], match["quote"]
    if match["perp"]:
        return Symbol(base, quote, InstrumentType.PERPETUAL)
    if match["fut"]:
        return Symbol(base, quote, InstrumentType.FUTURE, expiry=_date(match["fut"], text))
    if match["opt"]:
        try:
            strike = Decimal(match["strike"])
        except InvalidOperation:  # pragma: no cover - the regex admits only digits
            raise BadSymbol(f"bad strike in symbol {text!r}", symbol=text) from None
        if strike <= 0:
            raise BadSymbol(f"bad strike in symbol {text!r}: must be positive", symbol=text)
        return Symbol(
            base, quote, InstrumentType.OPTION, expiry=_date(match["opt"], text), strike=strike, option_type=match["right"]
        )
    return Symbol(base, quote)


def _strike_text(strike: Decimal) -> str:
    text = format(strike, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_symbol(symbol: Symbol) -> str:
    """Format a :class:`Symbol` as unified text (the inverse of :func:`parse_symbol`)."""
    head = f"{symbol.base}/{symbol.quote}"
    kind = symbol.instrument_type
    if kind is InstrumentType.SPOT:
        return head
    if kind is InstrumentType.PERPETUAL:
        return f"{head}:PERP"
    if symbol.expiry is None:
        raise BadSymbol(f"{kind.value} symbol {head} needs an expiry", symbol=head)
    day = symbol.expiry.strftime("%Y%m%d")
    if kind is InstrumentType.FUTURE:
        return f"{head}:FUT:{day}"
    if symbol.strike is None or symbol.option_type not in ("C", "P"):
        raise BadSymbol(f"option symbol {head} needs a strike and C or P", symbol=head)
    return f"{head}:OPT:{symbol.option_type}:{_strike_text(symbol.strike)}:{day}"


@runtime_checkable
class SymbolMapper(Protocol):
    """Maps a venue's raw instrument names to unified symbols and back.

    Registered per exchange id through ``register_symbol_mappers``. Both
    methods raise :class:`BadSymbol` for names they cannot map.
    """

    def normalize(self, raw: str) -> str:
        """Venue name (``BTCUSDT``) -> unified symbol (``BTC/USDT``)."""
        ...

    def denormalize(self, symbol: str) -> str:
        """Unified symbol (``BTC/USDT``) -> venue name (``BTCUSDT``)."""
        ...
