"""The public record of one market: recent trades, OHLCV bars per interval, 24 h statistics.

Bars are built from trades as they print. An interval with no trade becomes a
flat bar at the previous close with zero volume (as real venues report it),
both between trades and up to the current time when bars are read.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from exchanges import Candle, NotSupported, Trade

from .venue import EXCHANGE_ID

__all__ = ["INTERVALS", "Tape", "interval_ms"]

_ZERO = Decimal(0)

#: supported candle intervals and their length in milliseconds
INTERVALS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}
_DAY_MS = 86_400_000
_MAX_BARS = 1500
_MAX_TRADES = 1000


def interval_ms(interval: str) -> int:
    """Length of a candle interval; NotSupported (listing the valid ones) for anything else."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise NotSupported(
            f"candle interval {interval!r} (valid: {', '.join(INTERVALS)})", exchange=EXCHANGE_ID
        ) from None


class _Bar:
    """A mutable OHLCV bar while it forms."""

    __slots__ = ("close", "high", "low", "open", "open_time", "quote_volume", "volume")

    def __init__(self, open_time: int, price: Decimal) -> None:
        self.open_time = open_time
        self.open = self.high = self.low = self.close = price
        self.volume = _ZERO
        self.quote_volume = _ZERO

    def add(self, price: Decimal, quantity: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += quantity
        self.quote_volume += price * quantity


class Tape:
    """Trades and bars of one symbol."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._trades: deque[Trade] = deque(maxlen=_MAX_TRADES)
        self._bars: dict[str, deque[_Bar]] = {name: deque(maxlen=_MAX_BARS) for name in INTERVALS}

    @property
    def last_trade(self) -> Trade | None:
        """The most recent trade, if any printed."""
        return self._trades[-1] if self._trades else None

    def record(self, trade: Trade) -> list[Candle]:
        """Add a trade; returns the bars it changed, with any bar it closed first (``closed=True``)."""
        self._trades.append(trade)
        changed: list[Candle] = []
        for name, length in INTERVALS.items():
            bars = self._bars[name]
            bucket = trade.timestamp - trade.timestamp % length
            last = bars[-1] if bars else None
            if last is not None and bucket < last.open_time:
                bucket = last.open_time  # a clock that went back (wall time adjusted): keep bars ordered
            if last is None or bucket > last.open_time:
                if last is not None:
                    changed.append(self._candle(name, last, closed=True))
                    self._fill_gap(bars, last, bucket, length)
                last = _Bar(bucket, trade.price)
                bars.append(last)
            last.add(trade.price, trade.quantity)
            changed.append(self._candle(name, last, closed=False))
        return changed

    @staticmethod
    def _fill_gap(bars: deque[_Bar], last: _Bar, bucket: int, length: int) -> None:
        missing = (bucket - last.open_time) // length - 1
        start = last.open_time + length
        if missing > _MAX_BARS:  # a long idle stretch: only the newest flat bars are kept anyway
            start = bucket - _MAX_BARS * length
        for open_time in range(start, bucket, length):
            bars.append(_Bar(open_time, last.close))

    def trades(self, limit: int) -> list[Trade]:
        """The ``limit`` most recent trades, oldest first."""
        if limit <= 0:
            return []
        items = list(self._trades)
        return items[-limit:]

    def candles(self, interval: str, now: int, limit: int, since: int | None = None) -> list[Candle]:
        """Bars oldest first (flat bars up to ``now``), from ``since`` if given, at most ``limit``."""
        length = interval_ms(interval)
        bars = list(self._bars[interval])
        if bars:
            # flat bars for the intervals since the last trade, up to the one forming now
            tail: deque[_Bar] = deque(maxlen=_MAX_BARS)
            self._fill_gap(tail, bars[-1], now - now % length + length, length)
            bars.extend(tail)
        out = [self._candle(interval, bar, closed=bar.open_time + length <= now) for bar in bars]
        if since is not None:
            out = [c for c in out if c.open_time >= since]
            return out[:limit] if limit > 0 else []
        return out[-limit:] if limit > 0 else []

    def stats(self, now: int) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal, Decimal]:
        """``(open, high, low, volume, quote_volume)`` over the last 24 h (from one-minute bars)."""
        start = now - _DAY_MS
        bars = [b for b in self._bars["1m"] if b.open_time + INTERVALS["1m"] > start]
        if not bars:
            return None, None, None, _ZERO, _ZERO
        return (
            bars[0].open,
            max(b.high for b in bars),
            min(b.low for b in bars),
            sum((b.volume for b in bars), _ZERO),
            sum((b.quote_volume for b in bars), _ZERO),
        )

    def _candle(self, interval: str, bar: _Bar, *, closed: bool) -> Candle:
        return Candle(
            symbol=self.symbol,
            exchange=EXCHANGE_ID,
            interval=interval,
            open_time=bar.open_time,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            quote_volume=bar.quote_volume,
            closed=closed,
        )
