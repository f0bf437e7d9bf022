"""Meta-tests that keep hooks honest: every hookspec has a test and a documented entry."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from exchanges import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"
TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", hookspecs.spec_names())
def test_every_hookspec_has_a_test(name: str) -> None:
    """A hookspec without a ``test_hook_<name>`` in core/tests fails the suite."""
    pattern = re.compile(rf"^(async )?def test_hook_{name}\b", re.MULTILINE)
    assert any(pattern.search(p.read_text()) for p in TESTS.glob("test_*.py")), f"no test_hook_{name}"


@pytest.mark.parametrize("name", hookspecs.spec_names())
def test_every_hookspec_is_documented_with_its_arguments(name: str) -> None:
    """docs/plugins/hooks.md has a heading for each hookspec naming all its arguments."""
    doc = HOOKS_DOC.read_text()
    args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### `{name}({args})`" in doc, f"docs/plugins/hooks.md lacks '### `{name}({args})`'"


@pytest.mark.parametrize("name", hookspecs.spec_names())
def test_every_hookspec_documents_its_parameters(name: str) -> None:
    """Each hookspec docstring documents every parameter and the return value."""
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    for param in inspect.signature(spec).parameters:
        assert f":param {param}:" in doc
    assert ":returns:" in doc


def test_documented_hooks_all_exist() -> None:
    """The reference page documents no hook that does not exist."""
    documented = set(re.findall(r"^### `(\w+)\(", HOOKS_DOC.read_text(), re.MULTILINE))
    assert documented == set(hookspecs.spec_names())
