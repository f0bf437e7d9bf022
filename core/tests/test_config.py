"""The YAML configuration: interpolation, located errors, discovery, redaction and use by connect()."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from exchanges import BaseExchange, ConfigError, Credentials, ExchangeDescriptor, Host, RateLimitRule, connect, hookimpl
from exchanges.config import Config, ConfigFileError, ExchangeConfig, load_config, parse_config

SECRET = "sk-live-9f8e7d6c5b4a"  # a value that must never show up in a repr or a message


def write(directory: Path, text: str, name: str = "exchanges.yaml") -> Path:
    """Write a dedented config file and return its path."""
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, text: str, **environ: str) -> Config:
    """Load ``text`` from a file with only ``environ`` as the environment."""
    return load_config(write(directory, text), environ=environ)


def error(directory: Path, text: str, **environ: str) -> ConfigFileError:
    """The ConfigFileError that loading ``text`` raises."""
    with pytest.raises(ConfigFileError) as info:
        load(directory, text, **environ)
    return info.value


def section(account_value: str) -> str:
    """A one-venue file whose ``account`` is ``account_value``, written as is."""
    return f"exchanges:\n  binance:\n    account: {account_value}\n"


# -- interpolation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "environ", "expected"),
    [
        ("${ACC}", {"ACC": "main"}, "main"),
        ("${ACC:-fallback}", {}, "fallback"),
        ("${ACC:-fallback}", {"ACC": ""}, "fallback"),
        ("${ACC:-fallback}", {"ACC": "set"}, "set"),
        ("pre-${ACC}-${N}", {"ACC": "a", "N": "7"}, "pre-a-7"),
        ("pa$$word", {}, "pa$word"),
        ("'$${ACC}'", {"ACC": "x"}, "${ACC}"),
        ("cost $5", {}, "cost $5"),
        ("!!str ${N}", {"N": "007"}, "007"),
    ],
)
def test_interpolation_of_strings(tmp_path: Path, written: str, expected: str, environ: dict[str, str]) -> None:
    """`${VAR}`, `${VAR:-default}` (also for an empty VAR), `$$` and a lone `$` give the expected text."""
    assert load(tmp_path, section(written), **environ).exchanges["binance"].account == expected


@pytest.mark.parametrize(
    ("line", "environ", "field", "expected"),
    [
        ("testnet: ${USE_TESTNET:-false}", {}, "testnet", False),
        ("testnet: ${USE_TESTNET:-false}", {"USE_TESTNET": "true"}, "testnet", True),
        ("testnet: ${USE_TESTNET:-}", {}, "testnet", None),
        ("options: {recv_window: '${RW}'}", {"RW": "5000"}, "options", {"recv_window": "5000"}),
        ("options:\n      recv_window: ${RW}", {"RW": "5000"}, "options", {"recv_window": 5000}),
        ("options:\n      ratio: ${R:-0.5}", {}, "options", {"ratio": 0.5}),
    ],
)
def test_interpolated_values_are_typed_afterwards(
    tmp_path: Path, line: str, environ: dict[str, str], field: str, expected: object
) -> None:
    """An unquoted `${...}` is typed by YAML after substitution (bool, int, null); a quoted one stays a string."""
    cfg = load(tmp_path, f"exchanges:\n  binance:\n    {line}\n", **environ)
    assert getattr(cfg.exchanges["binance"], field) == expected


def test_rate_limit_numbers_may_come_from_the_environment(tmp_path: Path) -> None:
    """`limit: ${LIMIT:-1200}` becomes the integer of the variable, or of the default."""
    text = "exchanges:\n  binance:\n    rate_limits:\n      - key: weight\n        limit: ${LIMIT:-1200}\n        window: 60\n"
    assert load(tmp_path, text).exchanges["binance"].rate_limits[0].limit == 1200
    assert load(tmp_path, text, LIMIT="600").exchanges["binance"].rate_limits[0].limit == 600


@pytest.mark.parametrize(
    ("text", "line", "key", "variable"),
    [
        (section("${ACCOUNT}"), 3, "exchanges.binance.account", "ACCOUNT"),
        ("exchanges:\n  binance:\n    credentials:\n      api_key: ${BINANCE_API_KEY}\n", 4,
         "exchanges.binance.credentials.api_key", "BINANCE_API_KEY"),
        ("exchanges:\n  okx:\n    rate_limits:\n      - key: ${RULE_KEY}\n", 4, "exchanges.okx.rate_limits[0].key", "RULE_KEY"),
    ],
)
def test_missing_variable_names_variable_key_file_and_line(
    tmp_path: Path, text: str, line: int, key: str, variable: str
) -> None:
    """A `${VAR}` with VAR unset and no default is an error naming VAR, the key and file:line."""
    exc = error(tmp_path, text)
    assert str(exc).startswith(f"{tmp_path / 'exchanges.yaml'}:{line}: {key}: environment variable {variable} is not set")
    assert (exc.line, exc.key, exc.file) == (line, key, str(tmp_path / "exchanges.yaml"))


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("${1BAD}", "bad variable reference '${1BAD}'"),
        ("${ACC:default}", "bad variable reference '${ACC:default}'"),
        ("${}", "bad variable reference '${}'"),
        ("x${ACC", "'${' is not closed by '}'"),
    ],
)
def test_malformed_reference_is_an_error(tmp_path: Path, written: str, message: str) -> None:
    """A malformed `${...}` is reported at its line instead of being taken literally."""
    assert f"exchanges.yaml:3: exchanges.binance.account: {message}" in str(error(tmp_path, section(written)))


# -- located errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key", "hint"),
    [
        ("exchangez: {}\n", 1, "exchangez", "did you mean 'exchanges'?"),
        ("defaults:\n  testnet: true\n  endpoints: {rest: 'http://x'}\n", 3, "defaults.endpoints",
         "valid keys: account, options, testnet"),
        ("exchanges:\n  binance:\n    account: a\n    testnett: true\n", 4, "exchanges.binance.testnett",
         "did you mean 'testnet'?"),
        ("exchanges:\n  binance:\n    credentials:\n      apikey: abc\n", 4, "exchanges.binance.credentials.apikey",
         "did you mean 'api_key'?"),
        ("exchanges:\n  binance:\n    rate_limits:\n      - key: w\n        limit: 1\n        window: 1\n        scopes: ip\n",
         7, "exchanges.binance.rate_limits[0].scopes", "did you mean 'scope'?"),
    ],
)
def test_unknown_key_at_each_level(tmp_path: Path, text: str, line: int, key: str, hint: str) -> None:
    """An unknown key anywhere is an error naming the key, the file and the line, with a hint."""
    message = str(error(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'exchanges.yaml'}:{line}: {key}: unknown key")
    assert hint in message


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ("testnet: maybe", "testnet", "expected a boolean (true or false), got 'maybe'"),
        ("testnet: 1", "testnet", "expected a boolean (true or false), got 1"),
        ("account: [a, b]", "account", "expected a string, got a list"),
        ("endpoints: [http://x]", "endpoints", "expected a mapping, got a list"),
        ("endpoints: {rest: 127.0.0.1}", "endpoints.rest", "expected a URL such as http://127.0.0.1:8080, got '127.0.0.1'"),
        ("endpoints: {rest: ~}", "endpoints.rest", "expected a string, got null"),
        ("rate_limits: {key: weight}", "rate_limits", "expected a list, got a mapping"),
        ("rate_limits: [{key: w, limit: lots, window: 1}]", "rate_limits[0].limit", "expected an integer, got 'lots'"),
        ("rate_limits: [{key: w, limit: 1.5, window: 1}]", "rate_limits[0].limit", "expected an integer, got 1.5"),
        ("rate_limits: [{key: w, limit: 1, window: soon}]", "rate_limits[0].window", "expected a number, got 'soon'"),
        ("options: 5", "options", "expected a mapping, got 5"),
    ],
)
def test_wrong_type_names_key_file_line_and_value(tmp_path: Path, body: str, key: str, message: str) -> None:
    """A value of the wrong type is an error naming the key, file:line and what was found."""
    exc = error(tmp_path, f"exchanges:\n  binance:\n    # the value under test\n    {body}\n")
    assert str(exc) == f"{tmp_path / 'exchanges.yaml'}:4: exchanges.binance.{key}: {message}"


def test_interpolated_bad_value_says_where_it_came_from(tmp_path: Path) -> None:
    """A bad value that came from a variable names the variable too."""
    exc = error(tmp_path, "exchanges:\n  binance:\n    testnet: ${USE_TESTNET}\n", USE_TESTNET="maybe")
    assert "exchanges.yaml:3: exchanges.binance.testnet: expected a boolean (true or false), got 'maybe' (from ${USE_TESTNET})" in str(exc)


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        ("exchanges:\n  Binance: {}\n", 2, "exchanges.Binance", "an exchange id is lowercase letters"),
        ("exchanges:\n  - binance\n", 2, "exchanges", "expected a mapping, got a list"),
        ("exchanges:\n  binance: [testnet]\n", 2, "exchanges.binance", "expected a mapping, got a list"),
        ("- exchanges\n", 1, "", "expected a mapping, got a list"),
        ("exchanges:\n  binance:\n    testnet: true\n    testnet: false\n", 4, "exchanges.binance.testnet",
         "duplicate key (first given at line 3)"),
        ("exchanges:\n  binance:\n    testnet: !!int x\n", 3, "exchanges.binance.testnet", "cannot read the value tagged"),
        ("exchanges: !!set {binance}\n", 1, "exchanges", "unsupported YAML tag"),
    ],
)
def test_structural_errors_are_located(tmp_path: Path, text: str, line: int, key: str, message: str) -> None:
    """Bad exchange ids, wrong shapes, duplicate keys and unsupported tags are located errors."""
    exc = error(tmp_path, text)
    prefix = f"{tmp_path / 'exchanges.yaml'}:{line}: " + (f"{key}: " if key else "")
    assert str(exc).startswith(prefix + message), str(exc)


@pytest.mark.parametrize(
    ("rule", "key", "message"),
    [
        ("{key: weight, limit: 0, window: 60}", "[0].limit", "RateLimitRule.limit must be a positive integer, got 0"),
        ("{key: weight, limit: 10, window: -1}", "[0].window", "RateLimitRule.window must be a positive number of seconds, got -1"),
        ("{key: weight, limit: 10, window: 60, scope: global}", "[0].scope", "'scope' must be in"),
        ("{key: weight, limit: 10, window: 60, kind: sliding}", "[0].kind", "'kind' must be in"),
        ("{key: '', limit: 10, window: 60}", "[0].key", "RateLimitRule.key must be a non-empty string"),
        ("{key: weight, window: 60}", "[0]", "missing key 'limit'"),
        ("{key: weight, limit: , window: 60}", "[0].limit", "missing value"),
    ],
)
def test_bad_rate_limit_rule_is_a_located_error(tmp_path: Path, rule: str, key: str, message: str) -> None:
    """A rate-limit override that RateLimitRule refuses is reported with file:line and the rule's key."""
    exc = error(tmp_path, f"exchanges:\n  binance:\n    rate_limits:\n      - {{key: ok, limit: 1, window: 1}}\n      - {rule}\n")
    key = key.replace("[0]", "[1]")
    assert str(exc).startswith(f"{tmp_path / 'exchanges.yaml'}:5: exchanges.binance.rate_limits{key}: {message}")


