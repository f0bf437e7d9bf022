"""``Credentials``: a read-only mapping of secrets whose ``repr`` never shows a value."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

__all__ = ["Credentials", "credentials_from_env"]

#: keys looked up by the environment provider, in this order.
KNOWN_KEYS: tuple[str, ...] = ("api_key", "secret", "passphrase", "private_key", "account_address", "vault_address")


class Credentials(Mapping[str, str]):
    """Secrets for one venue account (``api_key``, ``secret``, ``passphrase``, ``private_key``...).

    Behaves as a read-only mapping. ``repr`` and ``str`` list the key names
    only, so a credentials object in a log line or a traceback leaks nothing.
    """

    __slots__ = ("_data", "source")

    def __init__(self, data: Mapping[str, str] | None = None, *, source: str = "explicit") -> None:
        self._data = {str(k): str(v) for k, v in (data or {}).items() if v is not None}
        self.source = source

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}=<redacted>" for k in sorted(self._data))
        return f"Credentials({shown}; source={self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credentials):
            return self._data == other._data
        if isinstance(other, Mapping):
            return self._data == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def secrets(self) -> tuple[str, ...]:
        """The secret values (for scrubbing logs and cassettes), longest first."""
        return tuple(sorted((v for v in self._data.values() if v), key=len, reverse=True))

    def redact(self, text: str) -> str:
        """Replace every secret value that occurs in ``text`` with ``<redacted>``."""
        for value in self.secrets():
            if len(value) >= 4:
                text = text.replace(value, "<redacted>")
        return text


def env_prefix(exchange_id: str, account: str | None = None) -> str:
    """``EXCHANGES_<ID>[_<ACCOUNT>]_`` with ``-`` turned into ``_``."""
    parts = ["EXCHANGES", exchange_id]
    if account:
        parts.append(account)
    return "_".join(p.upper().replace("-", "_") for p in parts) + "_"


def credentials_from_env(
    exchange_id: str, account: str | None = None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Read ``EXCHANGES_<ID>_API_KEY``, ``..._SECRET``, ... from the environment, or None if none is set."""
    env = os.environ if environ is None else environ
    prefix = env_prefix(exchange_id, account)
    found = {key: env[prefix + key.upper()] for key in KNOWN_KEYS if env.get(prefix + key.upper())}
    return Credentials(found, source="environment") if found else None
