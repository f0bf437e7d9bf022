"""Connector settings: ``exchanges.connect("binance", recv_window=10000, book_speed="1000ms", ...)``.

The same names work in a config file's ``options`` section and with the CLI's
``--set KEY=VALUE``. Unknown names are an error (a typo must not be ignored).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from exchanges import ConfigError

__all__ = ["CORE_SETTINGS", "BinanceSettings"]

#: settings read by exchange-core itself (accepted and ignored here)
CORE_SETTINGS = frozenset({"rate_limit_testing"})


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal | str) else value  # type: ignore[no-any-return]


def _optional_seconds(value: Any) -> float | None:
    return None if value is None else _seconds(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _positive(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"setting {attribute.name} must be positive, got {value!r}")


@attrs.frozen
class BinanceSettings:
    """Tunables of the Binance connectors, with the venue's defaults.

    :param recv_window: ``recvWindow`` of signed requests in ms (None: the venue's 5000).
    :param timeout: seconds for one REST request (Binance's backend gives up after 10 s).
    :param book_snapshot_limit: levels per side of the REST snapshot that starts a book
        (spot weight 50 for 1000, USD-M 20); any valid depth limit of the venue.
    :param book_speed: diff-depth speed: spot ``100ms``/``1000ms``, USD-M ``100ms``/``250ms``/``500ms``.
    :param book_first_event_timeout: seconds a book waits for its first buffered event before
        fetching the snapshot anyway (a quiet market).
    :param book_max_attempts: snapshot attempts before a book gives up (watchers get StaleBook).
    :param book_retry_delay: first delay between snapshot attempts (doubles, capped at 5 s).
    :param ws_ping_interval: seconds between the client's keep-alive pings (None: only answer the server's).
    :param ws_ping_timeout: seconds a pong may take before the socket is replaced.
    :param ws_max_lifetime: seconds after which a socket is replaced (the venue closes at 24 h; default 23.5 h).
    :param ws_rollover_overlap: seconds the old and the new socket overlap during a replacement.
    :param ws_backoff_base: first reconnect delay ceiling in seconds (full jitter, doubling).
    :param ws_backoff_cap: largest reconnect delay in seconds.
    :param ws_open_timeout: seconds for a socket's opening handshake (and user-data subscription).
    :param max_streams_per_connection: market streams per connection (the venue allows 1024).
    :param listen_key_keepalive: seconds between USD-M listen-key keepalives (the key lives 60 min).
    :param reconcile_attempts: order lookups by client id after an unknown outcome.
    :param reconcile_delay: seconds between those lookups.
    :param json: frame decoder, ``orjson`` or ``json`` (the standard library).
    :param queue_size: events a trade/candle/order watcher may fall behind before SubscriptionOverflow.
    """

    recv_window: int | None = attrs.field(default=5000, converter=_optional_int, validator=_positive)
    timeout: float = attrs.field(default=10.0, converter=_seconds, validator=_positive)
    book_snapshot_limit: int = attrs.field(default=1000, converter=int)
    book_speed: str = "100ms"
    book_first_event_timeout: float = attrs.field(default=3.0, converter=_seconds, validator=_positive)
    book_max_attempts: int = attrs.field(default=10, converter=int, validator=_positive)
    book_retry_delay: float = attrs.field(default=0.25, converter=_seconds, validator=_positive)
    ws_ping_interval: float | None = attrs.field(default=30.0, converter=_optional_seconds, validator=_positive)
    ws_ping_timeout: float | None = attrs.field(default=30.0, converter=_optional_seconds, validator=_positive)
    ws_max_lifetime: float = attrs.field(default=23.5 * 3600, converter=_seconds, validator=_positive)
    ws_rollover_overlap: float = attrs.field(default=2.0, converter=_seconds)
    ws_backoff_base: float = attrs.field(default=0.5, converter=_seconds, validator=_positive)
    ws_backoff_cap: float = attrs.field(default=30.0, converter=_seconds, validator=_positive)
    ws_open_timeout: float = attrs.field(default=10.0, converter=_seconds, validator=_positive)
    max_streams_per_connection: int = attrs.field(default=1024, converter=int, validator=_positive)
    listen_key_keepalive: float = attrs.field(default=30 * 60.0, converter=_seconds, validator=_positive)
    reconcile_attempts: int = attrs.field(default=3, converter=int, validator=_positive)
    reconcile_delay: float = attrs.field(default=0.5, converter=_seconds)
    json: str = "orjson"
    queue_size: int = attrs.field(default=10_000, converter=int, validator=_positive)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any], exchange: str) -> BinanceSettings:
        """Settings from ``connect(**settings)`` / config ``options``; unknown names raise ConfigError."""
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(settings) - known - CORE_SETTINGS)
        if unknown:
            raise ConfigError(
                f"unknown {exchange} setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
                exchange=exchange,
            )
        if settings.get("json", "orjson") not in ("orjson", "json"):
            raise ConfigError(f"setting json must be 'orjson' or 'json', got {settings['json']!r}", exchange=exchange)
        try:
            return cls(**{k: v for k, v in settings.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad {exchange} setting: {exc}", exchange=exchange) from None
