"""pytest plugin of exchange-core (entry point ``pytest11``): options and fixtures for plugin authors.

Kept import-cheap: it is loaded by every pytest run in an environment where
exchange-core is installed.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("exchanges", "exchanges plugin testing")
    group.addoption(
        "--exchanges-record-mode",
        dest="exchanges_record_mode",
        default=None,
        help="vcrpy record mode for exchanges cassettes (none, once, new_episodes, all); "
        "default from $EXCHANGES_RECORD_MODE, else none (replay only).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "exchanges_conformance(group): a conformance test of group TC-x")
