"""``FakeBinance``: spot or USD-M REST on the loopback venue emulator, with signed order entry.

Signed requests are checked the way the venue checks them: ``X-MBX-APIKEY``,
the HMAC-SHA256 (hex) or Ed25519 (Base64) signature of the query string plus
body, and ``timestamp`` against the venue clock and ``recvWindow`` (``-1021``).
The clock can be moved (``clock_offset_ms``) to provoke ``-1021``; a failure can
be injected *after* an order was accepted (``fail_after_accept``), which is how
a 5xx or a timeout with an unknown outcome looks from the client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

import attrs

from exchanges.testing.emulator import RecordedRequest, Reply, VenueEmulator
from exchanges.transport.http import encode_pairs

from .data import MARKETS, USDM_MARKETS, spot_exchange_info, usdm_exchange_info
from .market import Market, now_ms
from .streams import StreamsMixin

__all__ = ["FAKE_API_KEY", "FAKE_SECRET", "FakeBinance"]

FAKE_API_KEY = "fakeBinanceApiKey0123456789abcdefghijklmnopqrstuvwxyz012345"
FAKE_SECRET = "fakeBinanceSecret9876543210zyxwvutsrqponmlkjihgfedcba987654"

_INTERVAL_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "M": 2_592_000_000}


def _err(status: int, code: int, msg: str) -> Reply:
    return Reply(status, json={"code": code, "msg": msg})


@attrs.define
class FakeOrder:
    """An order the loopback venue knows."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str | None
    price: Decimal
    quantity: Decimal
    stop_price: Decimal
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    time: int = 0
    update_time: int = 0
    reduce_only: bool = False
    quote_quantity: Decimal = Decimal(0)
    locked: bool = False


