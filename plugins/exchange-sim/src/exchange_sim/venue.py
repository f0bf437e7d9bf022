"""What the simulated venue is: its descriptor and the markets it lists, as data.

Kept import-cheap (the plugin's ``__init__`` imports it): only the descriptor
and plain attrs values live here; the engine loads on connect.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from exchanges import Capability, ExchangeDescriptor, Instrument, InstrumentType

__all__ = ["DESCRIPTOR", "EXCHANGE_ID", "MARKETS", "MarketSpec", "market"]

EXCHANGE_ID = "sim"


@attrs.frozen
class MarketSpec:
    """One listed market: its trading rules and how the simulated participants trade it.

    ``start_price`` centres the seeded book; ``level_gap`` is the typical
    distance between two seeded price levels; ``lot`` the typical size of a
    participant's order; ``volatility`` the standard deviation of the fair
    value's relative move per step. ``anchor`` names the market whose fair
    value this one follows (a perpetual follows its spot market plus a basis).
    """

    symbol: str
    raw_symbol: str
    base: str
    quote: str
    instrument_type: InstrumentType
    tick_size: Decimal
    step_size: Decimal
    min_order_size: Decimal
    max_order_size: Decimal
    min_notional: Decimal
    start_price: Decimal
    level_gap: Decimal
    lot: Decimal
    volatility: float
    anchor: str | None = None

    @property
    def is_perpetual(self) -> bool:
        """True for the perpetual (margin, positions, reduce-only)."""
        return self.instrument_type is InstrumentType.PERPETUAL

    def instrument(self) -> Instrument:
        """The :class:`~exchanges.Instrument` a client sees."""
        return Instrument(
            symbol=self.symbol,
            raw_symbol=self.raw_symbol,
            base_currency=self.base,
            quote_currency=self.quote,
            instrument_type=self.instrument_type,
            tick_size=self.tick_size,
            step_size=self.step_size,
            min_order_size=self.min_order_size,
            max_order_size=self.max_order_size,
            min_notional=self.min_notional,
            settle_currency=self.quote if self.is_perpetual else None,
        )


MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec(
        symbol="BTC/USDT", raw_symbol="BTCUSDT", base="BTC", quote="USDT", instrument_type=InstrumentType.SPOT,
        tick_size=Decimal("0.01"), step_size=Decimal("0.00001"), min_order_size=Decimal("0.00001"),
        max_order_size=Decimal("100"), min_notional=Decimal("5"),
        start_price=Decimal("60000"), level_gap=Decimal("1.00"), lot=Decimal("0.05"), volatility=0.0002,
    ),
    MarketSpec(
        symbol="ETH/USDT", raw_symbol="ETHUSDT", base="ETH", quote="USDT", instrument_type=InstrumentType.SPOT,
        tick_size=Decimal("0.01"), step_size=Decimal("0.0001"), min_order_size=Decimal("0.0001"),
        max_order_size=Decimal("1000"), min_notional=Decimal("5"),
        start_price=Decimal("3000"), level_gap=Decimal("0.10"), lot=Decimal("0.8"), volatility=0.0003,
    ),
    MarketSpec(
        symbol="BTC/USDT:PERP", raw_symbol="BTCUSDT-PERP", base="BTC", quote="USDT",
        instrument_type=InstrumentType.PERPETUAL,
        tick_size=Decimal("0.1"), step_size=Decimal("0.001"), min_order_size=Decimal("0.001"),
        max_order_size=Decimal("100"), min_notional=Decimal("100"),
        start_price=Decimal("60000"), level_gap=Decimal("1.0"), lot=Decimal("0.1"), volatility=0.0002,
        anchor="BTC/USDT",
    ),
)

_BY_SYMBOL = {m.symbol: m for m in MARKETS}


def market(symbol: str) -> MarketSpec | None:
    """The spec of a listed symbol, or None."""
    return _BY_SYMBOL.get(symbol)


DESCRIPTOR = ExchangeDescriptor(
    id=EXCHANGE_ID,
    name="Simulated venue",
    kind="cex",
    products=[InstrumentType.SPOT, InstrumentType.PERPETUAL],
    capabilities=[
        Capability.ORDER_BOOK, Capability.TRADES, Capability.TICKER, Capability.CANDLES,
        Capability.WATCH_ORDER_BOOK, Capability.WATCH_TRADES, Capability.WATCH_TICKER, Capability.WATCH_CANDLES,
        Capability.PLACE_ORDER, Capability.CANCEL_ORDER, Capability.CANCEL_ALL, Capability.ORDER_STATUS,
        Capability.OPEN_ORDERS, Capability.BALANCES, Capability.POSITIONS, Capability.SET_LEVERAGE,
        Capability.WATCH_ORDERS, Capability.WATCH_FILLS, Capability.WATCH_BALANCES,
        Capability.MARKET_ORDERS, Capability.STOP_ORDERS, Capability.TAKE_PROFIT_ORDERS,
        Capability.POST_ONLY, Capability.REDUCE_ONLY,
    ],
    # Embedded: nothing is dialled. The validator wants a URL, and the name keys the instrument cache.
    endpoints={"rest": "sim://embedded"},
    connector="exchange_sim.connector:create_exchange",
    description=(
        "An in-process venue: price-time matching engine, balances, a perpetual with positions, "
        "and seeded background participants. No network, no credentials."
    ),
    conformance="exchange_sim.conformance:SimConformance",
)
