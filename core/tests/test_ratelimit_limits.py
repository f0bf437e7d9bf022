"""RateLimits: limiters shared per (venue, scope, identity) through the host, routing and response feedback."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from core_toys import toy_descriptor
from exchanges import ConnectorContext, Host
from exchanges.credentials import Credentials
from exchanges.errors import RateLimited
from exchanges.ratelimit import ROLLING_SUBWINDOWS, EndpointCost, MemoryBackend, RateLimitRule, RateLimits

API_KEY = "k3y-for-tests-0123456789abcdefghijklmnopqrstuvwxyz"
BUCKET = 1 / ROLLING_SUBWINDOWS  # one sub-bucket of a 1 s rolling window
SECRET = "s3cret-for-tests-0123456789abcdefghijklmnopqrstuvwxyz"

RULES = (
    RateLimitRule("weight", 6000, 60, kind="fixed"),
    RateLimitRule("orders", 10, 10, scope="account", kind="fixed"),
    RateLimitRule("orders", 1000, 86400, scope="account", kind="fixed"),
)
COSTS = {
    "GET /api/v3/depth": EndpointCost("GET /api/v3/depth", {"weight": 5}),
    "POST /api/v3/order": EndpointCost("POST /api/v3/order", {"weight": 1, "orders": 1}),
}


def context(
    host: Host,
    *,
    credentials: Mapping[str, str] | None = None,
    rest: str = "https://api.toy.example",
    rules: Sequence[RateLimitRule] = RULES,
    settings: Mapping[str, Any] | None = None,
    exchange_id: str = "toy",
) -> ConnectorContext:
    """A connector context built directly, as ``exchanges.connect`` would (testing mode by default)."""
    return ConnectorContext(
        descriptor=toy_descriptor(exchange_id),
        host=host,
        credentials=Credentials(credentials) if credentials is not None else None,
        endpoints={"rest": rest, "ws": "wss://stream.toy.example/ws"},
        rate_limit_rules=tuple(rules),
        endpoint_costs=COSTS,
        settings={"rate_limit_testing": True} if settings is None else settings,
    )


def test_same_venue_scope_and_identity_share_one_limiter(host: Host) -> None:
    """Two connectors of one host with the same REST host and API key draw on the same limiters."""
    creds = {"api_key": API_KEY, "secret": SECRET}
    first = RateLimits.for_context(context(host, credentials=creds))
    second = RateLimits.for_context(context(host, credentials=creds))
    assert first.limiter("ip") is second.limiter("ip")
    assert first.limiter("account") is second.limiter("account")
    assert first.limiter("ip").testing


async def test_shared_budget_is_spent_by_either_connector(host: Host) -> None:
    """Weight taken through one connector is missing for the other one."""
    first = RateLimits.for_context(context(host))
    second = RateLimits.for_context(context(host))
    await first.acquire({"weight": 6000})
    assert not second.limiter("ip").try_acquire({"weight": 1})
    assert await second.acquire({"weight": 1}) == 60.0


@pytest.mark.parametrize(
    ("change", "ip_shared", "account_shared"),
    [
        ({"credentials": {"api_key": "another-key-0123456789", "secret": SECRET}}, True, False),
        ({"rest": "https://testnet.toy.example"}, False, True),
        ({"rest": "https://api.toy.example:8443"}, False, True),
        ({"exchange_id": "toy-usdm"}, False, False),
    ],
)
def test_identity_separates_limiters(host: Host, change: dict[str, Any], ip_shared: bool, account_shared: bool) -> None:
    """Another API key gets its own account limiter, another REST host its own IP limiter, another venue both."""
    base = RateLimits.for_context(context(host, credentials={"api_key": API_KEY, "secret": SECRET}))
    params: dict[str, Any] = {"credentials": {"api_key": API_KEY, "secret": SECRET}, **change}
    other = RateLimits.for_context(context(host, **params))
    assert (base.limiter("ip") is other.limiter("ip")) is ip_shared
    assert (base.limiter("account") is other.limiter("account")) is account_shared


def test_separate_hosts_share_nothing() -> None:
    """Limiters live in one host's shared state: another host starts with fresh budgets."""
    first = RateLimits.for_context(context(Host(discover=False)))
    second = RateLimits.for_context(context(Host(discover=False)))
    assert first.limiter("ip") is not second.limiter("ip")


