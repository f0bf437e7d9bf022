"""Binance error codes map onto the unified errors."""

from __future__ import annotations

import pytest

from exchange_binance.errors import InvalidListenKey, InvalidTimestamp, map_error
from exchange_binance.http import http_error_mapper
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


@pytest.mark.parametrize(
    ("status", "code", "msg", "expected"),
    [
        (429, -1003, "Too many requests.", RateLimited),
        (400, -1003, "Way too much request weight used", RateLimited),
        (400, -1013, "Filter failure: PRICE_FILTER", PrecisionError),
        (400, -1013, "Filter failure: LOT_SIZE", PrecisionError),
        (400, -1013, "Filter failure: NOTIONAL", MinNotional),
        (400, -1013, "Filter failure: MIN_NOTIONAL", MinNotional),
        (400, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE", InvalidOrder),
        (400, -1021, "Timestamp for this request is outside of the recvWindow.", InvalidTimestamp),
        (400, -1121, "Invalid symbol.", BadSymbol),
        (400, -2010, "Account has insufficient balance for requested action.", InsufficientFunds),
        (400, -2010, "Order would immediately match and take.", PostOnlyRejected),
        (400, -2010, "Market is closed.", InvalidOrder),
        (400, -2011, "Unknown order sent.", OrderNotFound),
        (400, -2013, "Order does not exist.", OrderNotFound),
        (401, -2015, "Invalid API-key, IP, or permissions for action.", AuthenticationError),
        (408, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown.", UnknownOutcome),
        (400, -2019, "Margin is insufficient.", InsufficientFunds),
        (400, -4164, "Order's notional must be no smaller than 5", MinNotional),
        (400, -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.", PostOnlyRejected),
        (400, -4014, "Price not increased by tick size.", PrecisionError),
        (400, -1125, "This listenKey does not exist.", InvalidListenKey),
    ],
)
def test_code_mapping(status: int, code: int, msg: str, expected: type) -> None:
    """Each documented code maps to its unified error, keeping the venue message and code."""
    error = map_error(status, {}, {"code": code, "msg": msg}, "binance", futures=False)
    assert type(error) is expected
    assert f"(code {code})" in str(error) and msg in str(error) and error.exchange == "binance"


def test_rate_limit_statuses_carry_retry_after() -> None:
    """418 and 429 become RateLimited with the Retry-After seconds."""
    error = map_error(418, {"Retry-After": "120"}, {"code": -1003, "msg": "banned"}, "binance", futures=False)
    assert isinstance(error, RateLimited) and error.retry_after == 120.0


@pytest.mark.parametrize(
    ("futures", "status", "body", "expected"),
    [
        (True, 503, {"msg": "Service Unavailable."}, ExchangeUnavailable),
        (False, 503, {"msg": "Service Unavailable."}, UnknownOutcome),  # spot: any 5xx is status unknown
        (True, 503, {"msg": "Unknown error, please check your request or try again later."}, UnknownOutcome),
        (False, 503, {"msg": "Unknown error, please check your request or try again later."}, UnknownOutcome),
        (False, 502, "<html>bad gateway</html>", UnknownOutcome),
        (False, 404, "not found", ExchangeError),
    ],
)
def test_http_statuses_without_code(futures: bool, status: int, body: object, expected: type) -> None:
    """Server errors are unknown outcomes unless the venue says the request failed (USD-M's "Service Unavailable.")."""
    assert type(map_error(status, {}, body, "binance", futures=futures)) is expected


def test_success_is_not_an_error() -> None:
    """A 200 response without a negative code maps to None."""
    assert map_error(200, {}, {"orderId": 1}, "binance", futures=False) is None


@pytest.mark.parametrize(
    ("futures", "status", "body", "expected"),
    [
        (False, 503, {"code": -1000, "msg": "Unknown error, please check your request or try again later."}, None),
        (False, 502, None, None),
        (False, 408, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, UnknownOutcome),
        (True, 503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, UnknownOutcome),
        (True, 503, {"msg": "Service Unavailable."}, ExchangeUnavailable),
        (False, 503, {"msg": "Service Unavailable."}, None),  # spot: left to the transport (idempotency decides)
        (False, 400, {"code": -2013, "msg": "Order does not exist."}, OrderNotFound),
        (True, 200, {"orderId": 1}, None),
    ],
)
def test_transport_error_mapper(futures: bool, status: int, body: object, expected: type | None) -> None:
    """The transport's mapper leaves plain 5xx to the transport (idempotency decides) and maps the rest."""
    error = http_error_mapper("binance", futures)(status, {}, body)
    assert (type(error) if error is not None else None) is expected
