"""The operations console: every account's webhooks on web pages, under ``/console``.

Server-rendered HTML (Jinja2, autoescaped: every provider-supplied string shows as text), readable
without JavaScript; ``static/console.js`` only adds conveniences. Log in with an API key into a
server-side session (``sessions``: cookie ``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind
https); every form carries the session's CSRF token; every page is sent with a strict
``Content-Security-Policy`` (no inline script or style), ``X-Frame-Options: DENY`` and
``Cache-Control: no-store``. Every page and action calls the same operations as the HTTP API
(``gateway.operations``) as the session's key: a read key sees no write control, and every
write is refused for it there; the destination policy, update locks and ETags hold (a page
loaded before a change gets "changed since you loaded it"), audited under the key's name.
``[console] enabled = false`` turns it off.

It is an aiohttp sub-application of the proxy (``console_app``) with middleware of its own
(``base.console_middleware``: the session, CSRF, the security headers), so the proxy's
middleware needs to know nothing of its paths. Modules: ``base`` (the middleware, rendering,
login), ``pages`` (reads), ``actions`` (writes), ``forms`` (create and edit), ``sessions``
(the session store).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.proxy.appkeys import CONFIG, GATEWAY
from gateway.proxy.console import actions, forms, pages, signin
from gateway.proxy.console.base import (
    SESSIONS,
    TEMPLATES,
    console_middleware,
    environment,
    login_page,
    logout,
    static,
)
from gateway.proxy.console.sessions import Sessions

__all__ = ["console_app"]


def console_app(proxy: web.Application) -> web.Application:
    """The console, to be mounted at ``/console`` on the ``proxy`` application (whose gateway,
    keys and operations it uses through ``request.config_dict``)."""
    config = proxy[CONFIG]
    app = web.Application(middlewares=[console_middleware])
    app[TEMPLATES] = environment()

    async def sessions(app: web.Application) -> Any:
        def store() -> Any:  # the gateway opens later with [state] migrate = "manual"
            return proxy[GATEWAY].store

        app[SESSIONS] = Sessions(store, config.console.idle_minutes)
        yield

    app.cleanup_ctx.append(sessions)
    r = app.router
    r.add_route("*", "/login", login_page)
    r.add_post("/logout", logout)
    r.add_get("/static/{name}", static)
    pages.add_routes(r)
    actions.add_routes(r)
    forms.add_routes(r)
    signin.add_routes(r)
    return app
