"""vcrpy cassettes for venue REST tests: keys and signatures never written, volatile fields ignored.

::

    from exchanges.testing.cassettes import make_vcr

    vcr = make_vcr(Path(__file__).parent / "cassettes", config=request.config)
    with vcr.use_cassette("order_book.yaml"):
        book = await ex.market_data.order_book("BTC/USDT")

What is scrubbed before anything is written (request and response):

* headers carrying keys, signatures or passphrases (:data:`SECRET_HEADERS`);
* query, form and JSON body parameters named in :data:`SECRET_PARAMS` (JSON
  at any depth: Hyperliquid's ``signature`` object goes whole);
* every literal value passed as ``secrets`` (e.g. ``credentials.secrets()``),
  wherever it appears, percent-encoded or not; ``Set-Cookie`` of responses.

Requests match on method, path, query and body **minus** the volatile
parameters (:data:`VOLATILE_PARAMS`: timestamp, signature, recvWindow, nonce...),
not on host or port, so a cassette recorded on a testnet replays against any
base URL and with any clock.

The record mode comes from, in order: the ``record_mode`` argument, the
pytest option ``--exchanges-record-mode`` (or ``--record-mode`` when
pytest-recording provides it), ``$EXCHANGES_RECORD_MODE``, else ``none``
(replay only, nothing reaches the network). See ``docs/cassettes.md``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson
import vcr
from vcr.request import Request

from ..errors import ConfigError
from ..transport._http_types import SENSITIVE_PARAMS, redact, scrub_query

__all__ = [
    "RECORD_MODES",
    "RECORD_MODE_ENV",
    "REDACTED",
    "SECRET_HEADERS",
    "SECRET_PARAMS",
    "VOLATILE_PARAMS",
    "cassette_secrets",
    "make_vcr",
    "resolve_record_mode",
    "scrub_request",
    "scrub_response",
]

#: What replaces a scrubbed value.
REDACTED = "<redacted>"
#: Environment variable read for the record mode.
RECORD_MODE_ENV = "EXCHANGES_RECORD_MODE"
#: vcrpy record modes.
RECORD_MODES: tuple[str, ...] = ("none", "once", "new_episodes", "all")

#: Request headers whose values are replaced (compared case-insensitively).
SECRET_HEADERS: frozenset[str] = frozenset(
    {
        "x-mbx-apikey", "ok-access-key", "ok-access-sign", "ok-access-passphrase", "authorization",
        "cookie", "x-api-key", "api-key", "x-api-signature", "proxy-authorization",
    }
)
#: Query, form and JSON parameter names whose values are replaced (case-insensitive): the same set
#: the HTTP transport keeps out of its logs.
SECRET_PARAMS: frozenset[str] = SENSITIVE_PARAMS
#: Parameter names ignored when matching (values change on every run).
VOLATILE_PARAMS: frozenset[str] = frozenset(
    {"timestamp", "signature", "recvwindow", "nonce", "expiresafter", "ts", "sign"}
)


def resolve_record_mode(record_mode: str | None = None, *, config: Any = None) -> str:
    """The vcrpy record mode: ``record_mode``, else the pytest option, else ``$EXCHANGES_RECORD_MODE``, else none."""
    mode = record_mode
    if mode is None and config is not None:
        for option in ("exchanges_record_mode", "record_mode"):
            try:
                mode = config.getoption(option)
            except (ValueError, AttributeError):
                continue
            if mode:
                break
    if not mode:
        mode = os.environ.get(RECORD_MODE_ENV) or "none"
    mode = mode.strip().lower().replace("-", "_")
    if mode not in RECORD_MODES:
        raise ConfigError(f"record mode {mode!r} is not one of {', '.join(RECORD_MODES)}")
    return mode


def _scrub_json(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in names else _scrub_json(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_json(v, names) for v in value]
    return value


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes | bytearray):
        try:
            return bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return body if isinstance(body, str) else None


def _looks_like_form(text: str, content_type: str) -> bool:
    if "x-www-form-urlencoded" in content_type:
        return True
    # no declared type (or octet-stream): a body of k=v pairs without spaces is treated as a form
    return "json" not in content_type and "=" in text and not any(c.isspace() for c in text)


def _scrub_body(body: Any, names: frozenset[str], secrets: Iterable[str], content_type: str = "") -> Any:
    text = _body_text(body)
    if text is None or not text:
        return body
    if text.lstrip()[:1] in ("{", "["):
        try:
            text = orjson.dumps(_scrub_json(orjson.loads(text), names)).decode()
        except orjson.JSONDecodeError:
            pass
    elif _looks_like_form(text, content_type):
        text = scrub_query(text, sensitive=names)
    text = redact(text, secrets)
    return text.encode() if isinstance(body, bytes | bytearray) else text


def scrub_request(
    request: Request, *, params: frozenset[str] = SECRET_PARAMS, headers: frozenset[str] = SECRET_HEADERS,
    secrets: Iterable[str] = (),
) -> Request:
    """A copy of ``request`` with secret headers, parameters (query, form, JSON) and literal secrets replaced."""
    request = copy.deepcopy(request)
    secrets = tuple(secrets)
    for name in list(request.headers):
        if name.lower() in headers:
            request.headers[name] = REDACTED
        else:
            request.headers[name] = redact(str(request.headers[name]), secrets)
    parts = urlsplit(request.uri)
    if parts.query:
        request.uri = urlunsplit(parts._replace(query=scrub_query(parts.query, sensitive=params)))
    request.uri = redact(request.uri, secrets)
    content_type = str(request.headers.get("Content-Type", "")).lower()
    request.body = _scrub_body(request.body, params, secrets, content_type)
    return request


def scrub_response(response: dict[str, Any], *, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """A copy of a recorded response without cookies and without any literal secret in headers or body."""
    response = copy.deepcopy(response)
    secrets = tuple(secrets)
    headers = response.get("headers") or {}
    for name in list(headers):
        if name.lower() == "set-cookie":
            del headers[name]
        else:
            headers[name] = [redact(str(v), secrets) for v in headers[name]]
    body = response.get("body") or {}
    if "string" in body:
        text = _body_text(body["string"])
        if text is not None:
            text = redact(text, secrets)
            body["string"] = text.encode() if isinstance(body["string"], bytes) else text
    return response


def _stable_pairs(pairs: Iterable[tuple[str, str]], volatile: frozenset[str]) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in pairs if k.lower() not in volatile)


def _stable_body(request: Request, volatile: frozenset[str]) -> Any:
    body = request.body_bytes if hasattr(request, "body_bytes") else request.body
    text = _body_text(body)
    if text is None:
        return body
    if not text:
        return ""
    if text.lstrip()[:1] in ("{", "["):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k.lower() not in volatile}
        return value
    if _looks_like_form(text, str(request.headers.get("Content-Type", "")).lower()):
        return _stable_pairs(parse_qsl(text, keep_blank_values=True), volatile)
    return text


def make_vcr(
    cassette_dir: str | os.PathLike[str],
    record_mode: str | None = None,
    *,
    config: Any = None,
    extra_secret_params: Iterable[str] = (),
    extra_secret_headers: Iterable[str] = (),
    extra_volatile_params: Iterable[str] = (),
    secrets: Iterable[str] = (),
    match_body: bool = True,
) -> vcr.VCR:
    """A ``vcr.VCR`` writing YAML cassettes under ``cassette_dir`` that never hold keys or signatures.

    :param record_mode: see :func:`resolve_record_mode` (``config`` is the pytest config).
    :param extra_secret_params: more parameter names to scrub (e.g. ``"listenKey"``).
    :param extra_secret_headers: more header names to scrub.
    :param extra_volatile_params: more parameter names ignored when matching.
    :param secrets: literal values to scrub wherever they appear (``credentials.secrets()``).
    :param match_body: match on the body minus volatile fields too (needed for
        Hyperliquid, whose ``/info`` requests differ by body only).

    Per-cassette options go to ``use_cassette`` as usual, e.g.
    ``use_cassette("book", allow_playback_repeats=True)`` to let one recorded
    answer serve several identical requests.
    """
    mode = resolve_record_mode(record_mode, config=config)
    params = SECRET_PARAMS | {p.lower() for p in extra_secret_params}
    headers = SECRET_HEADERS | {h.lower() for h in extra_secret_headers}
    volatile = VOLATILE_PARAMS | {p.lower() for p in extra_volatile_params} | params
    literal = tuple(secrets)

    def before_record_request(request: Request) -> Request:
        return scrub_request(request, params=params, headers=headers, secrets=literal)

    def before_record_response(response: dict[str, Any]) -> dict[str, Any]:
        return scrub_response(response, secrets=literal)

    def stable_query(r1: Request, r2: Request) -> None:
        assert _stable_pairs(r1.query, volatile) == _stable_pairs(r2.query, volatile), "query differs"

    def stable_body(r1: Request, r2: Request) -> None:
        assert _stable_body(r1, volatile) == _stable_body(r2, volatile), "body differs"

    recorder = vcr.VCR(
        cassette_library_dir=str(Path(cassette_dir)),
        record_mode=mode,
        serializer="yaml",
        path_transformer=vcr.VCR.ensure_suffix(".yaml"),
        before_record_request=before_record_request,
        before_record_response=before_record_response,
        decode_compressed_response=True,
    )
    recorder.register_matcher("stable_query", stable_query)
    recorder.register_matcher("stable_body", stable_body)
    recorder.match_on = ("method", "path", "stable_query", *(("stable_body",) if match_body else ()))
    return recorder


def cassette_secrets(credentials: Mapping[str, str] | None) -> tuple[str, ...]:
    """The literal values of ``credentials`` to pass as ``secrets`` (empty without credentials)."""
    return tuple(v for v in (credentials or {}).values() if v)
