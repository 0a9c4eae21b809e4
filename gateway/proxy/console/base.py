"""The console's common parts (gateway/proxy/console says what the console is): its middleware
(the session on each request, CSRF, the security headers, errors as pages), the ``writes``
decorator (a form runs once), rendering, and logging in and out."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import jinja2
from aiohttp import web

from gateway.errors import GatewayError
from gateway.health.fresh import ago
from gateway.logs import REQUEST_ID
from gateway.operations import Principal
from gateway.proxy.appkeys import CLIENTS, CONFIG, FAILED_KEYS, GATEWAY, KEYS, PRINCIPAL
from gateway.proxy.clients import retry_after
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
    env.filters["readable_time"] = readable_time
    env.globals["ago"] = ago  # how old a seen state is (gateway/health/fresh.py)
    return env


def readable_time(value: str | None) -> str:
    """An RFC 3339 time (``2026-12-07T18:22:30.814570+00:00``) in the console's one form:
    ``2026-12-07 18:22:30 UTC``; the exact value stays in the element's ``datetime``."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    """A page: ``template`` with the session (if any) and the request id."""
    session, who = request.get(SESSION), request.get(PRINCIPAL)
    writer = who is not None and who.may_change
    page = request.app[TEMPLATES].get_template(template).render(
        status=status, session=session, writer=writer, admin=who is not None and who.may("admin"),
        request_id=REQUEST_ID.get(), path=request.path, **context,
    )  # fmt: skip
    response = web.Response(text=page, status=status, content_type="text/html")
    response.headers.update(HEADERS)
    return response


def secure(response: web.StreamResponse, https: bool = False) -> web.StreamResponse:
    """``response`` with the security headers (those it set itself stay: a static file's
    ``Cache-Control``); ``https``: with HSTS too."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if https:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


#: Browsers that reached the console over https keep to https for a year.
HSTS = "max-age=31536000"


def _same_origin(request: web.Request) -> bool:
    """Whether a form comes from the console's own pages: a browser's ``Sec-Fetch-Site`` says
    so, or (a browser without it) the ``Origin`` it sends names this host (or ``[server]
    public_url``). Under the console's ``Referrer-Policy: no-referrer`` a browser's forms say
    ``Origin: null``, so ``Sec-Fetch-Site`` decides where it is sent."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True  # no browser's word either way: the forms' tokens decide
    public = request.config_dict[CONFIG].server.public_url
    allowed = {f"http://{request.host}", f"https://{request.host}"}
    if public:
        parts = urlsplit(public)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin.rstrip("/").lower() in {a.lower() for a in allowed}


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
    if request.method == "POST" and not _same_origin(request):
        return secure(render(request, "error.html", 403, message="this form was sent from "
                             "another site: open the console and send it from there"))  # fmt: skip
    if handler in PUBLIC or request.match_info.http_exception is not None:
        return secure(await handler(request), request.config_dict[CLIENTS].https(request))
    sessions = request.app[SESSIONS]
    cookie = request.cookies.get(COOKIE)
    session = await sessions.find(cookie)
    person = session.person if session is not None else None
    key = (await request.config_dict[KEYS].by_ref(session.key_ref)
           if session is not None and person is None else None)  # fmt: skip
    if session is not None and key is None and person is None:  # its key is gone: it ends
        await sessions.end(cookie or "")
        session = None
    if session is None or (key is None and person is None):
        if request.method == "GET":
            return redirect("/console/login")
        return render(request, "error.html", 401, message="log in first")
    if person is not None:  # a person: the config's grants for them and their groups, now
        grants = request.config_dict[KEYS].grants  # as [[access.grants]] are now
        request[SESSION] = session
        request[PRINCIPAL] = Principal.user(
            person["subject"], email=person.get("email"), name=person.get("name"),
            groups=person.get("groups", []), grants=grants,
        )  # fmt: skip
    else:
        assert key is not None
        # The key as configured now decides: its name for the audit log, its grants the rest.
        request[SESSION] = attrs.evolve(session, key_name=key.name, scope=key.scope)
        request[PRINCIPAL] = key.principal()
    if request.method == "POST":
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
            return render(request, "error.html", 403,
                          message="the form's CSRF token is missing or wrong: reload "
                          "the page and try again")  # fmt: skip
    https = request.config_dict[CLIENTS].https(request)
    try:
        return secure(await handler(request), https)
    except GatewayError as exc:
        return secure(render(request, "error.html", status_of(exc), message=str(exc)), https)


