"""HTTP transport: one pooled aiohttp session per connector, signing, limits, unified errors.

The transport knows no venue. A plugin gives it base URLs (the resolved
``ConnectorContext.endpoints``), a :class:`Signer`, a limiter, and an error
mapper, and then calls :meth:`HttpClient.request` with the venue's own paths::

    client = HttpClient.from_context(ctx, signer=signer, limits=limits, error_mapper=map_error)
    async with client:
        resp = await client.request("GET", "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5},
                                    costs={"weight": 5})
        book = resp.json()

Outcome rules (the reason this module exists):

* The limiter is asked for ``costs`` before every attempt; the signer runs after
  it, so timestamps and nonces are fresh.
* A failure before the request left (DNS, refused, connect timeout, waiting for
  a pooled connection) is a :class:`NetworkError` and is retried for any request.
* A failure after it may have reached the venue (timeout, reset, 5xx, 408) is
  :class:`UnknownOutcome` for a non-idempotent request and is never retried;
  an idempotent request (GET/HEAD/OPTIONS, or ``idempotent=True``) gets
  :class:`RequestTimeout` / :class:`ExchangeUnavailable` / :class:`NetworkError`
  and is retried with capped exponential backoff and jitter (``stamina``).
* 429 is :class:`RateLimited` with ``retry_after``; 418 is :class:`RateLimited`
  with ``until`` (a ``time.monotonic()`` deadline); the limiter hears about both
  first, so the following calls wait (429) or fail fast (418).
* Log lines carry the venue, method, path, scrubbed query and status, nothing else.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import orjson
import stamina
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    NetworkError,
    RateLimited,
    RequestTimeout,
    UnknownOutcome,
)
from ..ratelimit import parse_retry_after
from ._http_types import (
    _MISSING,
    SENSITIVE_PARAMS,
    ErrorMapper,
    HttpResponse,
    PreparedRequest,
    RateLimiterLike,
    RetryPolicy,
    Signer,
    Timeouts,
    encode_pairs,
    normalize_params,
    redact,
    scrub_query,
)

if TYPE_CHECKING:
    from ..connector import ConnectorContext

__all__ = [
    "SENSITIVE_PARAMS",
    "ErrorMapper",
    "HttpClient",
    "HttpResponse",
    "PreparedRequest",
    "RateLimiterLike",
    "RetryPolicy",
    "Signer",
    "Timeouts",
    "join_url",
    "scrub_query",
]

log = logging.getLogger("exchanges.transport.http")

#: Methods that are idempotent unless the caller says otherwise.
SAFE_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})

#: Seconds a 418 without ``Retry-After`` is assumed to last (Binance's shortest ban is 2 minutes).
DEFAULT_BAN_SECONDS = 120.0


def join_url(base: str, path: str) -> str:
    """``base`` (scheme, host, port and optional path prefix) followed by the venue ``path``."""
    if not path:
        return base.rstrip("/")
    return base.rstrip("/") + "/" + path.lstrip("/")


def _check_base(name: str, url: str) -> str:
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"endpoint {name!r} must be an http(s) URL with a host, got {url!r}")
    if parsed.query_string or parsed.fragment:
        raise ConfigError(f"endpoint {name!r} must not carry a query or fragment: {url!r}")
    return url.rstrip("/")


@attrs.define
class _AttemptState:
    """Filled by aiohttp trace callbacks: did this attempt's request leave the process?"""

    sent: bool = False


async def _on_headers_sent(session: Any, ctx: Any, params: Any) -> None:
    state = ctx.trace_request_ctx
    if isinstance(state, _AttemptState):
        state.sent = True


def _mark(exc: ExchangeError, *, sent: bool) -> ExchangeError:
    # The retry predicate reads this: an error raised before the request left is always safe to retry.
    exc._request_sent = sent  # type: ignore[attr-defined]
    return exc


