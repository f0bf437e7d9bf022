"""The symbol mapper: ``BTCUSDT`` <-> ``BTC/USDT``, ``BTCUSDT-PERP`` <-> ``BTC/USDT:PERP``.

The venue lists a fixed set of markets, so the mapper is a table: a name the
venue does not list is a :class:`~exchanges.BadSymbol`, never a guess.
"""

from __future__ import annotations

from exchanges import BadSymbol, parse_symbol

from .venue import EXCHANGE_ID, MARKETS

__all__ = ["SimSymbolMapper"]


class SimSymbolMapper:
    """Maps the simulated venue's raw names to unified symbols and back."""

    def __init__(self) -> None:
        self._to_unified = {m.raw_symbol: m.symbol for m in MARKETS}
        self._to_raw = {m.symbol: m.raw_symbol for m in MARKETS}

    def normalize(self, raw: str) -> str:
        """Raw venue name (``BTCUSDT-PERP``) -> unified symbol (``BTC/USDT:PERP``)."""
        try:
            return self._to_unified[raw]
        except (KeyError, TypeError):
            listed = ", ".join(sorted(self._to_unified))
            raise BadSymbol(f"{raw!r} is not listed on {EXCHANGE_ID} (listed: {listed})", symbol=str(raw),
                            exchange=EXCHANGE_ID) from None

    def denormalize(self, symbol: str) -> str:
        """Unified symbol -> raw venue name; malformed or unlisted symbols raise BadSymbol."""
        raw = self._to_raw.get(symbol) if isinstance(symbol, str) else None
        if raw is None:
            parse_symbol(symbol)  # a malformed symbol gets the grammar error
            listed = ", ".join(sorted(self._to_raw))
            raise BadSymbol(f"{symbol!r} is not listed on {EXCHANGE_ID} (listed: {listed})", symbol=symbol,
                            exchange=EXCHANGE_ID)
        return raw
