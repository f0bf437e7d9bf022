"""Typing the located tree with cattrs: strict hooks whose errors name the key and the line.

The converter dispatches on the target type (attrs classes, ``X | None``,
``dict[str, X]``, ``tuple[X, ...]``, primitives); each hook checks the shape
of the tree node it receives and raises :class:`~._tree.Problems` located at
that node. Class hooks keep going after a bad field, so one run reports every
problem in the file.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import attrs
import cattrs

from ..credentials import KNOWN_KEYS, Credentials
from ._model import CHECK_KEY, CHECK_VALUE, Config, ExchangeConfig, check_exchange_id
from ._tree import Map, Problem, Problems, Scalar, Seq, describe, to_plain, where

__all__ = ["build_config"]

#: top-level keys with this prefix are ignored (a place for YAML anchors).
EXTENSION_PREFIX = "x-"
_INT = re.compile(r"[+-]?[0-9][0-9_]*\Z")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


@attrs.frozen
class _Defaults:
    """The top-level ``defaults:`` section: only settings that make sense for every venue."""

    testnet: bool | None = None
    account: str | None = None
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class _File:
    """The top level of the file."""

    exchanges: dict[str, ExchangeConfig] = attrs.field(factory=dict, metadata={CHECK_KEY: check_exchange_id})
    defaults: _Defaults | None = None


def build_config(tree: Any, source: str | None) -> Config:
    """Structure a located tree (None for an empty file) into a :class:`Config`; raises :class:`Problems`."""
    if tree is None:
        return Config(source=source)
    if isinstance(tree, Map):
        # Top-level `x-...` keys are free (as in docker compose): a place to define YAML anchors.
        for name in [k for k in tree if k.startswith(EXTENSION_PREFIX)]:
            del tree[name]
    parsed: _File = _converter().structure(tree, _File)
    defaults = None
    if parsed.defaults is not None:
        d = parsed.defaults
        defaults = ExchangeConfig(account=d.account, testnet=d.testnet, options=d.options)
    exchanges = {name: section.merged_over(defaults) for name, section in parsed.exchanges.items()}
    return Config(source=source, exchanges=exchanges, defaults=defaults)


@cache
def _converter() -> cattrs.Converter:
    """The converter (built on first use, never at import)."""
    conv = cattrs.Converter(detailed_validation=False)
    conv.register_structure_hook(str, _to_str)
    conv.register_structure_hook(bool, _to_bool)
    conv.register_structure_hook(int, _to_int)
    conv.register_structure_hook(float, _to_number)
    conv.register_structure_hook(Credentials, _to_credentials)
    conv.register_structure_hook_func(lambda t: t is Any, lambda node, _: to_plain(node))
    conv.register_structure_hook_factory(_is_dict, lambda t: partial(_to_dict, conv, typing.get_args(t)[1]))
    conv.register_structure_hook_factory(_is_sequence, lambda t: partial(_to_sequence, conv, t))
    conv.register_structure_hook_factory(attrs.has, lambda cl: partial(_to_class, conv, attrs.resolve_types(cl)))
    return conv


def _problem(node: Any, message: str) -> Problems:
    line, key = where(node)
    return Problems([Problem(line, key, message)])


def _scalar(node: Any, expected: str) -> Scalar:
    if not isinstance(node, Scalar) or node.value is None:
        raise _problem(node, f"expected {expected}, got {describe(node)}")
    return node


# -- primitives: a scalar spelled as the type (e.g. "1200" from a quoted value) is accepted too --------


def _to_str(node: Any, _: type) -> str:
    # The text as written, not YAML's reading of it: an api key 0123 or 0x1f stays exactly that.
    return _scalar(node, "a string").text


def _to_bool(node: Any, _: type) -> bool:
    value = _scalar(node, "a boolean (true or false)").value
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLS:
        return _BOOLS[value.strip().lower()]
    raise _problem(node, f"expected a boolean (true or false), got {describe(node)}")


def _to_int(node: Any, _: type) -> int:
    value = _scalar(node, "an integer").value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip().replace("_", ""))
    raise _problem(node, f"expected an integer, got {describe(node)}")


def _to_number(node: Any, _: type) -> float:
    value = _scalar(node, "a number").value
    if isinstance(value, str):
        try:
            value = float(value.strip().replace("_", ""))
        except ValueError:
            pass
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise _problem(node, f"expected a number, got {describe(node)}")


def _to_credentials(node: Any, _: type) -> Credentials | None:
    if not isinstance(node, Map):
        raise _problem(node, f"expected a mapping of {', '.join(KNOWN_KEYS)}, got {describe(node)}")
    problems = _unknown_keys(node, KNOWN_KEYS)
    values: dict[str, str] = {}
    for name, child in node.items():
        if name not in KNOWN_KEYS:
            continue
        if isinstance(child, Scalar):
            # null or empty (e.g. `${SECRET:-}` with SECRET unset) means "not given".
            if child.value is not None and child.text:
                values[name] = child.text
        else:
            problems.append(Problem(child.line, child.key, f"expected a string, got {describe(child)}"))
    if problems:
        raise Problems(problems)
    return Credentials(values, source="config") if values else None


# -- containers ---------------------------------------------------------------------------------------


def _is_dict(t: Any) -> bool:
    return typing.get_origin(t) is dict


def _is_sequence(t: Any) -> bool:
    return typing.get_origin(t) in (list, tuple)


def _to_dict(conv: cattrs.Converter, value_type: Any, node: Any, _: type) -> dict[str, Any]:
    if not isinstance(node, Map):
        raise _problem(node, f"expected a mapping, got {describe(node)}")
    result: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, child in node.items():
        try:
            result[name] = conv.structure(child, value_type)
        except Problems as exc:
            problems.extend(exc.problems)
    if problems:
        raise Problems(problems)
    return result


def _to_sequence(conv: cattrs.Converter, target: Any, node: Any, _: type) -> Any:
    if not isinstance(node, Seq):
        raise _problem(node, f"expected a list, got {describe(node)}")
    args = typing.get_args(target)
    item_type = args[0] if args else Any
    items: list[Any] = []
    problems: list[Problem] = []
    for child in node:
        try:
            items.append(conv.structure(child, item_type))
        except Problems as exc:
            problems.extend(exc.problems)
    if problems:
        raise Problems(problems)
    return tuple(items) if typing.get_origin(target) is tuple else items


# -- attrs classes --------------------------------------------------------------------------------------


def _unknown_keys(node: Map, valid: typing.Iterable[str]) -> list[Problem]:
    valid = sorted(valid)
    problems = []
    for name in node:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            key = f"{node.key}.{name}" if node.key else name
            problems.append(Problem(node.key_lines[name], key, f"unknown key{hint}; valid keys: {', '.join(valid)}"))
    return problems


def _check_items(field: attrs.Attribute, node: Any) -> list[Problem]:  # type: ignore[type-arg]
    """Run the field's per-key / per-value checks (exchange ids, URLs) at each item's line."""
    check_key: Callable[[str], str | None] | None = field.metadata.get(CHECK_KEY)
    check_value: Callable[[str], str | None] | None = field.metadata.get(CHECK_VALUE)
    if not isinstance(node, Map) or (check_key is None and check_value is None):
        return []
    problems = []
    for name, child in node.items():
        if check_key is not None and (message := check_key(name)):
            problems.append(Problem(node.key_lines[name], f"{node.key}.{name}", message))
        # Only string scalars are checked here; anything else is a type error reported by structuring.
        if (
            check_value is not None
            and isinstance(child, Scalar)
            and isinstance(child.value, str)
            and (message := check_value(child.text))
        ):
            problems.append(Problem(child.line, child.key, "invalid value" if child.secret else message))
    return problems


def _to_class(conv: cattrs.Converter, cl: type, node: Any, _: type) -> Any:
    if _is_null(node):  # `binance:` with nothing under it: a section that sets nothing
        node = Map(node.line, node.key)
    if not isinstance(node, Map):
        raise _problem(node, f"expected a mapping, got {describe(node)}")
    fields = {f.name: f for f in attrs.fields(cl) if f.init}
    problems = _unknown_keys(node, fields)
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        child = node.get(name)
        required = field.default is attrs.NOTHING
        if child is None or _is_null(child):
            # Absent, or written empty / null (also `${VAR:-}` with VAR unset): "not set".
            if required and child is None:
                problems.append(Problem(node.line, node.key, f"missing key {name!r}"))
            elif required:
                problems.append(Problem(*where(child), "missing value"))
            continue
        problems.extend(_check_items(field, child))
        try:
            kwargs[name] = conv.structure(child, field.type)
        except Problems as exc:
            problems.extend(exc.problems)
            continue
        if field.validator is not None:
            # Run the field's own validator now (RateLimitRule: positive limit, known scope...) so the
            # problem points at this value's line; the validators of our classes do not use the instance.
            try:
                field.validator(None, field, kwargs[name])
            except (ValueError, TypeError) as exc:
                line, key = where(child)
                problems.append(Problem(line, key, "invalid value" if _secret(child) else _reason(exc)))
    if problems:
        raise Problems(problems)
    try:
        return cl(**kwargs)
    except (ValueError, TypeError) as exc:
        # Validators of the target (RateLimitRule's positive limit, known scope...).
        message = "invalid value" if any(_secret(c) for c in node.values()) else _reason(exc)
        raise Problems([Problem(node.line, node.key, message)]) from None


def _is_null(node: Any) -> bool:
    return isinstance(node, Scalar) and node.value is None


def _secret(node: Any) -> bool:
    return bool(getattr(node, "secret", False))


def _reason(exc: Exception) -> str:
    # attrs' own validators raise ValueError(message, attribute, options, value): keep the message.
    return str(exc.args[0]) if exc.args else str(exc)
