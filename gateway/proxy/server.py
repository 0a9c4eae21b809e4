"""The internal HTTP proxy: the library's operations over JSON (snake_case), one route each.

``create_app(config)`` is the application factory; the ``Gateway`` it serves lives in the app's
cleanup context, so the session and adapters open with the server and close with it. Routes,
errors and examples: docs/http-api.md; the OpenAPI document: ``GET /openapi.json``.

Every route but ``/healthz`` needs ``Authorization: Bearer <api key>`` (``gateway.proxy.keys``);
GET routes need a ``read`` or ``write`` key, the others a ``write`` key. Errors are
problem+json (``gateway.proxy.problems``). Secrets are write-only: answers show ``"***"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import itertools
import logging
import re
import secrets
import signal
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import attrs
import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway.codec import webhook_body
from gateway.config import AccessConfig, GatewayConfig, ServerConfig
from gateway.errors import (
    ConfigError,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    SchemaNewer,
    StateUnavailable,
)
from gateway.health.counts import count_health
from gateway.health.fresh import drain
from gateway.health.relay import relay_forever
from gateway.health.watch import watch_forever
from gateway.lifecycle import stop_on_signals, tune_gc
from gateway.logs import REQUEST_ID, access_log
from gateway.model import Webhook
from gateway.operations import Operations, PlanChanged, Principal, WebhookAnswer
from gateway.operations.held_pages import HeldPages
from gateway.operations.listing import Cursors
from gateway.operations.read_ahead import ReadAhead
from gateway.proxy import device, idempotency, inbound
from gateway.proxy.appkeys import (
    CLIENTS,
    CONFIG,
    FAILED_KEYS,
    GATEWAY,
    KEYS,
    METRICS,
    OIDC,
    OPERATIONS,
    PRINCIPAL,
)
from gateway.proxy.clients import Clients, FailedKeys, retry_after
from gateway.proxy.connections import ProxySite, raise_open_files_limit
from gateway.proxy.console import console_app
from gateway.proxy.keys import ApiKeys
from gateway.proxy.metrics import CONTENT_TYPE, Metrics
from gateway.proxy.oidc import OidcClient
from gateway.proxy.openapi import openapi_document
from gateway.proxy.problems import ProblemError, from_error, problem
from gateway.proxy.readiness import READY, Readiness, readyz
from gateway.registry import Registry
from gateway.service import Gateway
from gateway.transport import tracing

__all__ = ["GATEWAY", "create_app", "serve_forever", "start_proxy"]

log = logging.getLogger("gateway.proxy.server")


@attrs.define
class _Budget:
    """Unauthenticated requests of one kind in flight (``_budget_of``), and the most."""

    limit: int
    busy: int = 0


#: One budget per kind of unauthenticated request: provider deliveries (``inbound``), console
#: logins (``login``) and the rest (``other``), so that none can starve another.
UNKEYED = web.AppKey("unkeyed", dict[str, _Budget])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


# -- middlewares --------------------------------------------------------------------------------


_RUN = secrets.token_hex(4)  # request ids: this process's random prefix and a counter
#: What no query may hold: control characters and lone surrogates (which no store or provider
#: should see). One search, not a test of each character (a list cursor is ~100 of them).
_UNACCEPTED = re.compile("[\x00-\x1f\ud800-\udfff]")
_COUNTER = itertools.count(1)


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, API key, problem answers, metrics and the access log, in one pass.

    A request id is on every answer and every log line (a caller's sane one is kept).
    """
    offered = request.headers.get("X-Request-Id", "")
    if 0 < len(offered) <= 128 and offered.isprintable():
        rid = offered
    else:
        rid = f"{_RUN}{next(_COUNTER):012x}"
    token = REQUEST_ID.set(rid)
    started = time.perf_counter()
    response: web.StreamResponse | None = None
    route = _route(request)
    with await _server_span(request, route, rid) if tracing.enabled() else _UNTRACED:
        try:
            response = await _answer(request, handler)
            if not response.prepared:  # (one sent already, closing, has it)
                response.headers["X-Request-Id"] = rid
            return response
        finally:
            status = response.status if response is not None else 499
            tracing.set_attributes(http__response__status_code=status)
            if status >= 500:
                tracing.failed(RuntimeError(str(status)))
            _observe(request, route, response, time.perf_counter() - started)
            REQUEST_ID.reset(token)


_UNTRACED = contextlib.nullcontext()


