"""REST calls: which endpoint, which weight, signed or not; server-time offset and the -1021 retry.

Every call goes through the core :class:`~exchanges.transport.http.HttpClient`
(pooled session, shared rate limiter, retries of idempotent requests only) by
name from a table of :class:`Route` per product line, so paths, security types
and weights are data, not scattered through call sites.

Signed requests carry ``recvWindow`` and a ``timestamp`` taken from the local
clock corrected by the server-time offset (``GET /api/v3/time`` /
``/fapi/v1/time``, measured before the first signed call). A ``-1021`` answer
(timestamp outside recvWindow) resyncs the offset and retries the request
once: the venue rejected it before the matching engine, so the retry cannot
double an order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from exchanges import ExchangeError

from .errors import InvalidTimestamp, map_error, service_unavailable
from .ratelimits import spot_depth_weight, usdm_depth_weight, usdm_klines_weight

if TYPE_CHECKING:
    from exchanges import ConnectorContext
    from exchanges.ratelimit import RateLimits
    from exchanges.transport.http import HttpClient, PreparedRequest

    from .signing import Signer

__all__ = ["SPOT_ROUTES", "USDM_ROUTES", "BinanceRest", "RestSigner", "Route", "http_error_mapper"]

Weigh = Callable[[Mapping[str, Any]], int]


@attrs.frozen
class Route:
    """One REST endpoint: method, path, security type (``none``, ``key``: API key header only, ``signed``)
    and, when the weight depends on the parameters, the function computing it (else the registered cost)."""

    method: str
    path: str
    security: str = "none"
    weigh: Weigh | None = None
    idempotent: bool | None = None

    @property
    def endpoint(self) -> str:
        """``"METHOD /path"``, the key of the endpoint's registered cost."""
        return f"{self.method} {self.path}"


def _limit(params: Mapping[str, Any], default: int) -> int:
    return int(params.get("limit", default))


def _all_symbols(heavy: int, light: int) -> Weigh:
    return lambda params: light if params.get("symbol") else heavy


SPOT_ROUTES: Mapping[str, Route] = {
    "ping": Route("GET", "/api/v3/ping"),
    "time": Route("GET", "/api/v3/time"),
    "exchange_info": Route("GET", "/api/v3/exchangeInfo"),
    "depth": Route("GET", "/api/v3/depth", weigh=lambda p: spot_depth_weight(_limit(p, 100))),
    "trades": Route("GET", "/api/v3/trades"),
    "klines": Route("GET", "/api/v3/klines"),
    "ticker_24h": Route("GET", "/api/v3/ticker/24hr", weigh=_all_symbols(80, 2)),
    "book_ticker": Route("GET", "/api/v3/ticker/bookTicker", weigh=_all_symbols(4, 2)),
    "order_new": Route("POST", "/api/v3/order", "signed"),
    "order_cancel": Route("DELETE", "/api/v3/order", "signed"),
    "cancel_all": Route("DELETE", "/api/v3/openOrders", "signed"),
    "order_query": Route("GET", "/api/v3/order", "signed"),
    "open_orders": Route("GET", "/api/v3/openOrders", "signed", weigh=_all_symbols(80, 6)),
    "account": Route("GET", "/api/v3/account", "signed"),
}

USDM_ROUTES: Mapping[str, Route] = {
    "ping": Route("GET", "/fapi/v1/ping"),
    "time": Route("GET", "/fapi/v1/time"),
    "exchange_info": Route("GET", "/fapi/v1/exchangeInfo"),
    "depth": Route("GET", "/fapi/v1/depth", weigh=lambda p: usdm_depth_weight(_limit(p, 500))),
    "trades": Route("GET", "/fapi/v1/trades"),
    "klines": Route("GET", "/fapi/v1/klines", weigh=lambda p: usdm_klines_weight(_limit(p, 500))),
    "ticker_24h": Route("GET", "/fapi/v1/ticker/24hr", weigh=_all_symbols(40, 1)),
    "book_ticker": Route("GET", "/fapi/v1/ticker/bookTicker", weigh=_all_symbols(5, 2)),
    "order_new": Route("POST", "/fapi/v1/order", "signed"),
    "order_cancel": Route("DELETE", "/fapi/v1/order", "signed"),
    "cancel_all": Route("DELETE", "/fapi/v1/allOpenOrders", "signed"),
    "order_query": Route("GET", "/fapi/v1/order", "signed"),
    "open_orders": Route("GET", "/fapi/v1/openOrders", "signed", weigh=_all_symbols(40, 1)),
    "balance": Route("GET", "/fapi/v3/balance", "signed"),
    "positions": Route("GET", "/fapi/v3/positionRisk", "signed"),
    "leverage": Route("POST", "/fapi/v1/leverage", "signed", idempotent=True),
    # the venue returns the active key (and extends it) when one exists: safe to repeat
    "listen_key_new": Route("POST", "/fapi/v1/listenKey", "key", idempotent=True),
    "listen_key_keep": Route("PUT", "/fapi/v1/listenKey", "key", idempotent=True),
    "listen_key_close": Route("DELETE", "/fapi/v1/listenKey", "key", idempotent=True),
}


