"""Every REST call replayed from a vcrpy cassette (``tests/cassettes``), keys and signatures scrubbed.

The cassettes were recorded through the core cassette helper against the
loopback Binance (documented formats, fake keys). Replay is the default
(record mode ``none``: nothing reaches any network). To record again::

    # against the loopback venue (no keys needed)
    pytest exchange-binance/tests/test_rest_cassettes.py --exchanges-record-mode=all
    # against the testnets, with your testnet keys
    BINANCE_TESTNET_API_KEY=... BINANCE_TESTNET_SECRET=... \\
    BINANCE_USDM_TESTNET_API_KEY=... BINANCE_USDM_TESTNET_SECRET=... \\
    pytest exchange-binance/tests/test_rest_cassettes.py --exchanges-record-mode=all
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest

from exchange_binance.conformance import FAST_SETTINGS
from exchange_binance.testing import FAKE_API_KEY, FAKE_SECRET, FakeBinance
from exchanges import BaseExchange, Host, Order, OrderState, OrderType
from exchanges.testing.cassettes import make_vcr, resolve_record_mode
from exchanges.testing.emulator import VenueEmulator

CASSETTES = Path(__file__).parent / "cassettes"
#: where the replay pretends to connect; vcrpy matches on method, path and stable parameters only
OFFLINE = {"rest": "http://127.0.0.1:9", "ws": "ws://127.0.0.1:9", "ws_api": "ws://127.0.0.1:9"}


@attrs.frozen
class Call:
    """One cassette: a short session on a connected exchange, and what its result must satisfy."""

    name: str
    futures: bool
    run: Callable[[BaseExchange], Awaitable[Any]]
    check: Callable[[Any, BaseExchange], None]


def _testnet_credentials(futures: bool) -> dict[str, str] | None:
    prefix = "BINANCE_USDM_TESTNET_" if futures else "BINANCE_TESTNET_"
    key, secret = os.environ.get(prefix + "API_KEY"), os.environ.get(prefix + "SECRET")
    return {"api_key": key, "secret": secret} if key and secret else None


@contextlib.asynccontextmanager
async def cassette_session(request: pytest.FixtureRequest, call: Call) -> AsyncIterator[BaseExchange]:
    """A connected exchange inside the call's cassette: replayed, or recorded (loopback venue or testnet)."""
    mode = resolve_record_mode(config=request.config)
    exchange_id = "binance-usdm" if call.futures else "binance"
    testnet = _testnet_credentials(call.futures) if mode != "none" else None
    credentials = testnet or {"api_key": FAKE_API_KEY, "secret": FAKE_SECRET}
    recorder = make_vcr(CASSETTES, mode, secrets=(FAKE_API_KEY, FAKE_SECRET, *(testnet or {}).values()))
    async with contextlib.AsyncExitStack() as stack:
        kwargs: dict[str, Any] = {"credentials": credentials, **FAST_SETTINGS}
        if mode == "none":
            kwargs["endpoints"] = {k: v for k, v in OFFLINE.items() if not (call.futures and k == "ws_api")}
        elif testnet is not None:
            kwargs["testnet"] = True
        else:
            emu = await stack.enter_async_context(VenueEmulator())
            kwargs["endpoints"] = FakeBinance(emu, futures=call.futures).install().endpoints
        cassette = stack.enter_context(recorder.use_cassette(f"{exchange_id}-{call.name}"))
        ex = await stack.enter_async_context(Host().connect(exchange_id, **kwargs))
        yield ex
    if mode == "none":
        assert cassette.all_played, f"{call.name}: the session made fewer requests than recorded"


def _order(symbol: str, side: str, kind: OrderType, qty: str, price: str | None = None, stop: str | None = None,
           **extra: Any) -> Order:
    return Order(symbol, side, kind, qty, price, stop, **extra)


async def _place_then(ex: BaseExchange, symbol: str, qty: str, then: Callable[[Any], Awaitable[Any]]) -> Any:
    placed = await ex.execution.place_order(Order.limit(symbol, "buy", qty, "29000", client_order_id="cas-rest-1"))
    return placed, await then(placed)


def _book(book: Any, ex: BaseExchange) -> None:
    assert len(book.bids) == len(book.asks) == 5 and book.best_bid < book.best_ask and book.sequence


def _trades(trades: Any, ex: BaseExchange) -> None:
    assert len(trades) == 3 and all(t.price > 0 for t in trades)
    assert [int(t.trade_id) for t in trades] == sorted(int(t.trade_id) for t in trades)


def _candles(candles: Any, ex: BaseExchange) -> None:
    assert len(candles) == 3 and [c.interval for c in candles] == ["1h"] * 3
    assert candles[0].open_time == 1_700_002_800_000 and all(c.low <= c.high for c in candles)


