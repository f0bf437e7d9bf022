"""The Signer protocol expresses each venue's signing style; a loopback server verifies what arrives.

The signers here are small test versions written from the published algorithms
(venues.md §1.4, §3.5, §4.3/§4.6): the point is that the transport signs and
sends the same bytes, whatever the style (query, headers, or JSON body).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature, encode_dss_signature

from exchanges.transport.http import HttpClient, PreparedRequest, RetryPolicy

# Binance's published HMAC example (rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order").
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
BINANCE_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BINANCE_TS = 1499827319559


@attrs.frozen
class Arrived:
    """A request as the server got it: raw path with query, raw body, headers."""

    method: str
    raw_path: str
    body: bytes
    headers: Mapping[str, str]


@pytest.fixture(autouse=True)
def no_backoff_sleeps() -> Iterator[None]:
    """No waits between retry attempts in tests."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
async def server() -> Any:
    """A loopback server recording raw requests; ``server.fail_first`` answers that many 503s first."""
    arrived: list[Arrived] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        arrived.append(Arrived(request.method, request.raw_path, await request.read(), dict(request.headers)))
        if len(arrived) <= srv.fail_first:  # type: ignore[attr-defined]
            return web.json_response({}, status=503)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    srv = TestServer(app, host="127.0.0.1")
    srv.arrived = arrived  # type: ignore[attr-defined]
    srv.fail_first = 0  # type: ignore[attr-defined]
    await srv.start_server()
    yield srv
    await srv.close()


def url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


