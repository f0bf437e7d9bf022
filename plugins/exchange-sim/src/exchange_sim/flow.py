"""The other traders of the simulated venue: seeded, deterministic background flow.

Each market has a hidden *fair value* that follows a mean-reverting random
walk (a perpetual follows its spot market plus a small basis). Every step,
for every market in a fixed order, the participants

1. move the fair value;
2. cancel some of their resting orders (more often the ones on the wrong side of fair);
3. maybe send a market order, leaning towards fair, which prints trades
   (and may fill our resting orders);
4. add limit orders around fair, never crossing the opposite best price;
5. top up each side to the seeded number of levels (the book stays two-sided) and trim it
   so it stays bounded.

Everything random comes from one :class:`random.Random` seeded by the venue's
``seed``, so the same seed and the same sequence of steps (and of our own
orders) give the same books and trades.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import TYPE_CHECKING

from exchanges import OrderSide

from .engine import EngineOrder
from .venue import MarketSpec

if TYPE_CHECKING:
    from .simulator import Simulator

__all__ = ["Participants"]

_ZERO = Decimal(0)
_REVERSION = 0.002  # pull of the fair value back to its start price, per step
_BASIS_VOLATILITY = 0.00003
_BASIS_REVERSION = 0.05
_CANCEL_P = 0.03  # chance a resting order is pulled on a step
_STALE_CANCEL_P = 0.35  # same, for orders on the wrong side of fair
_TAKE_P = 0.7  # chance of a market order on a step
_TAKE_SHARE = 0.4  # a market order takes at most this share of the top five opposite levels


class Participants:
    """Liquidity providers and takers for every market of the venue."""

    def __init__(self, venue: Simulator, markets: tuple[MarketSpec, ...], *, seed: int, levels: int) -> None:
        self._venue = venue
        self._markets = markets
        self._rng = random.Random(seed)
        self._levels = levels
        self._start: dict[str, float] = {m.symbol: float(venue.start_price(m.symbol)) for m in markets}
        self._fair: dict[str, float] = dict(self._start)
        self._basis: dict[str, float] = {m.symbol: 0.0 for m in markets}
        self._orders: dict[str, dict[str, EngineOrder]] = {m.symbol: {} for m in markets}

    def fair_value(self, symbol: str) -> float:
        """The hidden fair value the participants trade around (for inspection and demos)."""
        return self._fair[symbol]

    # -- seeding ----------------------------------------------------------------------

    def seed_books(self) -> None:
        """Lay ``levels`` price levels on each side of every book around its start price."""
        for spec in self._markets:
            gap = self._gap_ticks(spec)
            fair = self._fair[spec.symbol] / float(spec.tick_size)
            for i in range(self._levels):
                for side in (OrderSide.BUY, OrderSide.SELL):
                    offset = self._half_spread(spec) + i * gap + self._rng.randint(0, max(0, gap // 3))
                    ticks = math.floor(fair) - offset if side is OrderSide.BUY else math.ceil(fair) + offset
                    self._place(spec, side, ticks, self._size(spec, 1.0))

    # -- one step ---------------------------------------------------------------------

    def step(self) -> None:
        """One round of every participant on every market."""
        for spec in self._markets:
            self._move_fair(spec)
            self._forget_done(spec)
            self._cancel_some(spec)
            self._take(spec)
            self._make(spec)
            self._keep_two_sided(spec)

    def _move_fair(self, spec: MarketSpec) -> None:
        rng = self._rng
        if spec.anchor is not None and spec.anchor in self._fair:
            basis = self._basis[spec.symbol]
            basis += -_BASIS_REVERSION * basis + _BASIS_VOLATILITY * rng.gauss(0.0, 1.0)
            self._basis[spec.symbol] = basis
            self._fair[spec.symbol] = self._fair[spec.anchor] * (1.0 + basis)
            return
        start = self._start[spec.symbol]
        drift = math.log(self._fair[spec.symbol] / start)
        drift += -_REVERSION * drift + spec.volatility * rng.gauss(0.0, 1.0)
        self._fair[spec.symbol] = start * math.exp(drift)

    def _forget_done(self, spec: MarketSpec) -> None:
        orders = self._orders[spec.symbol]
        for order_id in [oid for oid, o in orders.items() if not o.state.is_open]:
            del orders[order_id]

    def _cancel_some(self, spec: MarketSpec) -> None:
        fair = self._fair[spec.symbol]
        orders = self._orders[spec.symbol]
        for order_id, order in list(orders.items()):
            assert order.price is not None
            stale = (order.side is OrderSide.BUY and float(order.price) > fair) or (
                order.side is OrderSide.SELL and float(order.price) < fair
            )
            if self._rng.random() < (_STALE_CANCEL_P if stale else _CANCEL_P):
                self._venue.cancel_external(spec.symbol, order_id)
                del orders[order_id]

    def _take(self, spec: MarketSpec) -> None:
        rng = self._rng
        if rng.random() >= _TAKE_P:
            return
        engine = self._venue.engine(spec.symbol)
        mid = engine.mid
        fair = self._fair[spec.symbol]
        lean = 0.0 if mid is None else max(-0.35, min(0.35, (fair - float(mid)) / (float(spec.level_gap) * 4)))
        side = OrderSide.BUY if rng.random() < 0.5 + lean else OrderSide.SELL
        quantity = self._size(spec, 0.5)
        cap = engine.volume(side.opposite, depth=5) * Decimal(str(_TAKE_SHARE))
        quantity = min(quantity, (cap // spec.step_size) * spec.step_size)
        if quantity >= spec.min_order_size:
            self._venue.submit_external(spec.symbol, side, quantity)

    def _make(self, spec: MarketSpec) -> None:
        rng = self._rng
        fair = self._fair[spec.symbol] / float(spec.tick_size)
        gap = self._gap_ticks(spec)
        for side in (OrderSide.BUY, OrderSide.SELL):
            for _ in range(1 + (rng.random() < 0.5)):
                offset = self._half_spread(spec) + int(rng.expovariate(1.0 / (gap * 2)))
                ticks = math.floor(fair) - offset if side is OrderSide.BUY else math.ceil(fair) + offset
                self._place(spec, side, ticks, self._size(spec, 1.0))

    def _keep_two_sided(self, spec: MarketSpec) -> None:
        engine = self._venue.engine(spec.symbol)
        gap = self._gap_ticks(spec)
        tick = spec.tick_size
        for side in (OrderSide.BUY, OrderSide.SELL):
            levels = engine.levels(side)
            away = -1 if side is OrderSide.BUY else 1
            while len(levels) < self._levels:
                if levels:
                    ticks = int(levels[-1].price / tick) + away * (gap + self._rng.randint(0, max(0, gap // 3)))
                else:
                    fair = self._fair[spec.symbol] / float(tick)
                    ticks = math.floor(fair) - self._half_spread(spec) if away < 0 else math.ceil(fair) + self._half_spread(spec)
                if not self._place(spec, side, ticks, self._size(spec, 1.0)):
                    break
                levels = engine.levels(side)
            self._trim(spec, side)

    def _trim(self, spec: MarketSpec, side: OrderSide) -> None:
        """Pull the orders furthest from the touch once a side holds more than three times the seeded depth."""
        mine = [o for o in self._orders[spec.symbol].values() if o.side is side and o.state.is_open]
        excess = len(mine) - 3 * self._levels
        if excess <= 0:
            return
        # furthest from the touch first: lowest bids, highest asks
        mine.sort(key=lambda o: o.price or _ZERO, reverse=side is OrderSide.SELL)
        for order in mine[:excess]:
            self._venue.cancel_external(spec.symbol, order.order_id)
            del self._orders[spec.symbol][order.order_id]

    # -- helpers ----------------------------------------------------------------------

    def _place(self, spec: MarketSpec, side: OrderSide, ticks: int, quantity: Decimal) -> bool:
        """Rest a limit order at ``ticks``, clipped so it never crosses the opposite best price."""
        engine = self._venue.engine(spec.symbol)
        tick = spec.tick_size
        if side is OrderSide.BUY and engine.best_ask is not None:
            ticks = min(ticks, int(engine.best_ask / tick) - 1)
        elif side is OrderSide.SELL and engine.best_bid is not None:
            ticks = max(ticks, int(engine.best_bid / tick) + 1)
        if ticks <= 0:
            return False
        order = self._venue.submit_external(spec.symbol, side, quantity, Decimal(ticks) * tick)
        if order.state.is_open:
            self._orders[spec.symbol][order.order_id] = order
        return True

    def _size(self, spec: MarketSpec, scale: float) -> Decimal:
        """A random order size around ``scale`` lots, a whole number of steps, at least the minimum."""
        lots = float(spec.lot) * scale * (0.2 + self._rng.expovariate(1.0))
        steps = max(int(spec.min_order_size / spec.step_size), int(lots / float(spec.step_size)))
        return Decimal(steps) * spec.step_size

    @staticmethod
    def _gap_ticks(spec: MarketSpec) -> int:
        return max(1, int(spec.level_gap / spec.tick_size))

    @staticmethod
    def _half_spread(spec: MarketSpec) -> int:
        return max(1, int(spec.level_gap / spec.tick_size) // 2)