def test_rate_limit_overrides_become_rules(tmp_path: Path) -> None:
    """Rules are structured into RateLimitRule with their defaults; quoted numbers are accepted."""
    cfg = load(tmp_path, """
        exchanges:
          binance:
            rate_limits:
              - {key: weight, limit: 1200, window: 60}
              - {key: orders, limit: "10", window: "0.5", scope: account, kind: fixed}
        """)
    assert cfg.exchanges["binance"].rate_limits == (
        RateLimitRule("weight", 1200, 60),
        RateLimitRule("orders", 10, 0.5, scope="account", kind="fixed"),
    )


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    """One error lists every problem of the file, sorted by line; the first sets line and key."""
    exc = error(tmp_path, """
        exchanges:
          binance:
            testnet: maybe
            endpoints: {rest: nope}
          okx:
            accont: x
        extra: 1
        """)
    assert [(p.line, p.key) for p in exc.problems] == [
        (3, "exchanges.binance.testnet"), (4, "exchanges.binance.endpoints.rest"),
        (6, "exchanges.okx.accont"), (7, "extra"),
    ]
    assert str(exc).splitlines()[0] == f"{exc.file}:3: exchanges.binance.testnet: expected a boolean (true or false), got 'maybe'"
    assert (exc.line, exc.key) == (3, "exchanges.binance.testnet")
    assert isinstance(exc, ConfigError)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("exchanges:\n  binance:\n    account: 'unclosed\n    testnet: true\n", 5),
        ("exchanges:\n  binance:\n  account: a\n    testnet: true\n", 4),
        ("exchanges:\n\tbinance: {}\n", 2),
        ("a: 1\n---\nb: 2\n", 2),
        ("exchanges:\n  binance:\n    account: \x07\n", 3),
    ],
)
def test_yaml_syntax_error_is_a_config_error_with_line(tmp_path: Path, text: str, line: int) -> None:
    """A YAML syntax error becomes a ConfigFileError at file:line, not a yaml exception."""
    exc = error(tmp_path, text)
    assert exc.line == line
    assert str(exc).startswith(f"{tmp_path / 'exchanges.yaml'}:{line}: invalid YAML: ")


