"""YAML text to a located tree: each value keeps its line and dotted key; ``${ENV}`` interpolated.

The node tree is composed with a :class:`yaml.SafeLoader` subclass (so the
marks survive), then walked once: mappings become :class:`Map`, sequences
:class:`Seq`, scalars :class:`Scalar`. A scalar's text is interpolated first
and typed afterwards with YAML's own rules, so ``testnet: ${TESTNET:-false}``
is the boolean ``false``. Problems are collected (not raised one by one) so a
user sees every mistake of the file at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["Map", "Problem", "Problems", "Scalar", "Seq", "compose", "describe", "to_plain"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: values under a key of this name are secrets: never quoted in a message.
SECRET_KEY = "credentials"


@attrs.frozen
class Problem:
    """A message about the value at ``line`` under the dotted ``key``."""

    line: int
    key: str
    message: str


class Problems(Exception):
    """One or more problems found while reading or structuring the tree."""

    def __init__(self, problems: list[Problem], secrets: frozenset[str] = frozenset()) -> None:
        super().__init__(f"{len(problems)} configuration problems")
        self.problems = problems
        #: credential values seen so far, to scrub from every message.
        self.secrets = secrets


@attrs.frozen
class Scalar:
    """A scalar after interpolation: ``value`` typed by YAML, ``text`` as written (after interpolation)."""

    value: Any
    text: str
    line: int
    key: str
    secret: bool = False
    #: environment variables interpolated into ``text``.
    variables: tuple[str, ...] = ()

    def shown(self) -> str:
        """How a message may quote this value: never a secret."""
        if self.secret:
            return "a value that is not shown (credential)"
        if self.value is None:
            return "null"
        quoted = repr(self.value) if isinstance(self.value, str) else self.text
        if self.variables:
            quoted += " (from " + ", ".join(f"${{{name}}}" for name in self.variables) + ")"
        return quoted


class Map(dict[str, Any]):
    """A mapping whose keys are names; remembers its own line and each key's line."""

    def __init__(self, line: int, key: str) -> None:
        super().__init__()
        self.line = line
        self.key = key
        self.key_lines: dict[str, int] = {}


class Seq(list[Any]):
    """A sequence that remembers its line and key."""

    def __init__(self, line: int, key: str) -> None:
        super().__init__()
        self.line = line
        self.key = key


def describe(node: Any) -> str:
    """``a mapping``, ``a list`` or the scalar as a message may show it."""
    if isinstance(node, Map):
        return "a mapping"
    if isinstance(node, Seq):
        return "a list"
    if isinstance(node, Scalar):
        return node.shown()
    return "null" if node is None else repr(node)


def where(node: Any, default: tuple[int, str] = (0, "")) -> tuple[int, str]:
    """``(line, key)`` of a tree node."""
    if isinstance(node, Scalar | Map | Seq):
        return node.line, node.key
    return default


def to_plain(node: Any) -> Any:
    """The tree as plain Python values (dicts, lists, scalars)."""
    if isinstance(node, Map):
        return {k: to_plain(v) for k, v in node.items()}
    if isinstance(node, Seq):
        return [to_plain(v) for v in node]
    if isinstance(node, Scalar):
        return node.value
    return node


