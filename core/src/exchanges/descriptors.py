"""``ExchangeDescriptor``: what a plugin says about a venue before anything is imported."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .models.enums import ExchangeKind, InstrumentType

if TYPE_CHECKING:
    from .connector import BaseExchange, ConnectorContext

__all__ = ["CAPABILITIES", "Capability", "ExchangeDescriptor"]


class Capability:
    """Names of the capabilities a descriptor may declare (plain strings; a venue may add its own).

    Each method of ``market_data`` and ``execution`` is gated by the capability
    of the same name; order features (``post_only``, ``reduce_only``,
    ``stop_orders``...) gate the matching order fields.
    """

    ORDER_BOOK = "order_book"
    TRADES = "trades"
    TICKER = "ticker"
    CANDLES = "candles"
    WATCH_ORDER_BOOK = "watch_order_book"
    WATCH_TRADES = "watch_trades"
    WATCH_TICKER = "watch_ticker"
    WATCH_CANDLES = "watch_candles"
    PLACE_ORDER = "place_order"
    CANCEL_ORDER = "cancel_order"
    CANCEL_ALL = "cancel_all"
    ORDER_STATUS = "order_status"
    OPEN_ORDERS = "open_orders"
    BALANCES = "balances"
    POSITIONS = "positions"
    SET_LEVERAGE = "set_leverage"
    WATCH_ORDERS = "watch_orders"
    WATCH_FILLS = "watch_fills"
    WATCH_BALANCES = "watch_balances"
    # order features
    MARKET_ORDERS = "market_orders"
    STOP_ORDERS = "stop_orders"
    TAKE_PROFIT_ORDERS = "take_profit_orders"
    POST_ONLY = "post_only"
    REDUCE_ONLY = "reduce_only"
    QUOTE_QUANTITY = "quote_quantity"


CAPABILITIES: frozenset[str] = frozenset(
    value for name, value in vars(Capability).items() if name.isupper() and isinstance(value, str)
)

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _products(value: Iterable[InstrumentType | str]) -> frozenset[InstrumentType]:
    return frozenset(InstrumentType(p) for p in value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _keys(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


def _check_id(instance: object, attribute: attrs.Attribute, value: str) -> None:  # type: ignore[type-arg]
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"exchange id {value!r} must be lowercase letters, digits, '-' or '_' (max 40)")


def _check_urls(instance: object, attribute: attrs.Attribute, value: Mapping[str, str]) -> None:  # type: ignore[type-arg]
    for name, url in value.items():
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(f"endpoint {name!r} of {attribute.name} must be a URL, got {url!r}")


def _check_connector(instance: object, attribute: attrs.Attribute, value: object) -> None:  # type: ignore[type-arg]
    if isinstance(value, str):
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value):
            raise ValueError(f"connector must be 'module:attribute' or a callable, got {value!r}")
    elif not callable(value):
        raise ValueError(f"connector must be 'module:attribute' or a callable, got {value!r}")


@attrs.frozen
class ExchangeDescriptor:
    """Everything known about a venue without importing its connector.

    ``connector`` is either ``"package.module:Factory"`` (imported on first
    :meth:`create`, keeping plugin discovery cheap) or a callable. The factory
    is called with one :class:`~exchanges.connector.ConnectorContext` and
    returns the exchange object. ``endpoints`` and ``testnet_endpoints`` map
    endpoint names (``rest``, ``ws``...) to base URLs.
    """

    id: str = attrs.field(validator=_check_id)
    name: str
    kind: ExchangeKind = attrs.field(converter=ExchangeKind)
    products: frozenset[InstrumentType] = attrs.field(converter=_products)
    capabilities: frozenset[str] = attrs.field(converter=_names)
    endpoints: Mapping[str, str] = attrs.field(converter=_frozen_mapping, validator=_check_urls)
    connector: str | Callable[..., Any] = attrs.field(validator=_check_connector)
    testnet_endpoints: Mapping[str, str] = attrs.field(
        default=None, converter=_frozen_mapping, validator=_check_urls
    )
    credential_keys: tuple[str, ...] = attrs.field(default=(), converter=_keys)
    description: str = ""
    homepage: str | None = None
    #: ``"package.module:SuiteClass"``: the plugin's conformance suite (an
    #: ``exchanges.testing.conformance.ConformanceSuite`` subclass with its
    #: cases), used by ``exchanges conformance ID``; None runs the generic suite.
    conformance: str | None = None

    @property
    def endpoint_names(self) -> tuple[str, ...]:
        """Names that ``endpoints=`` overrides may use."""
        return tuple(self.endpoints)

    @property
    def has_testnet(self) -> bool:
        """True when the venue declares testnet endpoints."""
        return bool(self.testnet_endpoints)

    def supports(self, capability: str) -> bool:
        """True when the venue declares ``capability``."""
        return capability in self.capabilities

    def load_factory(self) -> Callable[[ConnectorContext], BaseExchange]:
        """Import (once) and return the connector factory."""
        if callable(self.connector):
            return self.connector
        module_name, _, attr = self.connector.partition(":")
        module = importlib.import_module(module_name)
        factory: Callable[[ConnectorContext], BaseExchange] = getattr(module, attr)
        return factory
