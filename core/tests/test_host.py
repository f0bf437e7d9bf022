"""The plugin host: isolation, statuses, allow/deny lists, strict mode, registries."""

from __future__ import annotations

import importlib.metadata as md
import sys
import types

import pytest

from core_toys import ToyPlugin, toy_descriptor
from exchanges import Host, PluginLoadError, UnknownExchange, hookimpl
from exchanges._loader import Candidate, check_core_requirement, core_requirement, parse_name_list


class _FakeDist(md.Distribution):
    """A distribution built from text, so version gates run on real metadata parsing."""

    def __init__(self, name: str, version: str, requires: list[str]) -> None:
        self._meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
            f"Requires-Dist: {r}\n" for r in requires
        )

    def read_text(self, filename: str) -> str | None:
        return self._meta if filename in ("METADATA", "PKG-INFO") else None

    def locate_file(self, path):  # type: ignore[no-untyped-def]
        return path


def _candidate(name: str, module: str, dist: md.Distribution) -> Candidate:
    return Candidate(md.EntryPoint(name, module, "exchanges"), dist)


@pytest.fixture
def fake_modules(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Install throwaway plugin modules in sys.modules (removed afterwards)."""

    def add(name: str, module: types.ModuleType) -> None:
        monkeypatch.setitem(sys.modules, name, module)

    return add


def _plugin_module(name: str, exchange_id: str) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def register_exchanges(register):  # type: ignore[no-untyped-def]
        register(toy_descriptor(exchange_id))

    module.register_exchanges = register_exchanges  # type: ignore[attr-defined]
    return module


def test_construction_loads_nothing() -> None:
    """Creating a Host discovers and imports nothing until it is used."""
    host = Host(environ={})
    assert "not loaded" in repr(host)


def test_builtin_plugin_is_always_loaded(host: Host) -> None:
    """The core's own plugin (environment credentials) is listed as built-in and loaded."""
    (record,) = host.plugins
    assert record.builtin and record.status == "loaded"
    assert record.hooks == ["register_sinks", "resolve_credentials"]


def test_registers_descriptor_and_records_owner(toy_host: Host) -> None:
    """A registered descriptor is found by id and attributed to its plugin."""
    assert list(toy_host.exchanges) == ["toy"]
    assert toy_host.owner("toy") == "toy-plugin"
    record = toy_host.plugin("toy-plugin")
    assert record.exchanges == ["toy"] and record.hooks == ["register_exchanges"]


def test_unknown_exchange_lists_known_ids(toy_host: Host) -> None:
    """Asking for an unknown id raises UnknownExchange naming the ids that exist."""
    with pytest.raises(UnknownExchange, match=r"unknown exchange 'nope'; known: toy"):
        toy_host.descriptor("nope")


def test_duplicate_exchange_id_names_both_plugins(toy_host: Host) -> None:
    """A second plugin registering the same id fails with an error naming both plugins; the first stays."""
    record = toy_host.register(ToyPlugin(), "copycat")
    assert record.status == "failed"
    assert "DuplicateRegistration" in record.error
    assert "'toy-plugin'" in record.error and "'copycat'" in record.error
    assert toy_host.owner("toy") == "toy-plugin"


def test_strict_mode_makes_failures_fatal(host: Host) -> None:
    """With strict=True a duplicate registration raises instead of being recorded."""
    host.strict = True
    host.register(ToyPlugin(), "first")
    with pytest.raises(PluginLoadError, match="second"):
        host.register(ToyPlugin(), "second")


def test_hook_that_raises_rolls_back_its_registrations(host: Host) -> None:
    """A plugin whose hook fails half-way registers nothing and is marked failed."""

    class HalfBroken:
        @hookimpl
        def register_exchanges(self, register):  # type: ignore[no-untyped-def]
            register(toy_descriptor("half"))
            raise RuntimeError("boom after the first item")

    record = host.register(HalfBroken(), "half-broken")
    assert record.status == "failed" and record.error == "RuntimeError: boom after the first item"
    assert "half" not in host.exchanges
    assert "Traceback" in (record.traceback or "")


def test_register_validates_items_on_the_spot(host: Host) -> None:
    """Registering something that is not a descriptor fails that plugin with a clear TypeError."""

    class Wrong:
        @hookimpl
        def register_exchanges(self, register):  # type: ignore[no-untyped-def]
            register({"id": "dict-is-not-a-descriptor"})

    record = host.register(Wrong(), "wrong")
    assert record.status == "failed"
    assert record.error == "TypeError: register_exchanges: expected an ExchangeDescriptor, got dict"


def test_unknown_hook_name_fails_plugin(host: Host) -> None:
    """A hookimpl for a hook that does not exist is reported, not silently ignored."""

    class Typo:
        @hookimpl
        def register_exchange(self, register):  # type: ignore[no-untyped-def]  # missing "s"
            pass

    record = host.register(Typo(), "typo")
    assert record.status == "failed" and "register_exchange" in record.error


@pytest.mark.parametrize(
    ("requires", "core", "expected"),
    [
        (["exchange-core>=0.1,<0.2"], "0.1.0", None),
        (["exchange-core>=99"], "0.1.0", "requires exchange-core>=99, running 0.1.0"),
        (["exchange_core<0.1"], "0.1.0", "requires exchange-core<0.1, running 0.1.0"),
        (["exchange-core>=99; extra == 'test'"], "0.1.0", None),
        (["aiohttp>=3"], "0.1.0", None),
        ([], "0.1.0", None),
    ],
)
def test_core_version_gate(requires: list[str], core: str, expected: str | None) -> None:
    """The Requires-Dist on exchange-core is checked with packaging, extras-only requirements ignored."""
    dist = _FakeDist("exchange-x", "1.0", requires)
    assert check_core_requirement(core_requirement(dist), core) == expected


def test_incompatible_plugin_is_never_imported(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin requiring another core version is marked incompatible and its module is not imported."""
    candidate = _candidate("future", "module_that_does_not_exist_xyz", _FakeDist("exchange-future", "2.0", ["exchange-core>=99"]))
    host._load_candidate(candidate)
    record = host.plugin("future")
    assert record.status == "incompatible"
    assert record.error == "IncompatiblePlugin: requires exchange-core>=99, running 0.1.0"
    assert "module_that_does_not_exist_xyz" not in sys.modules


def test_import_failure_is_isolated(host: Host, fake_modules) -> None:  # type: ignore[no-untyped-def]
    """A plugin that fails on import is recorded as failed and the next plugin still loads."""
    fake_modules("good_plugin_mod", _plugin_module("good_plugin_mod", "good"))
    dist = _FakeDist("exchange-x", "1.0", ["exchange-core>=0.1,<0.2"])
    host._load_candidate(_candidate("broken", "no_such_module_abc", dist))
    host._load_candidate(_candidate("good", "good_plugin_mod", dist))
    assert host.plugin("broken").status == "failed"
    assert "ModuleNotFoundError" in (host.plugin("broken").error or "")
    assert host.plugin("good").status == "loaded" and "good" in host.exchanges


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"EXCHANGES_LOAD_PLUGINS": ""}, {"alpha": "blocked", "beta": "blocked"}),
        ({"EXCHANGES_LOAD_PLUGINS": "alpha"}, {"alpha": "loaded", "beta": "blocked"}),
        ({"EXCHANGES_LOAD_PLUGINS": "exchange-beta"}, {"alpha": "blocked", "beta": "loaded"}),
        ({"EXCHANGES_DISABLE_PLUGINS": "beta"}, {"alpha": "loaded", "beta": "blocked"}),
        ({}, {"alpha": "loaded", "beta": "loaded"}),
    ],
)
def test_allow_and_deny_lists(environ: dict[str, str], expected: dict[str, str], fake_modules) -> None:  # type: ignore[no-untyped-def]
    """EXCHANGES_LOAD_PLUGINS (empty = none) and EXCHANGES_DISABLE_PLUGINS match entry-point or dist names."""
    host = Host(environ=environ, discover=False)
    host.load()
    for name in ("alpha", "beta"):
        fake_modules(f"{name}_mod", _plugin_module(f"{name}_mod", name))
        host._load_candidate(_candidate(name, f"{name}_mod", _FakeDist(f"exchange-{name}", "1.0", [])))
    assert {n: host.plugin(n).status for n in ("alpha", "beta")} == expected
    assert sorted(host.exchanges) == sorted(n for n, s in expected.items() if s == "loaded")


def test_strict_env_raises_on_import_failure() -> None:
    """EXCHANGES_STRICT_PLUGINS=1 turns an import failure into PluginLoadError naming the plugin."""
    host = Host(environ={"EXCHANGES_STRICT_PLUGINS": "1"}, discover=False)
    host.load()
    with pytest.raises(PluginLoadError, match="'broken'"):
        host._load_candidate(_candidate("broken", "no_such_module_abc", _FakeDist("exchange-b", "1", [])))


def test_parse_name_list() -> None:
    """Name lists are comma separated, normalised, and an empty string means 'none'."""
    assert parse_name_list(None) is None
    assert parse_name_list("") == set()
    assert parse_name_list(" Exchange_Sim , other ") == {"exchange-sim", "other"}


def test_hosts_do_not_share_state(toy_host: Host) -> None:
    """Two hosts own separate plugin managers: registering on one leaves the other empty."""
    other = Host(discover=False)
    assert "toy" in toy_host.exchanges and other.exchanges == {}
    assert other.plugin_manager is not toy_host.plugin_manager


def test_mapper_override_needs_flag(host: Host) -> None:
    """Replacing a symbol mapper needs override=True; with it the new plugin owns the mapper."""

    class Mapper:
        def normalize(self, raw: str) -> str:
            return raw

        def denormalize(self, symbol: str) -> str:
            return symbol

    def plugin(override: bool) -> object:
        class P:
            @hookimpl
            def register_symbol_mappers(self, register):  # type: ignore[no-untyped-def]
                register("toy", Mapper(), override=override)

        return P()

    host.register(plugin(False), "first")
    refused = host.register(plugin(False), "second")
    assert refused.status == "failed" and "override=True" in (refused.error or "")
    accepted = host.register(plugin(True), "third")
    assert accepted.status == "loaded" and host.mapper_owner("toy") == "third"


def test_import_exchanges_is_cheap() -> None:
    """Importing the package loads no plugin, no aiohttp and no websockets (checked in a fresh interpreter)."""
    import subprocess

    code = (
        "import sys, exchanges; bad = [m for m in sys.modules if m.split('.')[0] in "
        "('aiohttp', 'websockets', 'pluggy', 'exchange_sim', 'rich', 'attrs', 'cattrs')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
