"""Property tests of RateLimiter on its virtual clock: no window is ever exceeded, FIFO always holds."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from exchanges.ratelimit import ROLLING_SUBWINDOWS, RateLimiter, RateLimitRule

KEYS = ("a", "b")
#: dyadic windows, so that window boundaries are exact in floating point
WINDOWS = (0.5, 1.0, 2.0, 8.0)
IDLE = (0.0, 0.0, 0.0, 0.125, 0.3, 0.5, 1.0, 3.7)

rules_strategy = st.lists(
    st.builds(
        RateLimitRule,
        key=st.sampled_from(KEYS),
        limit=st.integers(1, 20),
        window=st.sampled_from(WINDOWS),
        kind=st.sampled_from(("rolling", "fixed")),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda rule: rule.name,
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[RateLimitRule], list[tuple[float, dict[str, int]]]]:
    """Rules plus a sequence of (idle seconds before, costs) with every cost servable."""
    rules = draw(rules_strategy)
    ceiling = {key: min((r.limit for r in rules if r.key == key), default=50) for key in (*KEYS, "unlimited")}
    cost = st.fixed_dictionaries({}, optional={key: st.integers(0, ceiling[key]) for key in ceiling})
    ops = draw(st.lists(st.tuples(st.sampled_from(IDLE), cost), min_size=1, max_size=60))
    return rules, ops


def assert_windows_respected(rules: list[RateLimitRule], grants: list[tuple[float, dict[str, int]]]) -> None:
    """Every rolling interval [t, t + window) and every fixed window [kW, (k+1)W) holds at most ``limit``."""
    for rule in rules:
        taken = [(t, costs.get(rule.key, 0)) for t, costs in grants if costs.get(rule.key, 0)]
        if rule.kind == "rolling":
            for start, _ in taken:
                inside = sum(c for t, c in taken if start <= t < start + rule.window)
                assert inside <= rule.limit, (rule, start, inside)
        else:
            per_window: dict[int, int] = defaultdict(int)
            for t, c in taken:
                per_window[math.floor(t / rule.window)] += c
            assert max(per_window.values(), default=0) <= rule.limit, (rule, dict(per_window))


def fixed_grant_time(rules: list[RateLimitRule], used: dict[tuple[str, int], int], t: float,
                     costs: dict[str, int]) -> float:
    """Reference model for fixed windows only: the earliest time >= t at which ``costs`` fit; counts it."""
    while True:
        blocked = [
            rule for rule in rules
            if costs.get(rule.key, 0)
            and used[(rule.name, math.floor(t / rule.window))] + costs[rule.key] > rule.limit
        ]
        if not blocked:
            break
        t = max((math.floor(t / rule.window) + 1) * rule.window for rule in blocked)
    for rule in rules:
        if costs.get(rule.key, 0):
            used[(rule.name, math.floor(t / rule.window))] += costs[rule.key]
    return t


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_sequential_callers_never_exceed_any_window(
    scenario: tuple[list[RateLimitRule], list[tuple[float, dict[str, int]]]],
) -> None:
    """One caller after another: no window is exceeded, waits are what was recorded, and no wait is needless."""
    rules, ops = scenario
    all_fixed = all(rule.kind == "fixed" for rule in rules)
    longest = max(rule.window for rule in rules) * (1 + 1 / ROLLING_SUBWINDOWS)

    async def run() -> None:
        limiter = RateLimiter(rules, testing=True)
        grants: list[tuple[float, dict[str, int]]] = []
        model: dict[tuple[str, int], int] = defaultdict(int)
        waited_total = 0.0
        for idle, costs in ops:
            limiter.advance(idle)
            requested = limiter.now()
            waited = await limiter.acquire(costs)
            granted = limiter.now()
            assert waited == granted - requested
            # once every grant before it has left its window, anything servable fits
            assert waited <= longest
            waited_total += waited
            grants.append((granted, costs))
            if all_fixed:
                assert granted == fixed_grant_time(rules, model, requested, costs)
        assert math.isclose(sum(limiter.waits), waited_total, abs_tol=1e-9)
        assert_windows_respected(rules, grants)

    asyncio.run(run())


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.integers(0, 20))
def test_concurrent_callers_are_served_in_order_within_limits(
    scenario: tuple[list[RateLimitRule], list[tuple[float, dict[str, int]]]], head_start: int,
) -> None:
    """Callers arriving together are granted in arrival order, and still no window is exceeded."""
    rules, ops = scenario

    async def run() -> None:
        limiter = RateLimiter(rules, testing=True)
        grants: list[tuple[float, dict[str, int]]] = []
        order: list[int] = []
        prefill = {rule.key: min(head_start, rule.limit) for rule in rules}
        prefill = {key: min(cost, *(r.limit for r in rules if r.key == key)) for key, cost in prefill.items()}
        await limiter.acquire(prefill)
        grants.append((limiter.now(), prefill))

        async def call(index: int, costs: dict[str, int]) -> None:
            await limiter.acquire(costs)
            grants.append((limiter.now(), costs))
            order.append(index)

        await asyncio.gather(*(call(i, costs) for i, (_, costs) in enumerate(ops)))
        # a call drawing on no rule takes nothing and never queues; every other one keeps its place
        keys = {rule.key for rule in rules}
        takers = [i for i, (_, costs) in enumerate(ops) if any(costs.get(key) for key in keys)]
        assert [i for i in order if i in takers] == takers
        assert sorted(order) == list(range(len(ops)))
        assert limiter.queued == 0
        assert_windows_respected(rules, grants)

    asyncio.run(run())


@st.composite
def two_scope_scenarios(draw: st.DrawFn) -> tuple[list[RateLimitRule], list[tuple[float, dict[str, int]]]]:
    """IP rules on key ``a``, account rules on key ``b``, and calls drawing on either or both."""
    ip = draw(st.lists(st.builds(RateLimitRule, key=st.just("a"), limit=st.integers(1, 12),
                                 window=st.sampled_from(WINDOWS), kind=st.sampled_from(("rolling", "fixed"))),
                       min_size=1, max_size=2, unique_by=lambda rule: rule.name))
    account = draw(st.lists(st.builds(RateLimitRule, key=st.just("b"), limit=st.integers(1, 12),
                                      window=st.sampled_from(WINDOWS), kind=st.sampled_from(("rolling", "fixed")),
                                      scope=st.just("account")),
                            min_size=1, max_size=2, unique_by=lambda rule: rule.name))
    top_a, top_b = min(r.limit for r in ip), min(r.limit for r in account)
    cost = st.fixed_dictionaries({}, optional={"a": st.integers(0, top_a), "b": st.integers(0, top_b)})
    return [*ip, *account], draw(st.lists(st.tuples(st.sampled_from(IDLE), cost), min_size=1, max_size=40))


@settings(max_examples=150, deadline=None)
@given(two_scope_scenarios())
def test_scopes_are_taken_together_when_the_request_goes(
    scenario: tuple[list[RateLimitRule], list[tuple[float, dict[str, int]]]],
) -> None:
    """Through RateLimits, every scope counts a call at the moment it is granted: no window is exceeded then."""
    from exchanges import ConnectorContext, ExchangeDescriptor, Host
    from exchanges.ratelimit import RateLimits

    rules, ops = scenario
    descriptor = ExchangeDescriptor(id="prop", name="Prop", kind="cex", products=["spot"], capabilities=[],
                                    endpoints={"rest": "https://prop.example"}, connector=lambda ctx: None)
    ctx = ConnectorContext(descriptor=descriptor, host=Host(discover=False), endpoints=descriptor.endpoints,
                           rate_limit_rules=tuple(rules), settings={"rate_limit_testing": True})

    async def run() -> None:
        limits = RateLimits.for_context(ctx)
        ip = limits.limiter("ip")
        grants: list[tuple[float, dict[str, int]]] = []
        for idle, costs in ops:
            ip.advance(idle)
            requested = ip.now()
            waited = await limits.acquire(costs)
            assert waited == ip.now() - requested
            grants.append((ip.now(), costs))
        assert_windows_respected(rules, grants)

    asyncio.run(run())
