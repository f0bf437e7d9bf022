"""Our account on the simulated venue: balances (free / locked), fees and perpetual positions.

Every open order holds a *reserve*: the funds locked for it when it was
accepted (quote for spot buys and perpetual orders, base for spot sells).
Fills draw from the order's reserve; what is left returns to ``free`` when the
order is done. So ``locked`` is always the sum of the reserves plus the margin
of open positions, and nothing is created or lost by rounding: a reserve is
released as the exact amount that remains of it.

A perpetual order that is not reduce-only reserves the taker fee plus the
margin of everything except the part that trades *at once* (on acceptance, or
when a stop fires) against the current position. Only that part is sure to
close: a part that rests may fill after the position was closed another way,
and it then opens a new position whose margin must already be locked. (Margin
reserved for a resting part that fills as a reduction stays in the reserve
until the order is done.) Reduce-only orders reserve only the fee; they expire
when the position changes under them. Lowering the leverage tops up the reserves of
resting perpetual orders to the margin at the new rate, or raises
:class:`InsufficientFunds` changing nothing, so an order's fill never takes its
margin from ``free``.

Fees are rates on notional, charged in the quote currency (the maker rate for
fills of resting orders, the taker rate otherwise). Perpetual positions keep
their margin (notional / leverage, rounded up to 1e-8) locked; realised pnl
and released margin return to ``free`` when a position shrinks. There is no
liquidation engine: a loss larger than the free balance leaves it negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Protocol

import attrs

from exchanges import Balance, InsufficientFunds, OrderSide, Position, PositionSide

from .venue import EXCHANGE_ID, MarketSpec

__all__ = ["Account", "PositionState", "ReserveHolder", "margin_for", "tidy"]

_ZERO = Decimal(0)
_MARGIN_QUANTUM = Decimal("0.00000001")


class ReserveHolder(Protocol):
    """Anything that holds a reserve (an open order of ours)."""

    reserve: Decimal
    reserve_currency: str


@attrs.define
class PositionState:
    """A perpetual position: ``quantity`` is signed (positive long), ``margin`` is locked quote."""

    symbol: str
    quantity: Decimal = _ZERO
    entry_price: Decimal | None = None
    margin: Decimal = _ZERO
    realized_pnl: Decimal = _ZERO

    @property
    def side(self) -> PositionSide:
        """Long, short or flat."""
        if self.quantity > 0:
            return PositionSide.LONG
        return PositionSide.SHORT if self.quantity < 0 else PositionSide.FLAT


def tidy(value: Decimal) -> Decimal:
    """The same number without trailing zeros or an exponent (``0E-8`` -> ``0``, ``5.9950`` -> ``5.995``)."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def margin_for(notional: Decimal, leverage: int) -> Decimal:
    """Initial margin of ``notional`` at ``leverage`` (rounded up to 1e-8 so it is never short)."""
    return (notional / leverage).quantize(_MARGIN_QUANTUM, rounding=ROUND_UP)


