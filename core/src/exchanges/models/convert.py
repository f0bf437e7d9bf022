"""One cattrs converter for every model: to JSON-able dicts and back.

Used by ``--json`` in the CLI and by event sinks.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

import cattrs

from .enums import ExchangeKind, InstrumentType, OrderSide, OrderState, OrderType, PositionSide, TimeInForce
from .market import OrderBookLevel

__all__ = ["converter", "from_dict", "to_dict"]

T = TypeVar("T")


@cache
def converter() -> cattrs.Converter:
    """The project's converter (built on first use)."""
    conv = cattrs.Converter()
    conv.register_unstructure_hook(Decimal, str)
    for enum_type in (ExchangeKind, InstrumentType, OrderSide, OrderState, OrderType, PositionSide, TimeInForce):
        conv.register_unstructure_hook(enum_type, _enum_value)
    conv.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
    conv.register_unstructure_hook(dt.date, lambda d: d.isoformat())
    conv.register_structure_hook(dt.date, lambda v, _: v if isinstance(v, dt.date) else dt.date.fromisoformat(v))
    conv.register_unstructure_hook(
        OrderBookLevel, lambda lv: [str(lv.price), str(lv.quantity)] + ([lv.num_orders] if lv.num_orders is not None else [])
    )
    conv.register_structure_hook(
        OrderBookLevel,
        lambda v, _: OrderBookLevel(Decimal(str(v[0])), Decimal(str(v[1])), v[2] if len(v) > 2 else None),
    )
    # Book sides may be lazy views; serialise them as lists of levels.
    from collections.abc import Sequence

    conv.register_unstructure_hook_func(
        lambda t: t is Sequence[OrderBookLevel],
        lambda seq: [conv.unstructure(lv, OrderBookLevel) for lv in seq],
    )
    conv.register_structure_hook_func(
        lambda t: t is Sequence[OrderBookLevel],
        lambda v, _: tuple(conv.structure(lv, OrderBookLevel) for lv in v),
    )
    return conv


def _enum_value(member: Any) -> Any:
    return member.value


def to_dict(obj: Any) -> Any:
    """Unstructure a model (or a list of models) into JSON-able primitives."""
    return converter().unstructure(obj)


def from_dict(cls: type[T], data: Any) -> T:
    """Structure primitives back into ``cls``."""
    return converter().structure(data, cls)