def test_parse_config_names_its_source(tmp_path: Path) -> None:
    """parse_config() reads text directly and uses ``source`` in messages."""
    assert parse_config("exchanges: {binance: {testnet: yes}}", environ={}).exchanges["binance"].testnet is True
    with pytest.raises(ConfigFileError, match=r"^inline:1: exchanges\.binance\.testnet: expected a boolean"):
        parse_config("exchanges: {binance: {testnet: maybe}}", source="inline", environ={})


# -- shapes: defaults, anchors, empty sections -----------------------------------------------------------


def test_defaults_are_merged_into_every_exchange(tmp_path: Path) -> None:
    """`defaults:` fills what a section leaves unset (options key by key) and answers for unlisted venues."""
    cfg = load(tmp_path, """
        defaults:
          testnet: true
          account: paper
          options: {timeout: 10, recv_window: 5000}
        exchanges:
          binance:
            testnet: false
            options: {recv_window: 1000}
          okx:
        """)
    binance, okx, hyper = cfg.exchange("binance"), cfg.exchange("okx"), cfg.exchange("hyperliquid")
    assert binance == ExchangeConfig(testnet=False, account="paper", options={"timeout": 10, "recv_window": 1000})
    assert okx == ExchangeConfig(testnet=True, account="paper", options={"timeout": 10, "recv_window": 5000})
    assert hyper == okx


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    """YAML anchors (held under a top-level `x-` key) and `<<:` merges work; the section's own keys win."""
    cfg = load(tmp_path, """
        x-common: &common
          testnet: true
          account: shared
        exchanges:
          binance:
            <<: *common
            account: own
          okx: *common
        """)
    assert (cfg.exchanges["binance"].testnet, cfg.exchanges["binance"].account) == (True, "own")
    assert (cfg.exchanges["okx"].testnet, cfg.exchanges["okx"].account) == (True, "shared")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "exchanges:\n", "exchanges: {}\n"])