class _Loader(yaml.SafeLoader):
    """A SafeLoader that remembers which scalars carry an explicit tag (those keep it after interpolation)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.explicit: set[int] = set()

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        event = self.peek_event()
        node = super().compose_scalar_node(anchor)
        if event.tag not in (None, "!"):
            self.explicit.add(id(node))
        return node


class _BadReference(Exception):
    """A ``${...}`` that cannot be substituted; the message says why."""


def compose(text: str, environ: Mapping[str, str]) -> tuple[Any, frozenset[str]]:
    """Parse ``text`` into a located, interpolated tree (None for an empty document).

    Also returns the credential values met (after interpolation), which
    messages must never contain. Raises :class:`Problems` for a YAML
    syntax error or for bad interpolations.
    """
    try:
        loader = _Loader(text)  # the reader rejects non-printable characters right here
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise Problems([_syntax_problem(exc)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = ord(exc.character) if isinstance(exc.character, str) else exc.character
        raise Problems([Problem(line, "", f"invalid YAML: {exc.reason} (character #x{code:04x})")]) from None
    if root is None:
        return None, frozenset()
    builder = _Builder(loader, environ)
    tree = builder.build(root, "", secret=False)
    secrets = frozenset(builder.secrets)
    if builder.problems:
        raise Problems(builder.problems, secrets)
    return tree, secrets


def _syntax_problem(exc: yaml.MarkedYAMLError) -> Problem:
    # Built from problem/context only: str(exc) would quote the offending line, which may hold a secret.
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or 'syntax error'}"
    if exc.context and exc.context_mark is not None:
        message += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return Problem(mark.line + 1 if mark is not None else 0, "", message)


class _Builder:
    """Walks the composed nodes once, interpolating scalars and collecting problems."""

    def __init__(self, loader: _Loader, environ: Mapping[str, str]) -> None:
        self.loader = loader
        self.environ = environ
        self.problems: list[Problem] = []
        self.secrets: set[str] = set()
        self._active: set[int] = set()

    def build(self, node: Node, key: str, *, secret: bool) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self._active:
            self.problems.append(Problem(line, key, "an alias refers to a value that contains it"))
            return Scalar(None, "", line, key, secret)
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, line, key, secret)
            if isinstance(node, SequenceNode):
                return self._sequence(node, line, key, secret)
            assert isinstance(node, ScalarNode)
            return self._scalar(node, line, key, secret)
        finally:
            self._active.discard(id(node))

    def _tag_problem(self, node: Node, line: int, key: str, expected: str) -> bool:
        if node.tag == expected:
            return False
        self.problems.append(Problem(line, key, f"unsupported YAML tag {node.tag!r}"))
        return True

    def _mapping(self, node: MappingNode, line: int, key: str, secret: bool) -> Map:
        result = Map(line, key)
        if self._tag_problem(node, line, key, _MAP_TAG):
            return result
        merged: list[Map] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, key, secret))
                continue
            if not isinstance(key_node, ScalarNode) or key_node.value == "":
                self.problems.append(Problem(key_line, key, "a key must be a plain name"))
                continue
            name = key_node.value  # keys are names: never interpolated nor typed (`on:` stays "on")
            child_key = f"{key}.{name}" if key else name
            if name in result:
                first = result.key_lines[name]
                self.problems.append(Problem(key_line, child_key, f"duplicate key (first given at line {first})"))
                continue
            result[name] = self.build(value_node, child_key, secret=secret or name == SECRET_KEY)
            result.key_lines[name] = key_line
        # YAML merge keys (`<<: *base`): the mapping's own keys win, then earlier sources over later ones.
        for source in merged:
            for name, value in source.items():
                if name not in result:
                    result[name] = value
                    result.key_lines[name] = source.key_lines[name]
        return result

    def _merge_sources(self, node: Node, key: str, secret: bool) -> list[Map]:
        targets = node.value if isinstance(node, SequenceNode) else [node]
        sources = []
        for target in targets:
            if isinstance(target, MappingNode):
                sources.append(self.build(target, key, secret=secret))
            else:
                line = target.start_mark.line + 1
                self.problems.append(Problem(line, key, "'<<' merges a mapping or a list of mappings"))
        return sources

    def _sequence(self, node: SequenceNode, line: int, key: str, secret: bool) -> Seq:
        result = Seq(line, key)
        if self._tag_problem(node, line, key, _SEQ_TAG):
            return result
        for index, item in enumerate(node.value):
            result.append(self.build(item, f"{key}[{index}]", secret=secret))
        return result

    def _scalar(self, node: ScalarNode, line: int, key: str, secret: bool) -> Scalar:
        text: str = node.value
        variables: tuple[str, ...] = ()
        if "$" in text:
            try:
                text, variables = self._interpolate(text, secret)
            except _BadReference as exc:
                self.problems.append(Problem(line, key, str(exc)))
                return Scalar(None, "", line, key, secret)
        if secret:
            self.secrets.add(text)
        # Plain scalars are typed after interpolation, as if the value had been written in the file.
        if node.style is None and id(node) not in self.loader.explicit:
            tag = self.loader.resolve(ScalarNode, text, (True, False))
        else:
            tag = node.tag
        try:
            value = self.loader.construct_object(ScalarNode(tag, text, node.start_mark, node.end_mark, node.style))
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            # Only an explicit tag gets here (`!!int "x"`, `!custom 1`); say which, never the value.
            problem = getattr(exc, "problem", None) or f"not a valid {tag.rpartition(':')[2] or tag}"
            self.problems.append(Problem(line, key, f"cannot read the value tagged {tag!r}: {problem}"))
            return Scalar(None, "", line, key, secret, variables)
        return Scalar(value, text, line, key, secret, variables)

    def _interpolate(self, raw: str, secret: bool) -> tuple[str, tuple[str, ...]]:
        """Replace ``${NAME}`` / ``${NAME:-default}``; ``$$`` is a literal ``$``; any other ``$`` stays."""
        out: list[str] = []
        names: list[str] = []
        pos = 0
        while (start := raw.find("$", pos)) >= 0:
            out.append(raw[pos:start])
            following = raw[start + 1 : start + 2]
            if following != "{":
                out.append("$")
                pos = start + (2 if following == "$" else 1)
                continue
            end = raw.find("}", start + 2)
            if end < 0:
                raise _BadReference("'${' is not closed by '}' (write '$$' for a literal '$')")
            name, sep, default = raw[start + 2 : end].partition(":-")
            if not _NAME.match(name):
                shown = "" if secret else f" {raw[start : end + 1]!r}"
                raise _BadReference(f"bad variable reference{shown}: write ${{NAME}} or ${{NAME:-default}}")
            names.append(name)
            value = self.environ.get(name)
            if sep:
                value = value or default  # as in the shell: unset or empty takes the default
            elif value is None:
                raise _BadReference(
                    f"environment variable {name} is not set (write ${{{name}:-default}} to make it optional)"
                )
            out.append(value)
            pos = end + 1
        out.append(raw[pos:])
        return "".join(out), tuple(names)
