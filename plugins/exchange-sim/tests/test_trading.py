"""Trading spot through the connector: fills, fees, balances, time in force, post-only, stops, order queries."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from exchange_sim.connector import SimExchange
from exchanges import (
    Balance,
    InsufficientFunds,
    InvalidOrder,
    Order,
    OrderNotFound,
    OrderState,
    PostOnlyRejected,
)

D = Decimal
BTC = "BTC/USDT"


@pytest.fixture
def btc_book(ex: SimExchange, set_book: Callable[..., None]) -> SimExchange:
    """BTC/USDT with one bid (59000 x 1) and two asks (60000 x 1, 60100 x 1) from other participants."""
    set_book(ex, BTC, bids=[("59000.00", "1")], asks=[("60000.00", "1"), ("60100.00", "1")])
    return ex


async def _balances(ex: SimExchange) -> dict[str, Balance]:
    return await ex.execution.balances()


@pytest.mark.parametrize(
    ("order", "external", "usdt", "btc", "fee", "is_maker"),
    [
        # taker buy: 0.5 x 60000 = 30000, fee 0.0005 -> 15
        (Order.market(BTC, "buy", "0.5"), None, "69985", "2.5", "15", False),
        # taker sell: 0.5 x 59000 = 29500, fee 14.75 out of the proceeds
        (Order.market(BTC, "sell", "0.5"), None, "129485.25", "1.5", "14.75", False),
        # maker buy at 59500: 29750 + fee 0.0002 -> 5.95
        (Order.limit(BTC, "buy", "0.5", "59500.00"), ("sell", "0.5"), "70244.05", "2.5", "5.95", True),
        # maker sell at 59900: 29950 - fee 5.99
        (Order.limit(BTC, "sell", "0.5", "59900.00"), ("buy", "0.5"), "129944.01", "1.5", "5.99", True),
    ],
)
async def test_fees_and_balances(btc_book: SimExchange, first_item, order: Order,
                                 external: tuple[str, str] | None, usdt: str, btc: str, fee: str,
                                 is_maker: bool) -> None:
    """Each fill moves base and quote exactly, charging the maker or taker fee in USDT."""
    ex = btc_book
    stream = ex.execution.watch_fills()
    pending = await first_item(stream)
    result = await ex.execution.place_order(order)
    if external is not None:
        assert result.status is OrderState.NEW
        ex.venue.submit_external(BTC, external[0], external[1])
    fill = await pending
    await stream.aclose()
    balances = await _balances(ex)
    assert balances["USDT"] == Balance("USDT", D(usdt), D(0))
    assert balances["BTC"] == Balance("BTC", D(btc), D(0))
    assert fill.fee == D(fee) and fill.fee_currency == "USDT" and fill.is_maker is is_maker
    assert fill.order_id == result.order_id and fill.client_order_id == order.client_order_id
    status = await ex.execution.order_status(result.order_id, BTC)
    assert status.state is OrderState.FILLED and status.filled_quantity == D("0.5")


async def test_partial_fill_locks_the_rest_until_cancel(btc_book: SimExchange) -> None:
    """A limit buy that takes one level rests its remainder with the matching funds locked; cancel frees them."""
    ex = btc_book
    order = Order.limit(BTC, "buy", "1.5", "60050.00")  # crosses 60000 only
    result = await ex.execution.place_order(order)
    assert result.status is OrderState.PARTIALLY_FILLED
    assert (result.filled_quantity, result.average_price) == (D(1), D(60000))
    # reserve: (60000 x 1 + 60050 x 0.5) x 1.0005 = 90070.0125; the fill spent 60000 + 30 fee
    balances = await _balances(ex)
    assert balances["USDT"] == Balance("USDT", D("9929.9875"), D("30040.0125"))
    assert balances["BTC"].free == D(3)
    (open_order,) = await ex.execution.open_orders(BTC)
    assert open_order.order_id == result.order_id and open_order.remaining_quantity == D("0.5")
    assert ex.venue.book(BTC).best_bid == D("60050.00")
    cancel = await ex.execution.cancel_order(result.order_id, BTC)
    assert cancel.state is OrderState.CANCELED
    assert (await _balances(ex))["USDT"] == Balance("USDT", D("39970"), D(0))
    assert await ex.execution.open_orders() == []


@pytest.mark.parametrize(
    ("order", "currency", "locked"),
    [
        (Order.limit(BTC, "buy", "0.1", "50000.00"), "USDT", "5002.5"),  # notional + taker fee
        (Order.limit(BTC, "sell", "0.5", "70000.00"), "BTC", "0.5"),
        (Order.stop_market(BTC, "buy", "0.1", "61000.00"), "USDT", "6103.05"),  # funded at the stop price
    ],
)
async def test_locked_funds_released_on_cancel(btc_book: SimExchange, order: Order, currency: str, locked: str) -> None:
    """An open order locks its funds; cancelling it returns every unit to free."""
    ex = btc_book
    before = (await _balances(ex))[currency]
    result = await ex.execution.place_order(order)
    during = (await _balances(ex))[currency]
    assert during == Balance(currency, before.free - D(locked), D(locked))
    await ex.execution.cancel_order(None, BTC, client_order_id=order.client_order_id)
    assert (await _balances(ex))[currency] == before
    assert (await ex.execution.order_status(result.order_id, BTC)).state is OrderState.CANCELED


@pytest.mark.parametrize(
    ("tif", "state", "filled", "usdt"),
    [
        ("ioc", OrderState.EXPIRED, "1", "39970"),  # takes 60000 x 1, the rest expires
        ("fok", OrderState.EXPIRED, "0", "100000"),  # cannot fill 1.5 at <= 60050: nothing trades
        ("gtc", OrderState.PARTIALLY_FILLED, "1", "9929.9875"),
    ],
)
async def test_time_in_force(btc_book: SimExchange, tif: str, state: OrderState, filled: str, usdt: str) -> None:
    """IOC and FOK never rest; what they do not fill releases its funds at once."""
    ex = btc_book
    result = await ex.execution.place_order(Order.limit(BTC, "buy", "1.5", "60050.00", time_in_force=tif))
    assert result.status is state and result.filled_quantity == D(filled)
    assert (await _balances(ex))["USDT"].free == D(usdt)
    assert len(await ex.execution.open_orders(BTC)) == (1 if tif == "gtc" else 0)


@pytest.mark.parametrize(("side", "price"), [("buy", "60000.00"), ("buy", "60100.00"), ("sell", "59000.00")])
async def test_post_only_that_would_take_is_rejected(btc_book: SimExchange, side: str, price: str) -> None:
    """A post-only order at or through the opposite best raises PostOnlyRejected and changes nothing."""
    ex = btc_book
    engine = ex.venue.engine(BTC)
    before = (engine.sequence, engine.resting_count, await _balances(ex))
    with pytest.raises(PostOnlyRejected, match="post-only"):
        await ex.execution.place_order(Order.limit(BTC, side, "0.1", price, post_only=True))
    assert (engine.sequence, engine.resting_count, await _balances(ex)) == before
    assert await ex.execution.open_orders() == []


async def test_post_only_that_rests_is_accepted(btc_book: SimExchange) -> None:
    """A post-only order inside the spread rests as a maker order."""
    result = await btc_book.execution.place_order(Order.limit(BTC, "buy", "0.1", "59999.99", post_only=True))
    assert result.status is OrderState.NEW and btc_book.venue.book(BTC).best_bid == D("59999.99")


@pytest.mark.parametrize(
    ("order", "push", "price"),
    [
        # stop-market buy fires when trades reach 60050 (a market buy sweeps 60000 then 60100)
        (Order.stop_market(BTC, "buy", "0.1", "60050.00"), ("buy", "1.2"), "60100.00"),
        # stop-limit sell fires when trades reach 59000 and sells at >= 58900 (the bid at 59000 is gone: rests)
        (Order.stop_limit(BTC, "sell", "0.1", "58900.00", "59000.00"), ("sell", "1"), None),
        # take-profit sell fires on a rise to 60050 and sells at the bid
        (Order(BTC, "sell", "take_profit_market", "0.1", stop_price="60050.00"), ("buy", "1.2"), "59000.00"),
    ],
)
async def test_stop_orders_fire_on_the_last_trade(btc_book: SimExchange, order: Order, push: tuple[str, str],
                                                  price: str | None) -> None:
    """A stop waits off the book until a trade prints through its stop price, then trades."""
    ex = btc_book
    result = await ex.execution.place_order(order)
    assert result.status is OrderState.NEW and ex.venue.engine(BTC).stop_count == 1
    ex.venue.submit_external(BTC, push[0], push[1])
    status = await ex.execution.order_status(result.order_id, BTC)
    assert ex.venue.engine(BTC).stop_count == 0
    if price is None:
        assert status.state is OrderState.NEW and ex.venue.book(BTC).best_ask == D("58900.00")
    else:
        assert status.state is OrderState.FILLED and status.average_price == D(price)


@pytest.mark.parametrize(
    "order",
    [
        Order.stop_market(BTC, "buy", "0.1", "59990.00"),  # a stop buy below the last price
        Order.stop_market(BTC, "sell", "0.1", "60010.00"),
        Order.stop_limit(BTC, "sell", "0.1", "60000.00", "60000.00"),
    ],
)
async def test_stop_that_would_trigger_at_once_is_refused(btc_book: SimExchange, order: Order) -> None:
    """A stop already through the last price raises InvalidOrder naming the last price."""
    with pytest.raises(InvalidOrder, match="would trigger immediately.*last price 60000"):
        await btc_book.execution.place_order(order)
    assert btc_book.venue.engine(BTC).stop_count == 0


@pytest.mark.parametrize(
    ("order", "currency"),
    [
        (Order.limit(BTC, "buy", "2", "60000.00"), "USDT"),  # 120060 USDT needed
        (Order.market(BTC, "sell", "3"), "BTC"),
        (Order.limit("ETH/USDT", "sell", "20.0001", "3000.00"), "ETH"),
    ],
)
async def test_insufficient_funds_reaches_nothing(btc_book: SimExchange, order: Order, currency: str) -> None:
    """An order the account cannot fund raises InsufficientFunds naming the currency; book and balances stay."""
    ex = btc_book
    engine = ex.venue.engine(order.symbol)
    before = (engine.sequence, engine.resting_count, engine.stop_count, await _balances(ex))
    with pytest.raises(InsufficientFunds, match=f"insufficient {currency}"):
        await ex.execution.place_order(order)
    assert (engine.sequence, engine.resting_count, engine.stop_count, await _balances(ex)) == before


async def test_order_status_by_id_or_client_id(btc_book: SimExchange) -> None:
    """order_status finds an order by venue id or client order id; unknown ones raise OrderNotFound."""
    ex = btc_book
    order = Order.limit(BTC, "buy", "0.1", "58000.00", client_order_id="my-order-1")
    result = await ex.execution.place_order(order)
    by_id = await ex.execution.order_status(result.order_id, BTC)
    by_client = await ex.execution.order_status(None, BTC, client_order_id="my-order-1")
    assert by_id == by_client and by_id.client_order_id == "my-order-1" and by_id.price == D("58000.00")
    with pytest.raises(OrderNotFound):
        await ex.execution.order_status("999999", BTC)
    with pytest.raises(OrderNotFound):
        await ex.execution.order_status(None, BTC, client_order_id="nope")
    with pytest.raises(OrderNotFound):
        await ex.execution.order_status(result.order_id, "ETH/USDT")


async def test_cancel_unknown_or_done_order_raises(btc_book: SimExchange) -> None:
    """Cancelling an unknown or already filled order raises OrderNotFound."""
    ex = btc_book
    with pytest.raises(OrderNotFound):
        await ex.execution.cancel_order("424242", BTC)
    filled = await ex.execution.place_order(Order.market(BTC, "buy", "0.1"))
    with pytest.raises(OrderNotFound, match="filled"):
        await ex.execution.cancel_order(filled.order_id, BTC)


async def test_cancel_all_and_open_orders(btc_book: SimExchange) -> None:
    """cancel_all cancels every open order of a symbol (stops included) and leaves others alone."""
    ex = btc_book
    ids = [
        (await ex.execution.place_order(Order.limit(BTC, "buy", "0.1", "58000.00"))).order_id,
        (await ex.execution.place_order(Order.stop_market(BTC, "buy", "0.1", "61000.00"))).order_id,
    ]
    eth = await ex.execution.place_order(Order.limit("ETH/USDT", "buy", "1", "2000.00"))
    assert [o.order_id for o in await ex.execution.open_orders()] == [*ids, eth.order_id]
    results = await ex.execution.cancel_all(BTC)
    assert sorted(r.order_id for r in results) == sorted(ids)
    assert all(r.state is OrderState.CANCELED for r in results)
    assert [o.order_id for o in await ex.execution.open_orders()] == [eth.order_id]
    assert (await _balances(ex))["USDT"].locked == D("2001.0")


async def test_duplicate_open_client_order_id_is_refused(btc_book: SimExchange) -> None:
    """A client order id already used by an open order raises InvalidOrder."""
    ex = btc_book
    await ex.execution.place_order(Order.limit(BTC, "buy", "0.1", "58000.00", client_order_id="dup"))
    with pytest.raises(InvalidOrder, match="already used"):
        await ex.execution.place_order(Order.limit(BTC, "buy", "0.1", "57000.00", client_order_id="dup"))


async def test_own_resting_order_is_not_traded_against(btc_book: SimExchange) -> None:
    """Our market buy expires our own resting ask (self-trade prevention) and fills against the next one."""
    ex = btc_book
    mine = await ex.execution.place_order(Order.limit(BTC, "sell", "0.1", "59999.00"))
    result = await ex.execution.place_order(Order.market(BTC, "buy", "0.1"))
    assert result.average_price == D("60000.00")
    status = await ex.execution.order_status(mine.order_id, BTC)
    assert status.state is OrderState.EXPIRED
    assert (await _balances(ex))["BTC"] == Balance("BTC", D("2.1"), D(0))


async def test_stop_that_cannot_be_funded_when_it_fires_is_rejected(open_sim, set_book: Callable[..., None]) -> None:
    """A fired stop is funded at today's prices; if the account cannot pay, it is rejected and its funds return."""
    async with open_sim(balances={"USDT": "6200"}) as ex:
        set_book(ex, BTC, asks=[("60000.00", "1"), ("60100.00", "0.1"), ("65000.00", "5")])
        result = await ex.execution.place_order(Order.stop_market(BTC, "buy", "0.1", "60050.00"))
        assert (await _balances(ex))["USDT"] == Balance("USDT", D("191.9975"), D("6008.0025"))
        ex.venue.submit_external(BTC, "buy", "1.1")  # prints 60100: fires; the next ask is 65000
        status = await ex.execution.order_status(result.order_id, BTC)
        assert status.state is OrderState.REJECTED and status.filled_quantity == 0
        assert await _balances(ex) == {"USDT": Balance("USDT", D(6200), D(0))}
        assert ex.venue.desk.record(result.order_id).reason.startswith("insufficient USDT")  # type: ignore[union-attr]