async def _server_span(request: web.Request, route: str, rid: str) -> Any:
    """The request's server span: it continues the caller's trace (traceparent) when the
    caller is known; named by the route template, never the raw path with its ids."""
    account = request.match_info.get("account")
    config = request.app.get(CONFIG)
    known = config is not None and account in config.accounts
    return tracing.span(
        f"{request.method} {route}", "server", parent=await _trace_parent(request),
        http__request__method=request.method, http__route=route,
        webhook_gateway__account=account if known else None,
        webhook_gateway__provider=config.accounts[account].provider if known else None,  # type: ignore[union-attr,index]
        webhook_gateway__request_id=rid,
    )  # fmt: skip


async def _trace_parent(request: web.Request) -> Any:
    """The caller's trace context to continue, or None (a new trace): only a caller that
    presents a valid API key, or a trusted proxy, decides the trace (and with it sampling)."""
    if "traceparent" not in request.headers or not tracing.enabled():
        return None
    app = request.app
    if CLIENTS in app and app[CLIENTS].trusted(request.remote):
        return tracing.extract(request.headers)
    if KEYS not in app or _unkeyed_route(request):
        return None
    try:  # (the key is checked again, with its throttle, by _keyed: this only reads it)
        request[PRINCIPAL] = await app[KEYS].authenticate(request.headers.get("Authorization"))
    except ProblemError:
        return None
    return tracing.extract(request.headers)


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the API key, then run the handler as that key's writes (``gateway.origin``),
    at most once per ``Idempotency-Key`` where the route honours one."""
    if request.query_string:
        for name, value in request.query.items():
            if _UNACCEPTED.search(name) or _UNACCEPTED.search(value):
                shown = name if name.isprintable() else "a parameter"
                error = FieldProblem(shown, "holds a control character")
                return problem(400, f"{shown}: control characters are not accepted in a query",
                               errors=[error])  # fmt: skip
    if not request.config_dict[READY].open and request.match_info.handler not in _ALWAYS:
        return problem(503, "starting: the state store is not ready yet (GET /readyz says why)",
                       headers={"Retry-After": "5"})  # fmt: skip
    if _unkeyed_route(request):
        # /v1/inbound/* is called by providers: the delivery's signature authenticates it;
        # a sub-application (the console) authenticates its own way (its session cookie).
        return await _unkeyed(request, handler)
    return await _keyed(request, handler)


def _unkeyed_route(request: web.Request) -> bool:
    """Whether the route needs no API key: one marked so (``_UNKEYED``), one of a
    sub-application, which has middleware of its own (``gateway.proxy.console``), or none."""
    info = request.match_info
    # (an unknown route is a 404 or 405 to anyone: what routes exist is in /openapi.json)
    return len(info.apps) > 1 or info.handler in _UNKEYED or info.http_exception is not None


def _budget_of(request: web.Request) -> str:
    """Which budget an unauthenticated request counts against."""
    if request.match_info.handler is inbound_route:
        return "inbound"
    if request.method == "POST" and request.path.rstrip("/") == "/console/login":
        return "login"
    return "other"


async def _unkeyed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unauthenticated requests have budgets of their own (their bodies' reading too), one per
    kind, so they cannot take the capacity keyed clients need, and slow logins cannot take
    the providers' deliveries'; their bodies have a short deadline."""
    kind = _budget_of(request)
    gate = request.app[UNKEYED][kind]
    if gate.busy >= gate.limit:
        busy = problem(503, "too many unauthenticated requests at once; try again",
                       headers={"Retry-After": "1"})  # fmt: skip
        return await _closing(request, busy)
    gate.busy += 1
    try:
        short = request.app[CONFIG].server.unauthenticated_body_timeout
        return await _body_first(request, lambda: _respond(request, handler), short)
    finally:
        gate.busy -= 1


