"""One async API for trading and market data across crypto venues; each venue is a plugin.

The public surface is re-exported here lazily (PEP 562): ``import exchanges``
imports no plugin, no HTTP or websocket library, and almost nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports
from ._version import __version__

_EXPORTS: dict[str, str] = {
    # entry points of the API
    "connect": "._connect",
    "Host": ".host",
    "PluginRecord": "._loader",
    "UnknownExchange": ".host",
    "hookimpl": ".hookspecs",
    # contract
    "BaseExchange": ".connector",
    "Capability": ".descriptors",
    "ConnectorContext": ".connector",
    "Credentials": ".credentials",
    "Exchange": ".connector",
    "ExchangeDescriptor": ".descriptors",
    "Execution": ".connector",
    "Health": ".connector",
    "Instruments": ".instruments",
    "MarketData": ".connector",
    # symbols and limits
    "EndpointCost": ".ratelimit",
    "RateLimitRule": ".ratelimit",
    "RateLimiter": ".ratelimit",
    "RateLimits": ".ratelimit",
    "Symbol": ".symbols",
    "SymbolMapper": ".symbols",
    "format_symbol": ".symbols",
    "parse_symbol": ".symbols",
    # models
    "Balance": ".models",
    "Candle": ".models",
    "CancelResult": ".models",
    "ExchangeKind": ".models",
    "Fill": ".models",
    "Instrument": ".models",
    "InstrumentType": ".models",
    "Order": ".models",
    "OrderBook": ".models",
    "OrderBookLevel": ".models",
    "OrderResult": ".models",
    "OrderSide": ".models",
    "OrderState": ".models",
    "OrderStatus": ".models",
    "OrderType": ".models",
    "Position": ".models",
    "PositionSide": ".models",
    "Ticker": ".models",
    "TimeInForce": ".models",
    "Trade": ".models",
    # errors
    "AuthenticationError": ".errors",
    "BadSymbol": ".errors",
    "ConfigError": ".errors",
    "DuplicateRegistration": ".errors",
    "ExchangeError": ".errors",
    "ExchangeUnavailable": ".errors",
    "IncompatiblePlugin": ".errors",
    "InsufficientFunds": ".errors",
    "InvalidOrder": ".errors",
    "MinNotional": ".errors",
    "NetworkError": ".errors",
    "NotSupported": ".errors",
    "OrderNotFound": ".errors",
    "PluginError": ".errors",
    "PluginLoadError": ".errors",
    "PostOnlyRejected": ".errors",
    "PrecisionError": ".errors",
    "RateLimited": ".errors",
    "RequestTimeout": ".errors",
    "StaleBook": ".errors",
    "SubscriptionOverflow": ".errors",
    "UnknownOutcome": ".errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, eager=("__version__",))






if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from ._connect import connect
    from ._loader import PluginRecord
    from .connector import BaseExchange, ConnectorContext, Exchange, Execution, Health, MarketData
    from .credentials import Credentials
    from .descriptors import Capability, ExchangeDescriptor
    from .errors import (
        AuthenticationError,
        BadSymbol,
        ConfigError,
        DuplicateRegistration,
        ExchangeError,
        ExchangeUnavailable,
        IncompatiblePlugin,
        InsufficientFunds,
        InvalidOrder,
        MinNotional,
        NetworkError,
        NotSupported,
        OrderNotFound,
        PluginError,
        PluginLoadError,
        PostOnlyRejected,
        PrecisionError,
        RateLimited,
        RequestTimeout,
        StaleBook,
        SubscriptionOverflow,
        UnknownOutcome,
    )
    from .hookspecs import hookimpl
    from .host import Host, UnknownExchange
    from .instruments import Instruments
    from .models import (
        Balance,
        CancelResult,
        Candle,
        ExchangeKind,
        Fill,
        Instrument,
        InstrumentType,
        Order,
        OrderBook,
        OrderBookLevel,
        OrderResult,
        OrderSide,
        OrderState,
        OrderStatus,
        OrderType,
        Position,
        PositionSide,
        Ticker,
        TimeInForce,
        Trade,
    )
    from .ratelimit import EndpointCost, RateLimiter, RateLimitRule, RateLimits
    from .symbols import Symbol, SymbolMapper, format_symbol, parse_symbol
