"""HTTP transport against a real loopback aiohttp server: URLs, bodies, limits, errors, retries, secrets."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer

from core_toys import toy_descriptor
from exchanges import ConnectorContext, Credentials, Host
from exchanges.errors import (
    AuthenticationError,
    ConfigError,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    RateLimited,
    RequestTimeout,
    UnknownOutcome,
)
from exchanges.transport.http import HttpClient, PreparedRequest, RetryPolicy, Timeouts, scrub_query

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: str  # raw, still percent-encoded
    body: bytes
    headers: Mapping[str, str]
    peer_port: int


class Venue:
    """A loopback server that records every request and answers from per-path scripts."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.server: TestServer | None = None

    def script(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with ``replies`` in turn; the last one repeats."""
        self.scripts[path] = list(replies)

    def hits(self, path: str) -> int:
        """How many requests reached ``path``."""
        return sum(1 for s in self.seen if s.path == path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else ("", 0)
        self.seen.append(
            Seen(request.method, request.path, request.raw_path.partition("?")[2], await request.read(),
                 dict(request.headers), peer[1])
        )
        replies = self.scripts.get(request.path)
        if not replies:
            return web.json_response({"ok": True, "path": request.path})
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return await reply(request)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")


def reply(status: int = 200, body: Any = None, headers: Mapping[str, str] | None = None) -> Reply:
    """A scripted answer with a JSON body."""

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=orjson.dumps(body if body is not None else {}),
                            headers=dict(headers or {}), content_type="application/json")

    return answer


def slow(seconds: float) -> Reply:
    """A scripted answer that arrives after ``seconds`` (longer than the client's timeout)."""

    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({"late": True})

    return answer


@pytest.fixture(autouse=True)
def no_backoff_sleeps() -> Iterator[None]:
    """Stamina's testing mode: no waits between attempts, each policy's attempt count kept."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
async def venue() -> Any:
    """A running loopback venue."""
    v = Venue()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", v.handle)
    v.server = TestServer(app, host="127.0.0.1")
    await v.server.start_server()
    yield v
    await v.server.close()


class RecordingLimits:
    """A limiter double with the RateLimits interface that records calls in a shared event log."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def acquire(self, costs: Mapping[str, int], *, endpoint: str | None = None) -> None:
        self.events.append(("acquire", dict(costs), endpoint))

    def on_response(self, status: int, headers: Mapping[str, str], *, scope: str = "ip") -> None:
        self.events.append(("response", status, scope, headers.get("X-Used")))


def client(venue: Venue, **kwargs: Any) -> HttpClient:
    """A client on the venue's URL."""
    kwargs.setdefault("exchange", "toy")
    return HttpClient({"rest": venue.url, **kwargs.pop("extra_urls", {})}, **kwargs)


@pytest.mark.parametrize("prefix", ["", "/proxy", "/proxy/v1/", "/a/b"])
async def test_base_url_override_keeps_prefix_and_appends_venue_path(venue: Venue, prefix: str) -> None:
    """An endpoint override replaces scheme/host/port and its path prefix comes before the venue path."""
    async with HttpClient({"rest": venue.url + prefix}, exchange="toy") as http:
        resp = await http.request("GET", "/api/v3/ping")
    assert resp.status == 200
    assert venue.seen[-1].path == prefix.rstrip("/") + "/api/v3/ping"


async def test_named_bases_and_websocket_entries(venue: Venue) -> None:
    """Requests pick their base by name; websocket URLs in the endpoints are ignored, unknown names fail."""
    http = HttpClient({"rest": venue.url + "/spot", "public": venue.url + "/data", "ws": "wss://x.test/ws"},
                      exchange="toy")
    async with http:
        await http.get("/depth", base="public")
        with pytest.raises(ConfigError, match="'ws'"):
            await http.get("/depth", base="ws")
    assert [s.path for s in venue.seen] == ["/data/depth"]
    assert sorted(http.base_urls) == ["public", "rest"]


@pytest.mark.parametrize("url", ["http:///nohost", "http://127.0.0.1/x?a=1", "https://127.0.0.1/#frag"])
def test_bad_base_url_is_a_config_error(url: str) -> None:
    """An http(s) base URL without a host, or with a query or fragment, is refused up front."""
    with pytest.raises(ConfigError):
        HttpClient({"rest": url}, exchange="toy")


async def test_query_and_bodies_are_encoded_as_signed(venue: Venue) -> None:
    """Params keep their order and percent-encode UTF-8; JSON and form bodies carry Decimals as strings."""
    async with client(venue) as http:
        await http.get("/q", params={"symbol": "\uff11\uff12", "limit": 5, "flag": True, "skip": None,
                                     "price": Decimal("0.10")})
        await http.post("/j", json={"px": Decimal("1E+2"), "n": [1, 2]})
        await http.post("/f", data={"side": "BUY", "qty": Decimal("1.50")})
    q, j, f = venue.seen
    assert q.query == "symbol=%EF%BC%91%EF%BC%92&limit=5&flag=true&price=0.10"
    assert orjson.loads(j.body) == {"px": "100", "n": [1, 2]}
    assert j.headers["Content-Type"] == "application/json"
    assert f.body == b"side=BUY&qty=1.50"
    assert f.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_connections_are_pooled(venue: Venue) -> None:
    """Sequential requests of one client reuse one keep-alive connection; close() ends the session."""
    http = client(venue)
    async with http:
        for _ in range(3):
            await http.get("/a")
        assert http.is_open
    assert not http.is_open
    assert len({s.peer_port for s in venue.seen}) == 1


async def test_costs_acquired_before_sign_and_send(venue: Venue) -> None:
    """The limiter is asked for the costs first, then the signer runs, then the venue sees the request."""
    events: list[Any] = []

    class OrderSigner:
        def sign(self, request: PreparedRequest) -> PreparedRequest:
            events.append(("sign", len(venue.seen)))
            return request.with_params(signature="s")

    async def answer(request: web.Request) -> web.StreamResponse:
        events.append(("venue", request.path))
        return web.json_response({}, headers={"X-Used": "7"})

    venue.script("/api/v3/order", answer)
    async with client(venue, limits=RecordingLimits(events), signer=OrderSigner()) as http:
        await http.post("/api/v3/order", signed=True, costs={"weight": 1, "orders": 1}, limit_scope="account")
        await http.get("/api/v3/depth", costs={"weight": 5}, endpoint="depth")
    assert events == [
        ("acquire", {"weight": 1, "orders": 1}, "POST /api/v3/order"),
        ("sign", 0),
        ("venue", "/api/v3/order"),
        ("response", 200, "account", "7"),
        ("acquire", {"weight": 5}, "depth"),
        ("response", 200, "ip", None),
    ]


def okx_like_mapper(status: int, headers: Mapping[str, str], body: Any) -> ExchangeError | None:
    """Maps an OKX-style envelope (``code`` "0" is success, even on HTTP 200)."""
    if isinstance(body, dict) and body.get("code", "0") != "0":
        if body["code"] == "51008":
            return InsufficientFunds(body.get("msg", ""))
        if body["code"] == "50001":
            return ExchangeUnavailable("service temporarily unavailable")
        return ExchangeError(f"code {body['code']}")
    return None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"code": "51008", "msg": "insufficient"}, InsufficientFunds),
        (400, {"code": "51000", "msg": "Parameter px error"}, ExchangeError),
        (401, {"msg": "no code"}, AuthenticationError),
        (404, {"msg": "no code"}, ExchangeError),
        (503, {"code": "50001"}, ExchangeUnavailable),
    ],
)
async def test_error_mapping(venue: Venue, status: int, body: Any, error: type[ExchangeError]) -> None:
    """The venue mapper sees status, headers and parsed body; unmapped non-2xx fall back by status."""
    venue.script("/x", reply(status, body))
    async with client(venue, error_mapper=okx_like_mapper, retry=RetryPolicy.never()) as http:
        with pytest.raises(error) as info:
            await http.post("/x", json={})
    assert type(info.value) is error
    assert info.value.exchange == "toy"


