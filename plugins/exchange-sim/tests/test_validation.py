"""Local validation: an order breaking an instrument rule is refused with the rule and value, and nothing reaches the engine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import BadSymbol, InvalidOrder, MinNotional, Order, PrecisionError

PERP = "BTC/USDT:PERP"


@pytest.mark.parametrize(
    ("order", "error", "message"),
    [
        (Order.limit("BTC/USDT", "buy", "0.1", "60000.005"), PrecisionError, "tick size.*multiple of 0.01"),
        (Order.limit("BTC/USDT", "buy", "0.000015", "60000"), PrecisionError, "step size.*multiple of 0.00001"),
        (Order.limit("BTC/USDT", "buy", "101", "60000"), PrecisionError, "maximum order size 100"),
        (Order.limit("BTC/USDT", "buy", "0.00005", "60000"), MinNotional, "minimum notional 5 "),
        # no price: the notional comes from the venue's reference price (60000 x 0.00005 = 3)
        (Order.market("BTC/USDT", "buy", "0.00005"), MinNotional, "notional 3 is below the minimum notional 5"),
        (Order.limit("ETH/USDT", "sell", "0.00015", "3000"), PrecisionError, "step size.*0.0001"),
        (Order.stop_market("ETH/USDT", "buy", "1", "3100.001"), PrecisionError, "stop_price.*tick size.*0.01"),
        (Order.limit(PERP, "buy", "0.01", "60000.05"), PrecisionError, "tick size.*multiple of 0.1"),
        (Order.limit(PERP, "buy", "0.0015", "60000"), PrecisionError, "step size.*multiple of 0.001"),
        (Order.market(PERP, "sell", "0.001"), MinNotional, "notional 60 is below the minimum notional 100"),
        (Order.limit("BTC/USDT", "sell", "0.1", "60000", reduce_only=True), InvalidOrder, "reduce_only.*not to spot"),
        (Order.limit("DOGE/USDT", "buy", "1", "1"), BadSymbol, "not listed on sim"),
    ],
)
async def test_rule_breaking_order_never_reaches_the_engine(ex: SimExchange, order: Order, error: type[Exception],
                                                            message: str) -> None:
    """The matching error names the rule and the allowed value; books, stops and balances are untouched."""
    engines = [ex.venue.engine(s) for s in ex.venue.symbols]
    before = ([(e.sequence, e.resting_count, e.stop_count) for e in engines], await ex.execution.balances())
    with pytest.raises(error, match=message):
        await ex.execution.place_order(order)
    after = ([(e.sequence, e.resting_count, e.stop_count) for e in engines], await ex.execution.balances())
    assert after == before
    assert await ex.execution.open_orders() == []


async def test_reference_price_is_the_last_trade(ex: SimExchange) -> None:
    """reference_price starts at the seeded start price and follows the last trade; unknown symbols give None."""
    assert ex.reference_price("BTC/USDT") == Decimal(60000)
    assert ex.reference_price("ETH/USDT") == Decimal(3000)
    trades = [t for t in ex.venue.step(20) if t.symbol == "BTC/USDT"]
    assert trades and ex.reference_price("BTC/USDT") == trades[-1].price
    assert ex.reference_price("NOPE/USDT") is None


async def test_valid_order_passes_the_same_gate(ex: SimExchange) -> None:
    """An order on the tick, on the step and above the minimum notional is accepted."""
    result = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.00009", "59000.01"))
    assert result.order_id and ex.venue.engine("BTC/USDT").get(result.order_id) is not None
