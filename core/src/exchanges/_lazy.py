"""PEP 562 lazy re-exports shared by the package ``__init__`` modules (kept import-free)."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], eager: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``name -> ".module"`` imported on first access.

    ``eager`` names (already bound in the package) are listed by ``__dir__`` too.
    """
    names = sorted([*exports, *eager])

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