def test_empty_files_give_an_empty_config(tmp_path: Path, text: str) -> None:
    """An empty file (or empty `exchanges:`) is a config with no sections."""
    cfg = load(tmp_path, text)
    assert cfg.exchanges == {} and cfg.exchange("binance") is None
    assert cfg.source == str(tmp_path / "exchanges.yaml")


def test_credentials_keep_the_text_as_written(tmp_path: Path) -> None:
    """Credential values stay exact strings (no YAML number reading); empty or null ones are dropped."""
    cfg = load(tmp_path, """
        exchanges:
          binance:
            credentials: {api_key: 0123, secret: 0x1f, passphrase: ~}
          hyperliquid:
            credentials:
              private_key: ${HL_KEY}
              vault_address: ${HL_VAULT:-}
          okx:
            credentials: {api_key: "${OKX_KEY:-}"}
        """, HL_KEY="0x00ff")
    assert dict(cfg.exchanges["binance"].credentials or {}) == {"api_key": "0123", "secret": "0x1f"}
    assert dict(cfg.exchanges["hyperliquid"].credentials or {}) == {"private_key": "0x00ff"}
    assert cfg.exchanges["okx"].credentials is None


# -- discovery --------------------------------------------------------------------------------------------


def test_exchanges_config_variable_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$EXCHANGES_CONFIG is used when no path is given, before ./exchanges.yaml."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, section("from-cwd"))
    named = write(tmp_path, section("from-env"), "other.yaml")
    cfg = load_config(environ={"EXCHANGES_CONFIG": str(named)})
    assert (cfg.source, cfg.exchanges["binance"].account) == (str(named), "from-env")


