"""The connector contract: connect(), capability gates, local order validation, instruments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core_toys import ToyPlugin, toy_descriptor
from exchanges import (
    BadSymbol,
    ConfigError,
    Credentials,
    Host,
    MinNotional,
    NotSupported,
    Order,
    PrecisionError,
    connect,
)
from exchanges.errors import InvalidOrder


async def test_context_manager_connects_and_loads_instruments(toy_host: Host) -> None:
    """`async with connect(...)` opens the connector, loads instruments and closes on exit."""
    ex = connect("toy", host=toy_host)
    assert not ex.is_connected
    async with ex:
        assert ex.is_connected and ex.opened == 1  # type: ignore[attr-defined]
        assert ex.instruments.get("BTC/USDT").raw_symbol == "BTCUSDT"
        book = await ex.market_data.order_book("BTC/USDT")
        assert book.best_bid == Decimal(100)
    assert not ex.is_connected


async def test_undeclared_capability_raises_not_supported(toy_host: Host) -> None:
    """A call outside the descriptor's capabilities raises NotSupported naming the venue, even if implemented."""
    async with connect("toy", host=toy_host) as ex:
        with pytest.raises(NotSupported, match="positions is not supported by toy"):
            await ex.execution.positions()
        with pytest.raises(NotSupported, match="watch_trades is not supported by toy"):
            ex.market_data.watch_trades("BTC/USDT")


async def test_declared_but_unimplemented_raises_not_supported(host: Host) -> None:
    """A declared capability the connector never implemented still raises NotSupported, not a silent None."""
    host.register(ToyPlugin(toy_descriptor(capabilities=("order_book", "ticker", "watch_fills"))), "p")
    async with connect("toy", host=host) as ex:
        with pytest.raises(NotSupported, match="ticker is not supported by toy"):
            await ex.market_data.ticker("BTC/USDT")
        with pytest.raises(NotSupported, match="watch_fills"):
            async for _ in ex.execution.watch_fills():
                pass


@pytest.mark.parametrize(
    ("order", "error", "message"),
    [
        (Order.limit("BTC/USDT", "buy", "0.001", "100.005"), PrecisionError,
         "price 100.005 breaks the tick size rule of BTC/USDT: must be a multiple of 0.01"),
        (Order.limit("BTC/USDT", "buy", "0.00015", "100"), PrecisionError,
         "quantity 0.00015 breaks the step size rule of BTC/USDT: must be a multiple of 0.0001"),
        (Order.limit("BTC/USDT", "buy", "0.01", "100"), MinNotional,
         "notional 1 is below the minimum notional 10 of BTC/USDT"),
        (Order.limit("BTC/USDT", "buy", "101", "100"), PrecisionError,
         "quantity 101 is above the maximum order size 100 of BTC/USDT"),
        (Order.limit("BTC/USDT", "buy", "1", "100", reduce_only=True), NotSupported,
         "reduce_only is not supported by toy"),
        (Order.market("BTC/USDT", "buy", "1"), NotSupported, "market_orders is not supported by toy"),
        (Order.limit("DOGE/USDT", "buy", "1", "100"), BadSymbol, "'DOGE/USDT' is not listed on toy"),
    ],
)
async def test_bad_orders_never_reach_the_connector(toy_host: Host, order: Order, error: type, message: str) -> None:
    """Local validation rejects the order with the rule and allowed value, and the plugin never sees it."""
    async with connect("toy", host=toy_host) as ex:
        with pytest.raises(error) as err:
            await ex.execution.place_order(order)
        assert message in str(err.value)
        assert ex.execution.sent == []  # type: ignore[attr-defined]


async def test_valid_order_reaches_the_connector(toy_host: Host) -> None:
    """A valid post-only limit order passes validation and is sent once."""
    async with connect("toy", host=toy_host) as ex:
        order = Order.limit("BTC/USDT", "buy", "0.1", "100.01", post_only=True)
        result = await ex.execution.place_order(order)
        assert result.client_order_id == order.client_order_id
        assert ex.execution.sent == [order]  # type: ignore[attr-defined]


