"""Binance request signing: REST signs the exact bytes sent, the WS API signs sorted params.

REST: ``signature = hex(HMAC-SHA256(secret, query_string + body))`` with no separator between the
two, over the bytes as sent (parameter order is not normalised). WS API: every param except
``signature`` (``apiKey`` included), sorted by name, joined as ``k=v&...``. Ed25519 keys sign the
same payloads and send base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode


def hmac_hex(secret: str | bytes, payload: str | bytes) -> str:
    """Hex HMAC-SHA256, Binance's ``signature`` for HMAC keys."""
    key = secret.encode() if isinstance(secret, str) else secret
    msg = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def rest_payload(query: str, body: str) -> str:
    """The string Binance signs for REST: query string and body, concatenated without separator."""
    return query + body


def encode_params(params: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> str:
    """URL-encode parameters in the order given, as they will be sent (lists/dicts become compact JSON)."""
    items = params.items() if isinstance(params, Mapping) else params
    out = [(k, ("true" if v else "false") if isinstance(v, bool) else v) for k, v in items]
    return urlencode(out)


def ws_api_payload(params: Mapping[str, Any]) -> str:
    """The WS API signing string: params except ``signature``, sorted by name, ``k=v`` joined by ``&``.

    Values are not percent-encoded (non-ASCII symbols are signed as raw UTF-8).
    """
    parts = []
    for k in sorted(params):
        if k == "signature":
            continue
        v = params[k]
        if isinstance(v, bool):
            v = "true" if v else "false"
        parts.append(f"{k}={v}")
    return "&".join(parts)


def verify_hmac(secret: str, payload: str | bytes, signature: str) -> bool:
    """Constant-time check of a hex signature (case-insensitive, as Binance accepts)."""
    return hmac.compare_digest(hmac_hex(secret, payload), signature.lower())


def ed25519_sign(private_key_pem: bytes, payload: str) -> str:
    """Base64 Ed25519 signature over ``payload`` (for Ed25519 API keys)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return base64.b64encode(key.sign(payload.encode())).decode()