@pytest.mark.parametrize(
    "credentials",
    [
        {"api_key": API_KEY, "secret": SECRET},
        {"private_key": "0x" + "ab" * 32},
        {"account_address": "0x" + "cd" * 20, "private_key": "0x" + "ab" * 32},
    ],
)
def test_account_identity_never_contains_the_raw_secret(host: Host, credentials: dict[str, str]) -> None:
    """The account identity (and every limiter name or repr) is a digest, never a key or address."""
    limits = RateLimits.for_context(context(host, credentials=credentials))
    shown = " ".join([*limits.identities.values(), *(lim.name for lim in limits.limiters.values()),
                      *(repr(lim) for lim in limits.limiters.values()), repr(limits)])
    for value in credentials.values():
        assert value not in shown and value[2:] not in shown
    assert limits.identities["account"] != "anonymous"
    assert limits.identities["ip"] == "api.toy.example"


def test_explicit_identity_wins(host: Host) -> None:
    """An identity given per scope replaces the derived one (e.g. the outgoing IP of a proxy)."""
    limits = RateLimits.for_context(context(host), identity={"ip": "203.0.113.7"})
    assert limits.identities["ip"] == "203.0.113.7"
    assert limits.limiter("ip").name == "toy/ip/203.0.113.7"


async def test_acquire_routes_each_key_to_its_scope(host: Host) -> None:
    """Weight is taken from the IP limiter and orders from the account limiter, endpoint costs included."""
    limits = RateLimits.for_context(context(host, credentials={"api_key": API_KEY, "secret": SECRET}))
    assert await limits.acquire(endpoint="POST /api/v3/order") == 0.0
    assert await limits.acquire({"weight": 20}, endpoint="GET /api/v3/depth") == 0.0
    assert await limits.acquire({"orders": 2}, endpoint="POST /api/v3/order") == 0.0
    assert await limits.acquire(endpoint="GET /not/registered") == 0.0
    assert limits.limiter("ip").usage() == {"weight/60s": 22}
    assert limits.limiter("account").usage() == {"orders/10s": 3, "orders/86400s": 3}
    assert [lim.name.split("/")[1] for lim in limits.route("orders")] == ["account"]


async def test_order_limits_wait_without_touching_the_ip_budget(host: Host) -> None:
    """When the 10 s order window is full, an order waits for it while market data keeps flowing."""
    limits = RateLimits.for_context(context(host))
    for _ in range(10):
        await limits.acquire(endpoint="POST /api/v3/order")
    assert await limits.acquire(endpoint="GET /api/v3/depth") == 0.0
    assert await limits.acquire(endpoint="POST /api/v3/order") == 10.0
    assert limits.limiter("account").waits == [10.0]


async def test_waiting_on_one_scope_holds_no_budget_of_another(host: Host) -> None:
    """An order queued on the account scope gives its IP weight back and takes it when it is really sent."""
    rules = (RateLimitRule("weight", 10, 1, kind="fixed"), RateLimitRule("orders", 1, 10, scope="account", kind="fixed"))
    limits = RateLimits.for_context(context(host, rules=rules))
    await limits.acquire(endpoint="POST /api/v3/order")
    second = asyncio.create_task(limits.acquire(endpoint="POST /api/v3/order"))
    await asyncio.sleep(0)  # it is now queued on the account limiter
    assert limits.limiter("account").queued == 1
    assert limits.limiter("ip").usage() == {"weight/1s": 1}
    assert await second == 10.0
    # the weight was counted at t=10, in the window the venue will see the request in
    assert limits.limiter("ip").now() == 10.0
    assert limits.limiter("ip").usage() == {"weight/1s": 1}
    assert limits.limiter("account").usage() == {"orders/10s": 1}