async def test_reduce_only_is_refused_on_spot(host: Host) -> None:
    """reduce_only on a spot instrument is an InvalidOrder even when the venue supports reduce-only."""
    host.register(ToyPlugin(toy_descriptor(capabilities=("place_order", "reduce_only"))), "p")
    async with connect("toy", host=host) as ex:
        with pytest.raises(InvalidOrder, match="reduce_only applies to derivatives"):
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "1", "100", reduce_only=True))
        await ex.execution.place_order(Order.limit("BTC/USDT:PERP", "buy", "1", "100", reduce_only=True))


def test_endpoints_testnet_and_overrides(toy_host: Host) -> None:
    """testnet selects the testnet URLs; endpoints= replaces a URL by name; unknown names are refused."""
    assert connect("toy", host=toy_host).context.endpoints["rest"] == "https://toy.example"
    assert connect("toy", host=toy_host, testnet=True).context.endpoints["ws"] == "wss://testnet.toy.example/ws"
    ctx = connect("toy", host=toy_host, endpoints={"rest": "http://127.0.0.1:9999/prefix/"}).context
    assert ctx.endpoints == {"rest": "http://127.0.0.1:9999/prefix", "ws": "wss://toy.example/ws"}
    with pytest.raises(ConfigError, match="unknown endpoint name 'wss' for toy; valid names: rest, ws"):
        connect("toy", host=toy_host, endpoints={"wss": "ws://x"})


def test_testnet_without_testnet_endpoints_is_not_supported(host: Host) -> None:
    """Asking for the testnet of a venue that has none raises NotSupported."""
    host.register(ToyPlugin(toy_descriptor(testnet_endpoints={})), "p")
    with pytest.raises(NotSupported, match="testnet is not supported by toy"):
        connect("toy", host=host, testnet=True)


