"""Shared fixtures of the core tests."""

from __future__ import annotations

import pytest

from core_toys import ToyPlugin, toy_descriptor
from exchanges import Host


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> Host:
    """A host that discovers no entry points (in-process plugins only)."""
    for name in ("EXCHANGES_LOAD_PLUGINS", "EXCHANGES_DISABLE_PLUGINS", "EXCHANGES_STRICT_PLUGINS", "EXCHANGES_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return Host(discover=False)


@pytest.fixture
def toy_host(host: Host) -> Host:
    """A host with the toy venue registered."""
    host.register(ToyPlugin(toy_descriptor(capabilities=("order_book", "place_order", "post_only"))), "toy-plugin")
    return host
