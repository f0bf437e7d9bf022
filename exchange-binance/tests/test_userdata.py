"""Private streams over real websockets: spot WS API subscription, USD-M listen key, orders/fills/balances."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_binance.testing import FakeBinance
from exchanges import AuthenticationError, Order, OrderState
from exchanges.testing.emulator import Reply, VenueEmulator, wait_until


async def take(stream: Any, count: int, timeout: float = 5.0) -> list[Any]:
    """The next ``count`` values of an async iterator."""

    async def run() -> list[Any]:
        return [await stream.__anext__() for _ in range(count)]

    return await asyncio.wait_for(run(), timeout)


def started(stream: Any) -> asyncio.Task[Any]:
    """Start waiting for the stream's first value (this opens the private stream)."""
    return asyncio.ensure_future(stream.__anext__())


async def test_spot_subscription_is_signed_and_events_flow(spot: FakeBinance, emu: VenueEmulator,
                                                           connect: Any) -> None:
    """The WS API subscription is signed (sorted params); order updates, fills and balances follow."""
    async with connect(spot) as ex:
        orders = ex.execution.watch_orders("BTC/USDT")
        fills = ex.execution.watch_fills()
        balances = ex.execution.watch_balances()
        first_order, first_fill = started(orders), started(fills)
        seed = (await take(balances, 1))[0]
        placed = await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.002", "29000", client_order_id="u1"))
        new = await asyncio.wait_for(first_order, 5)
        locked = (await take(balances, 1))[0]
        await spot.fill(int(placed.order_id), Decimal("0.001"), Decimal(29000))
        fill = await asyncio.wait_for(first_fill, 5)
        partial = (await take(orders, 1))[0]
        for stream in (orders, fills, balances):
            await stream.aclose()
    request = emu.ws_sessions[0].messages()[0]
    assert request["method"] == "userDataStream.subscribe.signature" and emu.ws_sessions[0].path == "/ws-api/v3"
    assert set(request["params"]) == {"apiKey", "timestamp", "recvWindow", "signature"}
    assert spot.ws_api_answers == [(200, None)]
    assert seed["USDT"].free == Decimal(10000)
    assert (new.order_id, new.client_order_id, new.state) == (placed.order_id, "u1", OrderState.NEW)
    assert (locked["USDT"].free, locked["USDT"].locked) == (Decimal(10000 - 58), Decimal(58))
    assert (fill.order_id, fill.quantity, fill.price, fill.side.value) == (placed.order_id, Decimal("0.001"),
                                                                           Decimal(29000), "buy")
    assert (partial.state, partial.filled_quantity) == (OrderState.PARTIALLY_FILLED, Decimal("0.001"))