def _ticker(ticker: Any, ex: BaseExchange) -> None:
    assert ticker.bid < ticker.ask and ticker.last and ticker.volume is not None


def _new(result: Any, ex: BaseExchange) -> None:
    assert result.status is OrderState.NEW and result.client_order_id.startswith("cas-")


def _status(pair: Any, ex: BaseExchange) -> None:
    placed, (by_id, by_cid) = pair
    assert by_id.order_id == by_cid.order_id == placed.order_id and by_cid.client_order_id == "cas-rest-1"
    assert by_id.state is OrderState.NEW and by_id.price == Decimal(29000)


def _open(pair: Any, ex: BaseExchange) -> None:
    placed, listed = pair
    assert placed.order_id in [s.order_id for s in listed]


def _cancel(pair: Any, ex: BaseExchange) -> None:
    placed, cancel = pair
    assert (cancel.order_id, cancel.client_order_id, cancel.state) == (placed.order_id, "cas-rest-1",
                                                                       OrderState.CANCELED)


def _cancel_all(pair: Any, ex: BaseExchange) -> None:
    placed, results = pair
    assert placed.order_id in [r.order_id for r in results] and {r.state for r in results} == {OrderState.CANCELED}


def _balances(balances: Any, ex: BaseExchange) -> None:
    assert balances and all(b.currency == c and b.total > 0 for c, b in balances.items())


def _healthy(symbol: str, tick: str) -> Callable[[Any, BaseExchange], None]:
    def check(health: Any, ex: BaseExchange) -> None:
        assert health.ok and ex.instruments.get(symbol).tick_size == Decimal(tick)

    return check


def _best(ticker: Any, ex: BaseExchange) -> None:
    assert ticker.bid < ticker.ask and ticker.bid_size > 0 and ticker.ask_size > 0


def _filled(result: Any, ex: BaseExchange) -> None:
    assert result.status is OrderState.FILLED and result.filled_quantity > 0 and result.average_price > 0


def _no_positions(positions: Any, ex: BaseExchange) -> None:
    assert positions == []


def _leverage(value: Any, ex: BaseExchange) -> None:
    assert value == Decimal(5)


def _same_key(keys: Any, ex: BaseExchange) -> None:
    created, kept = keys
    assert created and created == kept


SPOT, PERP = "BTC/USDT", "BTC/USDT:PERP"