class HttpClient:
    """Async HTTP client of one connector (one pooled ``aiohttp.ClientSession``).

    ``base_urls`` maps endpoint names (``"rest"``...) to URLs; entries that are
    not http(s) (websocket URLs of the same context) are ignored. ``secrets``
    are scrubbed from log lines and error messages on top of the sensitive
    parameter names. ``clock`` returns epoch milliseconds for
    :attr:`PreparedRequest.timestamp` (a plugin can correct for server skew).
    """

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        exchange: str,
        signer: Signer | None = None,
        limits: RateLimiterLike | None = None,
        error_mapper: ErrorMapper | None = None,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        clock: Callable[[], int] | None = None,
        connection_limit: int = 100,
        connection_limit_per_host: int = 0,
        dns_cache_ttl: int = 300,
        keepalive_timeout: float = 15.0,
    ) -> None:
        self.exchange = exchange
        self.base_urls: dict[str, str] = {
            name: _check_base(name, url)
            for name, url in base_urls.items()
            if URL(url).scheme in ("http", "https")
        }
        self.signer = signer
        self.limits = limits
        self.error_mapper = error_mapper
        self.timeouts = timeout if isinstance(timeout, Timeouts) else Timeouts() if timeout is None else Timeouts(total=timeout)
        self.retry = retry or RetryPolicy()
        self.headers = dict(headers or {})
        self._secrets = tuple(secrets)
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._pool = {
            "limit": connection_limit,
            "limit_per_host": connection_limit_per_host,
            "ttl_dns_cache": dns_cache_ttl,
            "keepalive_timeout": keepalive_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_context(cls, context: ConnectorContext, **kwargs: Any) -> HttpClient:
        """A client on ``context.endpoints`` named after the venue; credentials' values become scrub secrets."""
        secrets = tuple(kwargs.pop("secrets", ()))
        if context.credentials is not None:
            secrets += context.credentials.secrets()
        return cls(context.endpoints, exchange=context.exchange_id, secrets=secrets, **kwargs)

    # lifecycle -----------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while a session is open."""
        return self._session is not None and not self._session.closed

    async def open(self) -> None:
        """Create the pooled session (idempotent; called by the first request if needed)."""
        if self.is_open:
            return
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_on_headers_sent)
        connector = aiohttp.TCPConnector(use_dns_cache=True, **self._pool)  # type: ignore[arg-type]
        session = aiohttp.ClientSession(
            connector=connector,
            trace_configs=[trace],
            auto_decompress=True,
        )
        # aiohttp silently resends GET/PUT/DELETE once when a reused keep-alive connection drops;
        # a resent DELETE (a cancel) can turn success into "unknown order". Our retry policy decides.
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session

    async def close(self) -> None:
        """Close the session and its connections (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> HttpClient:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<HttpClient {self.exchange} {sorted(self.base_urls)} {state}>"

    # requests ------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        base: str = "rest",
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] | bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = False,
        costs: Mapping[str, int] | None = None,
        endpoint: str | None = None,
        idempotent: bool | None = None,
        timeout: Timeouts | float | None = None,
        limit_scope: str = "ip",
        client_order_id: str | None = None,
    ) -> HttpResponse:
        """Send one request (retrying where that is safe) and return the response.

        ``params`` go in the query string in the given order; ``json`` or
        ``data`` (a form mapping, or raw bytes/str) make the body. ``signed``
        runs the signer. ``costs`` (``{"weight": 5}``) and ``endpoint`` (default
        ``"METHOD /path"``) go to the limiter before each attempt; ``limit_scope``
        names the scope a 429/418 is reported for. ``idempotent`` defaults to
        True for GET/HEAD/OPTIONS. ``client_order_id`` is copied onto an
        :class:`UnknownOutcome` so the caller can reconcile.

        Raises the error mapper's error, :class:`RateLimited`,
        :class:`UnknownOutcome`, :class:`NetworkError` (and subclasses),
        :class:`AuthenticationError`, or :class:`ExchangeError`.
        """
        method = method.upper()
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        if signed and self.signer is None:
            raise AuthenticationError(f"{method} {path} needs credentials", exchange=self.exchange)
        base_url = self.base_urls.get(base)
        if base_url is None:
            raise ConfigError(f"no http endpoint named {base!r} (known: {', '.join(sorted(self.base_urls))})",
                              exchange=self.exchange)
        idem = method in SAFE_METHODS if idempotent is None else idempotent
        template = self._template(method, path, base, params, json, data, headers)
        call = _Call(
            method=method, path=path, base_url=base_url, template=template, signed=signed,
            costs=costs, endpoint=endpoint or f"{method} {path}", idempotent=idem,
            timeouts=self._timeouts(timeout), scope=limit_scope, client_order_id=client_order_id,
        )
        policy = self.retry

        def retryable(exc: Exception) -> bool:
            if isinstance(exc, RateLimited) or not isinstance(exc, ExchangeError):
                return False
            if not getattr(exc, "_request_sent", True):
                return isinstance(exc, NetworkError)
            return idem and isinstance(exc, (NetworkError, UnknownOutcome))

        async for attempt in stamina.retry_context(
            on=retryable,
            attempts=policy.attempts,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
            wait_exp_base=policy.wait_exp_base,
        ):
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    async def get(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("GET", path, ...)``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("POST", path, ...)``."""
        return await self.request("POST", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        """``request("DELETE", path, ...)``."""
        return await self.request("DELETE", path, **kwargs)

    # internals -----------------------------------------------------------------------------

    def _template(
        self,
        method: str,
        path: str,
        base: str,
        params: Any,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
    ) -> PreparedRequest:
        merged = dict(self.headers)
        merged.update(headers or {})
        request = PreparedRequest(method, path, normalize_params(params), headers=merged, base=base)
        if json is not None:
            return request.with_json(json)
        if isinstance(data, (bytes, str)):
            return request.with_body(data)
        if data is not None:
            form = encode_pairs(normalize_params(data))
            return request.with_body(form, "application/x-www-form-urlencoded")
        return request

    def _timeouts(self, timeout: Timeouts | float | None) -> aiohttp.ClientTimeout:
        t = self.timeouts if timeout is None else timeout if isinstance(timeout, Timeouts) else Timeouts(total=timeout)
        # sock_connect, not connect: waiting for a pooled connection is bounded by `total` only
        return aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.read)

    def _where(self, call: _Call, query: str) -> str:
        scrubbed = scrub_query(query, secrets=self._secrets)
        return f"{call.path}?{scrubbed}" if scrubbed else call.path

    async def _attempt(self, call: _Call) -> HttpResponse:
        if self.limits is not None and (call.costs or call.endpoint):
            await self.limits.acquire(dict(call.costs or {}), endpoint=call.endpoint)
        prepared = attrs.evolve(call.template, timestamp=self._clock())
        if call.signed:
            assert self.signer is not None
            signed = self.signer.sign(prepared)
            prepared = await signed if inspect.isawaitable(signed) else signed
        query = prepared.query_string
        url = URL(join_url(call.base_url, prepared.path) + (f"?{query}" if query else ""), encoded=True)
        where = self._where(call, query)
        await self.open()
        assert self._session is not None
        state = _AttemptState()
        started = time.perf_counter()
        try:
            async with self._session.request(
                call.method, url, data=prepared.body, headers=dict(prepared.headers),
                timeout=call.timeouts, allow_redirects=False, trace_request_ctx=state,
            ) as resp:
                body = await resp.read()
                status = resp.status
                resp_headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(resp.headers))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("%s %s %s failed: %s", self.exchange, call.method, where, type(exc).__name__)
            raise self._transport_error(exc, call, state, where) from exc
        log.debug("%s %s %s -> %d (%.1f ms)", self.exchange, call.method, where, status,
                  (time.perf_counter() - started) * 1000)
        return await self._handle(call, where, status, resp_headers, body)

    def _transport_error(self, exc: BaseException, call: _Call, state: _AttemptState, where: str) -> ExchangeError:
        kind = type(exc).__name__
        if isinstance(exc, aiohttp.InvalidURL):
            return _mark(ConfigError(f"{call.method} {where}: invalid URL ({kind})", exchange=self.exchange), sent=False)
        if not state.sent:
            if isinstance(exc, TimeoutError):
                err: ExchangeError = RequestTimeout(f"{call.method} {where}: timed out before sending ({kind})",
                                                    exchange=self.exchange)
            elif isinstance(exc, aiohttp.ClientConnectorDNSError):
                err = NetworkError(f"{call.method} {where}: cannot resolve host ({kind})", exchange=self.exchange)
            else:
                err = ExchangeUnavailable(f"{call.method} {where}: cannot connect ({kind})", exchange=self.exchange)
            return _mark(err, sent=False)
        what = "timed out" if isinstance(exc, TimeoutError) else f"connection failed ({kind})"
        if not call.idempotent:
            return _mark(self._unknown(call, f"{call.method} {where}: {what} after sending; the outcome is unknown"),
                         sent=True)
        cls = RequestTimeout if isinstance(exc, TimeoutError) else NetworkError
        return _mark(cls(f"{call.method} {where}: {what}", exchange=self.exchange), sent=True)

    def _unknown(self, call: _Call, message: str) -> UnknownOutcome:
        return UnknownOutcome(message, exchange=self.exchange, client_order_id=call.client_order_id)

    async def _handle(
        self, call: _Call, where: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        if self.limits is not None:
            fed = self.limits.on_response(status, headers, scope=call.scope)
            if inspect.isawaitable(fed):
                await fed
        if status in (418, 429):
            raise _mark(self._rate_limited(call, where, status, headers), sent=True)
        parsed: Any = _MISSING
        if self.error_mapper is not None:
            try:
                parsed = orjson.loads(body) if body else None
            except orjson.JSONDecodeError:
                mapped = self.error_mapper(status, headers, None)
            else:
                mapped = self.error_mapper(status, headers, parsed)
            if mapped is not None:
                if mapped.exchange is None:
                    mapped.exchange = self.exchange
                if isinstance(mapped, UnknownOutcome) and mapped.client_order_id is None:
                    mapped.client_order_id = call.client_order_id
                raise _mark(mapped, sent=True)
        if 200 <= status < 300:
            return HttpResponse(status, headers, body, call.method, call.path, parsed=parsed)
        raise _mark(self._status_error(call, where, status, body), sent=True)

    def _rate_limited(self, call: _Call, where: str, status: int, headers: Mapping[str, str]) -> RateLimited:
        retry_after = parse_retry_after(headers)
        if status == 429:
            return RateLimited(f"{call.method} {where}: HTTP 429 rate limited", exchange=self.exchange,
                               retry_after=retry_after)
        seconds = DEFAULT_BAN_SECONDS if retry_after is None else retry_after
        return RateLimited(f"{call.method} {where}: HTTP 418 banned for {seconds:g} s", exchange=self.exchange,
                           retry_after=seconds, until=time.monotonic() + seconds)

    def _status_error(self, call: _Call, where: str, status: int, body: bytes) -> ExchangeError:
        snippet = redact(body[:200].decode("utf-8", errors="replace"), self._secrets)
        message = f"{call.method} {where}: HTTP {status} {snippet}".rstrip()
        if status >= 500 or status == 408:
            if not call.idempotent:
                return self._unknown(call, f"{message}; the outcome is unknown")
            cls = RequestTimeout if status in (408, 504) else ExchangeUnavailable
            return cls(message, exchange=self.exchange)
        if status == 401:
            return AuthenticationError(message, exchange=self.exchange)
        return ExchangeError(message, exchange=self.exchange)


@attrs.frozen
class _Call:
    """Everything about one :meth:`HttpClient.request` call that does not change between attempts."""

    method: str
    path: str
    base_url: str
    template: PreparedRequest
    signed: bool
    costs: Mapping[str, int] | None
    endpoint: str
    idempotent: bool
    timeouts: aiohttp.ClientTimeout
    scope: str
    client_order_id: str | None
