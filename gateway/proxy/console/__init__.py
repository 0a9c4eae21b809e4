"""The operations console: every account's webhooks on web pages, under ``/console``.

Server-rendered HTML (Jinja2, autoescaped: every provider-supplied string shows as text), readable
without JavaScript; ``static/console.js`` only adds conveniences. Log in with an API key into a
server-side session (``sessions``: cookie ``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind
https); every form carries the session's CSRF token; every page is sent with a strict
``Content-Security-Policy`` (no inline script or style), ``X-Frame-Options: DENY`` and
``Cache-Control: no-store``. A read key sees no write control, and every write is refused for it
here too. Writes go through the same account client as the HTTP API (destination policy, update
locks, ETags: a page loaded before a change gets "changed since you loaded it"), audited under
the key's name. ``[console] enabled = false`` turns it off.

Modules: ``base`` (sessions on requests, rendering, headers, login), ``pages`` (reads),
``actions`` (writes), ``sessions`` (the session store).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.proxy.appkeys import CONFIG, GATEWAY
from gateway.proxy.console import actions, pages
from gateway.proxy.console.base import SESSIONS, TEMPLATES, environment, login_page, logout, static
from gateway.proxy.console.sessions import Sessions

__all__ = ["setup_console"]


def setup_console(app: web.Application) -> None:
    """Add the console's routes to the proxy ``app`` (unless ``[console] enabled = false``)."""
    config = app[CONFIG]
    if not config.console.enabled:
        return
    app[TEMPLATES] = environment()

    async def sessions(app: web.Application) -> Any:
        app[SESSIONS] = Sessions(app[GATEWAY].store, config.console.idle_minutes)
        yield

    app.cleanup_ctx.append(sessions)
    r = app.router
    r.add_route("*", "/console/login", login_page)
    r.add_post("/console/logout", logout)
    r.add_get("/console/static/{name}", static)
    pages.add_routes(r)
    actions.add_routes(r)
