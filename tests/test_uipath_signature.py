"""X-UiPath-Signature: Base64 HMAC-SHA256 of the raw body (PROVIDERS.md), hex accepted (doc 002)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from gateway.model import Secret
from providers.uipath.signature import sign, verify

BODY = b'{"Type":"job.completed","EventId":"15412ff77dce4d489fc32c273862839b"}'
SECRET = "webhook-s3cret"
DIGEST = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()


def test_sign_is_base64_of_hmac_sha256() -> None:
    assert sign(BODY, SECRET) == base64.b64encode(DIGEST).decode()
    assert sign(BODY, Secret(SECRET)) == sign(BODY, SECRET)


@pytest.mark.parametrize("signature", [base64.b64encode(DIGEST).decode(), DIGEST.hex()])
def test_both_documented_forms_verify(signature: str) -> None:
    assert verify(BODY, signature, SECRET)
    assert verify(BODY, signature, Secret(SECRET))


@pytest.mark.parametrize(
    ("body", "signature", "secret"),
    [
        (BODY + b" ", base64.b64encode(DIGEST).decode(), SECRET),  # tampered body
        (BODY, base64.b64encode(DIGEST).decode(), "other-secret"),  # wrong secret
        (BODY, DIGEST.hex()[:-2], SECRET),  # truncated
        (BODY, "not a signature!", SECRET),
        (BODY, "", SECRET),
        (BODY, None, SECRET),
    ],
)
def test_anything_else_is_rejected(body: bytes, signature: str | None, secret: str) -> None:
    assert not verify(body, signature, secret)