class BinanceHmacSigner:
    """Binance REST: ``timestamp`` joins the params (or the form body), HMAC-SHA256 hex over query+body."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._key = secret.encode()

    def sign(self, request: PreparedRequest) -> PreparedRequest:
        request = request.with_headers({"X-MBX-APIKEY": self.api_key})
        if request.body:
            body = request.body.decode() + f"&timestamp={request.timestamp}"
            signature = hmac.new(self._key, (request.query_string + body).encode(), hashlib.sha256).hexdigest()
            return request.with_body(f"{body}&signature={signature}")
        request = request.with_params(timestamp=request.timestamp)
        signature = hmac.new(self._key, request.query_string.encode(), hashlib.sha256).hexdigest()
        return request.with_params(signature=signature)


def binance_verify(arrived: Arrived, secret: str) -> str:
    """Server side: recompute the signature over the raw query + body as received; return it."""
    query = arrived.raw_path.partition("?")[2]
    payload = query + arrived.body.decode()
    head, _, sent = payload.rpartition("&signature=")
    expected = hmac.new(secret.encode(), head.encode(), hashlib.sha256).hexdigest()
    assert sent == expected
    return sent


@pytest.mark.parametrize(
    ("params", "data", "signature"),
    [
        (
            {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": 1, "price": "0.1",
             "recvWindow": 5000},
            None,
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        ),
        (
            {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"},
            {"quantity": 1, "price": "0.1", "recvWindow": 5000},
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
        ),
    ],
    ids=["query", "query+body"],
)
async def test_binance_hmac_query_signing(server: TestServer, params: Any, data: Any, signature: str) -> None:
    """A Binance-style signer reproduces the published signatures and the server verifies the bytes it got."""
    signer = BinanceHmacSigner(BINANCE_KEY, BINANCE_SECRET)
    async with HttpClient({"rest": url(server)}, exchange="binance", signer=signer, clock=lambda: BINANCE_TS) as http:
        await http.post("/api/v3/order", params=params, data=data, signed=True)
    (arrived,) = server.arrived  # type: ignore[attr-defined]
    assert binance_verify(arrived, BINANCE_SECRET) == signature
    assert arrived.headers["X-MBX-APIKEY"] == BINANCE_KEY


async def test_retry_resigns_with_a_fresh_timestamp(server: TestServer) -> None:
    """A signed GET retried after a 503 is signed again with a new timestamp; both signatures verify."""
    server.fail_first = 1  # type: ignore[attr-defined]
    clock = itertools.count(1_700_000_000_000, 1000)
    signer = BinanceHmacSigner("k", "s3cr3t")
    async with HttpClient({"rest": url(server)}, exchange="binance", signer=signer, clock=lambda: next(clock),
                          retry=RetryPolicy(attempts=3)) as http:
        resp = await http.get("/api/v3/account", params={"omitZeroBalances": True}, signed=True)
    assert resp.json() == {"ok": True}
    first, second = server.arrived  # type: ignore[attr-defined]
    assert binance_verify(first, "s3cr3t") != binance_verify(second, "s3cr3t")
    assert "timestamp=1700000000000&" in first.raw_path
    assert "timestamp=1700000001000&" in second.raw_path


class OkxSigner:
    """OKX REST: Base64 HMAC-SHA256 of ``timestamp + METHOD + path?query + body`` in OK-ACCESS-* headers."""

    def __init__(self, api_key: str, secret: str, passphrase: str) -> None:
        self.api_key, self._secret, self._passphrase = api_key, secret.encode(), passphrase

    def sign(self, request: PreparedRequest) -> PreparedRequest:
        ts = datetime.fromtimestamp(request.timestamp / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        prehash = ts + request.method + request.path_with_query + (request.body or b"").decode()
        sign = base64.b64encode(hmac.new(self._secret, prehash.encode(), hashlib.sha256).digest()).decode()
        return request.with_headers({
            "OK-ACCESS-KEY": self.api_key, "OK-ACCESS-SIGN": sign, "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": self._passphrase,
        })


def okx_verify(arrived: Arrived, secret: str) -> None:
    """Server side: the prehash rebuilt from what arrived matches OK-ACCESS-SIGN."""
    h = arrived.headers
    prehash = h["OK-ACCESS-TIMESTAMP"] + arrived.method + arrived.raw_path + arrived.body.decode()
    expected = base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()
    assert h["OK-ACCESS-SIGN"] == expected


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v5/account/balance", {"params": {"ccy": "BTC"}}),
        ("POST", "/api/v5/trade/order",
         {"json": {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.01", "px": "1"}}),
    ],
)
async def test_okx_header_signing_with_demo_header(server: TestServer, method: str, path: str, kwargs: Any) -> None:
    """An OKX-style signer signs path+query+exact JSON body; the demo-trading header rides as a default header."""
    signer = OkxSigner("okx-key", "22582BD0CFF14C41EDBF1AB98506286D", "pass-phrase")
    async with HttpClient({"rest": url(server) + "/okx-proxy"}, exchange="okx", signer=signer,
                          headers={"x-simulated-trading": "1"}, clock=lambda: 1607418537715) as http:
        await http.request(method, path, signed=True, **kwargs)
    (arrived,) = server.arrived  # type: ignore[attr-defined]
    assert arrived.headers["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    assert arrived.headers["x-simulated-trading"] == "1"
    assert arrived.headers["OK-ACCESS-PASSPHRASE"] == "pass-phrase"
    # the venue path is signed, not the proxy prefix of the endpoint override
    assert arrived.raw_path.startswith("/okx-proxy" + path)
    okx_verify(attrs.evolve(arrived, raw_path=arrived.raw_path.removeprefix("/okx-proxy")), "22582BD0CFF14C41EDBF1AB98506286D")


def _action_digest(action: Any, nonce: int, vault: str | None) -> bytes:
    # Hyperliquid hashes msgpack(action) + nonce (8 bytes big-endian) + vault flag/address with keccak,
    # then signs an EIP-712 phantom agent; this test keeps the shape with canonical JSON and SHA-256.
    vault_part = b"\x00" if vault is None else b"\x01" + bytes.fromhex(vault.removeprefix("0x"))
    return hashlib.sha256(orjson.dumps(action, option=orjson.OPT_SORT_KEYS) + nonce.to_bytes(8, "big") + vault_part).digest()


class WalletSigner:
    """Hyperliquid-style: an async signer that puts ``nonce`` and a ``{r, s, v}`` secp256k1 signature in the body."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256K1())

    async def sign(self, request: PreparedRequest) -> PreparedRequest:
        await asyncio.sleep(0)  # signers may be coroutines (e.g. a remote signing service)
        body = dict(request.json)
        digest = _action_digest(body["action"], request.timestamp, body.get("vaultAddress"))
        r, s = decode_dss_signature(self.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
        return request.with_json({**body, "nonce": request.timestamp, "signature": {"r": hex(r), "s": hex(s), "v": 27}})


async def test_hyperliquid_style_body_signing(server: TestServer) -> None:
    """A wallet signer rewrites the JSON body with nonce and signature; the server verifies the body it got."""
    signer = WalletSigner()
    action = {"type": "order", "orders": [{"a": 0, "b": True, "p": "100", "s": "0.1", "r": False,
                                           "t": {"limit": {"tif": "Alo"}}}], "grouping": "na"}
    async with HttpClient({"rest": url(server)}, exchange="hyperliquid", signer=signer,
                          clock=lambda: 1_750_000_000_123) as http:
        await http.post("/exchange", json={"action": action, "vaultAddress": None}, signed=True)
    (arrived,) = server.arrived  # type: ignore[attr-defined]
    body = orjson.loads(arrived.body)
    assert arrived.headers["Content-Type"] == "application/json"
    assert body["nonce"] == 1_750_000_000_123 and body["action"] == action
    signature = encode_dss_signature(int(body["signature"]["r"], 16), int(body["signature"]["s"], 16))
    digest = _action_digest(body["action"], body["nonce"], body["vaultAddress"])
    signer.key.public_key().verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    with pytest.raises(InvalidSignature):
        signer.key.public_key().verify(signature, _action_digest(action, body["nonce"] + 1, None),
                                       ec.ECDSA(Prehashed(hashes.SHA256())))