class RestSigner:
    """The core transport's signer for Binance REST: ``recvWindow``, ``timestamp``, then ``signature`` last.

    The payload is the query string exactly as sent followed by the body (no
    separator); the API key goes in ``X-MBX-APIKEY``. Ed25519 signatures are
    Base64 and get percent-encoded with the rest of the query.
    """

    def __init__(self, signer: Signer, recv_window: int | None = 5000) -> None:
        self._signer = signer
        self.recv_window = recv_window

    def sign(self, request: PreparedRequest) -> PreparedRequest:
        """Add recvWindow, timestamp (the attempt's corrected clock) and the signature."""
        if self.recv_window is not None:
            request = request.with_params(recvWindow=self.recv_window)
        request = request.with_params(timestamp=request.timestamp)
        body = request.body.decode() if request.body else ""
        signature = self._signer.sign(request.query_string + body)
        return request.with_params(signature=signature).with_headers({"X-MBX-APIKEY": self._signer.api_key})

    def __repr__(self) -> str:
        return f"<RestSigner {self._signer!r}>"


def http_error_mapper(exchange: str, futures: bool) -> Callable[[int, Mapping[str, str], Any], ExchangeError | None]:
    """The transport's error mapper: Binance codes via :func:`map_error`.

    A 5xx (other than -1007) is left to the transport, which knows whether
    the request was idempotent (retry a read; an order becomes UnknownOutcome),
    except USD-M's "Service Unavailable." (503: failed for sure, not executed,
    venues.md §2.3). On spot any 5xx leaves the outcome unknown (§1.2).
    """

    def mapped(status: int, headers: Mapping[str, str], body: Any) -> ExchangeError | None:
        if status >= 500:
            code = body.get("code") if isinstance(body, Mapping) else None
            message = str(body.get("msg", "")) if isinstance(body, Mapping) else ""
            # -1007 is an unknown outcome even for a read; USD-M's "Service Unavailable." a sure failure
            if code != -1007 and not service_unavailable(status, message, futures=futures):
                return None
        return map_error(status, headers, body, exchange, futures=futures)

    return mapped


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class BinanceRest:
    """Binance REST for one connector: named routes, weights, signing, server-time offset, -1021 retry.

    :param context: the connector context (endpoints, credentials for scrubbing).
    :param futures: USD-M routes instead of spot ones.
    :param limits: the shared rate limiter (weights and order counts).
    :param signer: the account's signer, or None for public endpoints only.
    :param recv_window: ``recvWindow`` of signed requests in ms (None: the venue default, 5000).
    :param timeout: seconds for a whole request (Binance's own backend gives up after 10 s).
    """

    def __init__(
        self,
        context: ConnectorContext,
        *,
        futures: bool,
        limits: RateLimits | None,
        signer: Signer | None,
        recv_window: int | None = 5000,
        timeout: float = 10.0,
        http: HttpClient | None = None,
    ) -> None:
        from exchanges.transport.http import HttpClient, RetryPolicy, Timeouts

        self.exchange = context.exchange_id
        self.futures = futures
        self.routes = USDM_ROUTES if futures else SPOT_ROUTES
        self.signer = signer
        #: milliseconds to add to the local clock to get the server's (measured by :meth:`sync_time`)
        self.offset_ms = 0
        self.time_synced = False
        self._time_lock = asyncio.Lock()
        self.http = http or HttpClient.from_context(
            context,
            signer=RestSigner(signer, recv_window) if signer is not None else None,
            limits=limits,
            error_mapper=http_error_mapper(self.exchange, futures),
            timeout=Timeouts(total=timeout),
            retry=RetryPolicy(attempts=3, timeout=3 * timeout),
            clock=self.now_ms,
        )

    def now_ms(self) -> int:
        """The server's time as we estimate it (local clock + offset), epoch ms."""
        return _now_ms() + self.offset_ms

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.http.close()

    async def sync_time(self) -> int:
        """Measure the server-time offset (``GET time``); returns it in ms."""
        started = _now_ms()
        data = await self.call("time")
        finished = _now_ms()
        try:
            server = int(data["serverTime"])
        except (KeyError, TypeError, ValueError):
            raise ExchangeError(f"malformed time payload: {data!r}", exchange=self.exchange) from None
        # the server read its clock about half way through the round trip
        self.offset_ms = server - (started + finished) // 2
        self.time_synced = True
        return self.offset_ms

    async def ensure_time(self) -> None:
        """Measure the server-time offset unless it was measured already."""
        if self.time_synced:
            return
        async with self._time_lock:
            if not self.time_synced:
                await self.sync_time()

    async def call(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        *,
        client_order_id: str | None = None,
    ) -> Any:
        """Call route ``name`` with ``params`` (query string, in order); the decoded JSON answer.

        Raises the unified error of a failure (see :mod:`exchange_binance.errors`);
        :class:`~exchanges.UnknownOutcome` carries ``client_order_id``.
        """
        route = self.routes[name]
        params = dict(params or {})
        signed = route.security == "signed"
        headers = None
        if route.security != "none":
            if self.signer is None:
                from exchanges import AuthenticationError

                raise AuthenticationError(f"{route.endpoint} needs credentials (api_key and secret)",
                                          exchange=self.exchange)
            if route.security == "key":
                headers = {"X-MBX-APIKEY": self.signer.api_key}
        if signed:
            await self.ensure_time()
        costs = {"weight": route.weigh(params)} if route.weigh is not None else None
        retried = False
        while True:
            try:
                response = await self.http.request(
                    route.method, route.path, params=params, signed=signed, headers=headers, costs=costs,
                    endpoint=route.endpoint, idempotent=route.idempotent, client_order_id=client_order_id,
                )
            except InvalidTimestamp:
                if retried or not signed:
                    raise
                retried = True  # rejected before the matching engine: resync the clock and retry once
                await self.sync_time()
                continue
            return response.json()
