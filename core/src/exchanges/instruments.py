"""``Instruments``: the loaded instrument table of a venue, precision helpers and local validation."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .errors import BadSymbol, InvalidOrder, MinNotional, PrecisionError
from .models import Instrument, InstrumentType, Order, OrderSide, OrderType
from .symbols import parse_symbol

if TYPE_CHECKING:
    from .connector import BaseExchange

__all__ = ["InstrumentTable", "Instruments"]


@attrs.frozen
class InstrumentTable:
    """An immutable, indexed set of instruments (shared by every connector of one venue + endpoint)."""

    by_symbol: dict[str, Instrument]
    by_raw: dict[str, Instrument]

    @classmethod
    def build(cls, instruments: Iterable[Instrument]) -> InstrumentTable:
        """Index instruments by unified and by raw symbol."""
        by_symbol: dict[str, Instrument] = {}
        by_raw: dict[str, Instrument] = {}
        for inst in instruments:
            by_symbol[inst.symbol] = inst
            by_raw[inst.raw_symbol] = inst
        return cls(by_symbol, by_raw)


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return step <= 0 or value % step == 0


class Instruments:
    """The instrument part of an exchange: lookup, mapping, rounding, validation.

    A plugin subclasses it and implements :meth:`fetch` (one network call that
    returns every instrument). The loaded table is shared by every connector
    of the same venue and REST endpoint in the process.
    """

    def __init__(self, exchange: BaseExchange) -> None:
        self._exchange = exchange
        self._table: InstrumentTable | None = None

    # -- plugin hook -------------------------------------------------------------------

    async def fetch(self) -> Iterable[Instrument]:
        """Return every instrument of the venue (implemented by the plugin)."""
        raise NotImplementedError(f"{type(self).__name__}.fetch")

    # -- loading -----------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """True once :meth:`load` succeeded."""
        return self._table is not None

    def _cache_key(self) -> tuple[object, ...]:
        ctx = self._exchange.context
        # The REST endpoint when the venue has one (where instruments come from); otherwise every endpoint.
        where = ctx.endpoints.get("rest") or tuple(sorted(ctx.endpoints.items()))
        return ("instruments", ctx.descriptor.id, ctx.testnet, where)

    async def load(self, *, reload: bool = False) -> None:
        """Load the instrument table (once per venue and endpoint in the process unless ``reload``)."""
        shared = self._exchange.context.host.shared
        key = self._cache_key()
        # asyncio locks belong to one event loop; a host may outlive several (asyncio.run twice, tests).
        locks = shared.setdefault("instrument-locks", weakref.WeakKeyDictionary())
        lock = locks.setdefault(asyncio.get_running_loop(), {}).setdefault(key, asyncio.Lock())
        async with lock:
            table = None if reload else shared.get(key)
            if table is None:
                table = InstrumentTable.build(await self.fetch())
                shared[key] = table
        self._table = table

    @property
    def table(self) -> InstrumentTable:
        """The loaded table; raises if :meth:`load` has not run."""
        if self._table is None:
            raise InvalidOrder(
                "instruments are not loaded: connect first (async with exchanges.connect(...))",
                exchange=self._exchange.id,
            )
        return self._table

    # -- lookup ------------------------------------------------------------------------

    def get(self, symbol: str) -> Instrument:
        """The instrument of a unified symbol; :class:`BadSymbol` if unparsable or not listed."""
        inst = self.table.by_symbol.get(symbol)
        if inst is None:
            parse_symbol(symbol)  # raises BadSymbol for text that is not a symbol at all
            raise BadSymbol(f"{symbol!r} is not listed on {self._exchange.id}", symbol=symbol, exchange=self._exchange.id)
        return inst

    def list(self, type: InstrumentType | str | None = None) -> list[Instrument]:
        """Every instrument, or those of one instrument type, sorted by symbol."""
        wanted = None if type is None else InstrumentType(type)
        return sorted(
            (i for i in self.table.by_symbol.values() if wanted is None or i.instrument_type is wanted),
            key=lambda i: i.symbol,
        )

    def __contains__(self, symbol: object) -> bool:
        return self._table is not None and symbol in self._table.by_symbol

    def __len__(self) -> int:
        return 0 if self._table is None else len(self._table.by_symbol)

    def normalize(self, raw: str) -> str:
        """Venue name -> unified symbol, from the loaded table or the registered mapper."""
        if self._table is not None and raw in self._table.by_raw:
            return self._table.by_raw[raw].symbol
        mapper = self._exchange.context.symbol_mapper
        if mapper is None:
            raise BadSymbol(f"unknown instrument {raw!r} on {self._exchange.id}", symbol=raw, exchange=self._exchange.id)
        return mapper.normalize(raw)

    def denormalize(self, symbol: str) -> str:
        """Unified symbol -> venue name, from the loaded table or the registered mapper."""
        if self._table is not None and symbol in self._table.by_symbol:
            return self._table.by_symbol[symbol].raw_symbol
        mapper = self._exchange.context.symbol_mapper
        if mapper is None:
            parse_symbol(symbol)
            raise BadSymbol(f"{symbol!r} is not listed on {self._exchange.id}", symbol=symbol, exchange=self._exchange.id)
        return mapper.denormalize(symbol)

    # -- precision ---------------------------------------------------------------------

    def round_price(self, symbol: str, price: Any, side: OrderSide | str | None = None) -> Decimal:
        """Round a price to the tick size: down for a buy, up for a sell, nearest when no side."""
        inst = self.get(symbol)
        value = Decimal(str(price))
        if inst.tick_size <= 0:
            return value
        rounding = ROUND_HALF_EVEN
        if side is not None:
            rounding = ROUND_DOWN if OrderSide(side) is OrderSide.BUY else ROUND_UP
        return (value / inst.tick_size).quantize(Decimal(1), rounding=rounding) * inst.tick_size

    def round_size(self, symbol: str, quantity: Any) -> Decimal:
        """Round a quantity down to the step size (never rounds up past what was asked)."""
        inst = self.get(symbol)
        value = Decimal(str(quantity))
        if inst.step_size <= 0:
            return value
        return (value / inst.step_size).quantize(Decimal(1), rounding=ROUND_DOWN) * inst.step_size

    # -- validation --------------------------------------------------------------------

    def validate(self, order: Order, *, reference_price: Decimal | None = None) -> Instrument:
        """Check an order against the instrument's rules before anything is sent.

        Raises :class:`PrecisionError` (tick, step, size bounds),
        :class:`MinNotional` (notional bounds) or :class:`InvalidOrder`, each
        naming the rule and the allowed value. ``reference_price`` is used for
        the notional of orders without a price (market, stop-market).
        """
        inst = self.get(order.symbol)
        venue = self._exchange.id
        if not inst.active:
            raise InvalidOrder(f"{inst.symbol} is not trading", exchange=venue)
        if order.reduce_only and inst.instrument_type is InstrumentType.SPOT:
            raise InvalidOrder(f"reduce_only applies to derivatives, not to spot {inst.symbol}", exchange=venue)
        for label, price in (("price", order.price), ("stop_price", order.stop_price)):
            if price is None:
                continue
            if not _is_multiple(price, inst.tick_size):
                raise PrecisionError(
                    f"{label} {price} breaks the tick size rule of {inst.symbol}: must be a multiple of {inst.tick_size}",
                    exchange=venue,
                )
            if inst.min_price is not None and inst.min_price > 0 and price < inst.min_price:
                raise PrecisionError(f"{label} {price} is below the minimum price {inst.min_price} of {inst.symbol}", exchange=venue)
            if inst.max_price is not None and inst.max_price > 0 and price > inst.max_price:
                raise PrecisionError(f"{label} {price} is above the maximum price {inst.max_price} of {inst.symbol}", exchange=venue)
        quantity = order.quantity
        is_market = order.order_type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        if quantity is not None:
            if not _is_multiple(quantity, inst.step_size):
                raise PrecisionError(
                    f"quantity {quantity} breaks the step size rule of {inst.symbol}: must be a multiple of {inst.step_size}",
                    exchange=venue,
                )
            low = inst.market_min_order_size if is_market and inst.market_min_order_size else inst.min_order_size
            high = inst.market_max_order_size if is_market and inst.market_max_order_size else inst.max_order_size
            if low and quantity < low:
                raise PrecisionError(
                    f"quantity {quantity} is below the minimum order size {low} of {inst.symbol}", exchange=venue
                )
            if high and quantity > high:
                raise PrecisionError(
                    f"quantity {quantity} is above the maximum order size {high} of {inst.symbol}", exchange=venue
                )
        price_for_notional = order.price if order.price is not None else (order.stop_price or reference_price)
        notional: Decimal | None = None
        if order.quote_quantity is not None:
            notional = order.quote_quantity
        elif quantity is not None and price_for_notional is not None:
            notional = quantity * price_for_notional * inst.contract_size
        if notional is not None:
            if inst.min_notional and notional < inst.min_notional:
                raise MinNotional(
                    f"notional {notional.normalize():f} is below the minimum notional {inst.min_notional} of {inst.symbol}",
                    exchange=venue,
                )
            if inst.max_notional and notional > inst.max_notional:
                raise MinNotional(
                    f"notional {notional.normalize():f} is above the maximum notional {inst.max_notional} of {inst.symbol}",
                    exchange=venue,
                )
        return inst
