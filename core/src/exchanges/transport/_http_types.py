"""Values and protocols of the HTTP transport: what a signer sees, what a caller gets back.

Kept free of aiohttp so signers, error mappers and their tests can import it cheaply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import attrs
import orjson

from ..errors import ExchangeError

__all__ = [
    "SENSITIVE_PARAMS",
    "ErrorMapper",
    "HttpResponse",
    "PreparedRequest",
    "RateLimiterLike",
    "RetryPolicy",
    "Signer",
    "Timeouts",
    "dump_json",
    "encode_pairs",
    "normalize_params",
    "scrub_query",
]

#: Query / form parameter names whose values never reach a log line or an error message.
SENSITIVE_PARAMS: frozenset[str] = frozenset(
    {
        "signature", "sign", "apikey", "api_key", "key", "secret", "secretkey", "secret_key", "passphrase",
        "password", "token", "access_token", "listenkey", "private_key", "privatekey",
    }
)

# RFC 3986 unreserved characters only: everything else is percent-encoded (UTF-8), which
# is what Binance requires of non-ASCII values, and the same bytes are signed and sent.
_UNRESERVED = "-._~"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def normalize_params(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> tuple[tuple[str, str], ...]:
    """Ordered ``(name, text)`` pairs; ``None`` values are dropped, bools are ``true``/``false``.

    Order is kept as given (a mapping keeps insertion order), because signing
    schemes sign the query string exactly as sent.
    """
    if params is None:
        return ()
    items = params.items() if isinstance(params, Mapping) else params
    return tuple((str(k), _text(v)) for k, v in items if v is not None)


def encode_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """``k=v&k2=v2`` percent-encoded (UTF-8, only unreserved characters left as is)."""
    return "&".join(f"{quote(k, safe=_UNRESERVED)}={quote(v, safe=_UNRESERVED)}" for k, v in pairs)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump_json(value: Any) -> bytes:
    """Serialize with orjson; ``Decimal`` becomes a plain decimal string (never a float)."""
    return orjson.dumps(value, default=_json_default)


def scrub_query(query: str, *, sensitive: Iterable[str] = SENSITIVE_PARAMS, secrets: Iterable[str] = ()) -> str:
    """``query`` with the values of sensitive parameters and any known secret replaced by ``<redacted>``.

    Used for every query string that reaches a log line or an error message.
    """
    if not query:
        return query
    names = {n.lower() for n in sensitive}
    parts = []
    for part in query.split("&"):
        name, sep, _value = part.partition("=")
        parts.append(f"{name}=<redacted>" if sep and name.lower() in names else part)
    text = "&".join(parts)
    return redact(text, secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (4 characters or more, longest first) occurring in ``text``."""
    for value in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, "<redacted>")
        encoded = quote(value, safe=_UNRESERVED)
        if encoded != value:
            text = text.replace(encoded, "<redacted>")
    return text


@attrs.frozen
class PreparedRequest:
    """One request as a :class:`Signer` sees it, and as it is sent, byte for byte.

    ``path`` is the venue's own path (``/api/v3/order``), without the base URL
    or any prefix of an endpoint override, because venues sign their own paths.
    ``params`` are the query pairs in sending order; ``body`` is the exact body;
    ``json`` is the object ``body`` was serialized from (None for form or raw
    bodies). ``timestamp`` is the epoch milliseconds of this attempt, taken after
    the rate limiter let the request through, so it is fresh for ``recvWindow``
    checks and usable as a nonce.
    """

    method: str
    path: str
    # params, body, headers and json may carry keys and signatures: kept out of repr (see __repr__)
    params: tuple[tuple[str, str], ...] = attrs.field(default=(), repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, str] = attrs.field(
        factory=dict, converter=lambda h: MappingProxyType(dict(h)), repr=False
    )
    timestamp: int = 0
    json: Any = attrs.field(default=None, repr=False)
    base: str = "rest"

    def __repr__(self) -> str:
        query = scrub_query(self.query_string)
        shown = f"{self.path}?{query}" if query else self.path
        return f"PreparedRequest({self.method} {shown}, headers=[{', '.join(sorted(self.headers))}], base={self.base!r})"

    @property
    def query_string(self) -> str:
        """The percent-encoded query string exactly as it will be sent (no leading ``?``)."""
        return encode_pairs(self.params)

    @property
    def path_with_query(self) -> str:
        """``path?query`` (just ``path`` without parameters), e.g. OKX's ``requestPath``."""
        query = self.query_string
        return f"{self.path}?{query}" if query else self.path

    def with_params(self, *pairs: tuple[str, Any], **params: Any) -> PreparedRequest:
        """A copy with parameters appended after the existing ones (``signature`` goes last this way)."""
        added = normalize_params(list(pairs) + list(params.items()))
        return attrs.evolve(self, params=self.params + added)

    def with_headers(self, headers: Mapping[str, str] | None = None, **more: str) -> PreparedRequest:
        """A copy with headers added or replaced."""
        merged = dict(self.headers)
        merged.update(headers or {})
        merged.update(more)
        return attrs.evolve(self, headers=merged)

    def with_json(self, value: Any) -> PreparedRequest:
        """A copy whose body is ``value`` serialized once with orjson (signed and sent as these bytes)."""
        headers = dict(self.headers)
        headers.setdefault("Content-Type", "application/json")
        return attrs.evolve(self, json=value, body=dump_json(value), headers=headers)

    def with_body(self, body: bytes | str, content_type: str | None = None) -> PreparedRequest:
        """A copy with a raw body (``json`` cleared); ``content_type`` sets the header."""
        raw = body.encode() if isinstance(body, str) else body
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        return attrs.evolve(self, json=None, body=raw, headers=headers)