def test_exchanges_config_must_exist(tmp_path: Path) -> None:
    """$EXCHANGES_CONFIG naming a missing file is an error naming it."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"EXCHANGES_CONFIG names '{missing}'"):
        load_config(environ={"EXCHANGES_CONFIG": str(missing)})


def test_default_file_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a path or $EXCHANGES_CONFIG, ./exchanges.yaml is read when present, else the config is empty."""
    monkeypatch.chdir(tmp_path)
    assert load_config(environ={}) == Config()
    write(tmp_path, section("from-cwd"))
    cfg = load_config(environ={})
    assert (cfg.source, cfg.exchanges["binance"].account) == (str(tmp_path / "exchanges.yaml"), "from-cwd")


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "does not exist"), ("directory", "cannot be read: Is a directory"), ("binary", "is not UTF-8 text"),
])
def test_explicit_path_must_be_a_readable_file(tmp_path: Path, kind: str, message: str) -> None:
    """An explicit path that does not exist, is a directory or is not UTF-8 is a ConfigError naming it."""
    path = {"missing": tmp_path / "missing.yaml", "directory": tmp_path, "binary": tmp_path / "bin.yaml"}[kind]
    if kind == "binary":
        path.write_bytes(b"exchanges: \xff\xfe\n")
    with pytest.raises(ConfigError, match=f"configuration file '{path}' {message}"):
        load_config(path, environ={})


# -- secrets ------------------------------------------------------------------------------------------------


def test_repr_never_shows_credentials(tmp_path: Path) -> None:
    """repr() and str() of the config and its sections list credential keys, never their values."""
    cfg = load(tmp_path, """
        exchanges:
          binance:
            credentials:
              api_key: ${KEY}
              secret: literal-secret-value
        """, KEY=SECRET)
    assert cfg.exchanges["binance"].credentials == {"api_key": SECRET, "secret": "literal-secret-value"}
    for text in (repr(cfg), str(cfg), repr(cfg.exchanges), repr(cfg.exchange("binance"))):
        assert SECRET not in text and "literal-secret-value" not in text
        assert "api_key=<redacted>" in text


@pytest.mark.parametrize(
    "credentials",
    [
        f"credentials: {SECRET}",
        f"credentials: {{api_key: [{SECRET}]}}",
        f"credentials: {{api_key: {{k: {SECRET}}}}}",
        f"credentials: {{apikey: {SECRET}}}",
        f"credentials: {{api_key: '${{KEY:{SECRET}}}'}}",
        f"credentials: {{api_key: '{SECRET}",
        "credentials:\n      api_key: ${KEY}\n    testnet: maybe",
        f"credentials: {{api_key: {SECRET}}}\n    endpoints: {{rest: {SECRET}}}",
    ],
)
def test_errors_never_echo_credential_values(tmp_path: Path, credentials: str) -> None:
    """Errors about (or next to) credentials never quote the secret, whether written or interpolated."""
    exc = error(tmp_path, f"exchanges:\n  binance:\n    {credentials}\n", KEY=SECRET)
    assert "exchanges.yaml:" in str(exc)
    assert SECRET not in "".join(traceback.format_exception(exc)) and SECRET not in repr(exc)


# -- connect() ------------------------------------------------------------------------------------------------


class CapturingExchange(BaseExchange):
    """A connector that only keeps the context connect() built."""


class ConfigToyPlugin:
    """An in-process plugin with one venue that has rest/ws endpoints and a testnet."""

    @hookimpl
    def register_exchanges(self, register) -> None:  # type: ignore[no-untyped-def]
        register(ExchangeDescriptor(
            id="cfgtoy", name="Config toy", kind="cex", products=["spot"], capabilities=(),
            endpoints={"rest": "https://cfgtoy.example", "ws": "wss://cfgtoy.example/ws"},
            testnet_endpoints={"rest": "https://test.cfgtoy.example", "ws": "wss://test.cfgtoy.example/ws"},
            connector=CapturingExchange,
        ))


