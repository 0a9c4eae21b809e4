"""Checking that a delivery really comes from your Orchestry subscription.

Orchestry's knowledge base (seed 003) says it "will provide the secret in a property in the JSON
body and as a header", and names no signature: assumed, it signs nothing, and the secret itself
is the proof (``Secret`` in the body, and a header whose name it does not give:
``X-Orchestry-Secret`` is assumed). ``verify`` accepts a
delivery only when every copy present matches, compared in constant time, and at least one is.
Serve the receiver over HTTPS: the secret travels in clear text inside each request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping

from gateway.model import Secret
from providers.orchestry.wire import SECRET_HEADER

__all__ = ["verify"]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def verify(body: bytes, headers: Mapping[str, str], secret: Secret | str) -> bool:
    """Whether the secret in ``body`` and ``headers`` is ``secret``."""
    expected = secret.reveal() if isinstance(secret, Secret) else secret
    copies: list[str] = []
    header = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), None)
    if header is not None:
        copies.append(header)
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if isinstance(payload, dict) and "Secret" in payload:
        if not isinstance(payload["Secret"], str):
            return False
        copies.append(payload["Secret"])
    results = [_same(copy, expected) for copy in copies]
    return bool(results) and all(results)