async def test_scope_refusing_after_another_granted_gives_that_grant_back(host: Host) -> None:
    """When the IP refuses once the account has granted, the account grant is returned and both are retaken later."""
    rules = (RateLimitRule("weight", 2, 1, kind="fixed"), RateLimitRule("orders", 1, 1, scope="account"))
    limits = RateLimits.for_context(context(host, rules=rules))
    await limits.acquire({"orders": 1, "weight": 1})
    ip, account = limits.limiter("ip"), limits.limiter("account")
    order = asyncio.create_task(limits.acquire({"orders": 1, "weight": 1}))
    await asyncio.sleep(0)  # the order waits for the account (rolling: until t = 1 + one bucket)
    ip.advance(1.0)  # ... and meanwhile market data fills the IP window [1, 2)
    assert await limits.acquire({"weight": 2}) == 0.0
    # granted by the account at 1.0078, refused by the IP: the account grant is returned, so at t=2
    # both scopes take at once (a kept grant would block the account until 2.0156)
    assert await order == 2.0
    assert account.waits == [1.0 + BUCKET]
    assert ip.waits == [2.0 - (1.0 + BUCKET)]
    assert ip.usage() == {"weight/1s": 1}
    assert account.usage() == {"orders/1s": 1}


def test_on_response_applies_usage_headers_to_their_keys(host: Host) -> None:
    """X-MBX-USED-WEIGHT-1M corrects the IP weight count, X-MBX-ORDER-COUNT-10S the account's orders."""
    limits = RateLimits.for_context(context(host))
    limits.on_response(200, {"X-MBX-USED-WEIGHT-1M": "5990", "X-MBX-ORDER-COUNT-10S": "7",
                             "X-MBX-ORDER-COUNT-1D": "700", "X-MBX-ORDER-COUNT-1M": "9"})
    assert limits.limiter("ip").usage() == {"weight/60s": 5990}
    assert limits.limiter("account").usage() == {"orders/10s": 7, "orders/86400s": 700}


@pytest.mark.parametrize(
    ("headers", "pause"),
    [({"Retry-After": "7"}, 7.0), ({}, 60.0)],
)
async def test_on_response_429_pauses_the_scope(host: Host, headers: dict[str, str], pause: float) -> None:
    """A 429 pauses the scope for Retry-After seconds, or until the next minute without the header."""
    limits = RateLimits.for_context(context(host))
    limits.on_response(429, headers)
    assert limits.limiter("ip").paused_until == pause
    assert await limits.acquire(endpoint="GET /api/v3/depth") == pause


async def test_on_response_429_on_account_leaves_market_data_alone(host: Host) -> None:
    """A 429 for too many orders pauses the account scope only."""
    limits = RateLimits.for_context(context(host))
    limits.on_response(429, {"Retry-After": "3"}, scope="account")
    assert await limits.acquire(endpoint="GET /api/v3/depth") == 0.0
    assert await limits.acquire(endpoint="POST /api/v3/order") == 3.0


async def test_on_response_418_bans_every_call_through_the_ip(host: Host) -> None:
    """A 418 bans the IP scope: every call fails fast with RateLimited until the ban ends."""
    limits = RateLimits.for_context(context(host))
    limits.on_response(418, {"Retry-After": "300"})
    limits.on_response(418, {"Retry-After": "garbage"})  # defaults to 120 s: does not shorten the ban
    for endpoint in ("GET /api/v3/depth", "POST /api/v3/order"):
        with pytest.raises(RateLimited) as caught:
            await limits.acquire(endpoint=endpoint)
        assert caught.value.until == 300.0
        assert caught.value.exchange == "toy"
    limits.limiter("ip").advance(300.0)
    assert await limits.acquire(endpoint="GET /api/v3/depth") == 0.0


def test_on_response_to_a_scope_without_rules_reaches_the_ip(host: Host) -> None:
    """Pausing a scope the venue has no rule for falls back to the IP limiter, so it still holds calls."""
    limits = RateLimits.for_context(context(host))
    limits.on_response(429, {"Retry-After": "4"}, scope="connection")
    assert limits.limiter("ip").paused_until == 4.0


async def test_sub_identity_limiters_are_separate_budgets(host: Host) -> None:
    """limiter(scope, sub=...) enforces the scope's rules per sub-identity (e.g. per instrument)."""
    limits = RateLimits.for_context(context(host))
    btc = limits.limiter("account", sub="BTC-USDT")
    eth = limits.limiter("account", sub="ETH-USDT")
    assert btc is limits.limiter("account", sub="BTC-USDT")
    await btc.acquire({"orders": 10})
    assert not btc.try_acquire({"orders": 1})
    assert eth.try_acquire({"orders": 10})
    with pytest.raises(ValueError, match="scope"):
        limits.limiter("planet")


