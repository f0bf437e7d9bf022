"""The core's own plugin: the environment-variable credentials provider (runs last) and the JSON-lines sink."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .credentials import credentials_from_env
from .hookspecs import hookimpl


@hookimpl(trylast=True)
def resolve_credentials(exchange_id: str, account: str | None) -> Mapping[str, str] | None:
    """Read ``EXCHANGES_<ID>[_<ACCOUNT>]_API_KEY``, ``..._SECRET``, ``..._PASSPHRASE``, ``..._PRIVATE_KEY``."""
    return credentials_from_env(exchange_id, account)


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    """The JSON-lines sink: ``jsonl`` with option ``path`` (``-`` = standard output)."""
    register("jsonl", jsonl_sink)


def jsonl_sink(**options: Any) -> Any:
    """Factory of the ``jsonl`` sink (imports the sink module on first use, not at plugin load)."""
    from .sinks import JsonLinesSink

    return JsonLinesSink(**options)
