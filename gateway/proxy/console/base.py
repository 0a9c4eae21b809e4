"""The console's common parts (gateway/proxy/console says what the console is): its middleware
(the session on each request, CSRF, the security headers, errors as pages), the ``writes``
decorator (a form runs once), rendering, and logging in and out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from gateway.errors import GatewayError
from gateway.logs import REQUEST_ID
from gateway.operations import Principal
from gateway.proxy.appkeys import GATEWAY, KEYS, PRINCIPAL
from gateway.proxy.console.sessions import COOKIE, Sessions
from gateway.proxy.problems import status_of
from gateway.store import ConsoleSession, StoredAnswer

__all__ = [
    "SESSION",
    "SESSIONS",
    "TEMPLATES",
    "console_middleware",
    "public",
    "redirect",
    "render",
    "secure",
    "writes",
]

HERE = Path(__file__).parent
SESSIONS = web.AppKey("console_sessions", Sessions)
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
SESSION = web.RequestKey("console_session", ConsoleSession)

#: What every console answer says about itself.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["once"] = lambda: secrets.token_urlsafe(16)  # a write form's idempotency key
    return env


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page: ``template`` with the session (if any) and the request id."""
    session = request.get(SESSION)
    page = request.app[TEMPLATES].get_template(template).render(
        session=session, writer=session is not None and session.scope == "write",
        request_id=REQUEST_ID.get(), path=request.path, **context,
    )  # fmt: skip
    response = web.Response(text=page, status=status, content_type="text/html")
    response.headers.update(HEADERS)
    return response


def secure(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` with the security headers (those it set itself stay: a static file's
    ``Cache-Control``)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def redirect(location: str) -> web.Response:
    """``303 See Other`` to ``location`` (after a form: the browser then GETs it)."""
    response = web.Response(status=303, headers={"Location": location})
    response.headers.update(HEADERS)
    return response


#: The views that need no session (logging in, the style sheet and script).
PUBLIC: set[View] = set()


def public(view: View) -> View:
    PUBLIC.add(view)
    return view


@web.middleware
async def console_middleware(request: web.Request, handler: View) -> web.StreamResponse:
    """Every console request: a session is needed (else the login page) but for the public
    views; a POST must carry the session's CSRF token; the session's key is the principal the
    operations decide for; errors become a page, never a trace; every answer carries the
    security headers."""
    if handler in PUBLIC or request.match_info.http_exception is not None:
        return secure(await handler(request))
    session = await request.app[SESSIONS].find(request.cookies.get(COOKIE))
    if session is None:
        if request.method == "GET":
            return redirect("/console/login")
        return render(request, "error.html", 401, message="log in first")
    request[SESSION] = session
    request[PRINCIPAL] = Principal.key(session.key_name,
                                       "write" if session.scope == "write" else "read")  # fmt: skip
    if request.method == "POST":
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
            return render(request, "error.html", 403,
                          message="the form's CSRF token is missing or wrong: reload "
                          "the page and try again")  # fmt: skip
    try:
        return secure(await handler(request))
    except GatewayError as exc:
        return render(request, "error.html", status_of(exc), message=str(exc))


def writes(view: View) -> View:
    """A view that writes: refused at once to a caller who may only read (before its form is
    looked at), and run at most once per form (``_once``)."""

    async def run(request: web.Request) -> web.StreamResponse:
        request[PRINCIPAL].require("write", "this action")
        if request.method == "POST":
            return await _once(request, request[SESSION], view)
        return await view(request)

    return run


#: How long a form's outcome is kept for a second sending of it (seconds).
ONCE_RETENTION = 24 * 3600.0


async def _once(request: web.Request, session: ConsoleSession, view: View) -> web.StreamResponse:
    """A write form runs at most once: its ``once`` token is an Idempotency key in the state
    store (as the API's ``Idempotency-Key``), so a form sent twice (a double click, back and
    send again) gets the first answer and writes nothing more."""
    store = request.config_dict[GATEWAY].store
    form = await request.post()
    token = str(form.get("once", ""))
    if store is None or not token or len(token) > 64:
        return await view(request)
    scope = f"console:{session.key_name}"
    fingerprint = hashlib.sha256(request.path.encode()).hexdigest()
    claim = await store.claim(scope, token, fingerprint, time.time(), lease=120.0)
    if claim.state == "done" and claim.answer is not None:
        replay = web.Response(status=claim.answer.status, body=claim.answer.body,
                              headers=dict(claim.answer.headers))  # fmt: skip
        replay.headers.update(HEADERS)
        return replay
    if claim.state != "new":
        return render(request, "error.html", 409, message="this form was sent already (it is "
                      "still running, or was another action): reload the page")  # fmt: skip
    try:
        answer = await view(request)
    except BaseException:
        await store.release(scope, token)
        raise
    kept = {k: answer.headers[k] for k in ("Location", "Content-Type") if k in answer.headers}
    body = (
        answer.body if isinstance(answer, web.Response) and isinstance(answer.body, bytes) else b""
    )
    await store.settle(scope, token, StoredAnswer(status=answer.status, headers=kept, body=body),
                       time.time(), ONCE_RETENTION)  # fmt: skip
    return answer


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if request.method == "GET":
        return render(request, "login.html", message=None)
    form = await request.post()
    presented = str(form.get("api_key", "")).strip()
    keys = request.config_dict[KEYS]
    key = keys.identify(presented) if presented.isascii() and presented else None
    if key is None:
        return render(request, "login.html", 401, message="that API key is not valid")
    session_id, _ = await request.app[SESSIONS].start(*key)
    response = redirect("/console")
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/console",
                        secure=request.secure, max_age=12 * 3600)  # fmt: skip
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await request.app[SESSIONS].end(cookie)
    response = redirect("/console/login")
    response.del_cookie(COOKIE, path="/console")
    return response


@public
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("console.css", "console.js"):
        raise web.HTTPNotFound()
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    body = (HERE / "static" / name).read_bytes()
    response = web.Response(body=body, content_type=kind)
    response.headers["Cache-Control"] = "max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
