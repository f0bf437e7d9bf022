"""Cassettes recorded through the real HttpClient on loopback hold no secret and replay with a new clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import TestServer
from vcr.errors import CannotOverwriteExistingCassetteException

from exchanges.errors import ConfigError
from exchanges.testing.cassettes import RECORD_MODE_ENV, make_vcr, resolve_record_mode
from exchanges.transport.http import HttpClient, PreparedRequest

API_KEY = "fake-api-key-0123456789abcdef"
SECRET = "fake-secret-ZYXWVUTSRQ987654"
PASSPHRASE = "fake-passphrase-42"


class EverySigner:
    """Signs in every venue style at once: Binance query/body signature, OKX headers, Hyperliquid body signature."""

    def __init__(self) -> None:
        self.signatures: list[str] = []  # every signature value sent, to look for in the cassette

    def _mac(self, text: str) -> str:
        value = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
        self.signatures.append(value)
        return value

    def sign(self, request: PreparedRequest) -> PreparedRequest:
        okx_sign = base64.b64encode(bytes.fromhex(self._mac(f"{request.timestamp}{request.method}"))).decode()
        self.signatures.append(okx_sign)
        request = request.with_headers({
            "X-MBX-APIKEY": API_KEY, "OK-ACCESS-KEY": API_KEY, "OK-ACCESS-SIGN": okx_sign,
            "OK-ACCESS-PASSPHRASE": PASSPHRASE, "OK-ACCESS-TIMESTAMP": str(request.timestamp),
            "Authorization": f"Bearer {API_KEY}",
        })
        if request.json is not None:
            body = {**request.json, "nonce": request.timestamp,
                    "signature": {"r": "0x" + self._mac(f"r{request.timestamp}"), "s": "0x" + self._mac(f"s{request.timestamp}"), "v": 27}}
            return request.with_json(body)
        if request.body:
            form = request.body.decode() + f"&timestamp={request.timestamp}"
            return request.with_body(f"{form}&signature={self._mac(form)}")
        request = request.with_params(timestamp=request.timestamp, recvWindow=5000)
        return request.with_params(signature=self._mac(request.query_string))


@pytest.fixture(autouse=True)
def no_backoff_sleeps() -> Iterator[None]:
    """No waits between retry attempts in tests."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
async def server() -> Any:
    """A loopback venue answering with the request's shape; one route echoes the API key and sets a cookie."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer: dict[str, Any] = {"path": request.path, "query_keys": sorted(request.query)}
        if body.startswith(b"{"):
            answer["type"] = orjson.loads(body).get("type")
        if request.path == "/api/v3/userDataStream":
            answer["apiKey"] = request.headers.get("X-MBX-APIKEY")
            return web.json_response(answer, headers={"Set-Cookie": f"session={API_KEY}"})
        return web.json_response(answer)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    await srv.close()


async def run_calls(http: HttpClient, symbol: str = "BTCUSDT") -> list[Any]:
    """The scripted session: signed query, signed form body, signed JSON body, and two unsigned JSON reads."""
    calls = [
        http.get("/api/v3/account", params={"omitZeroBalances": True}, signed=True),
        http.post("/api/v3/order", params={"symbol": symbol}, data={"side": "BUY", "quantity": "1"}, signed=True),
        http.post("/exchange", json={"action": {"type": "cancel", "cancels": [{"a": 0, "o": 1}]},
                                     "vaultAddress": None}, signed=True),
        http.post("/info", json={"type": "meta"}, idempotent=True),
        http.post("/info", json={"type": "l2Book", "coin": "BTC"}, idempotent=True),
        http.post("/api/v3/userDataStream", signed=True),
    ]
    return [(await call).json() for call in calls]


def client(url: str, signer: EverySigner, start: int) -> HttpClient:
    clock = itertools.count(start, 7)
    return HttpClient({"rest": url}, exchange="toy", signer=signer, clock=lambda: next(clock))


async def test_record_scrubs_secrets_then_replay_matches_with_new_clock(server: TestServer, tmp_path: Path) -> None:
    """A recorded cassette holds no key, passphrase or signature; a replay with other timestamps gets the same answers."""
    url = str(server.make_url("")).rstrip("/")
    signer = EverySigner()
    recorder = make_vcr(tmp_path, "all", secrets=(API_KEY, SECRET, PASSPHRASE))
    with recorder.use_cassette("session"):
        async with client(url, signer, 1_700_000_000_000) as http:
            recorded = await run_calls(http)
    text = (tmp_path / "session.yaml").read_text()
    assert signer.signatures and recorded[-1]["apiKey"] == API_KEY  # secrets really went over the wire
    for secret in (API_KEY, SECRET, PASSPHRASE, *signer.signatures):
        assert secret not in text
    assert "<redacted>" in text
    assert "timestamp=1700000000000" in text  # volatile but not secret: kept for the reader
    assert "Set-Cookie" not in text

    await server.close()  # replay must not need the venue
    replayer = make_vcr(tmp_path, "none")
    again = EverySigner()
    with replayer.use_cassette("session") as cassette:
        async with client(url, again, 1_800_000_000_000) as http:
            replayed = await run_calls(http)
    assert cassette.all_played
    assert set(again.signatures).isdisjoint(signer.signatures)
    assert replayed[:-1] == recorded[:-1]
    assert replayed[-1]["apiKey"] == "<redacted>"
    assert [r.get("type") for r in replayed[3:5]] == ["meta", "l2Book"]


async def test_replay_refuses_a_request_that_differs_in_a_stable_field(server: TestServer, tmp_path: Path) -> None:
    """Only volatile fields are ignored: another symbol does not match the recording and never reaches the network."""
    url = str(server.make_url("")).rstrip("/")
    with make_vcr(tmp_path, "all").use_cassette("one"):
        async with client(url, EverySigner(), 1) as http:
            await http.post("/api/v3/order", params={"symbol": "BTCUSDT"}, data={"side": "BUY"}, signed=True)
    with make_vcr(tmp_path, "none").use_cassette("one"):
        async with client(url, EverySigner(), 99) as http:
            with pytest.raises(CannotOverwriteExistingCassetteException):
                await http.post("/api/v3/order", params={"symbol": "ETHUSDT"}, data={"side": "BUY"}, signed=True)


@pytest.mark.parametrize(
    ("explicit", "env", "expected"),
    [(None, None, "none"), (None, "all", "all"), ("once", "all", "once"), (None, "New-Episodes", "new_episodes")],
)
def test_record_mode_resolution(monkeypatch: pytest.MonkeyPatch, explicit: str | None, env: str | None,
                                expected: str) -> None:
    """The argument wins over $EXCHANGES_RECORD_MODE, which wins over the replay-only default."""
    if env is None:
        monkeypatch.delenv(RECORD_MODE_ENV, raising=False)
    else:
        monkeypatch.setenv(RECORD_MODE_ENV, env)
    assert resolve_record_mode(explicit) == expected


def test_unknown_record_mode_is_config_error() -> None:
    """A typo in the record mode is reported, not silently treated as replay."""
    with pytest.raises(ConfigError, match="rec"):
        resolve_record_mode("rec")


def test_pytest_option_sets_record_mode(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--exchanges-record-mode`` reaches make_vcr through the pytest config and beats the environment."""
    monkeypatch.setenv(RECORD_MODE_ENV, "once")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        from exchanges.testing.cassettes import make_vcr

        def test_mode(request, tmp_path):
            assert make_vcr(tmp_path, config=request.config).record_mode == "new_episodes"
        """
    )
    result = pytester.runpytest_inprocess("--exchanges-record-mode=new_episodes", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
