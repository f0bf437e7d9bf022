"""Toy venue used by the core tests: descriptors and plugins registered in-process (no network)."""

from __future__ import annotations

from collections.abc import Iterable

from exchanges import (
    BaseExchange,
    ConnectorContext,
    ExchangeDescriptor,
    Execution,
    Instrument,
    Instruments,
    MarketData,
    OrderBook,
    OrderResult,
    OrderState,
    hookimpl,
)


class ToyInstruments(Instruments):
    """Two instruments with round rules, enough to exercise validation."""

    async def fetch(self) -> Iterable[Instrument]:
        return [
            Instrument("BTC/USDT", "BTCUSDT", "BTC", "USDT", "spot", tick_size="0.01", step_size="0.0001",
                       min_order_size="0.0001", max_order_size="100", min_notional="10"),
            Instrument("BTC/USDT:PERP", "BTCUSDT-P", "BTC", "USDT", "perpetual", tick_size="0.1",
                       step_size="0.001", min_notional="5"),
        ]


class ToyMarketData(MarketData):
    """Serves a fixed book."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        self.exchange.instruments.get(symbol)
        return OrderBook(symbol, self.exchange.id, 1, [("100", "1"), ("99", "2")], [("101", "1")], 7)


class ToyExecution(Execution):
    """Records the orders that reach it."""

    def __init__(self, exchange: BaseExchange) -> None:
        super().__init__(exchange)
        self.sent: list = []

    async def place_order(self, order):  # type: ignore[no-untyped-def]
        self.sent.append(order)
        return OrderResult("1", order.client_order_id, order.symbol, OrderState.NEW)


class ToyExchange(BaseExchange):
    """A connector with no network at all."""

    def __init__(self, context: ConnectorContext) -> None:
        super().__init__(context)
        self.instruments = ToyInstruments(self)
        self.market_data = ToyMarketData(self)
        self.execution = ToyExecution(self)
        self.opened = 0

    async def _open(self) -> None:
        self.opened += 1

    def reference_price(self, symbol: str):  # type: ignore[no-untyped-def]
        from decimal import Decimal

        return Decimal("100")


def toy_descriptor(exchange_id: str = "toy", capabilities: Iterable[str] = ("order_book", "place_order"),
                   **kwargs: object) -> ExchangeDescriptor:
    """A descriptor for :class:`ToyExchange`."""
    params: dict[str, object] = {
        "id": exchange_id,
        "name": "Toy venue",
        "kind": "cex",
        "products": ["spot", "perpetual"],
        "capabilities": capabilities,
        "endpoints": {"rest": "https://toy.example", "ws": "wss://toy.example/ws"},
        "testnet_endpoints": {"rest": "https://testnet.toy.example", "ws": "wss://testnet.toy.example/ws"},
        "connector": ToyExchange,
    }
    params.update(kwargs)
    return ExchangeDescriptor(**params)  # type: ignore[arg-type]


class ToyPlugin:
    """An in-process plugin registering one descriptor."""

    def __init__(self, descriptor: ExchangeDescriptor | None = None) -> None:
        self.descriptor = descriptor or toy_descriptor()

    @hookimpl
    def register_exchanges(self, register) -> None:  # type: ignore[no-untyped-def]
        register(self.descriptor)


