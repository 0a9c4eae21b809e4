"""The command line's sign-in of a person (``webhook-gateway login``): the device authorization
grant (RFC 8628) through the gateway, and the gateway's own tokens for that person.

The command line holds no client secret: it asks the gateway to start a device sign-in at the
company's provider (``POST /v1/login/device``; the person opens the URL it prints and enters
the code), then asks the gateway to look (``POST /v1/login/token`` with the device code, every
``interval`` seconds; ``authorization_pending`` until the person approved). Once the provider
says yes and its ID token checks out (``gateway.proxy.oidc``), the gateway issues its own
tokens for the person: an access token (``wgu_``, an hour) and a refresh token (``wgr_``, 30
days, good once: ``POST /v1/login/refresh`` gives a new pair). Both are kept in the state store
as SHA-256 digests; an access token is a bearer credential like a key, whose grants are the
config's for the person and their groups, decided on each request. ``DELETE /v1/login`` ends
the caller's sign-in (``webhook-gateway logout``).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import attrs

from gateway.access import token_digest
from gateway.errors import ConfigError, FieldProblem, InvalidRequest, NotAuthenticated
from gateway.proxy.oidc import OidcClient, Pending, Person
from gateway.store import PersonToken, Store

__all__ = [
    "ACCESS_SECONDS", "REFRESH_SECONDS", "browser_finish", "browser_start", "issue", "poll",
    "refresh", "start",
]  # fmt: skip

ACCESS_SECONDS = 3600.0
REFRESH_SECONDS = 30 * 86400.0


def _needs(client: OidcClient | None, store: Store | None) -> tuple[OidcClient, Store]:
    if client is None:
        raise ConfigError(problems=[FieldProblem("auth.oidc", "signing in people needs "
                                                 "[auth.oidc]: use an API key")])  # fmt: skip
    if store is None:
        raise ConfigError(problems=[FieldProblem("state", "signing in people needs a state "
                                                 "store: set [state] url")])  # fmt: skip
    return client, store


async def start(client: OidcClient | None, store: Store | None) -> dict[str, Any]:
    """A new device sign-in: what the person needs (URL and code) and how often to look."""
    provider, _ = _needs(client, store)
    found = await provider.device_start()
    keys = ("device_code", "user_code", "verification_uri", "verification_uri_complete",
            "expires_in", "interval")  # fmt: skip
    return {k: found[k] for k in keys if k in found}


async def poll(client: OidcClient | None, store: Store | None, body: Any) -> dict[str, Any]:
    """The person's tokens, or ``{"error": "authorization_pending"|"slow_down"}``."""
    provider, kept = _needs(client, store)
    code = body.get("device_code") if isinstance(body, dict) else None
    if not isinstance(code, str) or not code:
        raise InvalidRequest.at("device_code", "required: the device_code of POST /v1/login/device")
    found = await provider.device_poll(code)
    if isinstance(found, str):
        return {"error": found}
    return await issue(kept, found)


def _loopback_uri(value: Any) -> str:
    """A redirect URI on this machine (``http://127.0.0.1:PORT/...``), as RFC 8252 has native
    apps use; anything else is refused (the code must not go elsewhere)."""
    parts = urlsplit(value) if isinstance(value, str) else None
    if (parts is None or parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1")
            or not parts.port):  # fmt: skip
        raise InvalidRequest.at("redirect_uri", "must be http://127.0.0.1:PORT/... (a loopback "
                                "redirect of the command line)")  # fmt: skip
    return str(value)


async def browser_start(client: OidcClient | None, store: Store | None, body: Any
                        ) -> dict[str, Any]:  # fmt: skip
    """The code flow for a command line whose provider has no device flow: the URL to open,
    and a ``handle`` (the pending sign-in, signed) to send back with the code."""
    provider, kept = _needs(client, store)
    redirect_uri = _loopback_uri(body.get("redirect_uri") if isinstance(body, dict) else None)
    url, pending = await provider.start(redirect_uri)
    sealed = attrs.evolve(pending, redirect_uri=redirect_uri).seal(await kept.secret_key())
    return {"authorization_url": url, "state": pending.state, "handle": sealed}


async def browser_finish(client: OidcClient | None, store: Store | None, body: Any
                         ) -> dict[str, Any]:  # fmt: skip
    """The person's tokens for the code the loopback redirect brought back."""
    provider, kept = _needs(client, store)
    values = body if isinstance(body, dict) else {}
    handle, code, state = (str(values.get(k, "")) for k in ("handle", "code", "state"))
    pending = Pending.unseal(handle, await kept.secret_key()) if handle else None
    if pending is None or not pending.redirect_uri:
        raise NotAuthenticated("the sign-in expired or did not start here: login again")
    if not hmac.compare_digest(state, pending.state):
        raise NotAuthenticated("the sign-in expired or did not start here: login again")
    person = await provider.finish(code, pending, pending.redirect_uri)
    return await issue(kept, person)


async def issue(store: Store, person: Person, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    access, refresh_token = "wgu_" + secrets.token_urlsafe(32), "wgr_" + secrets.token_urlsafe(32)
    await store.save_person_token(PersonToken(
        digest=token_digest(access), refresh_digest=token_digest(refresh_token),
        person=person.to_json(), expires_at=now + ACCESS_SECONDS,
        refresh_expires_at=now + REFRESH_SECONDS,
    ))  # fmt: skip
    return {"access_token": access, "refresh_token": refresh_token, "token_type": "Bearer",
            "expires_in": int(ACCESS_SECONDS), "person": person.to_json()}  # fmt: skip


async def refresh(store: Store | None, body: Any) -> dict[str, Any]:
    """A new pair for a refresh token (which is then spent)."""
    if store is None:
        raise ConfigError(problems=[FieldProblem("state", "needs a state store")])
    token = body.get("refresh_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.startswith("wgr_"):
        raise InvalidRequest.at("refresh_token", "required: the refresh_token of a sign-in")
    found = await store.take_refresh(token_digest(token))
    if found is None or time.time() >= found.refresh_expires_at:
        raise NotAuthenticated("the sign-in expired or was ended: webhook-gateway login again")
    person = found.person
    return await issue(store, Person(subject=person["subject"], email=person.get("email"),
                                     name=person.get("name"),
                                     groups=tuple(person.get("groups", []))))  # fmt: skip


async def person_of(store: Store, digest: str, now: float | None = None) -> PersonToken | None:
    """The live sign-in of an access token (by its ``token_digest``), or None."""
    found = await store.person_token(digest)
    if found is None or (time.time() if now is None else now) >= found.expires_at:
        return None
    return found


async def end(store: Store, token: str) -> None:
    await store.drop_person_token(token_digest(token))