async def _body_first(
    request: web.Request,
    then: Callable[[], Awaitable[web.StreamResponse]],
    deadline: float | None = None,
) -> web.StreamResponse:
    """Read the request's body within ``deadline`` (``request_body_timeout``), on every route,
    then go on (aiohttp keeps what was read for the handler); a body late is 408, connection
    closed. A multipart form is parsed here instead (aiohttp keeps the form): its parser reads
    the stream, so a body read here first left it nothing, and a form whose body had not all
    arrived when the request came in (the console's plan upload, under load) was a 500."""
    if request.body_exists and not request.content.is_eof():
        server = request.app[CONFIG].server
        timeout = min(deadline or server.request_body_timeout, server.request_body_timeout)
        try:
            async with asyncio.timeout(timeout):
                if request.content_type == "multipart/form-data":
                    await request.post()
                else:
                    await request.read()
        except ValueError:  # a multipart body that is not one (no boundary, cut off, ...)
            return await _closing(request, problem(400, "the request's form could not be read"))
        except TimeoutError:
            late = ProblemError(408, f"the request body did not arrive within {timeout:g} seconds")
            return await _closing(request, late.response())
        except web.HTTPRequestEntityTooLarge as exc:
            return problem(413, _http_detail(request, exc))
        except RequestPayloadError:  # a body labelled gzip that is not, one cut off, ...
            encoding = request.headers.get("Content-Encoding")
            how = f" as its Content-Encoding ({encoding[:40]}) says" if encoding else ""
            # Closed at once: aiohttp would otherwise read on after the answer, into the same
            # unreadable body, and log its error as an unhandled one.
            return await _closing(request, problem(400, f"the request body could not be read{how}"))
    return await then()


async def _keyed(request: web.Request, handler: Handler) -> web.StreamResponse:
    failures = request.app[FAILED_KEYS]
    address = request.app[CLIENTS].address(request)
    wait = failures.wait(address)
    if wait:  # guessing: refused before the key is even looked at
        return problem(429, "too many wrong API keys from this address; try again later",
                       headers=retry_after(wait))  # fmt: skip
    try:
        who = request.get(PRINCIPAL) or await request.app[KEYS].authenticate(
            request.headers.get("Authorization")
        )
    except ProblemError as exc:
        if "Authorization" in request.headers:
            failures.failed(address)
        return exc.response()
    # Who it is; what it may do is the operations' to decide (gateway.operations).
    request[PRINCIPAL] = who
    # The body only once the key is known: nobody without one makes the proxy read a body.
    return await _body_first(request, lambda: _once(request, handler, who))


async def _once(request: web.Request, handler: Handler, who: Principal) -> web.StreamResponse:
    """Run the handler, at most once per ``Idempotency-Key`` where the route honours one."""
    route_handler = request.match_info.handler
    if idempotency.HEADER not in request.headers or route_handler not in _IDEMPOTENT:
        return await _respond(request, handler)
    config = request.app[CONFIG]
    retention = (config.state.idempotency_retention_hours if config.state else 24) * 3600
    return await _respond(
        request,
        lambda r: idempotency.run_once(
            r,
            request.app[GATEWAY].store,
            who.name,
            retention,
            lease=2 * config.http.total_timeout + 30,
            run=lambda: _respond(r, handler),
        ),
    )


async def _closing(request: web.Request, response: web.Response) -> web.Response:
    """Send ``response`` and close the connection now: the rest of a trickled body is not
    waited for (aiohttp would otherwise linger, reading it, for up to 10 s)."""
    response.headers["X-Request-Id"] = REQUEST_ID.get() or ""
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response


