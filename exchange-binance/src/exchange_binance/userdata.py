"""Private streams: our orders, fills and balances as they change.

Spot (venues.md §1.9): the WebSocket API (``<ws_api>/ws-api/v3``). On every new
socket the handshake sends ``userDataStream.subscribe.signature`` with
``apiKey``, ``timestamp`` and the signature of the sorted parameters (any key
type); events then arrive as ``{"subscriptionId": n, "event": {...}}``. An
``eventStreamTerminated`` event replaces the socket, which subscribes again.

USD-M (§2.8): a listen key from ``POST /fapi/v1/listenKey``, kept alive with
``PUT`` every 30 minutes by default (the venue expires it after 60); a ``-1125``
answer or a ``listenKeyExpired`` event gets a new key and a new socket on
``<ws>/ws/<listenKey>`` (a renewal that fails is tried again at the next
keepalive); ``DELETE`` closes it when the last watcher leaves.

Events go on the connector's event bus: orders and fills queued (every one
kept), balances conflated (each value is the whole balance table).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncGenerator, Hashable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from exchanges import AuthenticationError, Balance, ExchangeError

from . import parsing
from .errors import InvalidListenKey, InvalidTimestamp, map_error
from .signing import ws_api_payload

if TYPE_CHECKING:
    from exchanges.transport import WsConnection, WsHandshake

    from .connector import BinanceExchange

__all__ = ["UserData", "user_dedupe_key"]

log = logging.getLogger("exchange_binance.userdata")

TOPICS = {"orders": "user:orders", "fills": "user:fills", "balances": "user:balances"}
_ids = itertools.count(1)


def user_dedupe_key(message: Any) -> Hashable | None:
    """The identity of a user-data event, to drop repeats while an old and a new socket overlap."""
    if not isinstance(message, dict):
        return None
    event = parsing.unwrap_user_event(message)
    if not isinstance(event, dict) or "e" not in event:
        return None
    order = event.get("o")
    inner: dict[str, Any] = order if isinstance(order, dict) else event
    return (event["e"], event.get("E"), inner.get("i"), inner.get("x"), inner.get("t"), event.get("u"))


def _no_streams(streams: Sequence[str], request_id: int) -> str:
    raise ValueError("the user-data connection carries no market streams")


class UserData:
    """The private event streams of one connector (started by the first watcher, stopped by the last)."""

    def __init__(self, exchange: BinanceExchange) -> None:
        self.exchange = exchange
        self.bus = exchange.bus
        self.listen_key: str | None = None
        self.subscription_id: int | None = None
        #: how many times a subscription / listen key was obtained (diagnostics and tests)
        self.subscriptions = 0
        self._connection: WsConnection | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._watchers = 0
        self._lock = asyncio.Lock()
        self._balances: dict[str, Balance] = {}
        self._touched: set[str] | None = None

    @property
    def connection(self) -> WsConnection | None:
        """The user-data websocket while it runs."""
        return self._connection

    # -- watching --------------------------------------------------------------------------

    async def stream(self, kind: str) -> AsyncGenerator[Any, None]:
        """Values of ``kind`` (``orders``, ``fills``, ``balances``) from the private stream."""
        topic = TOPICS[kind]
        sub = self.bus.subscribe(topic, policy="latest" if kind == "balances" else "queue")
        await self._acquire()
        try:
            if kind != "balances":
                async for value in sub:
                    yield value
                return
            last = await self._seed_balances()
            yield dict(last)
            async for _ in sub:  # a trigger: what it carried may predate the REST seed
                table = {c: b for c, b in self._balances.items() if b.total}
                if table != last:
                    last = table
                    yield dict(table)
        finally:
            sub.close()
            await self._release()

    async def _seed_balances(self) -> dict[str, Balance]:
        # events that land while the REST answer is on its way are newer than it: keep them
        self._touched = set()
        try:
            fetched = await self.exchange.execution.balances()
        finally:
            touched, self._touched = self._touched, None
        for currency, balance in fetched.items():
            if currency not in touched:
                self._balances[currency] = balance
        return {c: b for c, b in self._balances.items() if b.total}

    async def _acquire(self) -> None:
        async with self._lock:
            self._watchers += 1
            if self._connection is None:
                try:
                    await self._start()
                except BaseException:
                    self._watchers -= 1
                    await self._stop()
                    raise

    async def _release(self) -> None:
        async with self._lock:
            self._watchers -= 1
            if self._watchers <= 0:
                self._watchers = 0
                await self._stop()

    async def close(self) -> None:
        """Stop the private stream (and close the USD-M listen key)."""
        async with self._lock:
            self._watchers = 0
            await self._stop()

    # -- lifecycle -------------------------------------------------------------------------

    async def _start(self) -> None:
        from exchanges.transport import WsConnection

        ex = self.exchange
        if ex.signer is None:
            raise AuthenticationError(f"{ex.id}: private streams need credentials (api_key and secret)", exchange=ex.id)
        policy = ex.user_policy(_no_streams, user_dedupe_key)
        if ex.futures:
            self._connection = WsConnection(self._listen_url, policy, self._route, name=f"{ex.id}-user",
                                            connect_gate=self._gate("ws:connect"))
            await self._connection.start(timeout=ex.settings.ws_open_timeout)
            self._keepalive = asyncio.create_task(self._keep_alive(), name=f"{ex.id}-listen-key")
        else:
            await ex.rest.ensure_time()  # the subscription is signed with a server-corrected timestamp
            url = ex.context.endpoints["ws_api"].rstrip("/") + "/ws-api/v3"
            self._connection = WsConnection(url, policy, self._route, name=f"{ex.id}-user", handshake=self._subscribe,
                                            connect_gate=self._gate("ws_api:connect"))
            await self._connection.start(timeout=ex.settings.ws_open_timeout)

    def _gate(self, endpoint: str) -> Any:
        """Draws ``endpoint``'s registered cost (a WS API connection costs request weight) before a connect."""
        limits = self.exchange.limits

        async def gate() -> None:
            await limits.acquire(endpoint=endpoint)

        return gate

    async def _stop(self) -> None:
        task, self._keepalive = self._keepalive, None
        await _cancel(task)
        renewing = await self._cancel_renewal()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
        renewing = await self._cancel_renewal() or renewing  # one started by an event while the socket closed
        # a renewal cut short may have made a key at the venue already: close it too
        if self.exchange.futures and (self.listen_key is not None or renewing):
            self.listen_key = None
            try:
                await self.exchange.rest.call("listen_key_close")
            except ExchangeError as exc:  # the key expires by itself within the hour
                log.info("%s: closing the listen key failed: %s", self.exchange.id, exc)

    # -- spot: WebSocket API subscription ----------------------------------------------------

    async def _subscribe(self, hs: WsHandshake) -> None:
        """Handshake of every new spot user-data socket: subscribe with a signed request."""
        ex = self.exchange
        signer = ex.signer
        assert signer is not None
        # the request weighs on the REST budget; wait for it before taking the timestamp
        await ex.limits.acquire(endpoint="ws_api:userDataStream.subscribe.signature")
        params: dict[str, Any] = {"apiKey": signer.api_key, "timestamp": ex.rest.now_ms()}
        if ex.settings.recv_window is not None:
            params["recvWindow"] = ex.settings.recv_window
        params["signature"] = signer.sign(ws_api_payload(params))
        request_id = f"uds-{next(_ids)}"
        await hs.send(orjson.dumps({"id": request_id, "method": "userDataStream.subscribe.signature",
                                    "params": params}).decode())
        while True:
            answer = await hs.receive(ex.settings.ws_open_timeout)
            if isinstance(answer, dict) and answer.get("id") == request_id:
                break
        if answer.get("status") == 200 and isinstance(answer.get("result"), dict):
            self.subscription_id = answer["result"].get("subscriptionId")
            self.subscriptions += 1
            return
        error = answer.get("error") or {}
        mapped = map_error(int(answer.get("status") or 400), {}, error, ex.id, futures=ex.futures) or ExchangeError(
            f"userDataStream.subscribe.signature failed: {answer!r}", exchange=ex.id)
        if isinstance(mapped, InvalidTimestamp):
            await ex.rest.sync_time()  # our clock drifted: measure again; the next attempt signs a fresh time
            raise ExchangeError(f"user-data subscription: {mapped}; retrying with a resynced clock", exchange=ex.id)
        raise mapped  # AuthenticationError stops the connection for good; others are retried

    # -- USD-M: listen key -----------------------------------------------------------------

    async def _new_listen_key(self) -> str:
        data = await self.exchange.rest.call("listen_key_new")
        try:
            key = str(data["listenKey"])
        except (KeyError, TypeError):
            raise ExchangeError(f"malformed listenKey payload: {data!r}", exchange=self.exchange.id) from None
        self.listen_key = key
        self.subscriptions += 1
        return key

    async def _listen_url(self) -> str:
        """The socket URL, asked before every connect: a new key when the last one expired."""
        key = self.listen_key or await self._new_listen_key()
        return self.exchange.context.endpoints["ws"].rstrip("/") + f"/ws/{key}"

    async def _keep_alive(self) -> None:
        """Every ``listen_key_keepalive`` seconds: extend the key, or get a new one; runs until cancelled."""
        interval = self.exchange.settings.listen_key_keepalive
        while True:
            await asyncio.sleep(interval)
            try:
                await self._keep_alive_once()
            except Exception as exc:  # noqa: BLE001 - the next round tries again; the key lives 60 min
                log.warning("%s: listen key keepalive failed: %s; trying again in %ss", self.exchange.id, exc,
                            interval)

    async def _keep_alive_once(self) -> None:
        if self.listen_key is None:  # an earlier renewal failed (or one is under way)
            if self._renew_task is None or self._renew_task.done():
                await self._renew("listen key renewal retried")
            return
        try:
            await self.exchange.rest.call("listen_key_keep")
        except InvalidListenKey:
            log.info("%s: the listen key expired (-1125); getting a new one", self.exchange.id)
            await self._renew("listen key expired (-1125)")

    async def _cancel_renewal(self) -> bool:
        """Cancel and await a renewal started by ``listenKeyExpired``; True when one was still running."""
        task, self._renew_task = self._renew_task, None
        running = task is not None and not task.done()
        await _cancel(task)
        return running

    async def _renew(self, reason: str) -> None:
        self.listen_key = None
        await self._new_listen_key()
        if self._connection is not None:
            self._connection.request_rollover(reason)

    # -- routing ---------------------------------------------------------------------------

    def _route(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        event = parsing.unwrap_user_event(message)
        kind = event.get("e")
        ex = self.exchange
        if kind == "executionReport":
            status, fill = parsing.parse_execution_report(event, ex.instruments.normalize, ex.id)
            self._publish_order(status, fill)
        elif kind == "ORDER_TRADE_UPDATE":
            status, fill = parsing.parse_order_trade_update(event, ex.instruments.normalize, ex.id)
            self._publish_order(status, fill)
        elif kind == "outboundAccountPosition":
            self._publish_balances(parsing.parse_account_position(event))
        elif kind == "ACCOUNT_UPDATE":
            self._publish_balances(parsing.parse_account_update(event))
        elif kind == "eventStreamTerminated":
            log.info("%s: the user-data subscription was terminated; subscribing again", ex.id)
            if self._connection is not None:
                self._connection.request_rollover("eventStreamTerminated")
        elif kind == "listenKeyExpired":
            if self._renew_task is not None and not self._renew_task.done():
                return  # a renewal is already under way
            log.info("%s: listenKeyExpired; getting a new key", ex.id)
            self._renew_task = asyncio.get_running_loop().create_task(self._renew("listenKeyExpired"),
                                                                      name=f"{ex.id}-listen-key-renewal")
            self._renew_task.add_done_callback(_log_failure)

    def _publish_order(self, status: Any, fill: Any) -> None:
        self.bus.publish(TOPICS["orders"], status)
        if fill is not None:
            self.bus.publish(TOPICS["fills"], fill)

    def _publish_balances(self, changed: dict[str, Balance]) -> None:
        self._balances.update(changed)
        if self._touched is not None:
            self._touched.update(changed)
        self.bus.publish(TOPICS["balances"], dict(self._balances))


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` and wait for it to end (a task already done, failure logged, is left as it is)."""
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("listen key renewal failed: %r; the next keepalive tries again", task.exception())
