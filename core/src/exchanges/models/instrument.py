"""The ``Instrument`` model: what can be traded and under which rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from ._fields import to_decimal, to_optional_decimal
from .enums import InstrumentType

__all__ = ["Instrument"]


@attrs.frozen
class Instrument:
    """A tradable instrument with its trading rules.

    ``tick_size`` is the price increment, ``step_size`` the quantity increment.
    ``min_order_size``/``max_order_size`` bound the quantity, ``min_notional``
    bounds ``price * quantity`` from below. Inverse contracts settle in the
    base currency (``inverse=True``).
    """

    symbol: str
    raw_symbol: str
    base_currency: str
    quote_currency: str
    instrument_type: InstrumentType = attrs.field(converter=InstrumentType)
    tick_size: Decimal = attrs.field(converter=to_decimal)
    step_size: Decimal = attrs.field(converter=to_decimal)
    min_order_size: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    max_order_size: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    min_notional: Decimal = attrs.field(default=Decimal(0), converter=to_decimal)
    max_notional: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    contract_size: Decimal = attrs.field(default=Decimal(1), converter=to_decimal)
    price_precision: int | None = None
    quantity_precision: int | None = None
    min_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    max_price: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    market_min_order_size: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    market_max_order_size: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    settle_currency: str | None = None
    inverse: bool = False
    expiry: dt.date | None = None
    strike: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    option_type: str | None = None
    max_open_orders: int | None = None
    active: bool = True
    maker_fee: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)
    taker_fee: Decimal | None = attrs.field(default=None, converter=to_optional_decimal)

    def __attrs_post_init__(self) -> None:
        if self.price_precision is None and self.tick_size > 0:
            object.__setattr__(self, "price_precision", _decimals(self.tick_size))
        if self.quantity_precision is None and self.step_size > 0:
            object.__setattr__(self, "quantity_precision", _decimals(self.step_size))


def _decimals(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