class Account:
    """Balances, fees, leverage and positions of the one account the connector trades for."""

    def __init__(
        self, balances: Mapping[str, Decimal], *, maker_fee: Decimal, taker_fee: Decimal, leverage: int
    ) -> None:
        self._free: dict[str, Decimal] = {c: Decimal(a) for c, a in balances.items()}
        self._locked: dict[str, Decimal] = {}
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.default_leverage = leverage
        self._leverage: dict[str, int] = {}
        self._positions: dict[str, PositionState] = {}

    # -- balances ---------------------------------------------------------------------

    def free(self, currency: str) -> Decimal:
        """Funds usable for new orders."""
        return self._free.get(currency, _ZERO)

    def locked(self, currency: str) -> Decimal:
        """Funds backing open orders and positions."""
        return self._locked.get(currency, _ZERO)

    def balances(self) -> dict[str, Balance]:
        """Every currency with a non-zero balance, sorted by name."""
        currencies = sorted(set(self._free) | set(self._locked))
        return {
            c: Balance(c, tidy(self.free(c)), tidy(self.locked(c)))
            for c in currencies
            if self.free(c) != 0 or self.locked(c) != 0
        }

    def _add(self, book: dict[str, Decimal], currency: str, amount: Decimal) -> None:
        book[currency] = book.get(currency, _ZERO) + amount

    def lock(self, currency: str, amount: Decimal, *, purpose: str = "the order") -> None:
        """Move ``amount`` from free to locked; :class:`InsufficientFunds` if free is short."""
        if amount <= 0:
            return
        free = self.free(currency)
        if free < amount:
            raise InsufficientFunds(
                f"insufficient {currency} balance: {purpose} needs {amount.normalize():f} {currency}, "
                f"free is {free.normalize():f}",
                exchange=EXCHANGE_ID,
            )
        self._add(self._free, currency, -amount)
        self._add(self._locked, currency, amount)

    def unlock(self, currency: str, amount: Decimal) -> None:
        """Move ``amount`` from locked back to free."""
        if amount:
            self._add(self._locked, currency, -amount)
            self._add(self._free, currency, amount)

    # -- reserves of open orders ---------------------------------------------------------

    def reserve(self, holder: ReserveHolder, currency: str, amount: Decimal, *, purpose: str = "the order") -> None:
        """Lock ``amount`` of ``currency`` for an order (raises InsufficientFunds, changing nothing)."""
        self.lock(currency, amount, purpose=purpose)
        holder.reserve_currency = currency
        holder.reserve = amount

    def release(self, holder: ReserveHolder) -> None:
        """Return what is left of an order's reserve to free."""
        if holder.reserve:
            self.unlock(holder.reserve_currency, holder.reserve)
            holder.reserve = _ZERO

    def _spend(self, holder: ReserveHolder, currency: str, amount: Decimal) -> None:
        """Pay ``amount`` out of the holder's reserve, the shortfall (if any) out of free."""
        take = min(amount, holder.reserve) if holder.reserve_currency == currency else _ZERO
        holder.reserve -= take
        self._add(self._locked, currency, -take)
        self._add(self._free, currency, -(amount - take))

    def _keep_locked(self, holder: ReserveHolder, currency: str, amount: Decimal) -> None:
        """Move ``amount`` from the holder's reserve into position margin (stays locked)."""
        take = min(amount, holder.reserve) if holder.reserve_currency == currency else _ZERO
        holder.reserve -= take
        shortfall = amount - take
        self._add(self._free, currency, -shortfall)
        self._add(self._locked, currency, shortfall)

    # -- what an order needs ------------------------------------------------------------

    def fee_rate(self, is_maker: bool) -> Decimal:
        """The fee rate of a maker or taker fill."""
        return self.maker_fee if is_maker else self.taker_fee

    def requirement(
        self, spec: MarketSpec, side: OrderSide, quantity: Decimal, notional: Decimal, *,
        reduce_only: bool = False, closing: Decimal = _ZERO,
    ) -> tuple[str, Decimal]:
        """Currency and amount to lock for an order of ``quantity`` expected to trade for ``notional``.

        Spot buys lock the notional plus the taker fee (the worst rate), spot
        sells the base quantity; perpetual orders lock the taker fee plus, unless
        reduce-only, the margin of ``notional`` less ``closing``: the notional of
        the part that trades at once and reduces the current position. Anything
        else may open a position by the time it fills, so its margin is locked.
        """
        if not spec.is_perpetual:
            if side is OrderSide.BUY:
                return spec.quote, notional * (1 + self.taker_fee)
            return spec.base, quantity
        fee = notional * self.taker_fee
        if reduce_only:
            return spec.quote, fee
        return spec.quote, fee + margin_for(notional - closing, self.leverage(spec.symbol))

    # -- fills ------------------------------------------------------------------------

    def settle(
        self, spec: MarketSpec, holder: ReserveHolder, side: OrderSide, price: Decimal, quantity: Decimal,
        *, is_maker: bool,
    ) -> Decimal:
        """Apply one fill of our order to balances (and the position); returns the fee paid in quote."""
        notional = price * quantity
        fee = tidy(notional * self.fee_rate(is_maker))
        if spec.is_perpetual:
            self._settle_position(spec, holder, side, price, quantity)
            self._spend(holder, spec.quote, fee)
        elif side is OrderSide.BUY:
            self._spend(holder, spec.quote, notional + fee)
            self._add(self._free, spec.base, quantity)
        else:
            self._spend(holder, spec.base, quantity)
            self._add(self._free, spec.quote, notional - fee)
        return fee

    def _settle_position(
        self, spec: MarketSpec, holder: ReserveHolder, side: OrderSide, price: Decimal, quantity: Decimal
    ) -> None:
        pos = self.position(spec.symbol)
        direction = 1 if side is OrderSide.BUY else -1
        reducing = min(quantity, abs(pos.quantity)) if pos.quantity * direction < 0 else _ZERO
        if reducing:
            assert pos.entry_price is not None
            held = abs(pos.quantity)
            realized = (price - pos.entry_price) * reducing * (1 if pos.quantity > 0 else -1)
            released = pos.margin if reducing == held else (pos.margin * reducing / held).quantize(
                _MARGIN_QUANTUM, rounding=ROUND_DOWN
            )
            pos.margin -= released
            self._add(self._locked, spec.quote, -released)
            self._add(self._free, spec.quote, released + realized)
            pos.quantity += direction * reducing
            pos.realized_pnl += realized
            if pos.quantity == 0:
                pos.entry_price = None
        opening = quantity - reducing
        if opening:
            margin = margin_for(price * opening, self.leverage(spec.symbol))
            self._keep_locked(holder, spec.quote, margin)
            held = abs(pos.quantity)
            pos.entry_price = price if held == 0 or pos.entry_price is None else (
                (pos.entry_price * held + price * opening) / (held + opening)
            )
            pos.quantity += direction * opening
            pos.margin += margin

    # -- positions and leverage -----------------------------------------------------------

    def leverage(self, symbol: str) -> int:
        """Leverage in force for a perpetual symbol."""
        return self._leverage.get(symbol, self.default_leverage)

    def set_leverage(
        self, spec: MarketSpec, leverage: int, resting: Iterable[tuple[ReserveHolder, Decimal]] = ()
    ) -> None:
        """Change the leverage; an open position's margin is re-locked at the new rate.

        ``resting`` gives the open (non-reduce-only) orders of the symbol with
        the notional still to fill: a reserve short of that notional's margin
        at the new rate plus its taker fee is topped up. If free cannot pay
        for all of it, :class:`InsufficientFunds` is raised and nothing changes.
        """
        pos = self.position(spec.symbol)
        delta = _ZERO
        if pos.quantity != 0 and pos.entry_price is not None:
            delta = margin_for(abs(pos.quantity) * pos.entry_price, leverage) - pos.margin
        top_ups = [
            (holder, max(_ZERO, margin_for(notional, leverage) + notional * self.taker_fee - holder.reserve))
            for holder, notional in resting
        ]
        need = max(delta, _ZERO) + sum((extra for _, extra in top_ups), _ZERO)
        self.lock(spec.quote, need, purpose=f"leverage {leverage}x on the open position and orders")
        self.unlock(spec.quote, max(-delta, _ZERO))
        pos.margin += delta
        for holder, extra in top_ups:
            holder.reserve += extra
        self._leverage[spec.symbol] = leverage

    def position(self, symbol: str) -> PositionState:
        """The (possibly flat) position state of a symbol."""
        pos = self._positions.get(symbol)
        if pos is None:
            pos = self._positions[symbol] = PositionState(symbol)
        return pos

    def positions(self) -> list[PositionState]:
        """Open (non-flat) positions, sorted by symbol."""
        return [p for _, p in sorted(self._positions.items()) if p.quantity != 0]

    def position_model(self, pos: PositionState, mark: Decimal | None, timestamp: int) -> Position:
        """The public :class:`~exchanges.Position` of a position state at ``mark``."""
        unrealized = None
        if mark is not None and pos.entry_price is not None:
            unrealized = (mark - pos.entry_price) * pos.quantity
        return Position(
            symbol=pos.symbol,
            exchange=EXCHANGE_ID,
            side=pos.side,
            quantity=abs(pos.quantity),
            entry_price=pos.entry_price,
            mark_price=mark,
            unrealized_pnl=unrealized,
            realized_pnl=pos.realized_pnl,
            leverage=Decimal(self.leverage(pos.symbol)),
            margin_mode="cross",
            timestamp=timestamp,
        )