async def test_success_body_is_parsed_once_and_returned(venue: Venue) -> None:
    """A 2xx the mapper accepts comes back with status, headers and JSON."""
    venue.script("/ok", reply(200, {"code": "0", "data": [1]}, {"X-Used": "3"}))
    async with client(venue, error_mapper=okx_like_mapper) as http:
        resp = await http.get("/ok")
    assert (resp.status, resp.ok, resp.json(), resp.headers["x-used"]) == (200, True, {"code": "0", "data": [1]}, "3")


async def test_non_json_body_raises_exchange_error(venue: Venue) -> None:
    """json() on an HTML body raises ExchangeError naming method and path."""

    async def html(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    venue.script("/h", html)
    async with client(venue, error_mapper=okx_like_mapper) as http:
        resp = await http.get("/h")
    with pytest.raises(ExchangeError, match="GET /h"):
        resp.json()
    assert resp.text() == "<html>maintenance</html>"


async def test_timeout_on_post_is_unknown_outcome_sent_once(venue: Venue) -> None:
    """A POST that times out after sending raises UnknownOutcome (with the client order id) and is not resent."""
    venue.script("/api/v3/order", slow(2.0))
    async with client(venue, timeout=Timeouts(total=0.3), retry=RetryPolicy(attempts=5)) as http:
        with pytest.raises(UnknownOutcome) as info:
            await http.post("/api/v3/order", data={"symbol": "BTCUSDT"}, client_order_id="cid-1")
    assert venue.hits("/api/v3/order") == 1
    assert info.value.client_order_id == "cid-1"


async def test_timeout_on_get_is_retried_then_request_timeout(venue: Venue) -> None:
    """An idempotent GET that keeps timing out is retried up to the policy and ends as RequestTimeout."""
    venue.script("/slow", slow(2.0))
    async with client(venue, timeout=0.2, retry=RetryPolicy(attempts=3)) as http:
        with pytest.raises(RequestTimeout):
            await http.get("/slow")
    assert venue.hits("/slow") == 3


@pytest.mark.parametrize("failures", [1, 3])
async def test_get_retried_on_5xx_then_succeeds(venue: Venue, failures: int) -> None:
    """An idempotent GET answered 5xx is retried until the venue answers 200."""
    venue.script("/d", *[reply(503)] * failures, reply(200, {"fine": 1}))
    async with client(venue, retry=RetryPolicy(attempts=5)) as http:
        resp = await http.get("/d")
    assert resp.json() == {"fine": 1}
    assert venue.hits("/d") == failures + 1


@pytest.mark.parametrize(("idempotent", "hits", "error"), [(None, 1, UnknownOutcome), (True, 4, ExchangeUnavailable)])
async def test_post_5xx_retried_only_when_idempotent(
    venue: Venue, idempotent: bool | None, hits: int, error: type[Exception]
) -> None:
    """A POST answered 500 is an unknown outcome sent once, unless flagged idempotent (then retried)."""
    venue.script("/info", reply(500))
    async with client(venue, retry=RetryPolicy(attempts=4)) as http:
        with pytest.raises(error):
            await http.post("/info", json={"type": "meta"}, idempotent=idempotent)
    assert venue.hits("/info") == hits


async def test_mapped_unknown_outcome_on_post_not_retried(venue: Venue) -> None:
    """A venue 'timeout, status unknown' code mapped to UnknownOutcome is raised after one request."""

    def mapper(status: int, headers: Mapping[str, str], body: Any) -> ExchangeError | None:
        return UnknownOutcome("backend timeout") if body == {"code": -1007} else None

    venue.script("/o", reply(200, {"code": -1007}))
    async with client(venue, error_mapper=mapper, retry=RetryPolicy(attempts=4)) as http:
        with pytest.raises(UnknownOutcome) as info:
            await http.post("/o", client_order_id="c9")
    assert venue.hits("/o") == 1
    assert info.value.client_order_id == "c9"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_connect_refused_is_retried_for_any_method(method: str) -> None:
    """A refused connection never reached the venue: ExchangeUnavailable, retried even for a POST."""
    events: list[Any] = []
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    await server.close()  # nothing listens on that port any more
    async with HttpClient({"rest": url}, exchange="toy", limits=RecordingLimits(events),
                          retry=RetryPolicy(attempts=3)) as http:
        with pytest.raises(ExchangeUnavailable) as info:
            await http.request(method, "/x", costs={"weight": 1})
    assert [e[0] for e in events] == ["acquire"] * 3
    assert not isinstance(info.value, UnknownOutcome)


async def test_429_tells_limiter_and_raises_with_retry_after(venue: Venue) -> None:
    """HTTP 429 is reported to the limiter, then raised as RateLimited(retry_after) without retrying."""
    events: list[Any] = []
    venue.script("/r", reply(429, {"code": -1003}, {"Retry-After": "7", "X-Used": "6001"}))
    async with client(venue, limits=RecordingLimits(events), retry=RetryPolicy(attempts=4)) as http:
        with pytest.raises(RateLimited) as info:
            await http.get("/r", costs={"weight": 1})
    assert info.value.retry_after == 7.0
    assert info.value.until is None
    assert events[-1] == ("response", 429, "ip", "6001")
    assert venue.hits("/r") == 1


@pytest.mark.parametrize(("header", "seconds"), [({"Retry-After": "90"}, 90.0), ({}, 120.0)])
async def test_418_raises_ban_deadline(venue: Venue, header: dict[str, str], seconds: float) -> None:
    """HTTP 418 raises RateLimited(until=monotonic deadline) from Retry-After, or a 2 minute default."""
    venue.script("/b", reply(418, {"code": -1003}, header))
    before = time.monotonic()
    async with client(venue) as http:
        with pytest.raises(RateLimited) as info:
            await http.get("/b")
    assert info.value.until is not None
    assert before + seconds <= info.value.until <= time.monotonic() + seconds
    assert venue.hits("/b") == 1


async def test_signed_without_signer_is_authentication_error(venue: Venue) -> None:
    """A signed call on a client without credentials fails before anything is sent."""
    async with client(venue) as http:
        with pytest.raises(AuthenticationError):
            await http.get("/private", signed=True)
    assert venue.seen == []


SECRET = "Sup3rS3cretValue-XYZ"
API_KEY = "ak-PUBLICISH-but-private-123"
PASSPHRASE = "my-pass-phrase-77"


class LeakySigner:
    """Puts the key in the query and headers, and signs with the secret: everything a logger could leak."""

    def sign(self, request: PreparedRequest) -> PreparedRequest:
        return request.with_params(apiKey=API_KEY, signature=f"sig{SECRET}").with_headers(
            {"X-MBX-APIKEY": API_KEY, "OK-ACCESS-PASSPHRASE": PASSPHRASE}
        )


@pytest.mark.parametrize(
    ("path", "replies", "error"),
    [
        ("/ok", [reply(200)], None),
        ("/e400", [reply(400, {"msg": "bad"})], ExchangeError),
        ("/e500", [reply(500)], UnknownOutcome),
        ("/e429", [reply(429, headers={"Retry-After": "1"})], RateLimited),
        ("/slow", [slow(2.0)], UnknownOutcome),
    ],
)
async def test_secrets_never_logged_nor_in_errors(
    venue: Venue, caplog: pytest.LogCaptureFixture, path: str, replies: list[Reply], error: type[Exception] | None
) -> None:
    """Debug logs and error messages (with their causes) carry no key, secret, passphrase or signature."""
    venue.script(path, *replies)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with client(venue, signer=LeakySigner(), timeout=1.0, secrets=(SECRET, API_KEY, PASSPHRASE)) as http:
        if error is None:
            await http.post(path, data={"qty": 1}, signed=True)
        else:
            with pytest.raises(error) as info:
                await http.post(path, data={"qty": 1}, signed=True)
            exc: BaseException | None = info.value
            while exc is not None:
                texts += [str(exc), repr(exc)]
                exc = exc.__cause__ or exc.__context__
    # every client-side record; the loopback server's own access log is the venue's, not ours
    client_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access"))
    texts.append(client_logs)
    assert path in client_logs  # the request was logged
    assert f"sig{SECRET}" in venue.seen[0].query  # and really carried the secret material
    for text in texts:
        for secret in (SECRET, API_KEY, PASSPHRASE):
            assert secret not in text


@pytest.mark.parametrize(
    ("query", "scrubbed"),
    [
        ("symbol=BTCUSDT&timestamp=1&signature=abc", "symbol=BTCUSDT&timestamp=1&signature=<redacted>"),
        ("apiKey=k&APIKEY=k2&x=1", "apiKey=<redacted>&APIKEY=<redacted>&x=1"),
        ("listenKey=zz&passphrase=p", "listenKey=<redacted>&passphrase=<redacted>"),
        ("", ""),
    ],
)
def test_scrub_query(query: str, scrubbed: str) -> None:
    """Sensitive parameter values are replaced whatever their case; others are kept."""
    assert scrub_query(query) == scrubbed


async def test_client_can_reopen_after_close(venue: Venue) -> None:
    """A connector that reconnects gets a fresh session from the same client."""
    http = client(venue)
    await http.open()
    await http.close()
    resp = await http.get("/again")
    assert resp.status == 200 and http.is_open
    await http.close()


def reset(request: web.Request) -> Awaitable[web.StreamResponse]:
    """A scripted answer that drops the connection after reading the request (no response at all)."""

    async def answer() -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    return answer()


@pytest.mark.parametrize(("method", "idempotent", "hits", "error"), [
    ("POST", None, 1, UnknownOutcome),
    ("DELETE", None, 1, UnknownOutcome),
    ("GET", None, 2, None),
    ("POST", True, 2, None),
])
async def test_connection_reset_after_send(
    venue: Venue, method: str, idempotent: bool | None, hits: int, error: type[Exception] | None
) -> None:
    """A connection dropped after the request went out is an unknown outcome unless the call is idempotent."""
    venue.script("/reset", reset, reply(200, {"second": True}))
    async with client(venue, retry=RetryPolicy(attempts=3)) as http:
        if error is None:
            resp = await http.request(method, "/reset", idempotent=idempotent)
            assert resp.json() == {"second": True}
        else:
            with pytest.raises(error):
                await http.request(method, "/reset", idempotent=idempotent)
    assert venue.hits("/reset") == hits


async def test_from_context_uses_http_endpoints_and_scrubs_credentials(venue: Venue, host: Host) -> None:
    """A client built from a connector context takes its http endpoints and never echoes its credentials."""
    secret = "context-secret-value-123"
    venue.script("/v1/echo", reply(400, {"msg": f"bad key {secret}"}))
    ctx = ConnectorContext(toy_descriptor(), host, endpoints={"rest": venue.url + "/v1", "ws": "ws://127.0.0.1:1/ws"},
                           credentials=Credentials({"api_key": "k-1", "secret": secret}))
    http = HttpClient.from_context(ctx, retry=RetryPolicy.never())
    assert (http.exchange, http.base_urls) == ("toy", {"rest": venue.url + "/v1"})
    async with http:
        with pytest.raises(ExchangeError) as info:
            await http.get("/echo", params={"note": secret})
    assert venue.seen[-1].path == "/v1/echo"
    assert secret not in str(info.value)
    assert "bad key <redacted>" in str(info.value)


def test_prepared_request_repr_hides_keys_and_signatures() -> None:
    """A PreparedRequest in a log line or traceback shows neither the API key header nor the signature."""
    from exchanges.transport.http import PreparedRequest

    request = PreparedRequest("POST", "/api/v3/order", (("symbol", "BTCUSDT"), ("signature", "deadbeefcafe")),
                              headers={"X-MBX-APIKEY": "MYAPIKEY123"})
    text = repr(request)
    assert "MYAPIKEY123" not in text and "deadbeefcafe" not in text
    assert "POST /api/v3/order?symbol=BTCUSDT&signature=<redacted>" in text and "X-MBX-APIKEY" in text
