"""One behavioural test per hookspec (the meta-tests require a ``test_hook_<name>`` for each)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from core_toys import ToyPlugin, toy_descriptor
from exchanges import EndpointCost, Host, PluginLoadError, RateLimitRule, hookimpl


def test_hook_register_exchanges(host: Host) -> None:
    """Descriptors registered through register_exchanges are available by id."""
    host.register(ToyPlugin(toy_descriptor("alpha")), "alpha-plugin")
    assert host.descriptor("alpha").name == "Toy venue"


def test_hook_register_symbol_mappers(host: Host) -> None:
    """A mapper registered for an id is returned by the host and used to map symbols both ways."""

    class Upper:
        def normalize(self, raw: str) -> str:
            return raw.replace("-", "/")

        def denormalize(self, symbol: str) -> str:
            return symbol.replace("/", "-")

    class P:
        @hookimpl
        def register_symbol_mappers(self, register):  # type: ignore[no-untyped-def]
            register("toy", Upper())

    host.register(P(), "mapper-plugin")
    mapper = host.symbol_mapper("toy")
    assert mapper is not None and mapper.normalize("BTC-USDT") == "BTC/USDT" and mapper.denormalize("ETH/USDC") == "ETH-USDC"


def test_hook_register_rate_limits(host: Host) -> None:
    """Rules and endpoint costs are collected per exchange id; an override replaces a rule."""
    base = RateLimitRule("weight", 6000, 60)

    class Base:
        @hookimpl
        def register_rate_limits(self, register):  # type: ignore[no-untyped-def]
            register("toy", base)
            register("toy", RateLimitRule("orders", 10, 1, scope="account"))
            register("toy", EndpointCost("GET /depth", {"weight": 5}))

    class Vip:
        @hookimpl
        def register_rate_limits(self, register):  # type: ignore[no-untyped-def]
            register("toy", RateLimitRule("weight", 12000, 60), override=True)

    host.register(Base(), "base")
    assert host.rate_limit_rules("toy") == [RateLimitRule("orders", 10, 1, scope="account"), base]
    host.register(Vip(), "vip")
    assert [r.limit for r in host.rate_limit_rules("toy")] == [10, 12000]
    assert dict(host.endpoint_costs("toy")["GET /depth"].costs) == {"weight": 5}


def test_hook_register_rate_limits_rejects_bad_items(host: Host) -> None:
    """A rule with an invalid value cannot even be built; a non-rule item fails the plugin."""
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        RateLimitRule("weight", 0, 60)

    class Bad:
        @hookimpl
        def register_rate_limits(self, register):  # type: ignore[no-untyped-def]
            register("toy", ("weight", 10, 1))

    assert "expected a RateLimitRule or EndpointCost" in (host.register(Bad(), "bad").error or "")


def test_hook_register_sinks(host: Host) -> None:
    """Sink factories are registered by name; a duplicate name fails the second plugin."""

    def factory(**options: object) -> object:
        return options

    class P:
        @hookimpl
        def register_sinks(self, register):  # type: ignore[no-untyped-def]
            register("memory", factory)

    host.register(P(), "sinks-1")
    assert host.sinks["memory"] is factory
    dup = host.register(P(), "sinks-2")
    assert dup.status == "failed" and "'sinks-1'" in (dup.error or "") and "'sinks-2'" in (dup.error or "")


def test_hook_register_commands(host: Host) -> None:
    """A plugin adds a CLI command; a plugin whose hook raises is marked failed and the rest still works."""

    class Adds:
        @hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command()
            def hello() -> None:
                click.echo("hello from a plugin")

    class Breaks:
        @hookimpl
        def register_commands(self, cli):  # type: ignore[no-untyped-def]
            @cli.command()
            def half() -> None:
                pass

            raise RuntimeError("no commands for you")

    host.register(Adds(), "adds")
    host.register(Breaks(), "breaks")
    group = click.Group("exchanges")
    host.add_commands(group)
    assert sorted(group.commands) == ["hello"]
    assert CliRunner().invoke(group, ["hello"]).output == "hello from a plugin\n"
    assert host.plugin("breaks").status == "failed"


def test_hook_resolve_credentials(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first plugin answer wins and the environment provider answers only when no plugin does."""
    monkeypatch.setenv("EXCHANGES_TOY_API_KEY", "env-key")
    monkeypatch.setenv("EXCHANGES_TOY_SECRET", "env-secret")
    assert dict(host.resolve_credentials("toy") or {}) == {"api_key": "env-key", "secret": "env-secret"}

    class Vault:
        @hookimpl
        def resolve_credentials(self, exchange_id, account):  # type: ignore[no-untyped-def]
            if exchange_id == "toy" and account == "main":
                return {"api_key": "vault-key", "secret": "vault-secret"}
            return None

    host.register(Vault(), "vault")
    assert dict(host.resolve_credentials("toy", "main") or {}) == {"api_key": "vault-key", "secret": "vault-secret"}
    assert dict(host.resolve_credentials("toy") or {})["api_key"] == "env-key"
    monkeypatch.setenv("EXCHANGES_TOY_SUB_API_KEY", "sub-key")
    assert dict(host.resolve_credentials("toy", "sub") or {}) == {"api_key": "sub-key"}


def test_hook_resolve_credentials_isolates_failing_providers(host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider that raises or answers empty is skipped; the next provider (here the environment) answers."""
    monkeypatch.setenv("EXCHANGES_TOY_API_KEY", "env-key")

    class Broken:
        @hookimpl(tryfirst=True)
        def resolve_credentials(self, exchange_id, account):  # type: ignore[no-untyped-def]
            raise ConnectionError("vault unreachable")

    class Empty:
        @hookimpl
        def resolve_credentials(self, exchange_id, account):  # type: ignore[no-untyped-def]
            return {}

    host.register(Broken(), "broken-vault")
    host.register(Empty(), "empty-vault")
    assert dict(host.resolve_credentials("toy") or {}) == {"api_key": "env-key"}
    host.strict = True
    with pytest.raises(PluginLoadError, match="'broken-vault' failed in resolve_credentials"):
        host.resolve_credentials("toy")
