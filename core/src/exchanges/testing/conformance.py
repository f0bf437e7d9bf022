"""The conformance suite every venue plugin runs: stable test ids, gated by capabilities.

Subclass :class:`ConformanceSuite` in your plugin's tests (the class name must
start with ``Test`` for pytest to collect it) and describe your venue::

    from exchanges.testing.conformance import ConformanceSuite, PayloadCase

    class TestConformance(ConformanceSuite):
        exchange_id = "foo"
        symbol_cases = [("BTCUSDT", "BTC/USDT")]
        payload_cases = [PayloadCase("trade", parse_trade, {...}, Trade(...))]
        called_endpoints = ["GET /api/v3/depth", "POST /api/v3/order"]

Groups (ids are stable; ``docs/plugins/conformance.md`` lists them):

- ``TC-P`` plugin metadata: discovered and loaded, descriptor well-formed,
  core range declared, cheap import, connector factory.
- ``TC-S`` symbols: mapper registered, raw <-> unified round trip, bad
  symbols rejected, every listed instrument maps both ways.
- ``TC-R`` rate limits: rules registered and well-formed, every cost key has
  a rule, every endpoint the plugin calls has a cost.
- ``TC-D`` recorded payloads parse into models with the right values;
  malformed payloads raise a typed error.
- ``TC-W`` streaming contract: synced books, trades; reconnect, resubscribe,
  heartbeat and book resync against the loopback emulator (see
  :mod:`exchanges.testing.ws_contract`).
- ``TC-X`` execution (on cassettes or a simulated venue): place, status,
  cancel, local rejection, balances.

Each test skips, naming the capability, when the descriptor does not declare
what it needs. Override the ``host`` or ``exchange`` fixture to run against an
in-process plugin or inside a cassette.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest
import pytest_asyncio

from exchanges import (
    BadSymbol,
    BaseExchange,
    ExchangeDescriptor,
    ExchangeError,
    Host,
    InvalidOrder,
    Order,
    OrderResult,
    OrderState,
    parse_symbol,
)
from exchanges._loader import check_core_requirement
from exchanges._version import __version__ as core_version
from exchanges.descriptors import CAPABILITIES

from .ws_contract import WsContract, WsScenario

__all__ = ["TC_IDS", "ConformanceSuite", "PayloadCase", "WsScenario"]

#: Every test id of the suite with its one-line meaning (kept in sync with the docs by a meta-test).
TC_IDS: dict[str, str] = {
    "TC-P-01": "the plugin providing the exchange is discovered and loaded, and no other plugin failed over its id",
    "TC-P-02": "the descriptor is well-formed: id, products, known capabilities, endpoint names and URLs",
    "TC-P-03": "the distribution declares a compatible exchange-core range",
    "TC-P-04": "importing the plugin module is cheap: no connector module, aiohttp or websockets",
    "TC-P-05": "the connector factory builds a BaseExchange with the three parts",
    "TC-S-01": "a symbol mapper is registered for the exchange id",
    "TC-S-02": "raw <-> unified symbol cases round-trip through the mapper",
    "TC-S-03": "unknown raw names and malformed symbols raise BadSymbol",
    "TC-S-04": "every listed instrument has a valid unified symbol that maps back to its raw name",
    "TC-R-01": "rate-limit rules are registered, well-formed and uniquely named",
    "TC-R-02": "every endpoint cost draws only on keys some rule limits",
    "TC-R-03": "every endpoint the plugin calls has a registered cost",
    "TC-D-01": "recorded payloads parse into models with the right values",
    "TC-D-02": "malformed payloads raise a typed ExchangeError, never KeyError or TypeError",
    "TC-W-01": "watch_order_book yields synced books: sorted sides, never crossed, sequence never going back",
    "TC-W-02": "watch_trades yields trades of the subscribed symbol",
    "TC-W-03": "after a dropped connection the stream reconnects and resubscribes",
    "TC-W-04": "a sequence gap marks the book stale and it is resynced before the next yield",
    "TC-W-05": "the venue heartbeat is answered and a stalled connection is replaced",
    "TC-X-01": "a limit order is placed and the client order id is echoed",
    "TC-X-02": "order_status returns the order by venue id",
    "TC-X-03": "cancel_order cancels it and its status becomes canceled",
    "TC-X-04": "an order breaking a tick rule is rejected locally and nothing is sent",
    "TC-X-05": "balances are Balance models keyed by currency",
}


@attrs.frozen
class PayloadCase:
    """One recorded payload (written from the venue's documented format) and what it must parse into.

    ``expected`` is a model (compared with ``==``) or an exception class the
    parser must raise (for malformed payloads).
    """

    id: str
    parse: Callable[[Any], Any]
    payload: Any
    expected: Any


def _skip_unless(descriptor: ExchangeDescriptor, *capabilities: str) -> None:
    missing = [c for c in capabilities if not descriptor.supports(c)]
    if missing:
        pytest.skip(f"gated: {descriptor.id} does not declare {', '.join(missing)}")


class ConformanceSuite(WsContract):
    """Base class of a plugin's conformance tests. Set ``exchange_id``; add cases to enable groups."""

    #: the exchange id under test (required)
    exchange_id: ClassVar[str] = ""
    #: (raw name, unified symbol) pairs for TC-S-02
    symbol_cases: ClassVar[Sequence[tuple[str, str]]] = ()
    #: a raw name the venue does not list, for TC-S-03
    unknown_raw_symbol: ClassVar[str] = "NOTAREALSYMBOL123"
    #: payload cases for TC-D
    payload_cases: ClassVar[Sequence[PayloadCase]] = ()
    #: every endpoint the plugin calls (``"METHOD /path"`` or a stream name), for TC-R-03
    called_endpoints: ClassVar[Sequence[str]] = ()
    #: keyword arguments for ``exchanges.connect`` in the TC-S-04, TC-W and TC-X groups
    connect_kwargs: ClassVar[Mapping[str, Any]] = {}
    #: the symbol used by the streaming and execution groups
    trade_symbol: ClassVar[str] = "BTC/USDT"
    #: how many book updates TC-W-01 checks
    book_updates: ClassVar[int] = 5
    #: whether TC-S-04 / TC-W / TC-X may connect (False when no emulator/cassette/simulator backs them)
    can_connect: ClassVar[bool] = True

    # -- fixtures (override to change where the venue comes from) ------------------------

    @pytest.fixture
    def host(self) -> Host:
        """The host under test: real entry-point discovery by default."""
        return Host()

    @pytest.fixture
    def descriptor(self, host: Host) -> ExchangeDescriptor:
        """The descriptor of :attr:`exchange_id`."""
        if not self.exchange_id:
            pytest.fail("set exchange_id on your ConformanceSuite subclass")
        return host.descriptor(self.exchange_id)

    @pytest_asyncio.fixture
    async def exchange(self, host: Host, descriptor: ExchangeDescriptor) -> AsyncIterator[BaseExchange]:
        """A connected exchange (override to wrap it in a cassette or point it at the emulator)."""
        if not self.can_connect:
            pytest.skip(f"gated: no offline backend configured for {self.exchange_id}")
        async with host.connect(self.exchange_id, **dict(self.connect_kwargs)) as ex:
            yield ex

    # -- TC-P: plugin metadata --------------------------------------------------------------

    def test_TC_P_01_discovered_and_loaded(self, host: Host) -> None:
        """TC-P-01: the plugin providing the exchange is loaded and no other plugin failed over its id."""
        assert self.exchange_id in host.exchanges, f"no loaded plugin provides {self.exchange_id!r}"
        owner = host.plugin(host.owner(self.exchange_id))
        assert owner.status == "loaded", owner.error
        clashes = [r for r in host.plugins if r.status != "loaded" and repr(self.exchange_id) in (r.error or "")]
        assert not clashes, f"plugins failed over {self.exchange_id!r}: {[(r.name, r.error) for r in clashes]}"

    def test_TC_P_02_descriptor_well_formed(self, descriptor: ExchangeDescriptor) -> None:
        """TC-P-02: id, products, capabilities and endpoints are well-formed."""
        assert descriptor.name.strip(), "descriptor needs a human name"
        assert descriptor.products, "descriptor declares no products"
        unknown = {c for c in descriptor.capabilities if c not in CAPABILITIES and not c.startswith("x-")}
        assert not unknown, f"unknown capabilities {sorted(unknown)} (prefix venue-specific ones with 'x-')"
        assert descriptor.endpoints, "descriptor declares no endpoints"
        if descriptor.testnet_endpoints:
            assert set(descriptor.testnet_endpoints) == set(descriptor.endpoints), "testnet endpoint names differ"

    def test_TC_P_03_core_range(self, host: Host) -> None:
        """TC-P-03: the plugin's distribution declares an exchange-core range that admits the running core."""
        record = host.plugin(host.owner(self.exchange_id))
        if record.dist is None:
            pytest.skip("in-process plugin: no distribution metadata")
        assert record.requires_core, f"{record.dist} does not declare a requirement on exchange-core"
        from packaging.requirements import Requirement

        reason = check_core_requirement(Requirement(f"exchange-core{record.requires_core}"), core_version)
        assert reason is None, reason

    def test_TC_P_04_cheap_import(self, host: Host, descriptor: ExchangeDescriptor) -> None:
        """TC-P-04: importing the plugin's entry-point module imports no connector, aiohttp or websockets."""
        record = host.plugin(host.owner(self.exchange_id))
        if record.dist is None or not record.module or not isinstance(descriptor.connector, str):
            pytest.skip("in-process plugin or callable connector")
        module = record.module.partition(":")[0]
        connector_module = descriptor.connector.partition(":")[0]
        code = (
            f"import sys, {module}; heavy = ('aiohttp', 'websockets', {connector_module!r}); "
            "print([m for m in sys.modules if m in heavy or m.split('.')[0] in heavy[:2]])"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "[]", f"importing {module} also imported {out.stdout.strip()}"

    def test_TC_P_05_connector_factory(self, host: Host) -> None:
        """TC-P-05: the lazily imported factory returns a BaseExchange with instruments, market_data, execution."""
        ex = host.connect(self.exchange_id, **dict(self.connect_kwargs))
        assert isinstance(ex, BaseExchange)
        for part in ("instruments", "market_data", "execution"):
            assert getattr(ex, part, None) is not None, f"connector has no {part}"
        assert not ex.is_connected

    # -- TC-S: symbols ------------------------------------------------------------------

    def test_TC_S_01_mapper_registered(self, host: Host) -> None:
        """TC-S-01: a symbol mapper is registered for the exchange id."""
        assert host.symbol_mapper(self.exchange_id) is not None, f"no symbol mapper for {self.exchange_id!r}"

    def test_TC_S_02_round_trip(self, host: Host) -> None:
        """TC-S-02: each (raw, unified) case maps both ways."""
        if not self.symbol_cases:
            pytest.skip("no symbol_cases given")
        mapper = host.symbol_mapper(self.exchange_id)
        assert mapper is not None
        for raw, unified in self.symbol_cases:
            parse_symbol(unified)
            assert mapper.normalize(raw) == unified, f"normalize({raw!r})"
            assert mapper.denormalize(unified) == raw, f"denormalize({unified!r})"

    def test_TC_S_03_bad_symbols(self, host: Host) -> None:
        """TC-S-03: an unknown raw name and a malformed unified symbol raise BadSymbol."""
        mapper = host.symbol_mapper(self.exchange_id)
        assert mapper is not None
        with pytest.raises(BadSymbol):
            mapper.denormalize("not a symbol")
        with pytest.raises(BadSymbol):
            mapper.normalize(self.unknown_raw_symbol)

    @pytest.mark.asyncio
    async def test_TC_S_04_instruments_map(self, host: Host, exchange: BaseExchange) -> None:
        """TC-S-04: every listed instrument's symbol parses and the mapper maps it to its raw name and back."""
        mapper = host.symbol_mapper(self.exchange_id)
        instruments = exchange.instruments.list()
        assert instruments, "the venue lists no instruments"
        for inst in instruments:
            parse_symbol(inst.symbol)
            if mapper is not None:
                assert mapper.denormalize(inst.symbol) == inst.raw_symbol, f"denormalize({inst.symbol!r})"
                assert mapper.normalize(inst.raw_symbol) == inst.symbol, f"normalize({inst.raw_symbol!r})"

    # -- TC-R: rate limits ----------------------------------------------------------------

    def test_TC_R_01_rules(self, host: Host) -> None:
        """TC-R-01: the exchange has rate-limit rules, each well-formed and uniquely named."""
        rules = host.rate_limit_rules(self.exchange_id)
        assert rules, f"no rate-limit rules registered for {self.exchange_id!r}"
        names = [r.name for r in rules]
        assert len(names) == len(set(names))
        for rule in rules:
            assert rule.key.strip() and rule.limit > 0 and rule.window > 0

    def test_TC_R_02_cost_keys_limited(self, host: Host) -> None:
        """TC-R-02: every key an endpoint cost draws on is limited by some rule."""
        keys = {r.key for r in host.rate_limit_rules(self.exchange_id)}
        orphans = {
            f"{endpoint}:{key}"
            for endpoint, cost in host.endpoint_costs(self.exchange_id).items()
            for key in cost.costs
            if key not in keys
        }
        assert not orphans, f"costs on keys no rule limits: {sorted(orphans)}"

    def test_TC_R_03_endpoints_covered(self, host: Host) -> None:
        """TC-R-03: every endpoint the plugin calls has a registered cost."""
        if not self.called_endpoints:
            pytest.skip("no called_endpoints given")
        costs = host.endpoint_costs(self.exchange_id)
        missing = [e for e in self.called_endpoints if e not in costs]
        assert not missing, f"endpoints without a cost: {missing}"

    # -- TC-D: payloads ------------------------------------------------------------------

    def test_TC_D_01_payloads_parse(self) -> None:
        """TC-D-01: each recorded payload parses into the expected model."""
        cases = [c for c in self.payload_cases if not (isinstance(c.expected, type) and issubclass(c.expected, BaseException))]
        if not cases:
            pytest.skip("no payload_cases given")
        for case in cases:
            assert case.parse(case.payload) == case.expected, f"payload case {case.id!r}"

    def test_TC_D_02_malformed_payloads(self) -> None:
        """TC-D-02: malformed payloads raise the expected typed ExchangeError."""
        cases = [c for c in self.payload_cases if isinstance(c.expected, type) and issubclass(c.expected, BaseException)]
        if not cases:
            pytest.skip("no malformed payload cases given")
        for case in cases:
            assert issubclass(case.expected, ExchangeError), f"case {case.id!r} must expect an ExchangeError"
            with pytest.raises(case.expected):
                case.parse(case.payload)

    # -- TC-W: streaming ------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_TC_W_01_synced_books(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-W-01: watch_order_book yields sorted, uncrossed books whose sequence never goes back."""
        _skip_unless(descriptor, "watch_order_book")
        last_seq: int | None = None
        seen = 0
        stream = exchange.market_data.watch_order_book(self.trade_symbol)
        async for book in stream:
            await self.drive(exchange)
            bids = [lv.price for lv in book.bids]
            asks = [lv.price for lv in book.asks]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
            assert not book.is_crossed, f"crossed book {book.best_bid} >= {book.best_ask}"
            assert all(lv.quantity > 0 for lv in (*book.bids, *book.asks))
            if last_seq is not None and book.sequence is not None:
                assert book.sequence >= last_seq
            last_seq = book.sequence
            seen += 1
            if seen >= self.book_updates:
                break
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
        assert seen == self.book_updates

    @pytest.mark.asyncio
    async def test_TC_W_02_trades(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-W-02: watch_trades yields Trade models of the subscribed symbol with positive price and size."""
        _skip_unless(descriptor, "watch_trades")
        stream = exchange.market_data.watch_trades(self.trade_symbol)
        trade = await self._next_driven(exchange, stream)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
        assert trade.symbol == self.trade_symbol and trade.exchange == self.exchange_id
        assert trade.price > 0 and trade.quantity > 0

    async def drive(self, exchange: BaseExchange) -> None:
        """Let the venue produce the next update (a simulator steps here; a real stream just waits)."""

    async def _next_driven(self, exchange: BaseExchange, stream: Any) -> Any:
        import asyncio

        task = asyncio.ensure_future(stream.__anext__())
        for _ in range(200):
            if task.done():
                break
            await self.drive(exchange)
            await asyncio.sleep(0.01)
        return await asyncio.wait_for(task, 10)

    # -- TC-X: execution -----------------------------------------------------------------

    def resting_order(self, exchange: BaseExchange) -> Order:
        """A valid limit buy far below the market that rests (override for your venue's cassettes)."""
        inst = exchange.instruments.get(self.trade_symbol)
        ref = exchange.reference_price(self.trade_symbol) or Decimal(1000) * inst.tick_size
        price = exchange.instruments.round_price(self.trade_symbol, ref * Decimal("0.8"), "buy")
        quantity = max(inst.min_order_size, inst.step_size)
        if inst.min_notional and quantity * price < inst.min_notional:
            quantity = exchange.instruments.round_size(self.trade_symbol, inst.min_notional / price * 2) + inst.step_size
        return Order.limit(self.trade_symbol, "buy", quantity, price)

    async def _placed(self, exchange: BaseExchange) -> tuple[Order, OrderResult]:
        order = self.resting_order(exchange)
        return order, await exchange.execution.place_order(order)

    @pytest.mark.asyncio
    async def test_TC_X_01_place(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-X-01: a resting limit order is accepted as new with our client order id."""
        _skip_unless(descriptor, "place_order")
        order, result = await self._placed(exchange)
        assert isinstance(result, OrderResult) and result.order_id
        assert result.client_order_id == order.client_order_id and result.symbol == order.symbol
        assert result.status is OrderState.NEW

    @pytest.mark.asyncio
    async def test_TC_X_02_status(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-X-02: order_status by venue id returns the open order."""
        _skip_unless(descriptor, "place_order", "order_status")
        order, result = await self._placed(exchange)
        status = await exchange.execution.order_status(result.order_id, order.symbol)
        assert status.order_id == result.order_id and status.state.is_open
        assert status.client_order_id == order.client_order_id

    @pytest.mark.asyncio
    async def test_TC_X_03_cancel(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-X-03: cancel_order cancels the order and its status becomes canceled."""
        _skip_unless(descriptor, "place_order", "cancel_order", "order_status")
        order, result = await self._placed(exchange)
        cancel = await exchange.execution.cancel_order(result.order_id, order.symbol)
        assert cancel.order_id == result.order_id and cancel.state is OrderState.CANCELED
        status = await exchange.execution.order_status(result.order_id, order.symbol)
        assert status.state is OrderState.CANCELED

    @pytest.mark.asyncio
    async def test_TC_X_04_local_rejection(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-X-04: a price off the tick size raises InvalidOrder naming the rule before anything is sent."""
        _skip_unless(descriptor, "place_order")
        inst = exchange.instruments.get(self.trade_symbol)
        good = self.resting_order(exchange)
        bad = Order.limit(good.symbol, "buy", good.quantity, good.price + inst.tick_size / 2)  # type: ignore[operator]
        with pytest.raises(InvalidOrder, match="tick size"):
            await exchange.execution.place_order(bad)

    @pytest.mark.asyncio
    async def test_TC_X_05_balances(self, descriptor: ExchangeDescriptor, exchange: BaseExchange) -> None:
        """TC-X-05: balances returns Balance models keyed by their currency."""
        _skip_unless(descriptor, "balances")
        from exchanges import Balance

        balances = await exchange.execution.balances()
        assert isinstance(balances, dict)
        for currency, balance in balances.items():
            assert isinstance(balance, Balance) and balance.currency == currency
            assert balance.free >= 0 and balance.locked >= 0
