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
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import attrs
import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from gateway.codec import (
    capabilities_to_json,
    change_from_json,
    diverted_to_json,
    event_type_to_json,
    ping_to_json,
    spec_from_json,
    webhook_body,
)
from gateway.config import GatewayConfig, ServerConfig
from gateway.errors import FieldProblem, GatewayError, InvalidRequest, StateUnavailable, Unsupported
from gateway.health.relay import relay_forever
from gateway.health.watch import health_rows, watch_forever
from gateway.lifecycle import stop_on_signals, tune_gc
from gateway.model import Webhook
from gateway.origin import acting_as
from gateway.proxy import desired, idempotency, inbound, listing
from gateway.proxy.appkeys import (
    CONFIG,
    CURSORS,
    GATEWAY,
    KEYS,
    MASK_URLS,
    METRICS,
    READ_AHEAD,
)
from gateway.proxy.audit import audit_page
from gateway.proxy.connections import ProxySite, raise_open_files_limit
from gateway.proxy.console import setup_console
from gateway.proxy.keys import ApiKeys
from gateway.proxy.logs import REQUEST_ID, access_log
from gateway.proxy.metrics import CONTENT_TYPE, Metrics
from gateway.proxy.openapi import openapi_document
from gateway.proxy.problems import ProblemError, from_error, problem
from gateway.proxy.read_ahead import ReadAhead
from gateway.registry import Registry
from gateway.service import Account, Gateway
from gateway.transport import tracing

__all__ = ["GATEWAY", "create_app", "serve_forever", "start_proxy"]

log = logging.getLogger("gateway.proxy.server")


@attrs.define
class _Budget:
    """Unauthenticated requests in flight (``/v1/inbound/*``, ``/healthz``), and the most."""

    limit: int
    busy: int = 0


UNKEYED = web.AppKey("unkeyed", _Budget)

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
    account = request.match_info.get("account")
    config = request.app.get(CONFIG)
    known = config is not None and account in config.accounts
    # The server span continues the caller's trace (traceparent); named by the route
    # template, never the raw path with its ids.
    with tracing.span(
        f"{request.method} {route}", "server", parent=tracing.extract(request.headers),
        http__request__method=request.method, http__route=route,
        webhook_gateway__account=account if known else None,
        webhook_gateway__provider=config.accounts[account].provider if known else None,  # type: ignore[union-attr,index]
        webhook_gateway__request_id=rid,
    ):  # fmt: skip
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
            _observe(request, response, time.perf_counter() - started)
            REQUEST_ID.reset(token)


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
    path = request.path
    if path in ("/healthz", "/console") or path.startswith(("/v1/inbound/", "/console/")):
        # /v1/inbound/* is called by providers: the delivery's signature authenticates it; the
        # console by its session cookie, its login page by the key typed in.
        return await _unkeyed(request, handler)
    return await _keyed(request, handler)


