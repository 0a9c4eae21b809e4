"""Secret rotation: set a new secret at the provider and keep the previous one valid for
verification during a grace period, so receivers switch over without losing a delivery.

    rotated = await rotate_secret(gw, "core-prod", webhook_id, grace=86400)
    secrets = await verification_secrets(gw, "core-prod", webhook_id)   # [new, previous]
    verify("enterprise_core", headers, body, secrets)

The new secret is generated (``secrets.token_urlsafe(32)``) unless given. The previous one is
read from the provider where it returns it, else must be given (``previous``): the gateway
cannot keep valid what it cannot see. Both are kept in the state store encrypted with
``[state] secrets_key`` (Fernet), never in plain text; the previous one until ``grace`` seconds
from now. The change itself is an ordinary update (locked, retried, audited: the audit log
records "secret changed" and a fingerprint).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref

import attrs
from cryptography.fernet import Fernet, InvalidToken

from gateway.errors import ConfigError, FieldProblem, InvalidRequest, StateUnavailable
from gateway.model import Secret, WebhookChange
from gateway.origin import current_origin
from gateway.plan.diff import fingerprint
from gateway.service import Gateway

__all__ = ["Rotation", "rotate_secret", "verification_secrets"]


@attrs.frozen(kw_only=True)
class Rotation:
    """What a rotation did: the new secret (a ``Secret``: reveal it where it must go) and until
    when the previous one stays valid (None: none was kept)."""

    secret: Secret
    previous_valid_until: float | None


def _box(gw: Gateway) -> Fernet:
    state = gw.config.state
    if gw.store is None or state is None or state.secrets_key is None:
        raise ConfigError(problems=[FieldProblem(
            "state.secrets_key", "keeping secrets for a rotation needs [state] with secrets_key"
        )])  # fmt: skip
    return Fernet(state.secrets_key.reveal().encode())


async def rotate_secret(
    gw: Gateway,
    account: str,
    webhook_id: str,
    *,
    new: Secret | str | None = None,
    previous: Secret | str | None = None,
    grace: float = 86400.0,
) -> Rotation:
    """Set a new secret on the webhook; keep the previous one valid for ``grace`` seconds."""
    box = _box(gw)
    if not 0 <= grace <= 30 * 86400:
        raise InvalidRequest.at("grace", "must be from 0 to 30 days, in seconds")
    fresh = _given(new, "secret") or Secret(secrets.token_urlsafe(32))
    given_old = _given(previous, "previous")
    client = gw.account(account)
    webhook_id = client.canonical_id(webhook_id)
    assert gw.store is not None
    # One rotation of a webhook at a time, on every replica: the read of the current secret,
    # the write of the new one and what is kept must not interleave with another's.
    local = _ROTATING.setdefault((account, webhook_id), asyncio.Lock())
    async with local, gw.store.lock(f"rotate/{account}/{webhook_id}", ROTATION_WAIT):
        current = await client.get(webhook_id)
        old = given_old or current.secret or await _kept_current(gw, box, account, webhook_id)
        if old is None and grace > 0 and current.secret_state != "unset":  # noqa: S105
            raise InvalidRequest.at(
                "previous",
                f"{client.kind} does not show the current secret: give it to keep it valid "
                "for the grace period, or rotate with no grace",
            )
        await client.update(webhook_id, WebhookChange(secret=fresh))
        now = time.time()
        kept = old if old is not None and grace > 0 else None
        await gw.store.keep_secrets(
            account, webhook_id, box.encrypt(fresh.reveal().encode()),
            box.encrypt(kept.reveal().encode()) if kept is not None else None,
            now, now + grace,
        )  # fmt: skip
        # A manifest that manages it shows the rotation at plan (who, when), and sets the
        # manifest's secret back on apply unless its entry says secret_rotation = "external".
        key = await gw.store.secret_key()
        await gw.store.record_rotation(account, webhook_id, fingerprint(fresh, key),
                                       current_origin().actor, now)  # fmt: skip
    return Rotation(secret=fresh, previous_valid_until=now + grace if kept else None)


#: How long a rotation waits for another rotation of the same webhook, at most (seconds).
ROTATION_WAIT = 120.0
_ROTATING: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def _given(value: Secret | str | None, path: str) -> Secret | None:
    """A secret given to ``rotate_secret``; an empty or white-space one is refused."""
    secret = Secret(value) if isinstance(value, str) else value
    if secret is not None and not secret.reveal().strip():
        raise InvalidRequest.at(path, "must not be empty or white space")
    return secret


async def _kept_current(gw: Gateway, box: Fernet, account: str, webhook_id: str) -> Secret | None:
    """The current secret the store keeps for the webhook (an earlier rotation's), if any."""
    assert gw.store is not None
    kept = await gw.store.kept_secrets(account, webhook_id, time.time(), current_only=True)
    return Secret(box.decrypt(kept[0]).decode()) if kept else None


async def verification_secrets(gw: Gateway, account: str, webhook_id: str) -> list[Secret]:
    """The secrets a delivery of the webhook may be signed with now: the current one first,
    then a previous one still in its grace period (after a ``rotate_secret``)."""
    box = _box(gw)
    assert gw.store is not None
    webhook_id = gw.account(account).canonical_id(webhook_id)
    out = []
    for ciphertext in await gw.store.kept_secrets(account, webhook_id, time.time()):
        try:
            out.append(Secret(box.decrypt(ciphertext).decode()))
        except InvalidToken:
            raise StateUnavailable(
                "a kept secret does not decrypt with [state] secrets_key (was the key changed?)"
            ) from None
    return out
