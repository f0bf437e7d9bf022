"""Binance error codes -> the unified errors (venues.md §1.5, §2.5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exchanges import (
    AuthenticationError,
    BadSymbol,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    MinNotional,
    OrderNotFound,
    PostOnlyRejected,
    PrecisionError,
    RateLimited,
    UnknownOutcome,
)

__all__ = ["InvalidListenKey", "InvalidTimestamp", "map_error", "service_unavailable"]


class InvalidTimestamp(AuthenticationError):
    """-1021: the request's timestamp is outside recvWindow; the connector resyncs its clock and retries once."""


class InvalidListenKey(AuthenticationError):
    """-1125: the listen key does not exist (expired); the user-data stream creates a new one."""


_BY_CODE: dict[int, type[ExchangeError]] = {
    -1003: RateLimited,
    -1015: RateLimited,
    -1007: UnknownOutcome,
    -1021: InvalidTimestamp,
    -1022: AuthenticationError,
    -2014: AuthenticationError,
    -2015: AuthenticationError,
    -1125: InvalidListenKey,
    -1111: PrecisionError,
    -1121: BadSymbol,
    -2011: OrderNotFound,
    -2013: OrderNotFound,
    -2026: OrderNotFound,
    # USD-M
    -2018: InsufficientFunds,
    -2019: InsufficientFunds,
    -2021: InvalidOrder,
    -2022: InvalidOrder,
    -2027: InvalidOrder,
    -2028: InvalidOrder,
    -4003: PrecisionError,
    -4004: PrecisionError,
    -4005: PrecisionError,
    -4014: PrecisionError,
    -4023: PrecisionError,
    -4164: MinNotional,
    -4028: InvalidOrder,
    -5021: InvalidOrder,
    -5022: PostOnlyRejected,
}

_FILTERS: tuple[tuple[str, type[ExchangeError]], ...] = (
    ("MIN_NOTIONAL", MinNotional),
    ("NOTIONAL", MinNotional),
    ("PRICE_FILTER", PrecisionError),
    ("MARKET_LOT_SIZE", PrecisionError),
    ("LOT_SIZE", PrecisionError),
)


def classify(code: int, message: str) -> type[ExchangeError]:
    """The unified error class for a Binance ``code`` and ``msg``."""
    if code == -2010:
        lowered = message.lower()
        if "insufficient balance" in lowered:
            return InsufficientFunds
        if "immediately match and take" in lowered:
            return PostOnlyRejected
        return InvalidOrder
    if code == -1013:
        for name, cls in _FILTERS:
            if f"Filter failure: {name}" in message:
                return cls
        return InvalidOrder
    return _BY_CODE.get(code, InvalidOrder if -2099 <= code <= -2010 else ExchangeError)


def service_unavailable(status: int, message: str, *, futures: bool) -> bool:
    """True for USD-M's 503 "Service Unavailable." (venues.md §2.3: the request failed, it was not executed).

    Spot documents no such exception: any 5xx there leaves the outcome unknown (§1.2).
    """
    return futures and status == 503 and "Service Unavailable" in message


def map_error(status: int, headers: Mapping[str, str], body: Any, exchange: str, *, futures: bool) -> ExchangeError | None:
    """Build the unified error for a failed response, or None when the response is a success.

    429/418 are handled by the transport (limiter pause/ban); they are mapped
    here too so a direct caller still gets RateLimited. ``futures`` selects
    the USD-M rules (503 "Service Unavailable." is a failure there, an unknown
    outcome on spot).
    """
    code = body.get("code") if isinstance(body, Mapping) else None
    message = str(body.get("msg", "")) if isinstance(body, Mapping) else ""
    if status < 400 and (code is None or not isinstance(code, int) or code >= 0):
        return None
    if status in (418, 429):
        retry = headers.get("Retry-After")
        suffix = f" (code {code})" if isinstance(code, int) else ""
        return RateLimited(f"HTTP {status}: {message or 'rate limited'}{suffix}", exchange=exchange,
                           retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)
    if isinstance(code, int):
        cls = classify(code, message)
        text = f"{message} (code {code})"
        if cls is RateLimited:
            return RateLimited(text, exchange=exchange)
        if cls is BadSymbol:
            return BadSymbol(text, exchange=exchange)
        return cls(text, exchange=exchange)
    if service_unavailable(status, message, futures=futures):
        return ExchangeUnavailable(f"HTTP 503: {message}", exchange=exchange)
    if status >= 500 or status == 408:
        return UnknownOutcome(f"HTTP {status}: {message or 'server error'}; the request may have been executed",
                              exchange=exchange)
    return ExchangeError(f"HTTP {status}: {message or body!r}", exchange=exchange)
