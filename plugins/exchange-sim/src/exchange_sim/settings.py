"""Settings of the simulated venue: what ``exchanges.connect("sim", **settings)`` accepts.

Values may arrive typed (Python callers, YAML) or as text (``exchanges ... --set
seed=7``); each is converted here and a bad one raises :class:`ConfigError`
naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs

from exchanges import ConfigError

from .venue import MARKETS

__all__ = ["DEFAULT_BALANCES", "SETTING_NAMES", "SimSettings"]

#: the funded account a connection starts with
DEFAULT_BALANCES: Mapping[str, Decimal] = MappingProxyType(
    {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("20")}
)
#: a fixed start for the virtual clock (2024-01-01T00:00:00Z), so timestamps repeat under a seed
DEFAULT_START_TIME = 1_704_067_200_000


def _frozen(value: Mapping[str, Decimal]) -> Mapping[str, Decimal]:
    return MappingProxyType(dict(value))


@attrs.frozen
class SimSettings:
    """Every setting with its default.

    - ``seed`` (int, 42): seeds the simulated participants; same seed and same
      steps give the same books and trades.
    - ``flow`` (bool, True): run the participants in a background task while
      connected. With ``flow=False`` nothing moves unless ``ex.venue.step(n)``
      is called.
    - ``flow_interval`` (seconds, 0.25): wall-clock pause between background steps.
    - ``balances`` ({currency: amount}, 100000 USDT, 2 BTC, 20 ETH): the account's
      starting funds (replaces the default entirely).
    - ``maker_fee`` / ``taker_fee`` (0.0002 / 0.0005): fee rates on notional, paid in quote.
    - ``leverage`` (int, 10): starting leverage of the perpetual.
    - ``prices`` ({symbol: price}): start prices replacing the defaults (BTC 60000, ETH 3000).
    - ``clock`` ("wall" or "virtual"; default "wall" with flow, "virtual" without):
      a virtual clock starts at ``start_time`` and moves only by ``step_ms``
      per step or through ``ex.venue.advance(ms)``.
    - ``start_time`` (epoch ms, 2024-01-01): start of the virtual clock.
    - ``step_ms`` (int, ``flow_interval`` in ms): virtual time one step takes.
    - ``levels`` (int, 25): price levels seeded on each side of every book.
    """

    seed: int = 42
    flow: bool = True
    flow_interval: float = 0.25
    balances: Mapping[str, Decimal] = attrs.field(default=DEFAULT_BALANCES, converter=_frozen)
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    leverage: int = 10
    prices: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_frozen)
    clock: str = "wall"
    start_time: int = DEFAULT_START_TIME
    step_ms: int = 250
    levels: int = 25

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any] | None) -> SimSettings:
        """Build settings from ``connect()`` keyword arguments; unknown names raise ConfigError."""
        given = dict(settings or {})
        unknown = sorted(set(given) - set(SETTING_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown setting(s) {', '.join(unknown)} for sim; valid: {', '.join(SETTING_NAMES)}"
            )
        flow = _bool("flow", given.get("flow", True))
        interval = _positive_float("flow_interval", given.get("flow_interval", 0.25))
        clock = str(given.get("clock", "wall" if flow else "virtual")).lower()
        if clock not in ("wall", "virtual"):
            raise ConfigError(f"setting clock must be 'wall' or 'virtual', got {clock!r}")
        leverage = _int("leverage", given.get("leverage", 10))
        if not 1 <= leverage <= 125:
            raise ConfigError(f"setting leverage must be between 1 and 125, got {leverage}")
        fees = {name: _decimal(name, given.get(name, default)) for name, default in
                (("maker_fee", "0.0002"), ("taker_fee", "0.0005"))}
        for name, fee in fees.items():
            if not Decimal(0) <= fee < Decimal("0.1"):
                raise ConfigError(f"setting {name} must be a rate between 0 and 0.1, got {fee}")
        levels = _int("levels", given.get("levels", 25))
        if not 2 <= levels <= 200:
            raise ConfigError(f"setting levels must be between 2 and 200, got {levels}")
        return cls(
            seed=_int("seed", given.get("seed", 42)),
            flow=flow,
            flow_interval=interval,
            balances=_amounts("balances", given.get("balances", DEFAULT_BALANCES), allow_zero=True),
            maker_fee=fees["maker_fee"],
            taker_fee=fees["taker_fee"],
            leverage=leverage,
            prices=_prices(given.get("prices", {})),
            clock=clock,
            start_time=_int("start_time", given.get("start_time", DEFAULT_START_TIME)),
            step_ms=max(1, _int("step_ms", given.get("step_ms", round(interval * 1000)))),
            levels=levels,
        )


SETTING_NAMES: tuple[str, ...] = tuple(a.name for a in attrs.fields(SimSettings))


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"setting {name} must be true or false, got {value!r}")


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"setting {name} must be an integer, got {value!r}")
    try:
        return int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"setting {name} must be an integer, got {value!r}") from None


def _positive_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} must be a number of seconds, got {value!r}") from None
    if not number > 0:
        raise ConfigError(f"setting {name} must be positive, got {value!r}")
    return number


def _decimal(name: str, value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(f"setting {name} must be a decimal number, got {value!r}") from None
    if not number.is_finite():
        raise ConfigError(f"setting {name} must be finite, got {value!r}")
    return number


def _amounts(name: str, value: Any, *, allow_zero: bool) -> dict[str, Decimal]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"setting {name} must be a mapping of currency to amount, got {value!r}")
    out: dict[str, Decimal] = {}
    for currency, amount in value.items():
        number = _decimal(f"{name}[{currency}]", amount)
        if number < 0 or (number == 0 and not allow_zero):
            raise ConfigError(f"setting {name}[{currency}] must not be negative, got {amount!r}")
        out[str(currency).upper()] = number
    return out


def _prices(value: Any) -> dict[str, Decimal]:
    prices = _amounts("prices", value, allow_zero=False)
    listed = {m.symbol.upper(): m.symbol for m in MARKETS}
    out: dict[str, Decimal] = {}
    for symbol, price in prices.items():
        if symbol not in listed:
            raise ConfigError(f"setting prices names {symbol!r}, which sim does not list ({', '.join(listed.values())})")
        if price <= 0:
            raise ConfigError(f"setting prices[{symbol}] must be positive, got {price}")
        out[listed[symbol]] = price
    return out