CALLS = [
    Call("exchange-info", False, lambda ex: ex.health(), _healthy(SPOT, "0.01")),
    Call("order-book", False, lambda ex: ex.market_data.order_book(SPOT, depth=5), _book),
    Call("trades", False, lambda ex: ex.market_data.trades(SPOT, limit=3), _trades),
    Call("klines", False, lambda ex: ex.market_data.candles(SPOT, "1h", limit=3, since=1_700_000_000_000), _candles),
    Call("ticker-24h", False, lambda ex: ex.market_data.ticker(SPOT), _ticker),
    Call("book-ticker", False, lambda ex: ex.market_data.book_ticker(SPOT), _best),
    Call("order-limit", False, lambda ex: ex.execution.place_order(
        Order.limit(SPOT, "buy", "0.001", "29000", client_order_id="cas-limit")), _new),
    Call("order-post-only", False, lambda ex: ex.execution.place_order(
        Order.limit(SPOT, "buy", "0.001", "29000", post_only=True, client_order_id="cas-maker")), _new),
    Call("order-stop-loss-limit", False, lambda ex: ex.execution.place_order(
        Order.stop_limit(SPOT, "sell", "0.001", "28900", "29000", client_order_id="cas-stop")), _new),
    Call("order-take-profit", False, lambda ex: ex.execution.place_order(
        _order(SPOT, "sell", OrderType.TAKE_PROFIT_MARKET, "0.001", None, "90000", client_order_id="cas-tp")), _new),
    Call("order-market-quote", False, lambda ex: ex.execution.place_order(
        Order.market(SPOT, "buy", quote_quantity="10", client_order_id="cas-quote")), _filled),
    Call("order-status", False, lambda ex: _place_then(ex, SPOT, "0.001", lambda p: _pair(
        ex.execution.order_status(p.order_id, SPOT),
        ex.execution.order_status(None, SPOT, client_order_id="cas-rest-1"))), _status),
    Call("open-orders", False, lambda ex: _place_then(ex, SPOT, "0.001",
                                                      lambda p: ex.execution.open_orders(SPOT)), _open),
    Call("cancel-order", False, lambda ex: _place_then(ex, SPOT, "0.001", lambda p: ex.execution.cancel_order(
        None, SPOT, client_order_id="cas-rest-1")), _cancel),
    Call("cancel-all", False, lambda ex: _place_then(ex, SPOT, "0.001",
                                                     lambda p: ex.execution.cancel_all(SPOT)), _cancel_all),
    Call("account", False, lambda ex: ex.execution.balances(), _balances),
    # USD-M
    Call("exchange-info", True, lambda ex: ex.health(), _healthy(PERP, "0.10")),
    Call("order-book", True, lambda ex: ex.market_data.order_book(PERP, depth=5), _book),
    Call("trades", True, lambda ex: ex.market_data.trades(PERP, limit=3), _trades),
    Call("klines", True, lambda ex: ex.market_data.candles(PERP, "1h", limit=3, since=1_700_000_000_000), _candles),
    Call("ticker-24h-and-book-ticker", True, lambda ex: ex.market_data.ticker(PERP), _ticker),
    Call("order-limit", True, lambda ex: ex.execution.place_order(
        Order.limit(PERP, "buy", "0.01", "29000", client_order_id="cas-limit")), _new),
    Call("order-post-only-gtx", True, lambda ex: ex.execution.place_order(
        Order.limit(PERP, "buy", "0.01", "29000", post_only=True, client_order_id="cas-gtx")), _new),
    Call("order-stop-market", True, lambda ex: ex.execution.place_order(
        Order.stop_market(PERP, "sell", "0.01", "29000", client_order_id="cas-stop")), _new),
    Call("order-status", True, lambda ex: _place_then(ex, PERP, "0.01", lambda p: _pair(
        ex.execution.order_status(p.order_id, PERP),
        ex.execution.order_status(None, PERP, client_order_id="cas-rest-1"))), _status),
    Call("open-orders", True, lambda ex: _place_then(ex, PERP, "0.01",
                                                     lambda p: ex.execution.open_orders(PERP)), _open),
    Call("cancel-order", True, lambda ex: _place_then(ex, PERP, "0.01", lambda p: ex.execution.cancel_order(
        None, PERP, client_order_id="cas-rest-1")), _cancel),
    Call("cancel-all", True, lambda ex: _place_then(ex, PERP, "0.01",
                                                    lambda p: ex.execution.cancel_all(PERP)), _cancel_all),
    Call("balance", True, lambda ex: ex.execution.balances(), _balances),
    Call("position-risk", True, lambda ex: ex.execution.positions(PERP), _no_positions),
    Call("leverage", True, lambda ex: ex.execution.set_leverage(PERP, 5), _leverage),
    Call("listen-key", True, lambda ex: _listen_key(ex), _same_key),
]


async def _pair(first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
    return await first, await second


async def _listen_key(ex: Any) -> tuple[str, str]:
    created = (await ex.rest.call("listen_key_new"))["listenKey"]
    kept = (await ex.rest.call("listen_key_keep"))["listenKey"]
    await ex.rest.call("listen_key_close")
    return created, kept


@pytest.mark.parametrize("call", CALLS, ids=[("usdm-" if c.futures else "spot-") + c.name for c in CALLS])
async def test_rest_call_from_cassette(request: pytest.FixtureRequest, call: Call) -> None:
    """The call's requests match the recording and its result maps to the right models."""
    async with cassette_session(request, call) as ex:
        result = await call.run(ex)
    call.check(result, ex)


def test_every_route_has_a_cassette() -> None:
    """Each REST route of both product lines is exercised by at least one cassette."""
    import yaml

    from exchange_binance.http import SPOT_ROUTES, USDM_ROUTES

    seen: dict[bool, set[tuple[str, str]]] = {False: set(), True: set()}
    for path in CASSETTES.glob("*.yaml"):
        for interaction in yaml.safe_load(path.read_text())["interactions"]:
            req = interaction["request"]
            seen[path.name.startswith("binance-usdm-")].add((req["method"], urlsplit(req["uri"]).path))
    for futures, routes in ((False, SPOT_ROUTES), (True, USDM_ROUTES)):
        missing = [r.endpoint for r in routes.values() if (r.method, r.path) not in seen[futures]]
        assert not missing, f"routes without a cassette: {missing}"


def test_cassettes_hold_no_key_or_signature() -> None:
    """No cassette contains an API key, a secret or a signature value."""
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) == len(CALLS)
    for path in files:
        text = path.read_text()
        assert FAKE_API_KEY not in text and FAKE_SECRET not in text, path.name
        assert not re.search(r"signature=(?!%3Credacted%3E|<redacted>)", text), path.name
        assert re.search(r"X-MBX-APIKEY:\s*\n?\s*- <redacted>", text) or "X-MBX-APIKEY" not in text, path.name
