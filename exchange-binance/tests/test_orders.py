"""Order entry over real loopback HTTP: parameters per order type, results, cancels, unknown outcomes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exchange_binance.testing import FakeBinance
from exchanges import (
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    Order,
    OrderState,
    OrderType,
    PostOnlyRejected,
    UnknownOutcome,
)
from exchanges.testing.emulator import Reply, VenueEmulator

VOLATILE = {"recvWindow", "timestamp", "signature"}


def sent(emu: VenueEmulator, path: str, method: str = "POST") -> list[dict[str, str]]:
    """The parameters of every request to ``path`` (without the volatile signing ones)."""
    return [{k: v for k, v in r.params().items() if k not in VOLATILE} for r in emu.requests_for(path, method)]


SPOT_CASES = [
    ("market", Order.market("BTC/USDT", "buy", "0.001", client_order_id="m1"),
     {"type": "MARKET", "quantity": "0.001"}, OrderState.FILLED),
    ("market by quote amount", Order.market("BTC/USDT", "buy", quote_quantity="100", client_order_id="q1"),
     {"type": "MARKET", "quoteOrderQty": "100"}, OrderState.FILLED),
    ("limit gtc", Order.limit("BTC/USDT", "buy", "0.001", "29000.50", client_order_id="l1"),
     {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "29000.5"}, OrderState.NEW),
    ("limit ioc", Order.limit("BTC/USDT", "buy", "0.001", "29000", time_in_force="ioc", client_order_id="l2"),
     {"type": "LIMIT", "timeInForce": "IOC", "quantity": "0.001", "price": "29000"}, OrderState.EXPIRED),
    ("limit fok", Order.limit("BTC/USDT", "sell", "0.001", "31000", time_in_force="fok", client_order_id="l3"),
     {"type": "LIMIT", "timeInForce": "FOK", "quantity": "0.001", "price": "31000"}, OrderState.EXPIRED),
    ("post-only", Order.limit("BTC/USDT", "buy", "0.001", "29000", post_only=True, client_order_id="p1"),
     {"type": "LIMIT_MAKER", "quantity": "0.001", "price": "29000"}, OrderState.NEW),
    ("stop-loss market", Order.stop_market("BTC/USDT", "sell", "0.001", "29000", client_order_id="s1"),
     {"type": "STOP_LOSS", "quantity": "0.001", "stopPrice": "29000"}, OrderState.NEW),
    ("stop-loss limit", Order.stop_limit("BTC/USDT", "sell", "0.001", "28900", "29000", client_order_id="s2"),
     {"type": "STOP_LOSS_LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "28900", "stopPrice": "29000"},
     OrderState.NEW),
    ("take-profit market", Order("BTC/USDT", "sell", OrderType.TAKE_PROFIT_MARKET, "0.001", stop_price="31000",
                                 client_order_id="t1"),
     {"type": "TAKE_PROFIT", "quantity": "0.001", "stopPrice": "31000"}, OrderState.NEW),
    ("take-profit limit", Order("BTC/USDT", "sell", OrderType.TAKE_PROFIT_LIMIT, "0.001", "31100", "31000",
                                time_in_force="ioc", client_order_id="t2"),
     {"type": "TAKE_PROFIT_LIMIT", "timeInForce": "IOC", "quantity": "0.001", "price": "31100", "stopPrice": "31000"},
     OrderState.NEW),
]

USDM_CASES = [
    ("market", Order.market("BTC/USDT:PERP", "buy", "0.01", client_order_id="m1"),
     {"type": "MARKET", "quantity": "0.01"}, OrderState.FILLED),
    ("limit gtc", Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000.1", client_order_id="l1"),
     {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "29000.1"}, OrderState.NEW),
    ("limit ioc", Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000", time_in_force="ioc", client_order_id="l2"),
     {"type": "LIMIT", "timeInForce": "IOC", "quantity": "0.01", "price": "29000"}, OrderState.EXPIRED),
    ("post-only", Order.limit("BTC/USDT:PERP", "sell", "0.01", "31000", post_only=True, client_order_id="p1"),
     {"type": "LIMIT", "timeInForce": "GTX", "quantity": "0.01", "price": "31000"}, OrderState.NEW),
    ("stop market", Order.stop_market("BTC/USDT:PERP", "sell", "0.01", "29000", client_order_id="s1"),
     {"type": "STOP_MARKET", "quantity": "0.01", "stopPrice": "29000"}, OrderState.NEW),
    ("stop limit", Order.stop_limit("BTC/USDT:PERP", "sell", "0.01", "28900", "29000", time_in_force="fok",
                                    client_order_id="s2"),
     {"type": "STOP", "timeInForce": "FOK", "quantity": "0.01", "price": "28900", "stopPrice": "29000"},
     OrderState.NEW),
    ("take-profit market", Order("BTC/USDT:PERP", "sell", OrderType.TAKE_PROFIT_MARKET, "0.01", stop_price="31000",
                                 client_order_id="t1"),
     {"type": "TAKE_PROFIT_MARKET", "quantity": "0.01", "stopPrice": "31000"}, OrderState.NEW),
    ("take-profit limit", Order("BTC/USDT:PERP", "sell", OrderType.TAKE_PROFIT_LIMIT, "0.01", "31100", "31000",
                                client_order_id="t2"),
     {"type": "TAKE_PROFIT", "timeInForce": "GTC", "quantity": "0.01", "price": "31100", "stopPrice": "31000"},
     OrderState.NEW),
]


@pytest.mark.parametrize(("name", "order", "params", "state"), SPOT_CASES, ids=[c[0] for c in SPOT_CASES])
async def test_spot_order_parameters(spot: FakeBinance, emu: VenueEmulator, connect: Any, name: str, order: Order,
                                     params: dict[str, str], state: OrderState) -> None:
    """Each unified spot order becomes exactly the documented parameters, and the venue's answer maps back."""
    async with connect(spot) as ex:
        result = await ex.execution.place_order(order)
    expected = {"symbol": "BTCUSDT", "side": order.side.value.upper(), **params,
                "newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
    assert sent(emu, "/api/v3/order") == [expected]
    assert (result.client_order_id, result.symbol, result.status) == (order.client_order_id, "BTC/USDT", state)


@pytest.mark.parametrize(("name", "order", "params", "state"), USDM_CASES, ids=[c[0] for c in USDM_CASES])
async def test_usdm_order_parameters(usdm: FakeBinance, emu: VenueEmulator, connect: Any, name: str, order: Order,
                                     params: dict[str, str], state: OrderState) -> None:
    """Each unified USD-M order becomes exactly the documented parameters (GTX for post-only)."""
    async with connect(usdm) as ex:
        result = await ex.execution.place_order(order)
    expected = {"symbol": "BTCUSDT", "side": order.side.value.upper(), **params,
                "newClientOrderId": order.client_order_id, "newOrderRespType": "RESULT"}
    assert sent(emu, "/fapi/v1/order") == [expected]
    assert (result.client_order_id, result.status) == (order.client_order_id, state)


async def test_market_fill_average_price(spot: FakeBinance, connect: Any) -> None:
    """A filled market order reports its filled quantity and average price from the FULL answer."""
    async with connect(spot) as ex:
        result = await ex.execution.place_order(Order.market("BTC/USDT", "buy", "0.002"))
    assert result.filled_quantity == Decimal("0.002")
    assert result.average_price == spot.markets["BTCUSDT"].best_ask


async def test_reduce_only_on_futures(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """reduceOnly=true is sent on USD-M; the venue rejects it without a position to reduce."""
    async with connect(usdm) as ex:
        with pytest.raises(InvalidOrder, match="-2022"):
            await ex.execution.place_order(Order.market("BTC/USDT:PERP", "sell", "0.01", reduce_only=True))
        usdm.positions["BTCUSDT"] = Decimal("0.01")
        result = await ex.execution.place_order(Order.market("BTC/USDT:PERP", "sell", "0.01", reduce_only=True))
    assert result.status is OrderState.FILLED
    assert [p.get("reduceOnly") for p in sent(emu, "/fapi/v1/order")] == ["true", "true"]


@pytest.mark.parametrize(
    ("futures", "order", "feature"),
    [
        (False, Order.market("BTC/USDT", "sell", "0.001", reduce_only=True), "reduce_only"),
        (True, Order.market("BTC/USDT:PERP", "buy", quote_quantity="100"), "quote_quantity"),
    ],
    ids=["spot reduce-only", "usdm quote quantity"],
)
async def test_features_a_product_lacks_are_refused_locally(emu: VenueEmulator, connect: Any, futures: bool,
                                                            order: Order, feature: str) -> None:
    """Order features a product line lacks raise NotSupported before anything is sent."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        with pytest.raises(NotSupported, match=feature):
            await ex.execution.place_order(order)
    assert not [r for r in emu.requests if r.path.endswith("/order")]


@pytest.mark.parametrize(
    ("futures", "order", "error", "code"),
    [
        (False, Order.limit("BTC/USDT", "buy", "0.001", "30001", post_only=True), PostOnlyRejected, "-2010"),
        (True, Order.limit("BTC/USDT:PERP", "buy", "0.01", "30001", post_only=True), PostOnlyRejected, "-5022"),
    ],
    ids=["spot LIMIT_MAKER", "usdm GTX"],
)
async def test_post_only_that_would_take_is_rejected(emu: VenueEmulator, connect: Any, futures: bool, order: Order,
                                                     error: type, code: str) -> None:
    """A post-only order crossing the book is rejected by the venue with the unified PostOnlyRejected."""
    fake = FakeBinance(emu, futures=futures).install()
    async with connect(fake) as ex:
        with pytest.raises(error, match=code):
            await ex.execution.place_order(order)


async def test_cancel_status_open_orders_by_id_and_client_id(spot: FakeBinance, emu: VenueEmulator,
                                                             connect: Any) -> None:
    """Orders are found and cancelled by venue id or by client id; open_orders lists what rests."""
    async with connect(spot) as ex:
        first = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="a1"))
        second = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "28000", client_order_id="a2"))
        by_cid = await ex.execution.order_status(None, "BTC/USDT", client_order_id="a2")
        listed = await ex.execution.open_orders("BTC/USDT")
        cancel_id = await ex.execution.cancel_order(first.order_id, "BTC/USDT")
        cancel_cid = await ex.execution.cancel_order(None, "BTC/USDT", client_order_id="a2")
        after = await ex.execution.order_status(second.order_id, "BTC/USDT")
    assert by_cid.order_id == second.order_id and by_cid.price == Decimal(28000)
    assert sorted(s.client_order_id for s in listed) == ["a1", "a2"]
    assert (cancel_id.order_id, cancel_id.client_order_id, cancel_id.state) == (first.order_id, "a1", OrderState.CANCELED)
    assert (cancel_cid.order_id, cancel_cid.client_order_id) == (second.order_id, "a2")
    assert after.state is OrderState.CANCELED
    assert sent(emu, "/api/v3/order", "DELETE") == [{"symbol": "BTCUSDT", "orderId": first.order_id},
                                                    {"symbol": "BTCUSDT", "origClientOrderId": "a2"}]


@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
async def test_cancel_all(emu: VenueEmulator, connect: Any, futures: bool) -> None:
    """cancel_all cancels every open order of the symbol and reports each one."""
    fake = FakeBinance(emu, futures=futures).install()
    symbol, qty = ("BTC/USDT:PERP", "0.01") if futures else ("BTC/USDT", "0.001")
    async with connect(fake) as ex:
        for i, price in enumerate(("29000", "28000")):
            await ex.execution.place_order(Order.limit(symbol, "buy", qty, price, client_order_id=f"c{i}"))
        results = await ex.execution.cancel_all(symbol)
        remaining = await ex.execution.open_orders(symbol)
        all_symbols = await ex.execution.cancel_all()
    assert sorted(r.client_order_id for r in results) == ["c0", "c1"]
    assert {r.state for r in results} == {OrderState.CANCELED} and remaining == [] and all_symbols == []
    assert all(o.status == "CANCELED" for o in fake.orders.values())


async def test_insufficient_balance_maps(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """The venue's -2010 insufficient balance becomes InsufficientFunds."""
    emu.fail("POST", "/api/v3/order", Reply(400, json={
        "code": -2010, "msg": "Account has insufficient balance for requested action."}))
    async with connect(spot) as ex:
        with pytest.raises(InsufficientFunds):
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000"))


async def test_positions_and_leverage(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """positions lists open USD-M positions; set_leverage sends the symbol and returns the leverage in force."""
    usdm.positions["ETHUSDT"] = Decimal("-0.5")
    async with connect(usdm) as ex:
        leverage = await ex.execution.set_leverage("ETH/USDT:PERP", 7)
        positions = await ex.execution.positions()
        with pytest.raises(InvalidOrder, match="1 to 125"):
            await ex.execution.set_leverage("ETH/USDT:PERP", 0)
    assert leverage == Decimal(7)
    assert [(p.symbol, p.side.value, p.quantity, p.leverage) for p in positions] == [
        ("ETH/USDT:PERP", "short", Decimal("0.5"), Decimal(7))]
    assert sent(emu, "/fapi/v1/leverage") == [{"symbol": "ETHUSDT", "leverage": "7"}]


# -- unknown outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        Reply(503, json={"code": -1000, "msg": "Unknown error, please check your request or try again later."}),
        Reply(502, body="<html>bad gateway</html>"),
        Reply(408, json={"code": -1007, "msg": "Timeout waiting for response from backend server. "
                                               "Send status unknown; execution status unknown."}),
        Reply(disconnect=True),
        Reply(delay=1.5, json={}),
    ],
    ids=["503 unknown", "502 html", "-1007", "connection dropped", "client timeout"],
)
@pytest.mark.parametrize("futures", [False, True], ids=["spot", "usdm"])
async def test_unknown_outcome_reconciled_to_the_placed_order(emu: VenueEmulator, connect: Any, futures: bool,
                                                               failure: Reply) -> None:
    """When the answer to an accepted order is lost, the order is found by client id: one POST, never two."""
    fake = FakeBinance(emu, futures=futures).install()
    fake.after_accept.append(failure)
    symbol, qty, path = ("BTC/USDT:PERP", "0.01", "/fapi/v1/order") if futures else ("BTC/USDT", "0.001", "/api/v3/order")
    async with connect(fake, timeout=0.5) as ex:
        result = await ex.execution.place_order(Order.limit(symbol, "buy", qty, "29000", client_order_id="u1"))
    assert (result.client_order_id, result.status) == ("u1", OrderState.NEW)
    assert len(emu.requests_for(path, "POST")) == 1
    assert [p.get("origClientOrderId") for p in sent(emu, path, "GET")] == ["u1"]
    assert [o.client_id for o in fake.orders.values()] == ["u1"]


async def test_unknown_outcome_without_an_order_is_raised_not_resent(spot: FakeBinance, emu: VenueEmulator,
                                                                      connect: Any) -> None:
    """When no order exists after the lookups (-2013), UnknownOutcome is raised with the client id; no resend."""
    emu.fail("POST", "/api/v3/order", Reply(504, body="gateway timeout"))
    async with connect(spot, reconcile_attempts=3) as ex:
        with pytest.raises(UnknownOutcome, match="no order with client id 'gone1'") as err:
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="gone1"))
    assert err.value.client_order_id == "gone1"
    assert len(emu.requests_for("/api/v3/order", "POST")) == 1
    assert len(emu.requests_for("/api/v3/order", "GET")) == 3
    assert spot.orders == {}