async def test_spot_subscription_with_ed25519(emu: VenueEmulator, connect: Any) -> None:
    """An Ed25519 key signs the WS API subscription too (Base64 in the JSON params)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    fake = FakeBinance(emu, secret=public).install()
    async with connect(fake, credentials={"api_key": fake.api_key, "secret": private}) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: fake.ws_api_answers)
        await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="ed1"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
    assert fake.ws_api_answers == [(200, None)] and update.client_order_id == "ed1"


async def test_spot_rejected_subscription_is_an_authentication_error(spot: FakeBinance, connect: Any) -> None:
    """A subscription the venue refuses (bad signature) stops with AuthenticationError instead of retrying."""
    async with connect(spot, credentials={"api_key": spot.api_key, "secret": "wrong"}) as ex:
        with pytest.raises(AuthenticationError, match="-1022"):
            await take(ex.execution.watch_orders(), 1)
    assert spot.ws_api_answers == [(400, -1022)]


async def test_spot_terminated_or_dropped_subscription_comes_back(spot: FakeBinance, emu: VenueEmulator,
                                                                  connect: Any) -> None:
    """eventStreamTerminated and a dropped socket both lead to a new socket and a new subscription."""
    async with connect(spot) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: len(spot.ws_api_answers) == 1)
        await spot.terminate_user_stream()
        await wait_until(lambda: len(spot.ws_api_answers) == 2)
        await emu.ws_sessions[-1].drop()
        await wait_until(lambda: len(spot.ws_api_answers) == 3)
        await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="b1"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
    assert update.client_order_id == "b1" and ex.user_data.subscriptions == 3
    assert spot.ws_api_answers == [(200, None)] * 3


async def test_usdm_listen_key_lifecycle(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """USD-M: POST a key, stream on /ws/<key>, PUT to keep it alive, -1125 gets a new key, DELETE at the end."""
    async with connect(usdm, listen_key_keepalive=0.1) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: usdm.user_sessions)
        first_key = usdm.listen_key
        assert emu.ws_sessions[0].path == f"/ws/{first_key}"
        await wait_until(lambda: ("PUT", first_key) in usdm.listen_key_calls)
        await usdm.expire_listen_key(notify=False)  # the next keepalive answers -1125
        await wait_until(lambda: len(usdm.user_sessions) == 2 and usdm.user_sessions[-1].path != f"/ws/{first_key}")
        second_key = usdm.listen_key
        await ex.execution.place_order(Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000", client_order_id="k1"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
        assert usdm.listen_key is None
    methods = [method for method, _ in usdm.listen_key_calls]
    assert methods[0] == "POST" and "PUT" in methods and methods[-1] == "DELETE"
    assert second_key not in (None, first_key) and update.client_order_id == "k1"
    assert ex.user_data.subscriptions == 2


async def test_usdm_listen_key_expired_event(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A listenKeyExpired event gets a new key and a new socket; events flow again."""
    async with connect(usdm) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: usdm.user_sessions)
        old = await usdm.expire_listen_key(notify=True)
        await wait_until(lambda: any(s.path != f"/ws/{old}" and not s.closed for s in usdm.user_sessions))
        await ex.execution.place_order(Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000", client_order_id="k2"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
    assert update.client_order_id == "k2" and ex.user_data.subscriptions == 2


async def test_usdm_fills_and_balances(usdm: FakeBinance, connect: Any) -> None:
    """ORDER_TRADE_UPDATE gives order updates and fills; ACCOUNT_UPDATE gives wallet balances."""
    async with connect(usdm) as ex:
        fills, balances = ex.execution.watch_fills("BTC/USDT:PERP"), ex.execution.watch_balances()
        seed = (await take(balances, 1))[0]
        pending = started(fills)
        await ex.execution.place_order(Order.market("BTC/USDT:PERP", "buy", "0.01"))
        fill = await asyncio.wait_for(pending, 5)
        after = (await take(balances, 1))[0]
        await fills.aclose()
        await balances.aclose()
    market = usdm.markets["BTCUSDT"]
    assert (fill.symbol, fill.price, fill.quantity, fill.fee_currency) == (
        "BTC/USDT:PERP", market.best_ask, Decimal("0.01"), "USDT")
    assert seed["USDT"].free == Decimal(10000) and after["USDT"].free == Decimal(10000) - fill.fee


async def test_private_streams_need_credentials(spot: FakeBinance, connect: Any) -> None:
    """Watching private streams without credentials fails at once, naming what is missing."""
    async with connect(spot, credentials=None) as ex:
        with pytest.raises(AuthenticationError, match="need credentials"):
            await take(ex.execution.watch_orders(), 1)


async def test_spot_subscription_resyncs_the_clock_after_1021(spot: FakeBinance, emu: VenueEmulator,
                                                               connect: Any) -> None:
    """A subscription refused with -1021 measures the server time again and succeeds on the next socket."""
    async with connect(spot) as ex:
        await ex.execution.balances()  # measures the offset once
        spot.clock_offset_ms = -60_000  # then the venue clock jumps back a minute
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: (200, None) in spot.ws_api_answers)
        await ex.execution.place_order(Order.limit("BTC/USDT", "buy", "0.001", "29000", client_order_id="c1"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
    assert spot.ws_api_answers == [(400, -1021), (200, None)]
    assert len(emu.requests_for("/api/v3/time")) == 2 and update.client_order_id == "c1"


async def test_usdm_failed_listen_key_renewal_is_retried_on_the_next_keepalive(usdm: FakeBinance, emu: VenueEmulator,
                                                                               connect: Any) -> None:
    """A renewal that fails after -1125 is retried on the next keepalive tick instead of ending the keepalive task."""
    async with connect(usdm, listen_key_keepalive=0.1) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: usdm.user_sessions)
        first_key = usdm.listen_key
        # every attempt of the next renewal fails (a network blip), then the venue answers again
        emu.fail("POST", "/fapi/v1/listenKey", Reply(503, json={"code": -1000, "msg": "Unknown error."}), times=3)
        await usdm.expire_listen_key(notify=False)  # the next keepalive answers -1125
        await wait_until(lambda: len(usdm.user_sessions) == 2 and usdm.user_sessions[-1].path != f"/ws/{first_key}")
        keepalive = ex.user_data._keepalive
        assert keepalive is not None and not keepalive.done()
        await ex.execution.place_order(Order.limit("BTC/USDT:PERP", "buy", "0.01", "29000", client_order_id="r1"))
        update = await asyncio.wait_for(pending, 5)
        await orders.aclose()
    failed = [r for r in emu.requests_for("/fapi/v1/listenKey", "POST") if r.status == 503]
    assert len(failed) == 3 and update.client_order_id == "r1" and ex.user_data.subscriptions == 2


async def test_usdm_close_cancels_a_renewal_in_flight(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """Closing right after listenKeyExpired stops the renewal: no task is left running and no key is made after."""
    async with connect(usdm) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: usdm.user_sessions)
        emu.fail("POST", "/fapi/v1/listenKey", Reply(delay=0.5, json={"listenKey": "late-key"}))
        await usdm.expire_listen_key(notify=True)
        await wait_until(lambda: len(emu.requests_for("/fapi/v1/listenKey", "POST")) == 2)  # the renewal is sent
        await ex.user_data.close()
        renewals = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "UserData._renew"]
        assert renewals == []
        await asyncio.sleep(0.8)  # past the delayed answer
        assert ex.user_data.listen_key is None and ex.user_data.subscriptions == 1
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        await orders.aclose()
    assert [m for m, _ in usdm.listen_key_calls] == ["POST", "DELETE"]  # the late answer made no key after close


async def test_usdm_close_after_a_failed_renewal(usdm: FakeBinance, emu: VenueEmulator, connect: Any) -> None:
    """A listenKeyExpired renewal that failed is logged, not raised again when the private stream closes."""
    async with connect(usdm) as ex:
        orders = ex.execution.watch_orders()
        pending = started(orders)
        await wait_until(lambda: usdm.user_sessions)
        emu.fail("POST", "/fapi/v1/listenKey", Reply(503, json={"code": -1000, "msg": "Unknown error."}), times=3)
        await usdm.expire_listen_key(notify=True)
        renewal = await wait_until(lambda: ex.user_data._renew_task)
        await asyncio.wait([renewal], timeout=5)
        assert renewal.done() and renewal.exception() is not None
        await ex.user_data.close()
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        await orders.aclose()
    assert ex.user_data.listen_key is None