@pytest.fixture
def cfg_host(host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    """A host with the config toy registered, in an empty working directory."""
    monkeypatch.chdir(tmp_path)
    host.register(ConfigToyPlugin(), "config-toy")
    return host


CONNECT_FILE = """
    exchanges:
      cfgtoy:
        testnet: true
        account: main
        credentials:
          api_key: ${CFGTOY_KEY}
          secret: ${CFGTOY_SECRET:-}
        endpoints:
          rest: http://127.0.0.1:8080/
        rate_limits:
          - {key: weight, limit: 1200, window: 60}
        options:
          recv_window: 5000
    """


def test_connect_takes_endpoints_testnet_and_credentials_from_the_file(
    cfg_host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connect(config=path) uses the file's testnet, endpoint override, credentials, limits, options, account."""
    monkeypatch.setenv("CFGTOY_KEY", SECRET)
    monkeypatch.delenv("CFGTOY_SECRET", raising=False)
    ex = connect("cfgtoy", host=cfg_host, config=write(tmp_path, CONNECT_FILE, "venues.yaml"))
    ctx = ex.context
    assert isinstance(ex, CapturingExchange)
    assert ctx.testnet is True
    assert ctx.endpoints == {"rest": "http://127.0.0.1:8080", "ws": "wss://test.cfgtoy.example/ws"}
    assert ctx.credentials == {"api_key": SECRET}
    assert ctx.account == "main"
    assert RateLimitRule("weight", 1200, 60) in ctx.rate_limit_rules
    assert ctx.settings == {"recv_window": 5000}


def test_connect_arguments_win_over_the_file(cfg_host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit credentials=, endpoints= and settings override what the file says."""
    monkeypatch.setenv("CFGTOY_KEY", SECRET)
    path = write(tmp_path, CONNECT_FILE, "venues.yaml")
    ctx = connect("cfgtoy", host=cfg_host, config=path, credentials={"api_key": "explicit", "secret": "s"},
                  endpoints={"rest": "http://127.0.0.1:9000"}, recv_window=10).context
    assert ctx.credentials == {"api_key": "explicit", "secret": "s"}
    assert isinstance(ctx.credentials, Credentials) and ctx.credentials.source == "explicit"
    assert ctx.endpoints["rest"] == "http://127.0.0.1:9000"
    assert ctx.settings == {"recv_window": 10}


def test_connect_finds_the_file_through_the_environment(
    cfg_host: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connect() without config= reads $EXCHANGES_CONFIG, and ./exchanges.yaml when that is unset."""
    monkeypatch.setenv("CFGTOY_KEY", "k")
    monkeypatch.setenv("EXCHANGES_CONFIG", str(write(tmp_path, CONNECT_FILE, "venues.yaml")))
    assert connect("cfgtoy", host=cfg_host).context.endpoints["rest"] == "http://127.0.0.1:8080"
    monkeypatch.delenv("EXCHANGES_CONFIG")
    write(tmp_path, "exchanges:\n  cfgtoy:\n    endpoints: {ws: 'ws://127.0.0.1:8081'}\n")
    ctx = connect("cfgtoy", host=cfg_host).context
    assert ctx.endpoints == {"rest": "https://cfgtoy.example", "ws": "ws://127.0.0.1:8081"}


def test_connect_reports_config_errors(cfg_host: Host, tmp_path: Path) -> None:
    """A broken file stops connect() with the located ConfigFileError."""
    path = write(tmp_path, "exchanges:\n  cfgtoy:\n    testnet: maybe\n")
    with pytest.raises(ConfigFileError, match=r"exchanges\.yaml:3: exchanges\.cfgtoy\.testnet: expected a boolean"):
        connect("cfgtoy", host=cfg_host, config=path)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


@pytest.mark.parametrize("index", range(2))
def test_documented_examples_parse(index: int) -> None:
    """Each YAML example of docs/config.md is a valid configuration."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    env = {"BINANCE_API_KEY": "k", "OKX_API_KEY": "o", "OKX_SECRET": "s", "OKX_PASSPHRASE": "p", "HL_PRIVATE_KEY": "0x1"}
    cfg = parse_config(blocks[index], source="docs/config.md", environ=env)
    assert cfg.exchange("binance") is not None and cfg.exchange("binance").testnet is True  # type: ignore[union-attr]


def test_importing_the_module_does_no_work() -> None:
    """`import exchanges.config` loads neither PyYAML nor cattrs (they load on the first parse)."""
    code = "import sys, exchanges.config; print(sorted(m for m in ('yaml', 'cattrs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
