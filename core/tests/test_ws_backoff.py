"""Reconnect backoff: capped exponential with full jitter, seeded, and how the attempt counter resets."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exchanges.testing.emulator import VenueEmulator, WsFaults, wait_until
from exchanges.transport.ws import Backoff, WsConnection, WsPolicy, WsState, WsStateEvent


def policy(backoff: Backoff) -> WsPolicy:
    return WsPolicy(name="venue", subscribe_message=lambda streams, rid: f"sub {list(streams)} {rid}", backoff=backoff)


@pytest.fixture
async def emu() -> AsyncIterator[VenueEmulator]:
    """A started emulator."""
    async with VenueEmulator() as emulator:
        yield emulator


@pytest.mark.parametrize(
    ("backoff", "ceilings"),
    [
        (Backoff(base=0.5, cap=30.0), [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]),
        (Backoff(base=1.0, cap=5.0, factor=3.0), [1.0, 3.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]),
        (Backoff(base=2.0, cap=2.0), [2.0] * 8),
    ],
)
def test_ceiling_grows_exponentially_up_to_the_cap(backoff: Backoff, ceilings: list[float]) -> None:
    """The delay bound before attempt n is min(cap, base * factor ** (n - 1))."""
    assert [backoff.ceiling(n) for n in range(1, 9)] == ceilings


def test_ceiling_survives_huge_attempt_numbers() -> None:
    """A very long outage never overflows: the bound stays at the cap."""
    assert Backoff(base=1.0, cap=60.0).ceiling(100_000) == 60.0
    with pytest.raises(ValueError):
        Backoff().ceiling(0)


def test_delay_is_full_jitter_under_a_seeded_rng() -> None:
    """delay(n) is uniform in [0, ceiling(n)], drawn from the given RNG: same seed, same schedule."""
    backoff = Backoff(base=0.5, cap=4.0)
    delays = [backoff.delay(n, random.Random(7)) for n in range(1, 7)]
    expected = [random.Random(7).random() * min(4.0, 0.5 * 2 ** (n - 1)) for n in range(1, 7)]
    assert delays == pytest.approx(expected, rel=1e-12)
    rng = random.Random(11)
    spread = [backoff.delay(3, rng) for _ in range(2000)]
    assert 0.0 <= min(spread) < 0.1 and 1.9 < max(spread) <= 2.0  # the whole range [0, 2] is used


async def test_connection_follows_the_schedule_of_its_rng(emu: VenueEmulator) -> None:
    """Refused upgrades are retried after exactly the delays a same-seeded RNG gives, attempts 1..n."""
    emu.websocket("/ws", faults=[WsFaults(refuse=503)] * 5)
    backoff = Backoff(base=0.004, cap=0.02)
    events: list[WsStateEvent] = []
    async with WsConnection(
        emu.ws_url + "/ws", policy(backoff), lambda m: None, on_state=events.append, rng=random.Random(42)
    ):
        pass
    reconnecting = [e for e in events if e.state is WsState.RECONNECTING]
    reference = random.Random(42)
    assert [e.attempt for e in reconnecting] == [1, 2, 3, 4, 5]
    assert [e.delay for e in reconnecting] == [backoff.delay(n, reference) for n in range(1, 6)]
    assert all(e.reason == "HTTP 503 on websocket handshake" for e in reconnecting)
    assert [e.attempt for e in events if e.state is WsState.CONNECTING] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("reset_after", "attempts"), [(0.0, [1, 1, 1]), (60.0, [1, 2, 3])])
async def test_attempts_restart_only_after_a_stable_connection(
    emu: VenueEmulator, reset_after: float, attempts: list[int]
) -> None:
    """A connection that lived reset_after seconds restarts the count; a flapping one keeps backing off."""
    emu.websocket("/ws", frames=[{"n": 1}], faults=[WsFaults(drop_after=1)] * 3)
    events: list[WsStateEvent] = []
    backoff = Backoff(base=0.002, cap=0.01, reset_after=reset_after)
    got: list[Any] = []
    async with WsConnection(emu.ws_url + "/ws", policy(backoff), got.append, on_state=events.append):
        await wait_until(lambda: len(got) == 4)
    assert [e.attempt for e in events if e.state is WsState.RECONNECTING] == attempts