def test_connection_limiters_are_private_unless_named(host: Host) -> None:
    """Connection-scoped rules get one limiter per RateLimits, shared only when the connection is named."""
    rules = (*RULES, RateLimitRule("messages", 5, 1, scope="connection"))
    first = RateLimits.for_context(context(host, rules=rules))
    second = RateLimits.for_context(context(host, rules=rules))
    assert first.limiter("connection") is not second.limiter("connection")
    named = [RateLimits.for_context(context(host, rules=rules), identity={"connection": "ws-1"}) for _ in range(2)]
    assert named[0].limiter("connection") is named[1].limiter("connection")


def test_differing_rules_warn_and_keep_the_shared_limiter(host: Host) -> None:
    """A connector arriving with other rules for a shared limiter is warned; the first rules stay in force."""
    first = RateLimits.for_context(context(host))
    with pytest.warns(RuntimeWarning, match="differ"):
        second = RateLimits.for_context(context(host, rules=(RateLimitRule("weight", 1200, 60),)))
    assert second.limiter("ip") is first.limiter("ip")
    assert second.limiter("ip").rules == (RULES[0],)


def test_backend_factory_and_testing_switch_apply_to_new_limiters(host: Host) -> None:
    """use_backend() makes new limiters count in the factory's backend; set_testing() is the host-wide switch."""
    made: list[str] = []

    def factory(namespace: str) -> MemoryBackend:
        made.append(namespace)
        return MemoryBackend()

    RateLimits.use_backend(host, factory)
    RateLimits.set_testing(host, True)
    limits = RateLimits.for_context(context(host, settings={}))
    assert made == ["toy/ip/api.toy.example", "toy/account/anonymous"]
    assert all(lim.testing for lim in limits.limiters.values())
    RateLimits.use_backend(host, None)
    RateLimits.set_testing(host, False)
    fresh = RateLimits.for_context(context(host, settings={}, rest="https://other.toy.example"))
    assert made == ["toy/ip/api.toy.example", "toy/account/anonymous"]
    assert not fresh.limiter("ip").testing


class AsyncStore:
    """A backend that answers asynchronously only (the shape of a Redis one), counting in memory."""

    def __init__(self) -> None:
        self.memory = MemoryBackend()

    def bind(self, rules: Sequence[RateLimitRule], *, namespace: str, epoch: float) -> None:
        self.memory.bind(rules, namespace=namespace, epoch=epoch)

    async def take(self, demand: Sequence[tuple[int, int]], now: float) -> float:
        await asyncio.sleep(0)
        return self.memory.take_nowait(demand, now)

    async def observe(self, index: int, used: int, now: float) -> None:
        self.memory.observe_nowait(index, used, now)

    def usage(self, index: int) -> int:
        return self.memory.usage(index, 0.0)


async def test_shared_backends_take_scope_after_scope(host: Host) -> None:
    """With an asynchronous backend every scope is asked in turn, and each counts the call."""
    stores: dict[str, AsyncStore] = {}

    def factory(namespace: str) -> AsyncStore:
        return stores.setdefault(namespace, AsyncStore())

    RateLimits.use_backend(host, factory)
    limits = RateLimits.for_context(context(host))
    assert all(lim.backend is stores[lim.name] for lim in limits.limiters.values())
    assert await limits.acquire(endpoint="POST /api/v3/order") == 0.0
    assert await limits.acquire({"weight": 3}) == 0.0
    assert stores["toy/ip/api.toy.example"].usage(0) == 4
    assert [stores["toy/account/anonymous"].usage(i) for i in (0, 1)] == [1, 1]
    with pytest.raises(TypeError, match="asynchronous"):
        limits.limiter("ip").try_acquire({"weight": 1})


async def test_direct_construction_fills_missing_identities() -> None:
    """Built without a context, RateLimits derives the identities it was not given and keeps limiters in `shared`."""
    shared: dict[object, object] = {}
    limits = RateLimits("toy", RULES, {"ip": "127.0.0.1:8080"}, shared=shared, endpoint_costs=COSTS, testing=True)
    assert limits.identities["account"] == "anonymous" and limits.identities["endpoint"] == "127.0.0.1:8080"
    assert await limits.acquire(endpoint="POST /api/v3/order") == 0.0
    assert set(shared.values()) >= set(limits.limiters.values())
