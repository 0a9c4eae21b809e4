"""The console's "Sign in with <provider>": single sign-on through ``[auth.oidc]``.

``/console/sso/start`` sends the browser to the provider (``gateway.proxy.oidc``: code flow,
PKCE, state, nonce), with what the callback must see again in a signed cookie that lives ten
minutes and is good once; ``/console/sso/callback`` checks the state, exchanges the code, checks
the ID token and opens a session for the person it names (their grants: those of the config
naming them or their groups, decided on every request, as for keys). The redirect URI is
``[server] public_url`` + ``/console/sso/callback`` (else this request's own origin), which the
provider must list for the client.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web

from gateway.errors import GatewayError
from gateway.proxy.appkeys import CLIENTS, CONFIG, GATEWAY, OIDC
from gateway.proxy.console.base import SESSIONS, _login_form, public, redirect, secure
from gateway.proxy.console.sessions import COOKIE
from gateway.proxy.oidc import OidcClient, Pending

__all__ = ["add_routes"]

log = logging.getLogger(__name__)

#: The pending sign-in's cookie (state, nonce, PKCE verifier; signed).
PENDING_COOKIE = "wg_sso"
_PATH = "/console/sso"
#: The key pending cookies are signed with where there is no state store (one replica).
_PROCESS_KEY = secrets.token_bytes(32)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/sso/start", start)
    router.add_get("/sso/callback", callback)


def _redirect_uri(request: web.Request) -> str:
    public_url = request.config_dict[CONFIG].server.public_url
    if public_url:
        return public_url.rstrip("/") + f"{_PATH}/callback"
    scheme = "https" if request.config_dict[CLIENTS].https(request) else "http"
    return f"{scheme}://{request.host}{_PATH}/callback"


async def _key(request: web.Request) -> bytes:
    store = request.config_dict[GATEWAY].store
    return await store.secret_key() if store is not None else _PROCESS_KEY


def _client(request: web.Request) -> OidcClient | None:
    return request.config_dict.get(OIDC)


@public
async def start(request: web.Request) -> web.StreamResponse:
    client = _client(request)
    if client is None:
        raise web.HTTPNotFound()
    try:
        url, pending = await client.start(_redirect_uri(request))
    except GatewayError as exc:
        return _login_form(request, 503, f"the identity provider cannot be reached: {exc}")
    https = request.config_dict[CLIENTS].https(request)
    response = redirect(url)
    # Lax: the provider's redirect back is a top-level navigation from its site.
    response.set_cookie(PENDING_COOKIE, pending.seal(await _key(request)), httponly=True,
                        samesite="Lax", path=_PATH, secure=https, max_age=600)  # fmt: skip
    return secure(response, https)


@public
async def callback(request: web.Request) -> web.StreamResponse:
    client = _client(request)
    if client is None:
        raise web.HTTPNotFound()
    https = request.config_dict[CLIENTS].https(request)
    sealed = request.cookies.get(PENDING_COOKIE, "")
    pending = Pending.unseal(sealed, await _key(request)) if sealed else None
    state = request.query.get("state", "")
    if pending is None or not hmac.compare_digest(state, pending.state):
        return _refused(request, "the sign-in expired or did not start here: sign in again")
    if "error" in request.query:
        return _refused(request, f"the identity provider refused: {request.query['error']}")
    code = request.query.get("code", "")
    try:
        person = await client.finish(code, pending, _redirect_uri(request))
    except GatewayError as exc:
        log.warning("a sign-in was refused", extra={"error": exc.message})
        return _refused(request, exc.message)
    sessions = request.app[SESSIONS]
    old = request.cookies.get(COOKIE)
    if old:
        await sessions.end(old)  # a sign-in never continues a session it did not start
    session_id, _ = await sessions.start(None, person)
    log.info("signed in", extra={"subject": person.subject, "email": person.email})
    response = redirect("/console")
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/console",
                        secure=https, max_age=12 * 3600)  # fmt: skip
    response.del_cookie(PENDING_COOKIE, path=_PATH)  # good once
    return secure(response, https)


def _refused(request: web.Request, message: str) -> web.Response:
    response = _login_form(request, 401, message)
    response.del_cookie(PENDING_COOKIE, path=_PATH)
    return response
