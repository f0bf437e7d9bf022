"""Shared fixtures of the cross-distribution tests: wheels of the monorepo and fresh virtual environments.

Wheels are built once per session with the dev environment's hatchling
(``pip wheel --no-deps --no-build-isolation``), so building needs no network.
A fresh venv gets its third-party dependencies (aiohttp, attrs, ...) from the
package index configured for pip, the same way a user's ``pip install`` would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DISTS = Path(__file__).resolve().parent / "fixtures" / "dists"

#: Distribution name -> source folder, for every wheel a test may install.
SOURCES: dict[str, Path] = {
    "exchange-core": REPO / "core",
    "exchange-sim": REPO / "plugins" / "exchange-sim",
    "exchange-broken": FIXTURE_DISTS / "exchange-broken",
    "exchange-future": FIXTURE_DISTS / "exchange-future",
}

# Variables of the calling environment that would change what a child interpreter imports or loads.
_SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV", "EXCHANGES_CONFIG")

collect_ignore = ["fixtures"]


def _check(proc: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    """Fail with the command's output (not just its exit status) when it did not succeed."""
    if proc.returncode != 0:
        pytest.fail(f"{what} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}", pytrace=False)
    return proc


def build_wheel(source: Path, dest: Path) -> Path:
    """Build the wheel of the distribution in ``source`` into ``dest`` and return its path."""
    before = set(dest.glob("*.whl"))
    _check(
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dest), str(source)],
            capture_output=True,
            text=True,
            timeout=300,
        ),
        f"pip wheel {source.name}",
    )
    (wheel,) = set(dest.glob("*.whl")) - before
    return wheel


@attrs.frozen
class Venv:
    """A virtual environment created by a test, and helpers to run things inside it.

    Commands run in ``workdir``, an empty folder, so neither the repository nor
    an ``exchanges.yaml`` lying around leaks into what the venv sees.
    """

    root: Path
    workdir: Path

    @classmethod
    def create(cls, root: Path) -> Venv:
        """Create a venv (with pip) at ``root`` from the interpreter running the tests."""
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        workdir = root.parent / f"{root.name}-cwd"
        workdir.mkdir(exist_ok=True)
        return cls(root, workdir)

    @property
    def bin(self) -> Path:
        """The folder of the venv's executables."""
        return self.root / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        """The venv's interpreter."""
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a command: ours minus anything that changes imports or plugin selection."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("EXCHANGES_")}
        env["VIRTUAL_ENV"] = str(self.root)
        env["PATH"] = os.pathsep.join([str(self.bin), env.get("PATH", "")])
        env.update(extra or {})
        return env

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of the venv (``args[0]`` is looked up in its ``bin`` folder when it is a bare name)."""
        exe = args[0]
        if isinstance(exe, str) and os.sep not in exe and (self.bin / exe).exists():
            exe = self.bin / exe
        argv = [str(exe), *map(str, args[1:])]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=self.workdir, env=self.env(env), timeout=timeout)
        return _check(proc, " ".join(argv[:3])) if check else proc

    def python_json(self, code: str, env: Mapping[str, str] | None = None) -> Any:
        """Run ``code`` with the venv's interpreter and parse the last line it prints as JSON."""
        out = self.run(self.python, "-c", code, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    def pip_install(self, *args: str | Path) -> None:
        """``pip install`` into the venv (dependencies come from the index pip is configured with)."""
        self.run(self.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args, timeout=600)


@pytest.fixture(scope="session")
def make_venv(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Venv]:
    """Factory of fresh venvs (``make_venv("name")``) in the session's temporary folder.

    Test modules cannot import this conftest (``--import-mode=importlib``), so
    :class:`Venv` reaches them through this fixture.
    """

    def make(name: str) -> Venv:
        return Venv.create(tmp_path_factory.mktemp(name) / "venv")

    return make


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of exchange-core, exchange-sim and the fixture distributions, built once per session."""
    dest = tmp_path_factory.mktemp("wheelhouse")
    return {name: build_wheel(source, dest) for name, source in SOURCES.items()}
