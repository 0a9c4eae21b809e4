"""One ``verify()`` for deliveries from every provider, with several secrets at once.

    result = verify("uipath", request.headers, await request.read(), [new_secret, old_secret])
    if not result.ok:
        return web.Response(status=401)

Each provider's scheme comes from its adapter (``Provider.verify_delivery``): UiPath's
``X-UiPath-Signature`` (Base64 or hex HMAC-SHA256 of the body), Enterprise Core's HMAC header
(assumed: ``X-Hmac-Sha256``, Base64; no public page names it),
Orchestry's secret repeated in the body and a header (it signs nothing: a body altered on the
way verifies all the same, so serve its receiver over HTTPS). Every secret is tried, whatever
matched first (the time taken does not tell which one did); the result names the one that
matched, by its position, so a receiver can tell when the old secret of a rotation stops being
used.
None of these providers sends a timestamp, so there is none to hold a tolerance against:
replay protection, where needed, is the receiver's (e.g. remembering recent event ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from gateway.errors import InvalidRequest, Unsupported
from gateway.model import Secret
from gateway.registry import Registry, default_registry
from gateway.service import Account

__all__ = ["Verification", "verify"]


def _checked(check: Any, body: bytes, headers: Mapping[str, str], secret: Secret | str) -> bool:
    """``check``'s answer; a delivery it cannot even read (a header that is not UTF-8, a body
    nested past any parser's depth, a lone surrogate) is one that does not verify."""
    try:
        return bool(check(body, headers, secret))
    except (ValueError, TypeError, UnicodeError, RecursionError):
        return False


@attrs.frozen
class Verification:
    """Whether a delivery is genuine: ``matched`` is the index of the secret that verified it;
    ``reason`` says why not, when not."""

    ok: bool
    provider: str
    matched: int | None = None
    reason: str | None = None


def verify(
    provider: str | Account,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[Secret | str],
    *,
    registry: Registry | None = None,
) -> Verification:
    """Check a delivery of ``provider`` (a kind, or an account) against each of ``secrets``."""
    kind = provider.kind if isinstance(provider, Account) else provider
    cls = (registry or default_registry()).load(kind)
    check = cls.verify_delivery
    if check is None:
        raise Unsupported(kind, "verifying deliveries", "it does not sign them")
    if not secrets:
        raise InvalidRequest.at("secrets", "give at least one secret to verify with")
    if not isinstance(body, bytes | bytearray):
        raise InvalidRequest.at("body", "must be the raw bytes received, before any parsing")
    matched = None
    for index, secret in enumerate(secrets):
        if _checked(check, bytes(body), headers, secret) and matched is None:
            matched = index
    if matched is None:
        return Verification(
            ok=False,
            provider=kind,
            reason=f"no secret of the {len(secrets)} given matches the delivery's signature "
            "(or the signature is missing)",
        )
    return Verification(ok=True, provider=kind, matched=matched)
