"""Market data models: order books, tickers, trades, candles."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

import attrs

from ._fields import to_decimal, to_optional_decimal
from .enums import OrderSide

__all__ = ["Candle", "OrderBook", "OrderBookLevel", "Ticker", "Trade"]


class OrderBookLevel(NamedTuple):
    """One price level of a book.

    A named tuple rather than an attrs class: books hold thousands of levels
    and are rebuilt on every update, so construction cost matters.
    """

    price: Decimal
    quantity: Decimal
    num_orders: int | None = None


def _levels(value: Sequence[object]) -> Sequence[OrderBookLevel]:
    # Already-built level sequences (including the book engine's views) pass
    # through untouched; plain [price, qty] pairs are converted.
    if isinstance(value, tuple) and (not value or isinstance(value[0], OrderBookLevel)):
        return value
    if not isinstance(value, (list, tuple)):
        return value  # type: ignore[return-value]  # a lazy Sequence view
    out = []
    for item in value:
        if isinstance(item, OrderBookLevel):
            out.append(item)
        else:
            price, qty, *rest = item  # type: ignore[misc]
            out.append(OrderBookLevel(to_decimal(price), to_decimal(qty), rest[0] if rest else None))
    return tuple(out)


@attrs.frozen
class OrderBook:
    """An L2 order book: bids high to low, asks low to high.

    ``sequence`` is the venue's id of the last update applied (Binance ``u`` /
    ``lastUpdateId``, OKX ``seqId``, else the venue timestamp). ``timestamp``
    is milliseconds since the epoch.
    """

    symbol: str
    exchange: str
    timestamp: int
    bids: Sequence[OrderBookLevel] = attrs.field(converter=_levels)
    asks: Sequence[OrderBookLevel] = attrs.field(converter=_levels)
    sequence: int | None = None

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price, or None when the bid side is empty."""
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price, or None when the ask side is empty."""
        return self.asks[0].price if self.asks else None

    @property
    def spread(self) -> Decimal | None:
        """best_ask - best_bid, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else ask - bid

    @property
    def mid(self) -> Decimal | None:
        """(best_bid + best_ask) / 2, or None when a side is empty."""
        bid, ask = self.best_bid, self.best_ask
        return None if bid is None or ask is None else (bid + ask) / 2

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask (never true for a healthy book)."""
        bid, ask = self.best_bid, self.best_ask
        return bid is not None and ask is not None and bid >= ask


@attrs.frozen
class Ticker:
    """Best prices and 24 h statistics of one instrument. Timestamps are epoch ms."""

    symbol: str
    exchange: str
    timestamp: int
    bid: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    ask: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    last: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    bid_size: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    ask_size: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    open: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    high: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    low: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    volume: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    quote_volume: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    change_percent: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)


@attrs.frozen
class Trade:
    """A public trade. ``side`` is the taker's side; ``timestamp`` is epoch ms."""

    symbol: str
    exchange: str
    trade_id: str
    price: Decimal = attrs.field(converter=to_decimal)
    quantity: Decimal = attrs.field(converter=to_decimal)
    side: OrderSide = attrs.field(converter=OrderSide)
    timestamp: int


@attrs.frozen
class Candle:
    """An OHLCV bar. ``open_time`` is epoch ms; ``closed`` is False while the bar is forming."""

    symbol: str
    exchange: str
    interval: str
    open_time: int
    open: Decimal = attrs.field(converter=to_decimal)
    high: Decimal = attrs.field(converter=to_decimal)
    low: Decimal = attrs.field(converter=to_decimal)
    close: Decimal = attrs.field(converter=to_decimal)
    volume: Decimal = attrs.field(converter=to_decimal)
    quote_volume: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    closed: bool = True
