"""Request authentication: HMAC-SHA256 or Ed25519 over the exact bytes sent.

REST: the payload is the query string immediately followed by the body (no
separator); the signature is appended as the last parameter. WebSocket API:
every parameter but ``signature``, sorted by name, joined as ``k=v&...``,
signed as raw UTF-8.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from exchanges import AuthenticationError

__all__ = ["Signer", "encode_params", "make_signer", "ws_api_payload"]


def encode_params(params: Mapping[str, Any]) -> str:
    """``k=v&...`` in the given order, percent-encoded (UTF-8), as Binance expects it."""
    return urlencode([(k, _text(v)) for k, v in params.items() if v is not None], quote_via=quote, safe="")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ws_api_payload(params: Mapping[str, Any]) -> str:
    """The WebSocket API signing payload: params (minus ``signature``) sorted by name, not percent-encoded."""
    return "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature" and v is not None)


class Signer:
    """Signs payloads with one Binance key (HMAC secret or Ed25519 private key)."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.api_key = api_key
        self._hmac_key: bytes | None = None
        self._ed25519: Any = None
        if "PRIVATE KEY" in secret:
            self._ed25519 = _load_ed25519(secret)
        else:
            self._hmac_key = secret.encode()

    @property
    def kind(self) -> str:
        """``"hmac"`` or ``"ed25519"``."""
        return "hmac" if self._hmac_key is not None else "ed25519"

    def sign(self, payload: str) -> str:
        """Signature of ``payload``: lowercase hex for HMAC, Base64 for Ed25519 (percent-encode when sending)."""
        if self._hmac_key is not None:
            return hmac.new(self._hmac_key, payload.encode(), hashlib.sha256).hexdigest()
        return base64.b64encode(self._ed25519.sign(payload.encode())).decode()

    def sign_query(self, query: str, body: str = "") -> str:
        """REST: sign query + body and return the query with ``&signature=...`` appended."""
        signature = quote(self.sign(query + body), safe="")
        return f"{query}&signature={signature}" if query else f"signature={signature}"

    def __repr__(self) -> str:
        return f"<binance Signer {self.kind} key=<redacted>>"


def _load_ed25519(pem: str) -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError as exc:  # pragma: no cover - cryptography is a dependency
        raise AuthenticationError("Ed25519 keys need the 'cryptography' package", exchange="binance") from exc
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise AuthenticationError("the Ed25519 private key could not be read (expected PEM)", exchange="binance") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticationError("only Ed25519 private keys are supported besides HMAC secrets", exchange="binance")
    return key


def make_signer(credentials: Mapping[str, str] | None, exchange_id: str) -> Signer | None:
    """A signer from ``api_key`` + ``secret``, or None when no credentials were given."""
    if not credentials:
        return None
    missing = [k for k in ("api_key", "secret") if not credentials.get(k)]
    if missing:
        raise AuthenticationError(f"{exchange_id} credentials lack {', '.join(missing)}", exchange=exchange_id)
    return Signer(credentials["api_key"], credentials["secret"])