@runtime_checkable
class Signer(Protocol):
    """Authenticates a request: returns it with signed params, body or headers.

    Called once per attempt, after the rate limiter and right before sending.
    May be a plain method or a coroutine. Binance appends ``signature`` with
    :meth:`PreparedRequest.with_params`; OKX adds headers over
    ``timestamp + method + path_with_query + body``; Hyperliquid rewrites the
    JSON body with :meth:`PreparedRequest.with_json`.
    """

    def sign(self, request: PreparedRequest) -> PreparedRequest | Awaitable[PreparedRequest]:
        """The signed request (a new :class:`PreparedRequest`)."""
        ...


@runtime_checkable
class RateLimiterLike(Protocol):
    """What the transport needs from a limiter (``exchanges.ratelimit.RateLimits`` fits).

    ``acquire`` waits until every budget in ``costs`` allows the request, or
    raises :class:`~exchanges.errors.RateLimited` while the scope is banned;
    ``on_response`` feeds back status and headers (usage headers, 429 pause,
    418 ban). ``on_response`` may return an awaitable.
    """

    async def acquire(self, costs: Mapping[str, int], *, endpoint: str | None = None) -> Any:
        """Wait for budget."""
        ...

    def on_response(self, status: int, headers: Mapping[str, str], *, scope: str = "ip") -> Any:
        """Learn from a response."""
        ...


#: ``(status, headers, parsed JSON body or None) -> ExchangeError | None``; called on every
#: response (venues report errors inside HTTP 200 too), before the default status mapping.
ErrorMapper = Callable[[int, Mapping[str, str], Any], ExchangeError | None]


@attrs.frozen
class Timeouts:
    """Seconds allowed for connecting (``connect``), for one socket read (``read``) and for the whole request."""

    total: float | None = 10.0
    connect: float | None = 5.0
    read: float | None = None


@attrs.frozen
class RetryPolicy:
    """How idempotent requests (and requests that never left) are retried.

    Capped exponential backoff with additive jitter (``stamina``):
    ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``.
    ``attempts`` counts the first try; ``timeout`` bounds all attempts
    together. ``stamina.set_testing(True)`` turns the waits off in tests.
    """

    attempts: int = 3
    timeout: float | None = 30.0
    wait_initial: float = 0.2
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    wait_exp_base: float = 2.0

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no retry at all."""
        return cls(attempts=1)


_MISSING: Any = object()


@attrs.frozen
class HttpResponse:
    """A response: ``status``, case-insensitive ``headers``, raw ``body`` bytes, and where it came from."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    method: str = ""
    path: str = ""
    _parsed: Any = attrs.field(default=_MISSING, eq=False, repr=False, alias="parsed")

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body decoded with orjson; :class:`ExchangeError` if it is not JSON."""
        if self._parsed is not _MISSING:
            return self._parsed
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise ExchangeError(f"{self.method} {self.path}: response (HTTP {self.status}) is not JSON") from None

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")