class FakeBinance(StreamsMixin):
    """The loopback Binance (spot or USD-M) on ``emu``; call :meth:`install` to add its routes.

    :param api_key: the key clients must send.
    :param secret: an HMAC secret, or an Ed25519 *public* key in PEM (the venue verifies only).
    :param weight_limit: REQUEST_WEIGHT per minute reported in exchangeInfo.
    :param tick: seconds between stream events of one stream.
    """

    def __init__(
        self,
        emu: VenueEmulator,
        *,
        futures: bool = False,
        api_key: str = FAKE_API_KEY,
        secret: str = FAKE_SECRET,
        weight_limit: int | None = None,
        tick: float = 0.02,
        seed: int = 7,
    ) -> None:
        self.emu = emu
        self.futures = futures
        self.api_key = api_key
        self.secret = secret
        self.weight_limit = weight_limit or (2400 if futures else 6000)
        self.tick = tick
        self.prefix = "/fapi" if futures else "/api"
        #: milliseconds the venue clock runs ahead of the local clock
        self.clock_offset_ms = 0
        self.markets: dict[str, Market] = {}
        if futures:
            for raw, (_b, _q, _k, _d, tick_size, step, _m, _n, mid) in USDM_MARKETS.items():
                self.markets[raw] = Market(raw, tick=tick_size, step=step, mid=mid, futures=True, seed=seed)
        else:
            for raw, (_b, _q, tick_size, step, _m, _n, mid) in MARKETS.items():
                self.markets[raw] = Market(raw, tick=tick_size, step=step, mid=mid, futures=False, seed=seed)
        self.orders: dict[int, FakeOrder] = {}
        self._order_ids = itertools.count(100_001)
        #: asset -> [free, locked] (USD-M: the USDT wallet only; margin is not modelled)
        self.balances: dict[str, list[Decimal]] = {"USDT": [Decimal(10000), Decimal(0)]}
        if not futures:
            self.balances.update({"BTC": [Decimal(1), Decimal(0)], "ETH": [Decimal(10), Decimal(0)]})
        self.positions: dict[str, Decimal] = {}
        self.leverage: dict[str, int] = {}
        #: replies served *after* accepting the next new orders (5xx, disconnect, delay)
        self.after_accept: list[Reply] = []
        self._ed25519: Any = None
        if "PUBLIC KEY" in secret:
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            self._ed25519 = load_pem_public_key(secret.encode())
        StreamsMixin.__init__(self)

    # -- wiring ----------------------------------------------------------------------------

    @property
    def endpoints(self) -> dict[str, str]:
        """``endpoints=`` for ``exchanges.connect`` pointing at the emulator."""
        urls = {"rest": self.emu.http_url, "ws": self.emu.ws_url}
        if not self.futures:
            urls["ws_api"] = self.emu.ws_url
        return urls

    @property
    def credentials(self) -> dict[str, str]:
        """Credentials matching this venue (HMAC); Ed25519 tests pass their private key instead."""
        return {"api_key": self.api_key, "secret": self.secret}

    def path(self, name: str) -> str:
        """The venue path of an endpoint name (``order`` -> ``/api/v3/order`` or ``/fapi/v1/order``)."""
        if self.futures:
            version = "v3" if name in ("balance", "positionRisk", "account") else "v1"
            return f"/fapi/{version}/{name}"
        return f"/api/v3/{name}"

    def install(self, *, market_faults: Any = None) -> FakeBinance:
        """Route every REST endpoint and add the websocket endpoints; returns self."""
        route = self.emu.route
        p = self.path
        route("GET", p("ping"), {})
        route("GET", p("time"), lambda r: {"serverTime": self.server_time()})
        route("GET", p("exchangeInfo"), lambda r: self.exchange_info())
        route("GET", p("depth"), self._depth)
        route("GET", p("trades"), self._trades)
        route("GET", p("klines"), self._klines)
        route("GET", p("ticker/24hr"), lambda r: self._public(r, lambda m: m.ticker_24h()))
        route("GET", p("ticker/bookTicker"), lambda r: self._public(r, lambda m: m.book_ticker_rest()))
        route("POST", p("order"), self._signed(self._new_order))
        route("GET", p("order"), self._signed(self._query_order))
        route("DELETE", p("order"), self._signed(self._cancel_order))
        route("GET", p("openOrders"), self._signed(self._open_orders))
        if self.futures:
            route("DELETE", p("allOpenOrders"), self._signed(self._cancel_all))
            route("GET", p("balance"), self._signed(self._futures_balance))
            route("GET", p("positionRisk"), self._signed(self._position_risk))
            route("POST", p("leverage"), self._signed(self._set_leverage))
            route("*", p("listenKey"), self._listen_key_route)
        else:
            route("DELETE", p("openOrders"), self._signed(self._cancel_all))
            route("GET", p("account"), self._signed(self._account))
        self.install_streams(market_faults=market_faults)
        return self

    def server_time(self) -> int:
        """The venue clock (local time + ``clock_offset_ms``)."""
        return now_ms() + self.clock_offset_ms

    def exchange_info(self) -> dict[str, Any]:
        """The exchangeInfo payload."""
        if self.futures:
            return usdm_exchange_info(self.server_time(), weight_limit=self.weight_limit)
        return spot_exchange_info(self.server_time(), weight_limit=self.weight_limit)

    # -- authentication --------------------------------------------------------------------

    def verify(self, payload: str, signature: str) -> bool:
        """True when ``signature`` signs ``payload`` with this venue's key."""
        if self._ed25519 is not None:
            try:
                self._ed25519.verify(base64.b64decode(signature), payload.encode())
            except Exception:  # noqa: BLE001 - any failure is a bad signature
                return False
            return True
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature.lower())

    def check_key(self, request: RecordedRequest) -> Reply | None:
        """The error reply for a missing or wrong API key, or None."""
        key = request.header("X-MBX-APIKEY")
        if key is None:
            return _err(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            return _err(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return None

    def check_time(self, timestamp: Any, recv_window: Any) -> Reply | None:
        """The -1021 reply when ``timestamp`` is outside the recvWindow of the venue clock, or None."""
        try:
            stamp = int(timestamp)
            window = int(Decimal(str(recv_window))) if recv_window is not None else 5000
        except (TypeError, ValueError, ArithmeticError):
            return _err(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        server = self.server_time()
        if stamp >= server + 1000 or server - stamp > window:
            return _err(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return None

    def _signed(self, handler: Any) -> Any:
        async def checked(request: RecordedRequest) -> Any:
            failed = self.check_key(request)
            if failed is not None:
                return failed
            pairs = [(k, v) for k, v in request.query.items() if k != "signature"]
            signature = request.query.get("signature")
            body = request.body.decode() if request.body else ""
            if signature is None or not self.verify(encode_pairs(pairs) + body, signature):
                return _err(400, -1022, "Signature for this request is not valid.")
            failed = self.check_time(request.query.get("timestamp"), request.query.get("recvWindow"))
            if failed is not None:
                return failed
            return await handler(request, request.params())

        return checked

    def _market(self, params: Mapping[str, str]) -> Market | Reply:
        market = self.markets.get(params.get("symbol", ""))
        if market is None:
            return _err(400, -1121, "Invalid symbol.")
        return market

    # -- public ----------------------------------------------------------------------------

    def _public(self, request: RecordedRequest, build: Any) -> Any:
        market = self._market(request.query)
        return market if isinstance(market, Reply) else build(market)

    def _depth(self, request: RecordedRequest) -> Any:
        market = self._market(request.query)
        if isinstance(market, Reply):
            return market
        limit = int(request.query.get("limit", 500 if self.futures else 100))
        if self.futures and limit not in (5, 10, 20, 50, 100, 500, 1000):
            return _err(400, -1130, "Data sent for parameter 'limit' is not valid.")
        return market.snapshot(limit)

    def _trades(self, request: RecordedRequest) -> Any:
        market = self._market(request.query)
        if isinstance(market, Reply):
            return market
        return market.recent_trades(int(request.query.get("limit", 500)))

    def _klines(self, request: RecordedRequest) -> Any:
        market = self._market(request.query)
        if isinstance(market, Reply):
            return market
        interval = request.query.get("interval", "")
        try:
            step = int(interval[:-1]) * _INTERVAL_MS[interval[-1]]
        except (KeyError, ValueError):
            return _err(400, -1120, "Invalid interval.")
        limit = int(request.query.get("limit", 500))
        start = request.query.get("startTime")
        # the first bar opening at or after startTime; else the latest ``limit`` bars
        first = -(-int(start) // step) * step if start else (self.server_time() // step - limit + 1) * step
        return [market.kline_row(first + i * step, step) for i in range(limit)]

    # -- orders ----------------------------------------------------------------------------

    def _fmt(self, value: Decimal) -> str:
        return next(iter(self.markets.values())).fmt(value)

    def order_json(self, order: FakeOrder, *, fills: list[dict[str, Any]] | None = None,
                   cancel: bool = False) -> dict[str, Any]:
        """An order in the venue's answer format (new-order, query or cancel)."""
        f = self._fmt
        if self.futures:
            avg = order.cum_quote / order.executed if order.executed else Decimal(0)
            return {"orderId": order.order_id, "symbol": order.symbol, "status": order.status,
                    "clientOrderId": order.client_id, "price": f(order.price), "avgPrice": f(avg),
                    "origQty": f(order.quantity), "executedQty": f(order.executed), "cumQty": f(order.executed),
                    "cumQuote": f(order.cum_quote), "timeInForce": order.time_in_force or "GTC", "type": order.type,
                    "reduceOnly": order.reduce_only, "closePosition": False, "side": order.side,
                    "positionSide": "BOTH", "stopPrice": f(order.stop_price), "workingType": "CONTRACT_PRICE",
                    "priceProtect": False, "origType": order.type, "priceMatch": "NONE",
                    "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": order.time,
                    "updateTime": order.update_time}
        body: dict[str, Any] = {"symbol": order.symbol}
        if cancel:
            body["origClientOrderId"] = order.client_id
        body.update({"orderId": order.order_id, "orderListId": -1,
                     "clientOrderId": "cancelReq" + str(order.order_id) if cancel else order.client_id})
        if fills is not None or cancel:
            body["transactTime"] = order.update_time
        body.update({"price": f(order.price), "origQty": f(order.quantity), "executedQty": f(order.executed),
                     "origQuoteOrderQty": f(order.quote_quantity), "cummulativeQuoteQty": f(order.cum_quote),
                     "status": order.status, "timeInForce": order.time_in_force or "GTC", "type": order.type,
                     "side": order.side})
        if order.stop_price:
            body["stopPrice"] = f(order.stop_price)
        if fills is None and not cancel:
            body.update({"icebergQty": f(Decimal(0)), "time": order.time, "updateTime": order.update_time,
                         "isWorking": order.status == "NEW", "workingTime": order.time})
        body["selfTradePreventionMode"] = "NONE"
        if fills is not None:
            body["workingTime"] = order.time
            body["fills"] = fills
        return body

    async def _new_order(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        market = self._market(params)
        if isinstance(market, Reply):
            return market
        cid = params.get("newClientOrderId") or f"x-{next(self._order_ids)}"
        if any(o.client_id == cid and o.status in ("NEW", "PARTIALLY_FILLED") for o in self.orders.values()):
            return _err(400, -2010, "Duplicate order sent.")
        kind, side = params.get("type", ""), params.get("side", "")
        price = Decimal(params.get("price", "0"))
        quantity = Decimal(params.get("quantity", "0"))
        quote_quantity = Decimal(params.get("quoteOrderQty", "0"))
        best = market.best_ask if side == "BUY" else market.best_bid
        marketable = kind == "MARKET" or (price > 0 and (price >= best if side == "BUY" else price <= best))
        tif = params.get("timeInForce")
        if kind == "LIMIT_MAKER" and marketable:
            return _err(400, -2010, "Order would immediately match and take.")
        if tif == "GTX" and marketable:
            return _err(400, -5022, "Due to the order could not be executed as maker, the Post Only order will be "
                                    "rejected. The order will not be recorded in the order history")
        reduce_only = params.get("reduceOnly") == "true"
        if reduce_only:
            held = self.positions.get(market.raw, Decimal(0))
            if held == 0 or (held > 0) == (side == "BUY"):
                return _err(400, -2022, "ReduceOnly Order is rejected.")
        if kind == "MARKET" and quote_quantity and not quantity:
            quantity = (quote_quantity / best).quantize(market.step, rounding=ROUND_DOWN)
        stamp = now_ms()
        order = FakeOrder(next(self._order_ids), cid, market.raw, side, kind,
                          tif if kind not in ("MARKET", "LIMIT_MAKER", "STOP_LOSS", "TAKE_PROFIT") else None,
                          price, quantity, Decimal(params.get("stopPrice", "0")), time=stamp, update_time=stamp,
                          reduce_only=reduce_only, quote_quantity=quote_quantity)
        self.orders[order.order_id] = order
        fills: list[dict[str, Any]] = []
        await self.order_event(order, "NEW")
        stop_kinds = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "STOP", "STOP_MARKET",
                      "TAKE_PROFIT_MARKET")
        if kind not in stop_kinds and marketable:
            fills.append(await self.fill(order.order_id, quantity, best))
        elif kind == "LIMIT" and tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
            await self.order_event(order, "EXPIRED")
        elif kind not in stop_kinds:
            self._lock_funds(order, True)
            await self.push_balances()
        if self.after_accept:
            return self.after_accept.pop(0)
        return self.order_json(order, fills=None if self.futures else fills)

    def _find(self, params: Mapping[str, str]) -> FakeOrder | None:
        if "orderId" in params:
            found = self.orders.get(int(params["orderId"]))
        else:
            cid = params.get("origClientOrderId")
            found = next((o for o in reversed(self.orders.values()) if o.client_id == cid), None)
        if found is not None and found.symbol != params.get("symbol"):
            return None
        return found

    async def _query_order(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        order = self._find(params)
        if order is None:
            return _err(400, -2013, "Order does not exist.")
        return self.order_json(order)

    async def _cancel_order(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        order = self._find(params)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            return _err(400, -2011, "Unknown order sent.")
        await self.cancel(order)
        return self.order_json(order, cancel=not self.futures)

    async def cancel(self, order: FakeOrder) -> None:
        """Cancel ``order`` at the venue (events and funds included)."""
        self._lock_funds(order, False)
        order.status = "CANCELED"
        order.update_time = now_ms()
        await self.order_event(order, "CANCELED")

    async def _cancel_all(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        symbol = params.get("symbol")
        open_orders = [o for o in self.orders.values() if o.symbol == symbol and o.status in ("NEW", "PARTIALLY_FILLED")]
        if not open_orders and not self.futures:
            return _err(400, -2011, "Unknown order sent.")
        for order in open_orders:
            await self.cancel(order)
        if self.futures:
            return {"code": 200, "msg": "The operation of cancel all open order is done."}
        return [self.order_json(o, cancel=True) for o in open_orders]

    async def _open_orders(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        symbol = params.get("symbol")
        return [self.order_json(o) for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED") and (symbol is None or o.symbol == symbol)]

    # -- funds -----------------------------------------------------------------------------

    def _assets(self, raw: str) -> tuple[str, str]:
        if self.futures:
            return USDM_MARKETS[raw][0], USDM_MARKETS[raw][1]
        return MARKETS[raw][0], MARKETS[raw][1]

    def _lock_funds(self, order: FakeOrder, lock: bool) -> None:
        """Lock (or give back) the funds backing the open part of a resting spot order."""
        if self.futures or order.locked == lock:
            return
        order.locked = lock
        sign = 1 if lock else -1
        base, quote = self._assets(order.symbol)
        remaining = order.quantity - order.executed
        asset, amount = (quote, remaining * order.price) if order.side == "BUY" else (base, remaining)
        free_locked = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        free_locked[0] -= sign * amount
        free_locked[1] += sign * amount
        self.changed_assets.add(asset)

    async def fill(self, order_id: int, quantity: Decimal, price: Decimal) -> dict[str, Any]:
        """Execute ``quantity`` of an order at ``price`` (events, balances, position); the spot fill entry."""
        order = self.orders[order_id]
        was_locked = order.locked
        self._lock_funds(order, False)
        order.executed += quantity
        order.cum_quote += quantity * price
        order.status = "FILLED" if order.executed >= order.quantity else "PARTIALLY_FILLED"
        order.update_time = now_ms()
        base, quote = self._assets(order.symbol)
        signed_qty = quantity if order.side == "BUY" else -quantity
        fee = quantity * price * Decimal("0.001")
        if self.futures:
            self.positions[order.symbol] = self.positions.get(order.symbol, Decimal(0)) + signed_qty
            self.balances["USDT"][0] -= fee
            self.changed_assets.add("USDT")
        else:
            self.balances.setdefault(base, [Decimal(0), Decimal(0)])[0] += signed_qty
            self.balances.setdefault(quote, [Decimal(0), Decimal(0)])[0] -= signed_qty * price + fee
            self.changed_assets.update((base, quote))
        if was_locked and order.status == "PARTIALLY_FILLED":
            self._lock_funds(order, True)
        trade_id = next(self._order_ids)
        await self.order_event(order, "TRADE", last_qty=quantity, last_price=price, trade_id=trade_id, fee=fee)
        return {"price": self._fmt(price), "qty": self._fmt(quantity), "commission": self._fmt(fee),
                "commissionAsset": quote, "tradeId": trade_id}

    async def _account(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        omit = params.get("omitZeroBalances") == "true"
        f = self._fmt
        balances = [{"asset": a, "free": f(fl[0]), "locked": f(fl[1])} for a, fl in self.balances.items()
                    if not omit or fl[0] or fl[1]]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                    "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms(),
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 354937868}

    async def _futures_balance(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        f = self._fmt
        return [{"accountAlias": "SgsR", "asset": asset, "balance": f(fl[0] + fl[1]), "crossWalletBalance": f(fl[0]),
                 "crossUnPnl": "0.00000000", "availableBalance": f(fl[0]), "maxWithdrawAmount": f(fl[0]),
                 "marginAvailable": True, "updateTime": now_ms()} for asset, fl in self.balances.items()]

    async def _position_risk(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        symbol = params.get("symbol")
        out = []
        for raw, market in self.markets.items():
            if symbol is not None and raw != symbol:
                continue
            amount = self.positions.get(raw, Decimal(0))
            out.append({"symbol": raw, "positionSide": "BOTH", "positionAmt": market.fmt(amount),
                        "entryPrice": market.fmt(market.mid if amount else Decimal(0)), "breakEvenPrice": "0.0",
                        "markPrice": market.fmt(market.mid), "unRealizedProfit": "0.00000000",
                        "liquidationPrice": "0", "isolatedMargin": "0.00000000", "notional": market.fmt(amount * market.mid),
                        "marginAsset": "USDT", "isolatedWallet": "0", "initialMargin": "0", "maintMargin": "0",
                        "positionInitialMargin": "0", "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0",
                        "askNotional": "0", "updateTime": now_ms(), "leverage": str(self.leverage.get(raw, 20)),
                        "marginType": "cross"})
        return out

    async def _set_leverage(self, request: RecordedRequest, params: Mapping[str, str]) -> Any:
        market = self._market(params)
        if isinstance(market, Reply):
            return market
        leverage = int(params.get("leverage", "0"))
        if not 1 <= leverage <= 125:
            return _err(400, -4028, "Leverage 0 is not valid")
        self.leverage[market.raw] = leverage
        return {"leverage": leverage, "maxNotionalValue": "1000000", "symbol": market.raw}