async def test_failed_reconciliation_keeps_the_unknown_outcome(spot: FakeBinance, emu: VenueEmulator,
                                                               connect: Any) -> None:
    """If the lookup fails too, the caller still gets UnknownOutcome (not a plain network error), one POST."""
    emu.fail("POST", "/api/v3/order", Reply(500, body="oops"))
    emu.fail("GET", "/api/v3/order", Reply(500, body="still down"), times=10)
    async with connect(spot) as ex:
        with pytest.raises(UnknownOutcome, match="reconciliation query failed") as err:
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="x9"))
    assert err.value.client_order_id == "x9"
    assert len(emu.requests_for("/api/v3/order", "POST")) == 1


async def test_service_unavailable_is_a_failure_not_an_unknown(usdm: FakeBinance, emu: VenueEmulator,
                                                               connect: Any) -> None:
    """USD-M 503 "Service Unavailable." means the order failed: ExchangeUnavailable, no reconciliation, one POST."""
    emu.fail("POST", "/fapi/v1/order", Reply(503, json={"code": None, "msg": "Service Unavailable."}))
    async with connect(usdm) as ex:
        with pytest.raises(ExchangeUnavailable):
            await ex.execution.place_order(Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000"))
    assert len(emu.requests_for("/fapi/v1/order", "POST")) == 1
    assert not emu.requests_for("/fapi/v1/order", "GET")


async def test_spot_service_unavailable_is_an_unknown_outcome(spot: FakeBinance, emu: VenueEmulator,
                                                              connect: Any) -> None:
    """On spot a 503 "Service Unavailable." is status unknown: reconciled by client order id, one POST."""
    emu.fail("POST", "/api/v3/order", Reply(503, json={"code": None, "msg": "Service Unavailable."}))
    async with connect(spot, reconcile_attempts=2) as ex:
        with pytest.raises(UnknownOutcome, match="no order with client id 'su1'") as err:
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="su1"))
    assert err.value.client_order_id == "su1"
    assert len(emu.requests_for("/api/v3/order", "POST")) == 1
    assert [p.get("origClientOrderId") for p in sent(emu, "/api/v3/order", "GET")] == ["su1", "su1"]


async def test_usdm_take_profit_limit_reads_back_as_take_profit_limit(usdm: FakeBinance, connect: Any) -> None:
    """A USD-M take-profit-limit order (venue type TAKE_PROFIT) reads back with its type and limit price."""
    order = Order("BTC/USDT:PERP", "sell", OrderType.TAKE_PROFIT_LIMIT, "0.01", "31100", "31000", client_order_id="tp1")
    async with connect(usdm) as ex:
        placed = await ex.execution.place_order(order)
        queried = await ex.execution.order_status(placed.order_id, "BTC/USDT:PERP")
        listed = await ex.execution.open_orders()
    for status in (queried, *listed):
        assert (status.client_order_id, status.order_type, status.price, status.stop_price) == (
            "tp1", OrderType.TAKE_PROFIT_LIMIT, Decimal(31100), Decimal(31000))
    assert len(listed) == 1


async def test_client_order_id_rules(spot: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A client order id the venue would refuse is refused locally."""
    async with connect(spot) as ex:
        with pytest.raises(InvalidOrder, match="client order id"):
            await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="x" * 37))
    assert not emu.requests_for("/api/v3/order")
