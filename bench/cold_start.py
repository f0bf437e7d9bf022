"""Cold-start cost of ``import exchanges`` and ``exchanges plugins``, measured in fresh interpreters.

Each case runs ``--runs`` times in a new process (after ``--warmup`` untimed
runs, so the OS file cache is warm) and reports the median and minimum wall
time, the difference to a bare ``python -c pass``, and how many modules the
process had loaded at exit. Targets (not test assertions): ``import exchanges``
under 40 ms above bare Python, ``exchanges plugins`` under 200 ms.

    .venv/bin/python bench/cold_start.py                  # table
    .venv/bin/python bench/cold_start.py --markdown       # section for bench/RESULTS.md
    .venv/bin/python bench/cold_start.py --importtime 12  # also where import time goes, per case
    .venv/bin/python bench/cold_start.py --python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMPORT_TARGET_MS = 40.0
PLUGINS_TARGET_MS = 200.0

# The console script does exactly this (pip's generated wrapper), so the module count matches `exchanges ...`.
_CLI = "import sys; from exchanges.cli import main; sys.argv[0] = 'exchanges'; sys.exit(main())"
_HEAVY = ("aiohttp", "websockets", "rich", "yaml", "cattrs", "pluggy", "click", "typing")


@dataclass(frozen=True)
class Case:
    """One command to time: ``code`` runs with ``python -c`` (``argv`` follows it)."""

    name: str
    code: str
    argv: tuple[str, ...] = ()
    script: str | None = None  # an executable next to the interpreter, timed instead of ``python -c``


@dataclass(frozen=True)
class Result:
    """Timings (ms) and loaded modules of one case."""

    case: Case
    times_ms: list[float]
    modules: int
    heavy: list[str]
    rc: int

    @property
    def median(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def best(self) -> float:
        return min(self.times_ms)


def _env() -> dict[str, str]:
    """The caller's environment minus what would change imports or plugin selection.

    ``PYTHONDONTWRITEBYTECODE`` goes too: the warm-up runs then leave ``.pyc``
    files next to editable sources, as an installed wheel has; without them
    every run would compile our modules again and measure the compiler.
    """
    drop = {"PYTHONPATH", "PYTHONSTARTUP", "PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "EXCHANGES_CONFIG"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("EXCHANGES_")}


def _argv(python: Path, case: Case) -> list[str]:
    if case.script:
        return [str(python.parent / case.script), *case.argv]
    return [str(python), "-c", case.code, *case.argv]


def _time_once(argv: Sequence[str], cwd: str) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=_env())
    return (time.perf_counter() - start) * 1000.0, proc.returncode


def _modules(python: Path, case: Case, cwd: str) -> tuple[int, list[str]]:
    """Modules loaded at exit, and which of the notable heavy packages are among them."""
    probe = (
        "import atexit, sys\n"
        "def _report():\n"
        "    tops = {m.split('.')[0] for m in sys.modules}\n"
        f"    print('@@modules', len(sys.modules), ','.join(sorted(tops & set({_HEAVY!r}))), file=sys.stderr)\n"
        "atexit.register(_report)\n"
    )
    proc = subprocess.run(
        [str(python), "-c", probe + case.code, *case.argv], capture_output=True, text=True, cwd=cwd, env=_env()
    )
    for line in proc.stderr.splitlines():
        if line.startswith("@@modules"):
            parts = line.split(" ", 2)
            return int(parts[1]), [p for p in (parts[2] if len(parts) > 2 else "").split(",") if p]
    raise RuntimeError(f"{case.name}: no module count (exit {proc.returncode})\n{proc.stderr[-2000:]}")


def measure(python: Path, case: Case, runs: int, warmup: int, cwd: str) -> Result:
    """Time ``case`` ``runs`` times after ``warmup`` untimed runs."""
    argv = _argv(python, case)
    for _ in range(warmup):
        _time_once(argv, cwd)
    samples = [_time_once(argv, cwd) for _ in range(runs)]
    modules, heavy = _modules(python, case, cwd)
    return Result(case, [t for t, _ in samples], modules, heavy, samples[-1][1])


def importtime(python: Path, case: Case, top: int, cwd: str) -> list[tuple[int, int, str]]:
    """Where import time goes: the ``top`` packages by summed self time (µs) as (self, modules, package).

    Our own packages (``exchanges``, ``exchange_*``) are split one level deeper,
    so the module to change shows up by name.
    """
    env = _env() | {"PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run([str(python), "-c", case.code, *case.argv], capture_output=True, text=True, cwd=cwd, env=env)
    self_us: dict[str, int] = {}
    count: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line[len("import time:") :].split("|", 2)
        parts = name.strip().split(".")
        key = ".".join(parts[:2]) if parts[0].startswith("exchange") else parts[0]
        self_us[key] = self_us.get(key, 0) + int(own)
        count[key] = count.get(key, 0) + 1
    return sorted(((us, count[key], key) for key, us in self_us.items()), reverse=True)[:top]


def plugins_found(python: Path, cwd: str) -> list[str]:
    """``name (dist version): status`` of every plugin the host finds with this interpreter."""
    code = "import json, exchanges; print(json.dumps([r.as_dict() for r in exchanges.Host().plugins]))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd, env=_env())
    if proc.returncode != 0:
        return [f"(host failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})"]
    return [f"{r['name']} ({r['dist']} {r['version']}): {r['status']}" for r in json.loads(proc.stdout)]


def cases(python: Path) -> list[Case]:
    """The measured commands; the CLI case is skipped when the venv has no ``exchanges`` script."""
    found = [
        Case("python -c pass", "pass"),
        Case("import exchanges", "import exchanges"),
        Case("exchanges.Host().plugins", "import exchanges; exchanges.Host().plugins"),
    ]
    if (python.parent / "exchanges").exists():
        found.append(Case("exchanges plugins --json", _CLI, ("plugins", "--json"), script="exchanges"))
    return found


def _default_python() -> Path:
    candidate = REPO / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    return candidate if candidate.exists() else Path(sys.executable)


def _fmt_table(results: list[Result], markdown: bool) -> list[str]:
    base = results[0]
    header = ["command", "median ms", "min ms", "median vs bare, ms", "modules", "modules vs bare", "heavy packages loaded"]
    rows = []
    for r in results:
        delta = "—" if r is base else f"{r.median - base.median:+.1f}"
        dmods = "—" if r is base else f"{r.modules - base.modules:+d}"
        name = f"`{r.case.name}`" if markdown else r.case.name
        if r.rc != 0:
            name += f" (exit {r.rc})"
        rows.append([name, f"{r.median:.1f}", f"{r.best:.1f}", delta, str(r.modules), dmods, ", ".join(r.heavy) or "none"])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return lines + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
    return ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in [header, *rows]]


def _verdicts(results: list[Result]) -> list[str]:
    by_name = {r.case.name: r for r in results}
    base = by_name["python -c pass"].median
    lines = []
    imp = by_name["import exchanges"].median - base
    lines.append(f"`import exchanges`: {imp:.1f} ms above bare Python (target < {IMPORT_TARGET_MS:.0f} ms): "
                 f"{'met' if imp < IMPORT_TARGET_MS else 'MISSED'}")
    cli = by_name.get("exchanges plugins --json") or by_name["exchanges.Host().plugins"]
    label = "`exchanges plugins --json`" if cli.case.script else "`Host().plugins` (stand-in: no CLI installed)"
    lines.append(f"{label}: {cli.median:.1f} ms wall (target < {PLUGINS_TARGET_MS:.0f} ms): "
                 f"{'met' if cli.median < PLUGINS_TARGET_MS else 'MISSED'}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a table (or a Markdown section with ``--markdown``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=_default_python(), help="interpreter of the venv to measure")
    parser.add_argument("-n", "--runs", type=int, default=30, help="timed runs per case (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per case first")
    parser.add_argument("--markdown", action="store_true", help="print a section for bench/RESULTS.md")
    parser.add_argument("--importtime", type=int, metavar="K", default=0, help="also list the K packages that take the most import time per case")
    args = parser.parse_args(argv)
    # Not resolve(): a venv's python is a symlink and must be run through the venv's path.
    python = args.python.absolute()
    if not python.exists():
        parser.error(f"no interpreter at {python}")

    with tempfile.TemporaryDirectory(prefix="cold-start-") as cwd:  # no exchanges.yaml, no repo on sys.path
        todo = cases(python)
        results = [measure(python, case, args.runs, args.warmup, cwd) for case in todo]
        plugins = plugins_found(python, cwd)
        profiles = {c.name: importtime(python, c, args.importtime, cwd) for c in todo[1:]} if args.importtime else {}

    version = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    where = f"Python {version}, {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; " \
            f"{args.runs} runs per case after {args.warmup} warm-up runs; interpreter `{python}`"
    out: list[str] = []
    if args.markdown:
        out += ["## Cold start", "", f"`bench/cold_start.py` ({time.strftime('%Y-%m-%d')}): {where}.", ""]
        out += ["Plugins found: " + "; ".join(plugins) + ".", ""]
        out += _fmt_table(results, markdown=True)
        out += [""] + [f"- {v}" for v in _verdicts(results)]
    else:
        out += [where, "plugins: " + "; ".join(plugins), ""]
        out += _fmt_table(results, markdown=False)
        out += ["", *_verdicts(results)]
    for name, rows in profiles.items():
        title = f"Import time of `{name}` by package (`-X importtime`, summed self time):"
        out += ["", title, ""]
        fence = ["```"] if args.markdown else []
        out += [*fence, f"{'ms':>7} {'modules':>8}  package"]
        out += [f"{us / 1000:>7.1f} {n:>8}  {package}" for us, n, package in rows] + fence
    print("\n".join(out).replace("`", "") if not args.markdown else "\n".join(out))
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