async def _unkeyed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unauthenticated requests have a budget of their own (their bodies' reading too), so
    they cannot take the capacity keyed clients need."""
    gate = request.app[UNKEYED]
    if gate.busy >= gate.limit:
        busy = problem(503, "too many unauthenticated requests at once; try again",
                       headers={"Retry-After": "1"})  # fmt: skip
        return await _closing(request, busy)
    gate.busy += 1
    try:
        return await _body_first(request, lambda: _respond(request, handler))
    finally:
        gate.busy -= 1


async def _body_first(
    request: web.Request, then: Callable[[], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Read the request's body within ``request_body_timeout``, on every route, then go on
    (aiohttp keeps what was read for the handler); a body late is 408, connection closed."""
    if request.body_exists and not request.content.is_eof():
        timeout = request.app[CONFIG].server.request_body_timeout
        try:
            async with asyncio.timeout(timeout):
                await request.read()
        except TimeoutError:
            late = ProblemError(408, f"the request body did not arrive within {timeout:g} seconds")
            return await _closing(request, late.response())
        except web.HTTPRequestEntityTooLarge as exc:
            return problem(413, _http_detail(request, exc))
        except RequestPayloadError:  # a body labelled gzip that is not, one cut off, ...
            encoding = request.headers.get("Content-Encoding")
            how = f" as its Content-Encoding ({encoding[:40]}) says" if encoding else ""
            return problem(400, f"the request body could not be read{how}")
    return await then()


async def _keyed(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        # POST /v1/plan only reads: a read key may plan.
        write = request.method not in ("GET", "HEAD", "OPTIONS") and request.path != "/v1/plan"
        name, scope = request.app[KEYS].authorize(request.headers.get("Authorization"), write=write)
    except ProblemError as exc:
        return exc.response()
    # Credentials in webhook URLs (user info, token= parameters) are for write keys' eyes.
    request[MASK_URLS] = scope != "write"
    # The body only once the key is known: nobody without one makes the proxy read a body.
    return await _body_first(request, lambda: _as_key(request, handler, name))


async def _as_key(request: web.Request, handler: Handler, name: str) -> web.StreamResponse:
    with acting_as(f"key:{name}", REQUEST_ID.get()):
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
                name,
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


def _observe(request: web.Request, response: web.StreamResponse | None, seconds: float) -> None:
    metrics = request.app.get(METRICS)
    status = response.status if response is not None else 499
    route = _route(request)
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


def _account(request: web.Request) -> Account:
    return request.app[GATEWAY].account(request.match_info["account"])


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


def _bool(value: str, name: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise InvalidRequest.at(name, "must be true or false")


def _location(request: web.Request, webhook: Webhook) -> str:
    return f"/v1/accounts/{quote(webhook.account, safe='')}/webhooks/{quote(webhook.id, safe='')}"


async def _call(request: web.Request, operation: str, call: Awaitable[Any]) -> Any:
    account = request.match_info.get("account", "")
    kind = request.app[CONFIG].accounts[account].provider
    return await request.app[METRICS].provider_call(kind, account, operation, call)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer, encoded with orjson (several times faster than ``json.dumps``)."""
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


# -- routes -------------------------------------------------------------------------------------


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


# One webhook's routes come first: aiohttp tries the routes under /v1/accounts in the order
# they were added, and reading one webhook is the busiest of them.


@routes.get("/v1/accounts/{account}/webhooks/{id}")
async def get_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    webhook = await _call(request, "get", account.get(request.match_info["id"]))
    body, etag = webhook_body(webhook, mask_urls=request[MASK_URLS])
    wanted = _etags(request, "If-None-Match")
    if wanted is not None and ("*" in wanted or etag in wanted):
        return web.Response(status=304, headers={"ETag": etag})
    return _webhook_answer(body, etag)


@routes.patch("/v1/accounts/{account}/webhooks/{id}")
async def update_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    change = change_from_json(await _json_body(request))
    if_match = _etags(request, "If-Match")
    call = account.update(request.match_info["id"], change, if_match=if_match)
    webhook = await _call(request, "update", call)
    return _webhook_answer(*webhook_body(webhook))


@routes.delete("/v1/accounts/{account}/webhooks/{id}")
async def delete_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    if_match = _etags(request, "If-Match")
    await _call(request, "delete", account.delete(request.match_info["id"], if_match=if_match))
    return web.Response(status=204)


def _webhook_answer(
    body: bytes, etag: str, *, status: int = 200, location: str | None = None
) -> web.Response:
    headers = {"ETag": etag} if location is None else {"ETag": etag, "Location": location}
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def _etags(request: web.Request, header: str) -> list[str] | None:
    """The entity tags of an ``If-Match``/``If-None-Match`` header (None: no header)."""
    if header not in request.headers:
        return None
    return [tag.strip() for tag in request.headers.getall(header) for tag in tag.split(",")]


@routes.get("/v1/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    items = [
        {
            "name": info.name,
            "provider": info.provider,
            "title": info.title,
            "capabilities": capabilities_to_json(info.capabilities),
        }
        for info in request.app[GATEWAY].accounts()
    ]
    return _json({"items": items})


@routes.get("/v1/accounts/{account}/event-types")
async def event_types(request: web.Request) -> web.Response:
    account = _account(request)
    types = await _call(request, "event_types", account.event_types())
    return _json({"items": [event_type_to_json(t) for t in types]})


@routes.get("/v1/accounts/{account}/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    gw, name = request.app[GATEWAY], request.match_info["account"]
    gw.account(name)  # an unknown account is a 404 before the query is looked at
    query = listing.read_query(request.query, listing.scope_of(request, gw))
    page = listing.one_account_page(
        gw, name, query, request.app[CURSORS], request[MASK_URLS], _measure(request, "list"),
        request.app[READ_AHEAD],
    )  # fmt: skip
    return _json(await page)


@routes.post("/v1/accounts/{account}/webhooks")
async def create_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    spec = spec_from_json(await _json_body(request))
    webhook = await _call(request, "create", account.create(spec))
    body, etag = webhook_body(webhook)
    return _webhook_answer(body, etag, status=201, location=_location(request, webhook))


@routes.post("/v1/accounts/{account}/webhooks/{id}/ping")
async def ping_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    result = await _call(request, "ping", account.ping(request.match_info["id"]))
    return _json(ping_to_json(result))


def _extra(request: web.Request, name: str) -> Account:
    """The account, if its provider offers the extra ``ex_{name}`` (else 422 Unsupported)."""
    account = _account(request)
    if not account.has_extra(name):
        raise Unsupported(account.kind, name.replace("_", " "), account=account.name)
    return account


@routes.get("/v1/accounts/{account}/webhooks/{id}/diverted-events")
async def list_diverted(request: web.Request) -> web.Response:
    account = _extra(request, "list_diverted")

    async def collect() -> list[dict[str, Any]]:
        return [
            diverted_to_json(e) async for e in account.ex_list_diverted(request.match_info["id"])
        ]

    items = await _call(request, "list_diverted", collect())
    return _json({"items": items})


@routes.post("/v1/accounts/{account}/webhooks/{id}/diverted-events/{event}/resend")
async def resend_diverted(request: web.Request) -> web.Response:
    account = _extra(request, "resend_diverted")
    call = account.ex_resend_diverted(request.match_info["id"], request.match_info["event"])
    return _json({"result": await _call(request, "resend_diverted", call)})


@routes.delete("/v1/accounts/{account}/webhooks/{id}/diverted-events/{event}")
async def delete_diverted(request: web.Request) -> web.Response:
    account = _extra(request, "delete_diverted")
    call = account.ex_delete_diverted(request.match_info["id"], request.match_info["event"])
    await _call(request, "delete_diverted", call)
    return web.Response(status=204)


@routes.post("/v1/accounts/{account}/webhooks/{id}/rotate-secret")
async def rotate_route(request: web.Request) -> web.Response:
    """Set the new secret given; keep the previous one valid for verification (rotation.py).
    The answer never shows a secret, so the new one comes in the body, like a create's."""
    from gateway.health.rotation import rotate_secret

    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("secret"), str) or not body["secret"]:
        raise InvalidRequest.at("secret", "required: the new secret (it is never shown back)")
    unknown = sorted(set(body) - {"secret", "previous", "grace_hours"})
    if unknown:
        raise InvalidRequest.at(unknown[0], "unknown field")
    previous, grace = body.get("previous"), body.get("grace_hours", 24)
    if previous is not None and not isinstance(previous, str):
        raise InvalidRequest.at("previous", "must be a string")
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 <= grace <= 720:
        raise InvalidRequest.at("grace_hours", "must be a number from 0 to 720")
    name = request.match_info["account"]
    _account(request)  # 404 for an unknown account, before anything else
    state = request.app[CONFIG].state
    if state is None or state.secrets_key is None:
        raise ProblemError(501, "rotation needs [state] with secrets_key (configuration.md)")
    call = rotate_secret(request.app[GATEWAY], name, request.match_info["id"],
                         new=body["secret"], previous=previous, grace=grace * 3600)  # fmt: skip
    rotated = await _call(request, "rotate_secret", call)
    until = rotated.previous_valid_until
    return _json({
        "rotated": request.match_info["id"],
        "previous_valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        if until else None,
    })  # fmt: skip


@routes.post("/v1/accounts/{account}/webhooks/{id}/unsuspend")
async def unsuspend_webhook(request: web.Request) -> web.Response:
    account = _account(request)
    await _call(request, "unsuspend", account.unsuspend(request.match_info["id"]))
    return web.Response(status=204)


@routes.post("/v1/plan")
async def plan_route(request: web.Request) -> web.Response:
    """What applying a manifest would change (a read: a read key will do)."""
    return _json(await desired.plan_answer(request.app[GATEWAY], await _json_body(request)))


@routes.post("/v1/apply")
async def apply_route(request: web.Request) -> web.Response:
    answer = await desired.apply_answer(request.app[GATEWAY], await _json_body(request))
    return answer if isinstance(answer, web.Response) else _json(answer)


@routes.get("/v1/health/webhooks")
async def health_route(request: web.Request) -> web.Response:
    """Each webhook's health as ``watch`` last saw it (needs a state store)."""
    gw = request.app[GATEWAY]
    if gw.store is None:
        raise ProblemError(501, "health needs a state store: configure [state] url")
    unknown = sorted(set(request.query) - {"account"})
    if unknown:
        raise InvalidRequest.at(unknown[0], "unknown query parameter")
    return _json({"items": await health_rows(gw, request.query.get("account"))})


@routes.post("/v1/inbound/{account}")
async def inbound_route(request: web.Request) -> web.Response:
    name = request.match_info["account"]
    config = request.app[CONFIG]
    relay_config = config.inbound.get(name)
    if relay_config is None:
        raise ProblemError(404, f"no inbound relay for account {name!r} ([inbound.{name}])")
    provider = config.accounts[name].provider
    refused = request.app[METRICS].inbound_refused
    return await inbound.relay(request, request.app[GATEWAY], name, provider, relay_config, refused)


@routes.get("/v1/audit")
async def audit_log(request: web.Request) -> web.Response:
    return _json(await audit_page(request, request.app[GATEWAY].store))


@routes.get("/v1/webhooks")
async def list_all_webhooks(request: web.Request) -> web.Response:
    """Every account's webhooks, a page at a time (``gateway.proxy.listing``); a failing
    account is reported, not fatal."""
    gw = request.app[GATEWAY]
    query = listing.read_query(request.query, listing.scope_of(request, gw))
    page = listing.all_accounts_page(
        gw,
        query,
        request.app[CURSORS],
        request[MASK_URLS],
        _measure(request, "list"),
        request.app[CONFIG].server.fanout_concurrency,
    )
    return _json(await page)


def _measure(request: web.Request, operation: str) -> listing.Measure:
    metrics = request.app[METRICS]

    def measure(kind: str, account: str, call: Awaitable[Any]) -> Awaitable[Any]:
        return metrics.provider_call(kind, account, operation, call)

    return measure


#: The routes that honour an Idempotency-Key.
_IDEMPOTENT: frozenset[Any] = frozenset({create_webhook, update_webhook})

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
    app[KEYS] = ApiKeys(config.server.api_keys)
    app[CURSORS] = cursors = listing.Cursors()
    app[READ_AHEAD] = ahead = ReadAhead(
        config.server.list_read_ahead, depth=config.server.list_read_ahead_pages
    )
    server = config.server
    app[UNKEYED] = _Budget(server.max_unauthenticated or max(1, server.max_connections // 4))
    holder: dict[str, Gateway] = {}
    app[METRICS] = Metrics(lambda: holder.get("gw"))

    async def gateway_context(app: web.Application) -> Any:
        if gateway is not None:
            app[GATEWAY] = holder["gw"] = gateway
            if gateway.store is not None:
                cursors.use_key(await gateway.store.secret_key())
            yield
            return
        gw = Gateway(config, registry=registry)
        await _open_patiently(gw)
        try:
            if gw.store is not None:  # replicas sign list cursors with one key
                cursors.use_key(await gw.store.secret_key())
            app[GATEWAY] = holder["gw"] = gw
            yield
        finally:
            await gw.close()

    async def pruning(app: web.Application) -> Any:
        tasks = [asyncio.create_task(_prune_hourly(app[GATEWAY]))]
        if config.inbound:  # the relay's outbox, also what an earlier run left in it
            tasks.append(asyncio.create_task(relay_forever(app[GATEWAY])))
        if config.watch is not None:
            interval, concurrency = config.watch.interval, config.watch.concurrency
            tasks.append(asyncio.create_task(watch_forever(app[GATEWAY], interval, concurrency)))
        yield
        for task in tasks:
            task.cancel()
        await ahead.close()

    app.cleanup_ctx.append(gateway_context)
    app.cleanup_ctx.append(pruning)
    app.add_routes(routes)
    setup_console(app)
    return app


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
    site = ProxySite(
        runner,
        server.host,
        server.port,
        max_connections=server.max_connections,
        max_per_client=server.max_connections_per_client,
        head_timeout=server.request_head_timeout,
    )
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


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
            if left <= 0:
                raise
            log.warning("the state store cannot be reached yet; trying again",
                        extra={"error": str(exc), "seconds_left": round(left, 1)})  # fmt: skip
            await asyncio.sleep(min(wait, left))
            wait = min(wait * 2, 5.0)


async def serve_forever(config: GatewayConfig, *, registry: Registry | None = None) -> None:
    """Serve ``config`` until SIGINT or SIGTERM, then finish in-flight requests and stop.

    In-flight requests get ``server.shutdown_timeout`` seconds to complete; new connections
    are refused from the first signal. Once listening it tunes the garbage collector for a
    server process (``gateway.lifecycle.tune_gc``).
    """
    stop = stop_on_signals()
    runner = await start_proxy(create_app(config, registry=registry), config.server)
    host, port = runner.addresses[0][:2]
    log.info("serving", extra={"url": f"http://{host}:{port}", "accounts": list(config.accounts)})
    print(f"webhook-gateway on http://{host}:{port}", flush=True)
    tune_gc()
    try:
        await stop.wait()
        log.info("stopping: finishing in-flight requests")
    finally:
        await runner.cleanup()
        access_log.flush()
