"""Signing and verifying Enterprise Core webhook deliveries.

The Webhooks API page and Socotra's OpenAPI document name the endpoint settings (``hmacEnabled``,
``secret``) but neither the header a signed delivery carries nor how its signature is made.
Everything below is **assumed** (docs/providers.md lists the assumptions): with ``hmacEnabled``
and a ``secret`` on the endpoint, each delivery carries ``X-Hmac-Sha256``: an HMAC-SHA256 of the
raw body keyed with the secret, Base64-encoded; the emulator sends exactly that. Check it
against a delivery from your tenant before relying on it. Compare the raw bytes you received,
before parsing them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from gateway.model import Secret

__all__ = ["HMAC_HEADER", "sign", "verify"]

HMAC_HEADER = "X-Hmac-Sha256"


def sign(body: bytes, secret: Secret | str) -> str:
    key = secret.reveal() if isinstance(secret, Secret) else secret
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: Mapping[str, str], secret: Secret | str) -> bool:
    """Whether the delivery's HMAC header matches ``body`` under ``secret``."""
    offered = next((v for k, v in headers.items() if k.lower() == HMAC_HEADER.lower()), None)
    if not offered:
        return False
    try:
        given = base64.b64decode(offered.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, base64.b64decode(sign(body, secret)))