def test_credentials_precedence_and_redaction(toy_host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit credentials beat the environment; neither value appears in any repr."""
    monkeypatch.setenv("EXCHANGES_TOY_API_KEY", "env-key-123456")
    monkeypatch.setenv("EXCHANGES_TOY_SECRET", "env-secret-654321")
    from_env = connect("toy", host=toy_host).context.credentials
    assert from_env is not None and from_env["api_key"] == "env-key-123456" and from_env.source == "environment"
    explicit = connect("toy", host=toy_host, credentials={"api_key": "k-abcdef", "secret": "s-fedcba"}).context
    assert explicit.credentials == {"api_key": "k-abcdef", "secret": "s-fedcba"}
    for text in (repr(from_env), str(from_env), repr(explicit), repr(explicit.credentials)):
        for secret in ("env-key-123456", "env-secret-654321", "k-abcdef", "s-fedcba"):
            assert secret not in text


def test_credentials_redact_helper() -> None:
    """Credentials.redact removes every secret value from a text."""
    creds = Credentials({"api_key": "AKIA-1234", "secret": "shhh-5678"})
    assert creds.redact("key=AKIA-1234&sig=shhh-5678") == "key=<redacted>&sig=<redacted>"
    assert repr(creds) == "Credentials(api_key=<redacted>, secret=<redacted>; source=explicit)"


async def test_instrument_table_is_shared_per_venue_and_endpoint(toy_host: Host) -> None:
    """Two connectors of the same venue and REST endpoint share one instrument table object."""
    async with connect("toy", host=toy_host) as a, connect("toy", host=toy_host) as b:
        assert a.instruments.table is b.instruments.table
        async with connect("toy", host=toy_host, testnet=True) as c:
            assert c.instruments.table is not a.instruments.table


@pytest.mark.parametrize(
    ("method", "args", "expected"),
    [
        ("round_price", ("BTC/USDT", "100.005"), Decimal("100.00")),
        ("round_price", ("BTC/USDT", "100.005", "buy"), Decimal("100.00")),
        ("round_price", ("BTC/USDT", "100.001", "sell"), Decimal("100.01")),
        ("round_size", ("BTC/USDT", "0.12349"), Decimal("0.1234")),
    ],
)
async def test_precision_helpers(toy_host: Host, method: str, args: tuple, expected: Decimal) -> None:
    """round_price rounds to the tick (down for buys, up for sells); round_size rounds down to the step."""
    async with connect("toy", host=toy_host) as ex:
        assert getattr(ex.instruments, method)(*args) == expected


async def test_instrument_lookup_and_mapping(toy_host: Host) -> None:
    """Instruments map raw names both ways, filter by type and raise BadSymbol for unknown or malformed names."""
    async with connect("toy", host=toy_host) as ex:
        assert ex.instruments.normalize("BTCUSDT-P") == "BTC/USDT:PERP"
        assert ex.instruments.denormalize("BTC/USDT") == "BTCUSDT"
        assert [i.symbol for i in ex.instruments.list("perpetual")] == ["BTC/USDT:PERP"]
        with pytest.raises(BadSymbol, match="bad symbol 'btcusdt'"):
            ex.instruments.get("btcusdt")
        with pytest.raises(BadSymbol, match="unknown instrument 'XYZ' on toy"):
            ex.instruments.normalize("XYZ")


async def test_health_reports_without_raising(toy_host: Host) -> None:
    """health() reports ok with a latency for a working connector."""
    async with connect("toy", host=toy_host) as ex:
        health = await ex.health()
        assert health.ok and health.connected and health.latency_ms is not None


async def test_failed_open_releases_what_it_opened(host: Host) -> None:
    """When _open fails half-way the connector's _close runs, and the object is not connected."""
    from core_toys import ToyExchange

    class HalfOpen(ToyExchange):
        closed = 0

        async def _open(self) -> None:
            await super()._open()
            raise ConnectionError("websocket refused")

        async def _close(self) -> None:
            HalfOpen.closed += 1

    host.register(ToyPlugin(toy_descriptor(connector=HalfOpen)), "p")
    ex = connect("toy", host=host)
    with pytest.raises(ConnectionError):
        await ex.connect()
    assert HalfOpen.closed == 1 and not ex.is_connected


async def test_concurrent_connects_open_once(toy_host: Host) -> None:
    """Two concurrent connect() calls on one object open it once."""
    import asyncio

    ex = connect("toy", host=toy_host)
    await asyncio.gather(ex.connect(), ex.connect())
    assert ex.opened == 1 and ex.is_connected  # type: ignore[attr-defined]
    await ex.close()


def test_one_host_serves_several_event_loops(toy_host: Host) -> None:
    """A host used by one asyncio.run after another still loads instruments (no lock bound to a dead loop)."""
    import asyncio

    async def two_connectors() -> list[str]:
        a, b = connect("toy", host=toy_host), connect("toy", host=toy_host)
        await asyncio.gather(a.connect(), b.connect())
        symbols = [i.symbol for i in b.instruments.list()]
        await a.close()
        await b.close()
        return symbols

    for _ in range(2):
        toy_host.shared.clear()
        assert asyncio.run(two_connectors()) == ["BTC/USDT", "BTC/USDT:PERP"]


async def test_instrument_tables_differ_without_a_rest_endpoint(host: Host) -> None:
    """A venue without a 'rest' endpoint still keeps live and testnet instrument tables apart."""
    host.register(ToyPlugin(toy_descriptor(endpoints={"api": "https://toy.example"},
                                           testnet_endpoints={"api": "https://testnet.toy.example"})), "p")
    async with connect("toy", host=host) as live, connect("toy", host=host, testnet=True) as test:
        assert live.instruments.table is not test.instruments.table