def writes(view: View) -> View:
    """A view that writes: refused at once to a caller who may only read (before its form is
    looked at), and run at most once per form (``_once``)."""

    async def run(request: web.Request) -> web.StreamResponse:
        who = request[PRINCIPAL]
        if not who.may_change:
            raise who.refuse("write", "this action")
        if request.method == "POST":
            return await _once(request, request[SESSION], view)
        return await view(request)

    return run


#: How long a form's outcome is kept for a second sending of it (seconds).
ONCE_RETENTION = 24 * 3600.0
#: The write views whose answer shows something once (a new secret): a second sending of their
#: form learns that the action ran, never what it showed (``reveals``).
REVEALING: set[View] = set()


def reveals(view: View) -> View:
    """Mark ``view`` (under ``writes``) as one whose answer is shown once and never stored."""
    REVEALING.add(view)
    return view


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
    kept_answer = answer
    if view in REVEALING and answer.status < 300:  # that it ran, never what it showed
        kept_answer = render(request, "error.html", 409, message="this form was sent "
                             "already and its action ran; what it showed was shown once and "
                             "is not stored")  # fmt: skip
    kept = {k: kept_answer.headers[k] for k in ("Location", "Content-Type")
            if k in kept_answer.headers}  # fmt: skip
    body = kept_answer.body if isinstance(kept_answer, web.Response) else b""
    stored = StoredAnswer(status=kept_answer.status, headers=kept,
                          body=body if isinstance(body, bytes) else b"")  # fmt: skip
    await store.settle(scope, token, stored, time.time(), ONCE_RETENTION)
    return answer


#: The login form's own CSRF cookie (double submit: a cross-site page can neither read it nor
#: set it, so it cannot log a browser into the attacker's session).
LOGIN_COOKIE = "wg_login"


def _login_form(
    request: web.Request, status: int = 200, message: str | None = None
) -> web.Response:
    token = secrets.token_urlsafe(24)
    config = request.config_dict[CONFIG]
    oidc = config.auth.oidc
    response = render(request, "login.html", status, message=message, login_csrf=token,
                      sso=oidc.title if oidc is not None else None,
                      key_login=config.console.api_key_login)  # fmt: skip
    https = request.config_dict[CLIENTS].https(request)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict",
                        path="/console/login", secure=https, max_age=3600)  # fmt: skip
    return response


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if request.method == "GET":
        return _login_form(request)
    if not request.config_dict[CONFIG].console.api_key_login:
        return _login_form(request, 403, "logging in with an API key is turned off here: "
                           "sign in with single sign-on")  # fmt: skip
    clients, failures = request.config_dict[CLIENTS], request.config_dict[FAILED_KEYS]
    address = clients.address(request)
    wait = failures.wait(address)
    if wait:
        page = _login_form(request, 429, "too many wrong API keys from this address: wait "
                           "a minute and try again")  # fmt: skip
        page.headers.update(retry_after(wait))
        return page
    form = await request.post()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(str(form.get("login_csrf", "")), expected):
        return _login_form(request, 403, "the login form expired or came from another site: "
                           "log in again from this page")  # fmt: skip
    presented = str(form.get("api_key", "")).strip()
    keys = request.config_dict[KEYS]
    key = await keys.identify(presented) if presented.isascii() and presented else None
    if key is None:
        failures.failed(address)
        return _login_form(request, 401, "that API key is not valid")
    sessions = request.app[SESSIONS]
    old = request.cookies.get(COOKIE)
    if old:
        await sessions.end(old)  # a login never continues a session it did not start
    session_id, _ = await sessions.start(key)
    response = redirect("/console")
    https = clients.https(request)
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/console",
                        secure=https, max_age=12 * 3600)  # fmt: skip
    response.del_cookie(LOGIN_COOKIE, path="/console/login")
    return secure(response, https)


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
    if name not in ("console.css", "console.js", "favicon.svg"):
        raise web.HTTPNotFound()
    kinds = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
    kind = kinds[name[name.rindex(".") :]]
    body = (HERE / "static" / name).read_bytes()
    response = web.Response(body=body, content_type=kind)
    response.headers["Cache-Control"] = "max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
