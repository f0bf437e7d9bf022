"""attrs converters used by the models (private)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["to_decimal", "to_optional_decimal"]


def to_decimal(value: Any) -> Decimal:
    """Turn a str, int, float or Decimal into a Decimal; floats go through ``str`` to stay exact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def to_optional_decimal(value: Any) -> Decimal | None:
    """Like :func:`to_decimal` but keeps ``None``."""
    return None if value is None else to_decimal(value)
