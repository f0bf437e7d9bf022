"""The market side of the loopback Binance: one evolving book and trade tape per symbol.

Events are generated on demand and kept on a tape, so every websocket session
sees the same events in the same order from the moment it subscribed, the
sequence numbers continue across connections, and the REST snapshot is always
the book after the last generated event. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any

__all__ = ["Market", "now_ms"]


def now_ms() -> int:
    """Local epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _text(value: Decimal, futures: bool) -> str:
    if futures:
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value:.8f}"  # spot pads to 8 decimals


class Market:
    """One symbol's book (20 price ticks each side of a fixed mid) and its event tapes."""

    def __init__(self, raw: str, *, tick: str, step: str, mid: str, futures: bool, seed: int = 7) -> None:
        self.raw = raw
        self.futures = futures
        self.tick = Decimal(tick)
        self.step = Decimal(step)
        self.mid = Decimal(mid)
        self.rng = random.Random(f"{seed}:{raw}")
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        for k in range(1, 21):
            self.bids[self.mid - k * self.tick] = self._qty()
            self.asks[self.mid + k * self.tick] = self._qty()
        self.last_u = 1_000_000 + self.rng.randint(0, 1000)
        self.depth_tape: list[dict[str, Any]] = []
        self.trade_tape: list[dict[str, Any]] = []
        self.kline_tape: list[dict[str, Any]] = []
        self.trade_id = 5000

    def _qty(self) -> Decimal:
        return self.step * self.rng.randint(1, 5000)

    def fmt(self, value: Decimal) -> str:
        """A price or quantity as this product line writes it."""
        return _text(value, self.futures)

    # -- book ------------------------------------------------------------------------------

    @property
    def best_bid(self) -> Decimal:
        """Highest bid."""
        return max(self.bids)

    @property
    def best_ask(self) -> Decimal:
        """Lowest ask."""
        return min(self.asks)

    def snapshot(self, limit: int) -> dict[str, Any]:
        """The REST depth answer (``E``/``T`` on USD-M only)."""
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        body: dict[str, Any] = {"lastUpdateId": self.last_u}
        if self.futures:
            body["E"] = body["T"] = now_ms()
        body["bids"] = [[self.fmt(p), self.fmt(q)] for p, q in bids]
        body["asks"] = [[self.fmt(p), self.fmt(q)] for p, q in asks]
        return body

    def _change(self) -> tuple[bool, Decimal, Decimal]:
        is_bid = self.rng.random() < 0.5
        side = self.bids if is_bid else self.asks
        k = self.rng.randint(1, 20)
        price = self.mid - k * self.tick if is_bid else self.mid + k * self.tick
        if price in side and len(side) > 5 and self.rng.random() < 0.25:
            del side[price]
            return is_bid, price, Decimal(0)
        qty = self._qty()
        side[price] = qty
        return is_bid, price, qty

    def advance_depth(self, *, record: bool = True) -> dict[str, Any]:
        """Generate the next ``depthUpdate`` (1-3 level changes), apply it, put it on the tape.

        ``record=False`` applies it without putting it on the tape: no session
        ever receives it, which is a sequence gap for every live stream.
        """
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        for _ in range(self.rng.randint(1, 3)):
            is_bid, price, qty = self._change()
            (bids if is_bid else asks)[price] = qty
        previous = self.last_u
        # spot ids are consecutive; futures ids are shared across symbols and jump
        first = previous + (self.rng.randint(1, 5) if self.futures else 1)
        self.last_u = first + self.rng.randint(0, 2)
        stamp = now_ms()
        event: dict[str, Any] = {"e": "depthUpdate", "E": stamp}
        if self.futures:
            event["T"] = stamp
        event.update({"s": self.raw, "U": first, "u": self.last_u})
        if self.futures:
            event["pu"] = previous
        event["b"] = [[self.fmt(p), self.fmt(q)] for p, q in sorted(bids.items(), reverse=True)]
        event["a"] = [[self.fmt(p), self.fmt(q)] for p, q in sorted(asks.items())]
        if record:
            self.depth_tape.append(event)
        return event

    def depth_event(self, index: int) -> dict[str, Any]:
        """Tape entry ``index`` (generated up to it as needed)."""
        while len(self.depth_tape) <= index:
            self.advance_depth()
        return self.depth_tape[index]

    def book_ticker(self) -> dict[str, Any]:
        """``@bookTicker`` event (spot has no ``e``, ``E`` or ``T``)."""
        bid, ask = self.best_bid, self.best_ask
        event: dict[str, Any] = {}
        if self.futures:
            stamp = now_ms()
            event = {"e": "bookTicker", "u": self.last_u, "E": stamp, "T": stamp}
        else:
            event = {"u": self.last_u}
        event.update({"s": self.raw, "b": self.fmt(bid), "B": self.fmt(self.bids[bid]),
                      "a": self.fmt(ask), "A": self.fmt(self.asks[ask])})
        return event

    # -- trades and klines -----------------------------------------------------------------

    def advance_trade(self) -> dict[str, Any]:
        """Generate the next public trade (kept on the tape in both stream shapes' fields)."""
        self.trade_id += 1
        maker_buyer = self.rng.random() < 0.5
        price = self.best_bid if maker_buyer else self.best_ask
        stamp = now_ms()
        trade = {"id": self.trade_id, "price": price, "qty": self._qty(), "time": stamp, "isBuyerMaker": maker_buyer}
        self.trade_tape.append(trade)
        return trade

    def trade_at(self, index: int) -> dict[str, Any]:
        """Trade tape entry ``index`` (generated up to it as needed)."""
        while len(self.trade_tape) <= index:
            self.advance_trade()
        return self.trade_tape[index]

    def trade_event(self, index: int, *, aggregate: bool) -> dict[str, Any]:
        """``@trade`` or ``@aggTrade`` event of tape entry ``index``."""
        t = self.trade_at(index)
        stamp = t["time"]
        if aggregate:
            return {"e": "aggTrade", "E": stamp, "s": self.raw, "a": t["id"], "p": self.fmt(t["price"]),
                    "q": self.fmt(t["qty"]), "f": t["id"] * 2, "l": t["id"] * 2 + 1, "T": stamp,
                    "m": t["isBuyerMaker"], **({} if self.futures else {"M": True})}
        return {"e": "trade", "E": stamp, "s": self.raw, "t": t["id"], "p": self.fmt(t["price"]),
                "q": self.fmt(t["qty"]), "T": stamp, "m": t["isBuyerMaker"], "M": True}

    def recent_trades(self, limit: int) -> list[dict[str, Any]]:
        """``GET trades``: the last ``limit`` trades, oldest first."""
        while len(self.trade_tape) < 3:
            self.advance_trade()
        out = []
        for t in self.trade_tape[-limit:]:
            price, qty = t["price"], t["qty"]
            out.append({"id": t["id"], "price": self.fmt(price), "qty": self.fmt(qty), "quoteQty": self.fmt(price * qty),
                        "time": t["time"], "isBuyerMaker": t["isBuyerMaker"], "isBestMatch": True})
        return out

    def kline_row(self, open_time: int, interval_ms: int) -> list[Any]:
        """One REST kline row (12 fields, mixed types as the venue sends them)."""
        rng = random.Random(f"{self.raw}:{open_time}")
        low = self.mid - self.tick * rng.randint(1, 50)
        high = self.mid + self.tick * rng.randint(1, 50)
        volume = self.step * rng.randint(100, 100000)
        return [open_time, self.fmt(self.mid), self.fmt(high), self.fmt(low), self.fmt(self.mid - self.tick),
                self.fmt(volume), open_time + interval_ms - 1, self.fmt(volume * self.mid), rng.randint(1, 500),
                self.fmt(volume / 2), self.fmt(volume * self.mid / 2), "0"]

    def kline_event(self, index: int, interval: str, interval_ms: int) -> dict[str, Any]:
        """``@kline_<interval>`` event number ``index`` (the bar closes every third update)."""
        while len(self.kline_tape) <= index:
            self.kline_tape.append({"E": now_ms()})
        stamp = self.kline_tape[index]["E"]
        open_time = stamp - stamp % interval_ms
        row = self.kline_row(open_time, interval_ms)
        return {"e": "kline", "E": stamp, "s": self.raw, "k": {
            "t": open_time, "T": row[6], "s": self.raw, "i": interval, "f": 100, "L": 200, "o": row[1], "c": row[4],
            "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": index % 3 == 2, "q": row[7], "V": row[9],
            "Q": row[10], "B": "0"}}

    def ticker_24h(self) -> dict[str, Any]:
        """``GET ticker/24hr`` (USD-M has no bid/ask fields there)."""
        bid, ask = self.best_bid, self.best_ask
        stamp = now_ms()
        body: dict[str, Any] = {
            "symbol": self.raw, "priceChange": self.fmt(self.tick * 10), "priceChangePercent": "0.050",
            "weightedAvgPrice": self.fmt(self.mid), "lastPrice": self.fmt(self.mid), "lastQty": self.fmt(self.step),
            "openPrice": self.fmt(self.mid - self.tick * 10), "highPrice": self.fmt(self.mid + self.tick * 50),
            "lowPrice": self.fmt(self.mid - self.tick * 50), "volume": self.fmt(self.step * 100000),
            "quoteVolume": self.fmt(self.step * 100000 * self.mid), "openTime": stamp - 86_400_000,
            "closeTime": stamp, "firstId": 1, "lastId": self.trade_id, "count": self.trade_id,
        }
        if not self.futures:
            body.update({"prevClosePrice": self.fmt(self.mid), "bidPrice": self.fmt(bid), "bidQty": self.fmt(self.bids[bid]),
                         "askPrice": self.fmt(ask), "askQty": self.fmt(self.asks[ask])})
        return body

    def book_ticker_rest(self) -> dict[str, Any]:
        """``GET ticker/bookTicker`` (USD-M adds ``time`` and ``lastUpdateId``)."""
        bid, ask = self.best_bid, self.best_ask
        body: dict[str, Any] = {"symbol": self.raw, "bidPrice": self.fmt(bid), "bidQty": self.fmt(self.bids[bid]),
                                "askPrice": self.fmt(ask), "askQty": self.fmt(self.asks[ask])}
        if self.futures:
            body.update({"time": now_ms(), "lastUpdateId": self.last_u})
        return body
