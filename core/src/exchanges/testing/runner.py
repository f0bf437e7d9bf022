"""Run the conformance suite for an installed exchange (what ``exchanges conformance ID`` does).

The suite class comes from the descriptor's ``conformance`` path when the
plugin ships one (with its cases), else the generic
:class:`~exchanges.testing.conformance.ConformanceSuite` (cases-driven groups
skip). pytest runs in-process on a generated module in a temporary directory,
with an empty ini so the caller's project configuration does not leak in.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import attrs

__all__ = ["TcOutcome", "run_conformance"]

_TC = re.compile(r"::test_(TC_[A-Z]_\d\d)")


@attrs.frozen
class TcOutcome:
    """The outcome of one TC id: ``passed``, ``failed`` or ``skipped``, with a one-line reason."""

    tc_id: str
    outcome: str
    detail: str = ""


class _Collector:
    """pytest plugin object recording one outcome per TC id (setup errors count as failures)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, TcOutcome] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        match = _TC.search(report.nodeid)
        if not match:
            return
        tc_id = match[1].replace("_", "-")
        if report.when == "call" or report.outcome != "passed":
            detail = ""
            if report.outcome == "skipped" and isinstance(report.longrepr, tuple):
                detail = str(report.longrepr[2]).removeprefix("Skipped: ")
            elif report.outcome == "failed":
                errors = [line[1:].strip() for line in str(report.longreprtext).splitlines() if line.startswith("E ")]
                detail = errors[0] if errors else "failed"
            previous = self.outcomes.get(tc_id)
            if previous is None or previous.outcome == "passed":
                self.outcomes[tc_id] = TcOutcome(tc_id, report.outcome, detail[:200])


def suite_path(exchange_id: str) -> str:
    """``module:Class`` of the suite to run for ``exchange_id`` (its plugin's, or the generic one)."""
    from .._connect import default_host

    descriptor = default_host().descriptor(exchange_id)
    return descriptor.conformance or "exchanges.testing.conformance:ConformanceSuite"


def run_conformance(exchange_id: str, *, extra_args: tuple[str, ...] = (), quiet: bool = False) -> list[TcOutcome]:
    """Run the suite for ``exchange_id`` and return one outcome per TC id, in id order.

    ``quiet`` swallows pytest's own output (for ``--json``).
    """
    import contextlib
    import io

    import pytest

    module, _, cls = suite_path(exchange_id).partition(":")
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="exchanges-conformance-") as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        (root / "test_conformance.py").write_text(
            f"from {module} import {cls} as _Suite\n\n\n"
            f"class TestConformance(_Suite):\n    exchange_id = {exchange_id!r}\n"
        )
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
            code = pytest.main(
                [
                    str(root / "test_conformance.py"),
                    "-c",
                    str(root / "pytest.ini"),
                    "--rootdir",
                    tmp,
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "asyncio",
                    "--no-header",
                    "-o",
                    "console_output_style=classic",
                    *extra_args,
                ],
                plugins=[collector],
            )
    outcomes = [collector.outcomes[k] for k in sorted(collector.outcomes)]
    if not outcomes or code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        outcomes.append(
            TcOutcome("TC-SUITE", "failed", f"the suite {module}:{cls} did not run (pytest exit code {int(code)})")
        )
    return outcomes
