"""The configuration values (``Config``, ``ExchangeConfig``) and the located error."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..credentials import Credentials
from ..errors import ConfigError
from ..ratelimit import RateLimitRule

__all__ = ["CHECK_KEY", "CHECK_VALUE", "Config", "ConfigFileError", "ConfigProblem", "ExchangeConfig"]

#: field metadata: ``check(key) -> message | None`` run on each key of a mapping field.
CHECK_KEY = "exchanges.config.check_key"
#: field metadata: ``check(value) -> message | None`` run on each value of a mapping field.
CHECK_VALUE = "exchanges.config.check_value"

# Same rule as ExchangeDescriptor.id: a section named otherwise could never match a venue.
_EXCHANGE_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s]+\S*$")
#: at most this many problems are spelled out in an error message.
_SHOWN_PROBLEMS = 20


def check_exchange_id(exchange_id: str) -> str | None:
    """Why ``exchange_id`` cannot name a venue, or None when it can."""
    if _EXCHANGE_ID.match(exchange_id):
        return None
    return "an exchange id is lowercase letters, digits, '-' or '_' (max 40), e.g. 'binance-usdm'"


def check_url(url: str) -> str | None:
    """Why ``url`` is not a base URL, or None when it is."""
    if _URL.match(url):
        return None
    return f"expected a URL such as http://127.0.0.1:8080, got {url!r}"


def _to_credentials(value: Mapping[str, str] | None) -> Credentials | None:
    if value is None or isinstance(value, Credentials):
        return value
    return Credentials(value, source="config") if value else None


@attrs.frozen
class ExchangeConfig:
    """One venue's section of the configuration file (``exchanges.<id>``).

    Every field is optional: ``None`` (or empty) means "not set here", so
    :func:`exchanges.connect` falls back to its arguments, the plugins' hooks
    and the environment. ``credentials`` is a redacted
    :class:`~exchanges.credentials.Credentials`; its values never appear in a
    ``repr``.
    """

    credentials: Credentials | None = attrs.field(default=None, converter=_to_credentials)
    account: str | None = None
    testnet: bool | None = None
    #: endpoint name -> base URL (``rest``, ``ws``...); names are checked against the venue by ``connect``.
    endpoints: dict[str, str] = attrs.field(factory=dict, metadata={CHECK_VALUE: check_url})
    #: rules that replace (same ``key/window`` name) or add to the venue's own rules.
    rate_limits: tuple[RateLimitRule, ...] = attrs.field(default=(), converter=tuple)
    #: free-form venue settings, passed to the connector (``connect(**settings)`` wins).
    options: dict[str, Any] = attrs.field(factory=dict)

    def merged_over(self, defaults: ExchangeConfig | None) -> ExchangeConfig:
        """This section with ``defaults`` filling what it leaves unset (options merged key by key)."""
        if defaults is None:
            return self
        return attrs.evolve(
            self,
            account=self.account if self.account is not None else defaults.account,
            testnet=self.testnet if self.testnet is not None else defaults.testnet,
            options={**defaults.options, **self.options},
        )


@attrs.frozen
class Config:
    """A parsed configuration file: one :class:`ExchangeConfig` per venue id.

    ``source`` is the file it came from (None when no file was found).
    ``defaults`` holds the top-level ``defaults:`` section, already merged into
    every entry of ``exchanges``; it also answers for venues the file does not
    list.
    """

    source: str | None = None
    exchanges: dict[str, ExchangeConfig] = attrs.field(factory=dict)
    defaults: ExchangeConfig | None = None

    def exchange(self, exchange_id: str) -> ExchangeConfig | None:
        """The section of ``exchange_id``; the defaults when it has none; None when neither exists."""
        return self.exchanges.get(exchange_id, self.defaults)


@attrs.frozen
class ConfigProblem:
    """One thing wrong in a configuration file, at ``line`` (1-based; 0 when unknown) under ``key``."""

    file: str
    line: int
    #: dotted path of the offending key, e.g. ``exchanges.binance.rate_limits[0].limit`` ("" for the file).
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigFileError(ConfigError):
    """A configuration file is invalid. The message has one ``file:line: key: problem`` line per problem.

    ``problems`` lists them all (sorted by line); ``file``, ``line`` and ``key``
    are those of the first. Messages never quote a credential value.
    """

    def __init__(self, file: str, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        self.file, self.line, self.key = file, first.line, first.key
        lines = [str(p) for p in self.problems[:_SHOWN_PROBLEMS]]
        if len(self.problems) > _SHOWN_PROBLEMS:
            lines.append(f"... and {len(self.problems) - _SHOWN_PROBLEMS} more problems")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.file, self.problems))
