"""Rate limiting: rules as data, a FIFO-fair limiter shared per (venue, scope, identity).

``rules`` (what plugins register) is imported eagerly because the host needs
it; the limiter machinery loads on first use so that discovering plugins
stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .rules import SCOPES, EndpointCost, RateLimitRule

if TYPE_CHECKING:
    from ._backend import ROLLING_SUBWINDOWS, LimiterBackend, MemoryBackend
    from ._headers import parse_retry_after, parse_usage_headers
    from ._limiter import RateLimiter, VirtualClock
    from ._scopes import RateLimits, account_fingerprint

__all__ = [
    "ROLLING_SUBWINDOWS",
    "SCOPES",
    "EndpointCost",
    "LimiterBackend",
    "MemoryBackend",
    "RateLimitRule",
    "RateLimiter",
    "RateLimits",
    "VirtualClock",
    "account_fingerprint",
    "parse_retry_after",
    "parse_usage_headers",
]

_LAZY: dict[str, str] = {
    "ROLLING_SUBWINDOWS": "._backend",
    "LimiterBackend": "._backend",
    "MemoryBackend": "._backend",
    "RateLimiter": "._limiter",
    "RateLimits": "._scopes",
    "VirtualClock": "._limiter",
    "account_fingerprint": "._scopes",
    "parse_retry_after": "._headers",
    "parse_usage_headers": "._headers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
