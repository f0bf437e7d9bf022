"""The one error hierarchy of the project.

Every venue maps its own error codes onto these classes, so a caller catches
``InsufficientFunds`` whichever venue raised it.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadSymbol",
    "ConfigError",
    "DuplicateRegistration",
    "ExchangeError",
    "ExchangeUnavailable",
    "IncompatiblePlugin",
    "InsufficientFunds",
    "InvalidOrder",
    "MinNotional",
    "NetworkError",
    "NotSupported",
    "OrderNotFound",
    "PluginError",
    "PluginLoadError",
    "PostOnlyRejected",
    "PrecisionError",
    "RateLimited",
    "RequestTimeout",
    "StaleBook",
    "SubscriptionOverflow",
    "UnknownOutcome",
]


class ExchangeError(Exception):
    """Base of every error raised by the project.

    ``exchange`` names the venue (exchange id) the error came from, when known.
    """

    def __init__(self, message: str = "", *, exchange: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange

    def __str__(self) -> str:
        if self.exchange and not self.message.startswith(f"{self.exchange}:"):
            return f"{self.exchange}: {self.message}"
        return self.message


class NetworkError(ExchangeError):
    """The venue could not be reached or did not answer properly."""


class RequestTimeout(NetworkError):
    """A request timed out."""


class ExchangeUnavailable(NetworkError):
    """The venue is down, in maintenance or answered with a 5xx."""


class RateLimited(ExchangeError):
    """A rate limit was hit (HTTP 429) or the caller is banned (HTTP 418).

    ``retry_after`` is the number of seconds to wait before trying again;
    ``until`` is the monotonic-clock deadline of a ban or pause, when known.
    """

    def __init__(
        self,
        message: str = "rate limited",
        *,
        exchange: str | None = None,
        retry_after: float | None = None,
        until: float | None = None,
    ) -> None:
        super().__init__(message, exchange=exchange)
        self.retry_after = retry_after
        self.until = until


class AuthenticationError(ExchangeError):
    """Missing, invalid or insufficiently privileged credentials."""


class NotSupported(ExchangeError):
    """The venue does not offer this call or feature."""

    def __init__(self, feature: str, *, exchange: str | None = None) -> None:
        where = exchange or "this exchange"
        super().__init__(f"{feature} is not supported by {where}", exchange=exchange)
        self.feature = feature

    def __str__(self) -> str:
        return self.message  # already names the venue


class InvalidOrder(ExchangeError):
    """The order breaks a rule of the venue or of the instrument."""


class OrderNotFound(InvalidOrder):
    """The order id (or client order id) is unknown to the venue."""


class InsufficientFunds(InvalidOrder):
    """The account lacks the balance or margin for the order."""


class PrecisionError(InvalidOrder):
    """Price or quantity is not a multiple of the tick or step size, or out of bounds."""


class MinNotional(InvalidOrder):
    """price x quantity is below (or above) the instrument's notional bounds."""


class PostOnlyRejected(InvalidOrder):
    """A post-only order would have taken liquidity and was rejected."""


class BadSymbol(ExchangeError):
    """A symbol does not parse, or the venue does not list it."""

    def __init__(self, message: str, *, symbol: str | None = None, exchange: str | None = None) -> None:
        super().__init__(message, exchange=exchange)
        self.symbol = symbol


class UnknownOutcome(ExchangeError):
    """A request may have reached the venue but no answer came back.

    The order might exist. Reconcile (for instance by client order id) before
    sending anything again; never retry blindly.
    """

    def __init__(self, message: str, *, exchange: str | None = None, client_order_id: str | None = None) -> None:
        super().__init__(message, exchange=exchange)
        self.client_order_id = client_order_id


class StaleBook(ExchangeError):
    """An order book lost sync (gap, failed checksum, crossed) and is being rebuilt."""


class SubscriptionOverflow(ExchangeError):
    """A consumer fell too far behind a stream that must not drop messages (e.g. trades)."""


class ConfigError(ExchangeError):
    """The configuration file or a configuration value is invalid."""


class PluginError(ExchangeError):
    """Base of the errors about plugins."""


class PluginLoadError(PluginError):
    """A plugin failed to import or to register."""


class IncompatiblePlugin(PluginError):
    """A plugin requires a version of exchange-core other than the running one."""


class DuplicateRegistration(PluginError):
    """Two plugins registered the same exchange id (or the same mapper/rule without override)."""
