"""Websocket side of the loopback Binance: combined market streams and the private streams.

- ``/stream``: ``SUBSCRIBE``/``UNSUBSCRIBE``/``LIST_SUBSCRIPTIONS`` answered with
  ``{"result": ..., "id": n}``; every ``tick`` seconds each subscribed stream
  gets its next event from the market tapes, wrapped ``{"stream", "data"}``.
- spot ``/ws-api/v3``: ``userDataStream.subscribe.signature`` checked like a
  REST request (key, signature of the sorted params, timestamp); events are
  then pushed as ``{"subscriptionId": n, "event": {...}}``.
- USD-M ``/ws/<listenKey>``: accepted for the current listen key only; events
  are pushed bare. ``POST/PUT/DELETE /fapi/v1/listenKey`` manage the key.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from exchanges.testing.emulator import RecordedRequest, Reply, WsSession

from ..signing import ws_api_payload
from .market import Market, now_ms

if TYPE_CHECKING:
    from .fake import FakeBinance, FakeOrder

__all__ = ["StreamsMixin"]

_INTERVAL_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "M": 2_592_000_000}


class StreamsMixin:
    """The websocket endpoints and private events of :class:`~exchange_binance.testing.fake.FakeBinance`."""

    def __init__(self) -> None:
        #: sessions that receive private events (spot WS API subscriptions, USD-M listen-key sockets)
        self.user_sessions: list[WsSession] = []
        #: assets whose balance changed since the last balance event
        self.changed_assets: set[str] = set()
        self.listen_key: str | None = None
        #: every listen-key request, as (method, key at that moment)
        self.listen_key_calls: list[tuple[str, str | None]] = []
        #: subscription requests answered on the WS API, as (status, error code or None)
        self.ws_api_answers: list[tuple[int, int | None]] = []
        self._subscription_ids = itertools.count(0)

    # -- installing ------------------------------------------------------------------------

    def install_streams(self: FakeBinance, *, market_faults: Any = None) -> None:  # type: ignore[misc]
        """Add the websocket endpoints to the emulator."""
        self.emu.websocket("/stream", frames=self._feed, on_message=self._on_market_message, faults=market_faults)
        if self.futures:
            self.emu.websocket(None, frames=self._user_socket)
        else:
            self.emu.websocket("/ws-api/v3", on_message=self._on_ws_api)

    # -- market streams --------------------------------------------------------------------

    def _on_market_message(self, session: WsSession, message: Any) -> Any:
        if not isinstance(message, dict):
            return None
        method, request_id = message.get("method"), message.get("id")
        streams: dict[str, None] = session.state.setdefault("streams", {})
        if method == "SUBSCRIBE":
            for stream in message.get("params", ()):
                streams[stream] = None
            return {"result": None, "id": request_id}
        if method == "UNSUBSCRIBE":
            for stream in message.get("params", ()):
                streams.pop(stream, None)
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(streams), "id": request_id}
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": request_id}

    async def _feed(self: FakeBinance, session: WsSession) -> AsyncIterator[Any]:  # type: ignore[misc]
        cursors: dict[str, int] = {}
        while not session.closed:
            await asyncio.sleep(self.tick)
            for stream in list(session.state.get("streams", ())):
                data = self._next_event(stream, cursors)
                if data is not None:
                    yield {"stream": stream, "data": data}

    def _market_of(self: FakeBinance, stream: str) -> tuple[Market | None, str]:  # type: ignore[misc]
        symbol, _, channel = stream.partition("@")
        return self.markets.get(symbol.upper()), channel

    def _next_event(self: FakeBinance, stream: str, cursors: dict[str, int]) -> Any:  # type: ignore[misc]
        market, channel = self._market_of(stream)
        if market is None:
            return None
        if channel in ("depth", "depth@100ms", "depth@500ms", "depth@1000ms"):
            index = cursors.setdefault(stream, len(market.depth_tape))
            cursors[stream] = index + 1
            return market.depth_event(index)
        if channel in ("trade", "aggTrade"):
            index = cursors.setdefault(stream, len(market.trade_tape))
            cursors[stream] = index + 1
            return market.trade_event(index, aggregate=channel == "aggTrade")
        if channel == "bookTicker":
            market.advance_depth()  # the book moves between two tickers (depth sessions get the event too)
            return market.book_ticker()
        if channel.startswith("kline_"):
            interval = channel.removeprefix("kline_")
            index = cursors.setdefault(stream, len(market.kline_tape))
            cursors[stream] = index + 1
            return market.kline_event(index, interval, int(interval[:-1]) * _INTERVAL_MS[interval[-1]])
        return None

    def skip_depth(self: FakeBinance, raw: str, events: int = 1) -> int:  # type: ignore[misc]
        """Apply ``events`` depth events that no session receives (a sequence gap); returns the last ``u``."""
        market = self.markets[raw]
        for _ in range(events):
            market.advance_depth(record=False)
        return market.last_u

    async def shutdown_notice(self, session: WsSession, *, wrapped: bool = False) -> None:
        """Send ``serverShutdown`` on a market session (bare, as documented, or wrapped like a stream event)."""
        event = {"e": "serverShutdown", "E": now_ms()}
        await session.send_raw({"stream": "serverShutdown", "data": event} if wrapped else event)

    # -- spot: WebSocket API user-data subscription ----------------------------------------

    def _on_ws_api(self: FakeBinance, session: WsSession, message: Any) -> Any:  # type: ignore[misc]
        if not isinstance(message, dict):
            return None
        request_id = message.get("id")
        if message.get("method") != "userDataStream.subscribe.signature":
            return self._ws_error(request_id, 400, -1100, "Unsupported method in the loopback venue.")
        params = message.get("params") or {}
        if params.get("apiKey") != self.api_key:
            return self._ws_error(request_id, 401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = params.get("signature")
        if not isinstance(signature, str) or not self.verify(ws_api_payload(params), signature):
            return self._ws_error(request_id, 400, -1022, "Signature for this request is not valid.")
        failed = self.check_time(params.get("timestamp"), params.get("recvWindow"))
        if failed is not None:
            return self._ws_error(request_id, 400, failed.json["code"], failed.json["msg"])
        subscription = next(self._subscription_ids)
        session.state["subscription"] = subscription
        self.user_sessions.append(session)
        self.ws_api_answers.append((200, None))
        return {"id": request_id, "status": 200, "result": {"subscriptionId": subscription},
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": self.weight_limit, "count": 2}]}

    def _ws_error(self, request_id: Any, status: int, code: int, msg: str) -> dict[str, Any]:
        self.ws_api_answers.append((status, code))
        return {"id": request_id, "status": status, "error": {"code": code, "msg": msg}}

    async def terminate_user_stream(self: FakeBinance) -> None:  # type: ignore[misc]
        """Push ``eventStreamTerminated`` to every spot subscription (the venue ended them)."""
        await self.push_user({"e": "eventStreamTerminated", "E": now_ms()})
        for session in self.user_sessions:
            session.state.pop("subscription", None)
        self.user_sessions.clear()

    # -- USD-M: listen key -----------------------------------------------------------------

    def _listen_key_route(self: FakeBinance, request: RecordedRequest) -> Any:  # type: ignore[misc]
        failed = self.check_key(request)
        if failed is not None:
            return failed
        self.listen_key_calls.append((request.method, self.listen_key))
        if request.method == "POST":
            if self.listen_key is None:
                self.listen_key = secrets.token_hex(32)
            return {"listenKey": self.listen_key}
        if request.method == "PUT":
            if self.listen_key is None:
                return Reply(400, json={"code": -1125, "msg": "This listenKey does not exist."})
            return {"listenKey": self.listen_key}
        if request.method == "DELETE":
            self.listen_key = None
            return {}
        return Reply(405, json={"code": -1000, "msg": "method not allowed"})

    async def _user_socket(self, session: WsSession) -> None:
        key = session.path.removeprefix("/ws/")
        if not session.path.startswith("/ws/") or key != self.listen_key:
            await session.close(1008, "invalid listen key")
            return
        session.state["listen_key"] = key
        self.user_sessions.append(session)

    async def expire_listen_key(self: FakeBinance, *, notify: bool = True) -> str | None:  # type: ignore[misc]
        """Expire the listen key (``PUT`` then answers -1125); with ``notify``, push ``listenKeyExpired``."""
        old, self.listen_key = self.listen_key, None
        if notify and old is not None:
            await self.push_user({"e": "listenKeyExpired", "E": now_ms(), "listenKey": old})
        return old

    # -- private events --------------------------------------------------------------------

    async def push_user(self: FakeBinance, event: dict[str, Any]) -> int:  # type: ignore[misc]
        """Send a private event to every live user session; returns how many got it."""
        sent = 0
        for session in list(self.user_sessions):
            if session.closed:
                self.user_sessions.remove(session)
                continue
            if self.futures:
                frame: Any = event
            elif "subscription" in session.state:
                frame = {"subscriptionId": session.state["subscription"], "event": event}
            else:
                continue
            if await session.send_raw(frame):
                sent += 1
        return sent

    async def order_event(  # type: ignore[misc]
        self: FakeBinance, order: FakeOrder, execution: str, *, last_qty: Decimal = Decimal(0),
        last_price: Decimal = Decimal(0), trade_id: int = -1, fee: Decimal = Decimal(0),
    ) -> None:
        """Push the order update (and then the balance update) of ``order``."""
        f = self._fmt
        stamp = now_ms()
        if self.futures:
            avg = order.cum_quote / order.executed if order.executed else Decimal(0)
            event: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": stamp, "T": stamp, "o": {
                "s": order.symbol, "c": order.client_id, "S": order.side, "o": order.type,
                "f": order.time_in_force or "GTC", "q": f(order.quantity), "p": f(order.price), "ap": f(avg),
                "sp": f(order.stop_price), "x": execution, "X": order.status, "i": order.order_id, "l": f(last_qty),
                "z": f(order.executed), "L": f(last_price), "N": "USDT", "n": f(fee), "T": stamp, "t": trade_id,
                "b": "0", "a": "0", "m": False, "R": order.reduce_only, "wt": "CONTRACT_PRICE", "ot": order.type,
                "ps": "BOTH", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER",
                "pm": "NONE", "gtd": 0}}
        else:
            canceled = execution == "CANCELED"
            event = {"e": "executionReport", "E": stamp, "s": order.symbol,
                     "c": f"cancel{order.order_id}" if canceled else order.client_id, "S": order.side,
                     "o": order.type, "f": order.time_in_force or "GTC", "q": f(order.quantity), "p": f(order.price),
                     "P": f(order.stop_price), "F": f(Decimal(0)), "g": -1, "C": order.client_id if canceled else "",
                     "x": execution, "X": order.status, "r": "NONE", "i": order.order_id, "l": f(last_qty),
                     "z": f(order.executed), "L": f(last_price), "n": f(fee),
                     "N": self._assets(order.symbol)[1] if fee else None, "T": stamp, "t": trade_id, "v": 0,
                     "I": trade_id, "w": order.status == "NEW", "m": False, "M": False, "O": order.time,
                     "Z": f(order.cum_quote), "Y": f(last_qty * last_price), "Q": f(order.quote_quantity),
                     "W": order.time, "V": "NONE"}
        await self.push_user(event)
        await self.push_balances()

    async def push_balances(self: FakeBinance) -> None:  # type: ignore[misc]
        """Push the balances changed since the last push (``outboundAccountPosition`` / ``ACCOUNT_UPDATE``)."""
        if not self.changed_assets:
            return
        changed, self.changed_assets = sorted(self.changed_assets), set()
        f = self._fmt
        stamp = now_ms()
        if self.futures:
            event: dict[str, Any] = {"e": "ACCOUNT_UPDATE", "E": stamp, "T": stamp, "a": {"m": "ORDER", "B": [
                {"a": a, "wb": f(self.balances[a][0] + self.balances[a][1]), "cw": f(self.balances[a][0]), "bc": "0"}
                for a in changed], "P": [
                {"s": raw, "pa": self.markets[raw].fmt(amount), "ep": self.markets[raw].fmt(self.markets[raw].mid),
                 "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}
                for raw, amount in self.positions.items()]}}
        else:
            event = {"e": "outboundAccountPosition", "E": stamp, "u": stamp, "B": [
                {"a": a, "f": f(self.balances[a][0]), "l": f(self.balances[a][1])} for a in changed]}
        await self.push_user(event)
