"""Signing and verifying UiPath webhook deliveries.

Orchestrator signs each delivery with the webhook's secret: the header ``X-UiPath-Signature``
holds Base64(HMAC-SHA256(key = the secret as UTF-8, message = the raw request body)). A Python SDK
page (document 002) shows the hex digest instead; ``verify`` accepts both forms, and compares in
constant time. Verify the raw bytes you received, before parsing them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
from collections.abc import Mapping

from gateway.model import Secret

__all__ = ["SIGNATURE_HEADER", "sign", "verify", "verify_delivery"]

SIGNATURE_HEADER = "X-UiPath-Signature"


def _digest(body: bytes, secret: Secret | str) -> bytes:
    key = secret.reveal() if isinstance(secret, Secret) else secret
    return hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()


def sign(body: bytes, secret: Secret | str) -> str:
    """The ``X-UiPath-Signature`` value Orchestrator sends for ``body``."""
    return base64.b64encode(_digest(body, secret)).decode("ascii")


def verify(body: bytes, signature: str | None, secret: Secret | str) -> bool:
    """Whether ``signature`` (Base64, or the hex form of document 002) matches ``body``."""
    if not signature:
        return False
    expected = _digest(body, secret)
    signature = signature.strip()
    candidates = []
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(signature, validate=True))
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(signature))
    # Check every decoding (no early exit on the first) so timing does not tell which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    return matched


def verify_delivery(body: bytes, headers: Mapping[str, str], secret: Secret | str) -> bool:
    """``verify`` with the signature taken from the delivery's headers (any case)."""
    offered = headers.get(SIGNATURE_HEADER)  # (aiohttp's headers: any case already)
    if offered is None:
        offered = next((v for k, v in headers.items() if k.lower() == _LOWER), None)
    return verify(body, offered, secret)


_LOWER = SIGNATURE_HEADER.lower()
