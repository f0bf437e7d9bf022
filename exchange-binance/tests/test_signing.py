"""Request signing: HMAC-SHA256 against Binance's published examples, Ed25519, WS API payloads."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_binance.signing import Signer, encode_params, make_signer, ws_api_payload
from exchanges import AuthenticationError

# The example key pair published in Binance's API documentation (rest-api.md, "SIGNED Endpoint Examples").
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"


def test_hmac_matches_published_query_example() -> None:
    """The documented query-string example signs to the documented signature."""
    assert Signer(DOC_KEY, DOC_SECRET).sign(DOC_QUERY) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_hmac_mixed_query_and_body_concatenates_without_separator() -> None:
    """Query and body are signed as one string with nothing between them (the documented mixed example)."""
    signer = Signer(DOC_KEY, DOC_SECRET)
    query, body = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    signed = signer.sign_query(query, body)
    assert signed == f"{query}&signature=0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_params_are_percent_encoded_in_order() -> None:
    """encode_params keeps insertion order, drops None and percent-encodes non-ASCII as UTF-8."""
    assert encode_params({"symbol": "１２", "side": "BUY", "price": None, "flag": True}) == (  # noqa: RUF001
        "symbol=%EF%BC%91%EF%BC%92&side=BUY&flag=true"
    )


def test_ws_api_payload_sorts_and_excludes_signature() -> None:
    """The WS API payload sorts parameters by name, excludes signature and keeps raw UTF-8."""
    assert ws_api_payload({"timestamp": 1, "apiKey": "k", "signature": "x", "symbol": "１"}) == "apiKey=k&symbol=１&timestamp=1"  # noqa: RUF001


def test_ed25519_signature_verifies() -> None:
    """An Ed25519 PEM key produces a Base64 signature that verifies with the public key, percent-encoded in the query."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    signer = Signer("key", pem)
    assert signer.kind == "ed25519"
    signature = signer.sign(DOC_QUERY)
    key.public_key().verify(base64.b64decode(signature), DOC_QUERY.encode())
    query = signer.sign_query(DOC_QUERY)
    assert signature.endswith("==")  # 64 bytes in Base64 always end with two pad characters
    assert query == f"{DOC_QUERY}&signature={quote(signature, safe='')}"
    assert query.endswith("%3D%3D")


def test_secrets_never_in_repr() -> None:
    """The signer's repr names the key type only."""
    assert DOC_SECRET not in repr(Signer(DOC_KEY, DOC_SECRET)) and DOC_KEY not in repr(Signer(DOC_KEY, DOC_SECRET))


@pytest.mark.parametrize(
    ("creds", "message"),
    [({"api_key": "k"}, "lack secret"), ({"api_key": "k", "secret": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"}, "could not be read")],
)
def test_bad_credentials_are_authentication_errors(creds: dict[str, str], message: str) -> None:
    """Incomplete or unreadable credentials raise AuthenticationError without echoing them."""
    with pytest.raises(AuthenticationError, match=message) as err:
        make_signer(creds, "binance")
    assert "xx" not in str(err.value)


def test_no_credentials_no_signer() -> None:
    """Without credentials there is no signer (public endpoints only)."""
    assert make_signer(None, "binance") is None