async def _respond(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler; turn every failure into a problem answer."""
    try:
        return await handler(request)
    except GatewayError as exc:
        return from_error(exc)
    except ProblemError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = _http_detail(request, exc)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem(exc.status, detail, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return problem(
            500, "an unexpected error occurred; the request id identifies it in the logs"
        )


def _http_detail(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        return f"no route for {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        limit = request.app[CONFIG].server.max_body_bytes
        return f"the request body is larger than {limit} bytes"
    return exc.reason


def _observe(
    request: web.Request, route: str, response: web.StreamResponse | None, seconds: float
) -> None:
    metrics = request.app.get(METRICS)
    status = response.status if response is not None else 499
    account = request.match_info.get("account", "")
    config = request.app.get(CONFIG)
    if config is not None and account in config.accounts:
        provider = config.accounts[account].provider
    else:  # no label per unknown name: callers must not be able to grow the metrics
        account = provider = ""
    if metrics is not None:
        metrics.observe_request(route, request.method, status, account, provider, seconds)
    access_log.write(
        {
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "account": account or None,
        }
    )


def _route(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


# -- helpers ------------------------------------------------------------------------------------


def _ops(request: web.Request) -> Operations:
    return request.app[OPERATIONS]


def _who(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def _json_body(request: web.Request) -> Any:
    """The request's JSON, read as strictly as provider answers are (one parser, orjson): no
    unpaired surrogates, integers within 64 bits, nesting at most ``MAX_JSON_DEPTH`` deep.
    (The body itself was read by ``_answer``, within ``request_body_timeout``.)"""
    raw = await request.read()
    if not raw:
        raise InvalidRequest.at("", "the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest.at("", f"the request body is not valid JSON ({exc})") from None


def _location(webhook: Webhook) -> str:
    return f"/v1/accounts/{quote(webhook.account, safe='')}/webhooks/{quote(webhook.id, safe='')}"


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer, encoded with orjson (several times faster than ``json.dumps``)."""
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _webhook_answer(
    answer: WebhookAnswer, *, status: int = 200, location: str | None = None
) -> web.Response:
    body, etag = webhook_body(answer.webhook, mask_credentials=answer.masked)
    headers = {"ETag": etag} if location is None else {"ETag": etag, "Location": location}
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _account_query(request: web.Request) -> str | None:
    """The ``account`` of a query that takes nothing else (an unknown parameter is a 400)."""
    unknown = sorted(set(request.query) - {"account"})
    if unknown:
        raise InvalidRequest.at(unknown[0], "unknown query parameter")
    return request.query.get("account")


_ETAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"|\*')


def _etags(request: web.Request, header: str) -> list[str] | None:
    """The entity tags of an ``If-Match``/``If-None-Match`` header (None: no header); one
    that is not a quoted tag (RFC 9110: ``"..."``, ``W/"..."`` or ``*``) is a 400 saying so,
    not a 412 that would claim the webhook changed."""
    if header not in request.headers:
        return None
    tags = [tag.strip() for value in request.headers.getall(header) for tag in value.split(",")]
    for tag in tags:
        if not _ETAG.fullmatch(tag):
            shown = tag if tag.isprintable() and len(tag) <= 80 else "a value"
            raise InvalidRequest.at(header, f"{shown} is not an entity tag: quote it, as the "
                                    'ETag header gives it ("...")')  # fmt: skip
    return tags


# -- routes: each parses its HTTP input, calls its operation, renders the answer ---------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


routes.get("/readyz")(readyz)  # gateway/proxy/readiness.py


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    """Browsers ask for it at the root, with no key: the console's icon (no 401 in the log)."""
    raise web.HTTPMovedPermanently("/console/static/favicon.svg")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Every account's figures (their names are labels): for a caller that may read every
    account, or an ``admin``; a team's key sees its own accounts through the API instead."""
    who = _who(request)
    config = request.app[CONFIG]
    if not who.may("admin") and not all(who.may("read", a) for a in config.accounts):
        raise who.refuse("read", "reading every account's metrics", "every account")
    gw = request.app[GATEWAY]
    if gw.store is not None:  # health as every replica sees it now, not as this one last did
        await count_health(gw)
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


# One webhook's routes come first: aiohttp tries the routes under /v1/accounts in the order
# they were added, and reading one webhook is the busiest of them.


@routes.get("/v1/accounts/{account}/webhooks/{id}")
async def get_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    answer = await _ops(request).get(_who(request), m["account"], m["id"])
    response = _webhook_answer(answer)
    wanted = _etags(request, "If-None-Match")
    etag = response.headers["ETag"]
    if wanted is not None and ("*" in wanted or etag in wanted):
        return web.Response(status=304, headers={"ETag": etag})
    return response


@routes.patch("/v1/accounts/{account}/webhooks/{id}")
async def update_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    who, if_match = _who(request), _etags(request, "If-Match")
    _ops(request).check_first(who, "write", "updating a webhook", m["account"])  # before the body
    body = await _json_body(request)
    answer = await _ops(request).update(who, m["account"], m["id"], body, if_match=if_match)
    return _webhook_answer(answer)


@routes.delete("/v1/accounts/{account}/webhooks/{id}")
async def delete_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    if_match = _etags(request, "If-Match")
    await _ops(request).delete(_who(request), m["account"], m["id"], if_match=if_match)
    return web.Response(status=204)


@routes.get("/v1/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    return _json((await _ops(request).accounts(_who(request))).to_json())


@routes.get("/v1/whoami")
async def whoami(request: web.Request) -> web.Response:
    return _json(await _ops(request).whoami(_who(request)))


@routes.post("/v1/accounts/{account}/webhooks/{id}/owner")
async def transfer_webhook(request: web.Request) -> web.Response:
    m, who = request.match_info, _who(request)
    _ops(request).check_first(who, "write", "handing a webhook over", m["account"])
    body = await _json_body(request)
    return _json(await _ops(request).transfer(who, m["account"], m["id"], body))


@routes.post("/v1/login/device")
async def login_device(request: web.Request) -> web.Response:
    """Start a person's sign-in at the command line (no key: the person has none yet)."""
    found = await device.start(request.app.get(OIDC), request.app[GATEWAY].store)
    return _json(found, headers={"Cache-Control": "no-store"})


@routes.post("/v1/login/token")
async def login_token(request: web.Request) -> web.Response:
    found = await device.poll(request.app.get(OIDC), request.app[GATEWAY].store,
                              await _json_body(request))  # fmt: skip
    return _json(found, status=400 if "error" in found else 200,
                 headers={"Cache-Control": "no-store"})  # fmt: skip


@routes.post("/v1/login/browser")
async def login_browser(request: web.Request) -> web.Response:
    """Start a person's sign-in whose provider has no device flow: the code flow, sent back
    to the command line's loopback ``redirect_uri`` (no key)."""
    found = await device.browser_start(request.app.get(OIDC), request.app[GATEWAY].store,
                                       await _json_body(request))  # fmt: skip
    return _json(found, headers={"Cache-Control": "no-store"})


@routes.post("/v1/login/code")
async def login_code(request: web.Request) -> web.Response:
    found = await device.browser_finish(request.app.get(OIDC), request.app[GATEWAY].store,
                                        await _json_body(request))  # fmt: skip
    return _json(found, headers={"Cache-Control": "no-store"})


@routes.post("/v1/login/refresh")
async def login_refresh(request: web.Request) -> web.Response:
    found = await device.refresh(request.app[GATEWAY].store, await _json_body(request))
    return _json(found, headers={"Cache-Control": "no-store"})


@routes.delete("/v1/login")
async def logout(request: web.Request) -> web.Response:
    """End the caller's sign-in (a person's access token; a key is revoked with /v1/keys)."""
    _who(request)
    token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    store = request.app[GATEWAY].store
    if store is not None and token.startswith("wgu_"):
        await device.end(store, token)
    return web.Response(status=204)


@routes.post("/v1/keys")
async def create_key(request: web.Request) -> web.Response:
    who = _who(request)
    _ops(request).check_first(who, "admin", "issuing a key")  # before the body
    issued = await _ops(request).create_key(who, await _json_body(request))
    return _json(issued.to_json(), status=201, headers={"Cache-Control": "no-store"})


@routes.get("/v1/keys")
async def list_keys(request: web.Request) -> web.Response:
    return _json((await _ops(request).keys(_who(request))).to_json())


@routes.delete("/v1/keys/{id}")
async def revoke_key(request: web.Request) -> web.Response:
    await _ops(request).revoke_key(_who(request), request.match_info["id"])
    return web.Response(status=204)


@routes.get("/v1/accounts/{account}/event-types")
async def event_types(request: web.Request) -> web.Response:
    answer = await _ops(request).event_types(_who(request), request.match_info["account"])
    return _json(answer.to_json())


@routes.get("/v1/accounts/{account}/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    name = request.match_info["account"]
    return _json(await _ops(request).list_page(_who(request), name, request.query))


@routes.post("/v1/accounts/{account}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    who = _who(request)
    _ops(request).check_first(who, "write", "creating a webhook", request.match_info["account"])
    body = await _json_body(request)
    answer = await _ops(request).create(who, request.match_info["account"], body)
    return _webhook_answer(answer, status=201, location=_location(answer.webhook))


@routes.post("/v1/accounts/{account}/webhooks/{id}/ping")
async def ping_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    return _json(await _ops(request).ping(_who(request), m["account"], m["id"]))


@routes.get("/v1/accounts/{account}/webhooks/{id}/diverted-events")
async def list_diverted(request: web.Request) -> web.Response:
    m = request.match_info
    return _json((await _ops(request).diverted(_who(request), m["account"], m["id"])).to_json())


@routes.post("/v1/accounts/{account}/webhooks/{id}/diverted-events/{event}/resend")
async def resend_diverted(request: web.Request) -> web.Response:
    m = request.match_info
    result = await _ops(request).resend_diverted(_who(request), m["account"], m["id"], m["event"])
    return _json({"result": result})


@routes.delete("/v1/accounts/{account}/webhooks/{id}/diverted-events/{event}")
async def delete_diverted(request: web.Request) -> web.Response:
    m = request.match_info
    await _ops(request).delete_diverted(_who(request), m["account"], m["id"], m["event"])
    return web.Response(status=204)


@routes.post("/v1/accounts/{account}/webhooks/{id}/rotate-secret")
async def rotate_route(request: web.Request) -> web.Response:
    """The new secret comes in the body, like a create's; the answer never shows it."""
    m, who = request.match_info, _who(request)
    _ops(request).check_first(who, "secrets", "rotating a secret", m["account"])  # before the body
    body = await _json_body(request)
    return _json((await _ops(request).rotate(who, m["account"], m["id"], body)).to_json())


@routes.post("/v1/accounts/{account}/webhooks/{id}/unsuspend")
async def unsuspend_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    await _ops(request).unsuspend(_who(request), m["account"], m["id"])
    return web.Response(status=204)


@routes.post("/v1/accounts/{account}/custom-events")
async def trigger_custom(request: web.Request) -> web.Response:
    """Send a custom event through the provider (UiPath's TriggerCustom): the body is its data."""
    event = await _ops(request).trigger_custom(
        _who(request), request.match_info["account"], await _json_body(request)
    )
    return _json(event)


@routes.post("/v1/plan")
async def plan_route(request: web.Request) -> web.Response:
    """What applying a manifest would change (a read: a read key will do)."""
    made = await _ops(request).plan(_who(request), await _json_body(request))
    return _json(made.to_json())


@routes.post("/v1/apply")
async def apply_route(request: web.Request) -> web.Response:
    who = _who(request)
    if not who.may_change:  # before the body
        raise who.refuse("write", "applying a plan")
    try:
        applied = await _ops(request).apply(who, await _json_body(request))
    except PlanChanged as changed:
        return problem(409, changed.message, current_plan=changed.current.to_json())
    return _json(applied.to_json())


@routes.get("/v1/export")
async def export_route(request: web.Request) -> web.Response:
    """The manifest of what exists (``?account=``: one account), secrets as placeholders."""
    exported = await _ops(request).export(_who(request), _account_query(request))
    return _json(exported.to_json())


@routes.get("/v1/health/webhooks")
async def health_route(request: web.Request) -> web.Response:
    """Each webhook's health as ``watch`` last saw it (needs a state store)."""
    rows = await _ops(request).health(_who(request), _account_query(request))
    return _json(rows.to_json())


@routes.post("/v1/inbound/{account}")
@routes.post("/v1/inbound/{account}/{subscription}")
async def inbound_route(request: web.Request) -> web.Response:
    name = request.match_info["account"]
    subscription = request.match_info.get("subscription")
    config = request.app[CONFIG]
    relay_config = config.inbound.get(name)
    if relay_config is None:
        raise ProblemError(404, f"no inbound relay for account {name!r} ([inbound.{name}])")
    if subscription is not None and not _SUBSCRIPTION.fullmatch(subscription):
        raise ProblemError(404, "a subscription's inbound path is 1-128 letters, digits, '.', "
                           "'_' or '-'")  # fmt: skip
    provider = config.accounts[name].provider
    refused = request.app[METRICS].inbound_refused
    return await inbound.relay(request, request.app[GATEWAY], name, provider, relay_config,
                               refused, subscription)  # fmt: skip


#: What names a subscription in its inbound path.
_SUBSCRIPTION = re.compile(r"[A-Za-z0-9._-]{1,128}")


@routes.get("/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    return _json(await _ops(request).audit(_who(request), request.query))


@routes.get("/v1/webhooks")
async def list_all_webhooks(request: web.Request) -> web.Response:
    """Every account's webhooks, a page at a time (``gateway.operations.listing``); a failing
    account is reported, not fatal."""
    return _json(await _ops(request).list_page(_who(request), None, request.query))


#: The routes that honour an Idempotency-Key.
_IDEMPOTENT: frozenset[Any] = frozenset({create_webhook, update_webhook})
#: The routes served while the gateway is still opening (``[state] migrate = "manual"``).
_ALWAYS: frozenset[Any] = frozenset({healthz, readyz, favicon})
#: The routes that need no API key (``_unkeyed_route``).
_UNKEYED: frozenset[Any] = frozenset(
    {
        healthz,
        readyz,
        favicon,
        inbound_route,
        login_device,
        login_token,
        login_refresh,
        login_browser,
        login_code,
    }
)

# -- the application ----------------------------------------------------------------------------


def create_app(
    config: GatewayConfig,
    *,
    registry: Registry | None = None,
    gateway: Gateway | None = None,
) -> web.Application:
    """The proxy for ``config``; it opens its ``Gateway`` on start-up and closes it on clean-up.

    Pass ``gateway`` to serve one you manage yourself (it is then neither opened nor closed).
    """
    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[gateway_middleware],
    )
    app[CONFIG] = config
    app[READY] = Readiness()
    app[KEYS] = ApiKeys(config.server.api_keys, config.access.to_grants())
    if config.auth.oidc is not None:
        app[OIDC] = OidcClient(config.auth.oidc)
    cursors = Cursors()
    ahead = ReadAhead(config.server.list_read_ahead, depth=config.server.list_read_ahead_pages)
    server = config.server
    each = server.max_unauthenticated or max(1, server.max_connections // 4)
    app[UNKEYED] = {kind: _Budget(each) for kind in ("inbound", "login", "other")}
    app[CLIENTS] = Clients(server)
    app[FAILED_KEYS] = FailedKeys(server.max_failed_keys_per_minute)
    holder: dict[str, Gateway] = {}
    app[METRICS] = metrics = Metrics(lambda: holder.get("gw"))
    # Set before the application starts (its state is frozen then); served once it is open.
    gw = gateway or Gateway(config, registry=registry)
    app[GATEWAY] = gw
    held = HeldPages(config.server.list_read_ahead)
    app[OPERATIONS] = Operations(gw, cursors=cursors, read_ahead=ahead, held=held,
                                 observe=metrics.provider_call,
                                 fanout=config.server.fanout_concurrency)  # fmt: skip
    background: list[asyncio.Task[Any]] = []

    async def opened(patient: bool = True) -> None:
        """Open the gateway (unless the caller manages it), then serve: its loops start."""
        if gateway is None:
            await (_open_patiently(gw) if patient else gw.open())
        if gw.store is not None:  # replicas sign list cursors with one key
            cursors.use_key(await gw.store.secret_key())
        app[KEYS].use_store(gw.store)  # keys issued at run time are kept there
        holder["gw"] = gw
        app[READY].open = True
        background.append(asyncio.create_task(_prune_hourly(gw)))
        if config.inbound:  # the relay's outbox, also what an earlier run left in it
            background.append(asyncio.create_task(relay_forever(gw)))
        if config.watch is not None:
            interval, concurrency = config.watch.interval, config.watch.concurrency
            background.append(asyncio.create_task(watch_forever(gw, interval, concurrency)))

    async def gateway_context(app: web.Application) -> Any:
        waiting = gateway is None and config.state is not None and config.state.migrate == "manual"
        once = functools.partial(opened, patient=False)
        opening = (asyncio.create_task(_waiting_for_schema(once, app[READY]))
                   if waiting else None)  # fmt: skip
        if opening is None:
            await opened()
        try:
            yield
        finally:
            if opening is not None:
                opening.cancel()
                await asyncio.gather(opening, return_exceptions=True)
            for task in background:  # watch releases its locks, the relay hands back its holds
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await ahead.close()
            if gateway is None:
                await drain(gw)  # the sinks' deliveries of refreshed health (fresh.py)
                await gw.close()

    app.cleanup_ctx.append(gateway_context)
    app.add_routes(routes)
    if config.console.enabled:
        app.add_subapp("/console", console_app(app))
    return app


async def _waiting_for_schema(opened: Callable[[], Awaitable[None]], ready: Readiness) -> None:
    """``[state] migrate = "manual"``: open the gateway in the background, while the proxy
    already listens (``/readyz`` 503 ``starting`` with why, every other route 503), until the
    store answers with its schema migrated: tried every 5 s, for as long as it takes (a
    migration Job, a database starting).
    A schema newer than this release is not waited for: said, and the replica stays not
    ready."""
    while True:
        try:
            await opened()
            log.info("the state store is ready: serving")
            return
        except SchemaNewer as exc:
            ready.waiting = str(exc)
            log.error("this release cannot run on the state store", extra={"error": str(exc)})
            return
        except StateUnavailable as exc:
            ready.waiting = str(exc)
            log.warning("still waiting for the state store", extra={"error": str(exc)})
            await asyncio.sleep(5.0)
        except Exception as exc:  # anything else: said, and the replica stays not ready
            ready.waiting = f"the gateway could not start: {exc}"
            log.exception("the gateway could not start", extra={"error": str(exc)})
            return


async def _prune_hourly(gw: Gateway) -> None:
    """Drop expired idempotency records and old audit entries, at start and then hourly."""
    while gw.store is not None:
        try:
            gone = await gw.prune()
            if gone:
                log.info("pruned the state store", extra={"rows": gone})
        except GatewayError as exc:
            log.warning("pruning the state store failed", extra={"error": exc.message})
        await asyncio.sleep(3600)


async def start_proxy(app: web.Application, server: ServerConfig) -> web.AppRunner:
    """Set ``app`` up and listen where ``server`` says, within its connection limits
    (``gateway.proxy.connections``); the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=server.shutdown_timeout)
    await runner.setup()
    raise_open_files_limit(server.max_connections)
    try:
        tls = _tls_context(server)
    except BaseException:
        await runner.cleanup()
        raise
    site = ProxySite(
        runner,
        server.host,
        server.port,
        max_connections=server.max_connections,
        max_per_client=server.max_connections_per_client,
        head_timeout=server.request_head_timeout,
        ssl_context=tls,
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _tls_context(server: ServerConfig) -> ssl.SSLContext | None:
    """The TLS of ``[server] tls_cert``/``tls_key`` (TLS 1.2 at least), or None: plain HTTP,
    said once in the log when it listens beyond loopback with no trusted proxy in front."""
    if server.tls_cert is None or server.tls_key is None:
        if not _loopback(server.host) and not server.trusted_proxies:
            log.warning("serving plain HTTP beyond loopback: set [server] tls_cert and tls_key, "
                        "or put a TLS-terminating proxy in front and list it in [server] "
                        "trusted_proxies", extra={"host": server.host})  # fmt: skip
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(server.tls_cert, server.tls_key)
    except (OSError, ssl.SSLError) as exc:
        why = f"cannot load the certificate and key: {exc}"
        raise ConfigError(problems=[FieldProblem("server.tls_cert", why)]) from None
    return context


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _open_patiently(gw: Gateway) -> None:
    """Open ``gw``; while its state store cannot be reached, try again with backoff for up to
    ``[state] connect_timeout`` seconds (a database starting after the gateway), then give up
    with the store's error."""
    budget = gw.config.state.connect_timeout if gw.config.state is not None else 0.0
    give_up = time.monotonic() + budget
    wait = 0.25
    while True:
        try:
            await gw.open()
            return
        except StateUnavailable as exc:
            left = give_up - time.monotonic()
            if left <= 0 or isinstance(exc, SchemaNewer):  # waiting would not help
                raise
            log.warning("the state store cannot be reached yet; trying again",
                        extra={"error": str(exc), "seconds_left": round(left, 1)})  # fmt: skip
            await asyncio.sleep(min(wait, left))
            wait = min(wait * 2, 5.0)


def use_access(app: web.Application, access: AccessConfig) -> None:
    """Decide with ``access`` (``[[access.grants]]``) from now on: the proxy's keys and
    sessions at their next request, watch's own writes at its next look."""
    app[KEYS].use_grants(access.to_grants())
    if GATEWAY in app:
        gw = app[GATEWAY]
        gw.config = attrs.evolve(gw.config, access=access)
    log.info("grants in force", extra={"grants": len(access.grants)})


async def serve_forever(
    config: GatewayConfig,
    *,
    registry: Registry | None = None,
    reread: Callable[[], GatewayConfig] | None = None,
) -> None:
    """Serve ``config`` until SIGINT or SIGTERM, then finish in-flight requests and stop.

    In-flight requests get ``server.shutdown_timeout`` seconds to complete; new connections
    are refused from the first signal. On SIGHUP the grants are read again (``reread``: the
    config file, whole and checked; one with a problem is logged and changes nothing). Once
    listening it tunes the garbage collector for a server process (``gateway.lifecycle.tune_gc``).
    """
    stop = stop_on_signals()
    app = create_app(config, registry=registry)
    if reread is not None:

        def reload() -> None:
            try:
                use_access(app, reread().access)
            except GatewayError as exc:
                log.error("the config read again has problems: the grants stay as they were",
                          extra={"error": str(exc)})  # fmt: skip

        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    runner = await start_proxy(app, config.server)
    host, port = runner.addresses[0][:2]
    log.info("serving", extra={"url": f"http://{host}:{port}", "accounts": list(config.accounts)})
    print(f"webhook-gateway on http://{host}:{port}", flush=True)
    tune_gc()
    try:
        await stop.wait()
        app[READY].stopping = True  # /readyz: 503 from now on
        if config.server.shutdown_delay:
            log.info("stopping: not ready; still serving for shutdown_delay",
                     extra={"seconds": config.server.shutdown_delay})  # fmt: skip
            await asyncio.sleep(config.server.shutdown_delay)
        log.info("stopping: finishing in-flight requests")
    finally:
        await runner.cleanup()
        access_log.flush()
