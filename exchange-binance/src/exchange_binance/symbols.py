"""Symbol mappers: ``BTCUSDT`` <-> ``BTC/USDT`` (spot), ``BTCUSDT`` <-> ``BTC/USDT:PERP`` and
``BTCUSDT_250328`` <-> ``BTC/USDT:FUT:20250328`` (USD-M).

Binance names do not separate base and quote, so a name is split with the
table of pairs learned from ``exchangeInfo`` when it is loaded, and with a list
of known quote assets before that.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from exchanges import BadSymbol, InstrumentType, Symbol, format_symbol, parse_symbol

__all__ = ["SpotSymbolMapper", "UsdmSymbolMapper"]

# Longest first, so "FDUSD" wins over "USD" and "USDT" over "USD".
_QUOTES: tuple[str, ...] = tuple(
    sorted(
        ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USDP", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "GBP",
         "AUD", "JPY", "RUB", "UAH", "ZAR", "IDRT", "BIDR", "PLN", "RON", "ARS", "MXN", "COP", "XRP", "DOGE",
         "TRX", "DOT", "SOL", "USD1", "AEUR", "EURI", "U"),
        key=len,
        reverse=True,
    )
)
_RAW = re.compile(r"^[A-Z0-9]{2,30}$")
_DATED = re.compile(r"^(?P<pair>[A-Z0-9]{2,30})_(?P<date>\d{6})$")


class _PairMapper:
    """Shared machinery: learned (raw -> base, quote) pairs plus the quote-suffix fallback."""

    exchange_id = ""

    def __init__(self) -> None:
        self._pairs: dict[str, tuple[str, str]] = {}

    def learn(self, pairs: Iterable[tuple[str, str, str]]) -> None:
        """Record ``(raw pair, base, quote)`` triples from exchangeInfo (authoritative splits)."""
        for raw, base, quote in pairs:
            self._pairs[raw] = (base, quote)

    def _split(self, pair: str) -> tuple[str, str]:
        known = self._pairs.get(pair)
        if known is not None:
            return known
        if _RAW.match(pair):
            for quote in _QUOTES:
                if pair.endswith(quote) and len(pair) > len(quote):
                    return pair[: -len(quote)], quote
        raise BadSymbol(f"cannot map {pair!r} to a unified symbol on {self.exchange_id}", symbol=pair,
                        exchange=self.exchange_id)

    def _parse(self, symbol: str) -> Symbol:
        try:
            return parse_symbol(symbol)
        except BadSymbol as exc:
            raise BadSymbol(str(exc), symbol=symbol, exchange=self.exchange_id) from None


class SpotSymbolMapper(_PairMapper):
    """``BTCUSDT`` <-> ``BTC/USDT``."""

    exchange_id = "binance"

    def normalize(self, raw: str) -> str:
        """Binance spot name -> unified symbol."""
        base, quote = self._split(raw)
        return f"{base}/{quote}"

    def denormalize(self, symbol: str) -> str:
        """Unified spot symbol -> Binance name; derivatives are refused."""
        parsed = self._parse(symbol)
        if parsed.instrument_type is not InstrumentType.SPOT:
            raise BadSymbol(f"{symbol!r} is not a spot symbol; binance lists spot only (use binance-usdm)",
                            symbol=symbol, exchange=self.exchange_id)
        return f"{parsed.base}{parsed.quote}"


class UsdmSymbolMapper(_PairMapper):
    """``BTCUSDT`` <-> ``BTC/USDT:PERP``; ``BTCUSDT_250328`` <-> ``BTC/USDT:FUT:20250328``."""

    exchange_id = "binance-usdm"

    def normalize(self, raw: str) -> str:
        """Binance USD-M name -> unified symbol."""
        dated = _DATED.match(raw)
        if dated:
            base, quote = self._split(dated["pair"])
            try:
                expiry = dt.datetime.strptime(dated["date"], "%y%m%d").date()
            except ValueError:
                raise BadSymbol(f"bad delivery date in {raw!r}", symbol=raw, exchange=self.exchange_id) from None
            return format_symbol(Symbol(base, quote, InstrumentType.FUTURE, expiry=expiry))
        base, quote = self._split(raw)
        return f"{base}/{quote}:PERP"

    def denormalize(self, symbol: str) -> str:
        """Unified perpetual or dated future -> Binance name."""
        parsed = self._parse(symbol)
        pair = f"{parsed.base}{parsed.quote}"
        if parsed.instrument_type is InstrumentType.PERPETUAL:
            return pair
        if parsed.instrument_type is InstrumentType.FUTURE and parsed.expiry is not None:
            return f"{pair}_{parsed.expiry:%y%m%d}"
        raise BadSymbol(f"{symbol!r} is not a perpetual or dated future; binance-usdm lists those only",
                        symbol=symbol, exchange=self.exchange_id)
