"""A local Enterprise Core (Socotra) event service, as far as webhooks go: a real aiohttp server.

Start it from Python (``EnterpriseCoreEmulator(...).app()``) or from the command line::

    python -m providers.enterprise_core.emulator --port 8103 [--latency 0.05 ...]

What it does, as document 004 and tests/data/PROVIDER-NOTES.md describe the API:

* Bearer tokens map to permission sets, by security group and permission as the API pages name
  them (``webhooks.read``, ``webhooks.list``, ``webhooks.write``; ``diverted-events.read``,
  ``diverted-events.list``, ``diverted-events.resend``, ``diverted-events.delete``): 401 without
  a valid token, 403 naming the missing permission. The tenant locator in the path must be this
  tenant's (404 otherwise).
* Event types: the catalog of Socotra's OpenAPI document (``events.json``, 193 names) plus the
  tenant's custom events (``custom_events``, as a tenant configuration's ``customEvents``
  declares them). The nine public catalog routes (``GET /policy/events`` ... ``/config/events``,
  no token needed) answer ``{group: {event name: {}}}``; ``catalog`` replaces what they serve
  (a tenant on another release), and a name they serve is one a webhook can subscribe to.
  Assumed: the document types each value as the event's data schema and no page shows a live
  answer, so the values are empty objects.
* Endpoints, the webhook's own and the failure handling's ``alertEndpoint`` alike, are the
  documented objects (Socotra's OpenAPI document, tests/data/enterprise_core/
  event_api_schemas.json): ``CreateEndpointRequest`` on create, ``UpdateEndpointRequest``
  (``addHeaders``/``removeHeaders``) on update, and every ``EndpointResponse`` field on read
  (``url, headers, secureSsl, hmacEnabled, secret, tag``). An ``alertEndpoint`` that is not an
  object (a bare URL string) is 400. With ``return_secrets=False`` reads leave the secrets out,
  as older releases did. Assumed: an unset ``secret`` or ``tag`` reads as ``""`` (the schema
  requires both as strings), and ``FailureHandlingResponse`` carries ``alertEndpoint`` and
  ``retryStrategy`` as null when unset (it requires both, and no value means "none").
* ``GET /event/{tenant}/webhooks/list`` with ``offset``/``count`` and the filters ``name``,
  ``enabled``, ``suspended``, ``eventTypes`` and ``active`` (assumed: enabled and not
  suspended; the document lists it without saying; the gateway never sends it); answers
  ``{listCompleted, items}`` (or a bare array, as older releases did, with ``legacy_list``).
  ``extended`` is accepted and changes nothing (its meaning is not public).
* Events (``EventResponse``): ``locator`` and ``requestId`` are ULIDs, ``userLocator`` a UUID.
* ``POST .../webhooks`` (200), ``GET|PATCH|DELETE .../webhooks/{locator}`` (DELETE 204),
  ``PATCH .../{locator}/unsuspend`` (204). Locators are ULIDs; unknown ones are 404.
* PATCH semantics: removals first, then additions, an item in both is added: event types,
  headers, failure-handling triggers; ``removeFailureHandling`` restores the default.
* Delivery (``POST /_emulator/events {"type", "payload"}``): the event ``{locator, userLocator,
  requestId, timestamp, type, data}`` goes to every enabled, non-suspended subscriber with its
  headers. A failure (a status matching a trigger, or a timeout) is retried per the retry
  strategy; then the alert endpoint is told, ``suspend`` suspends the webhook and ``divert``
  keeps the event, which ``.../{w}/diverted`` lists, fetches, resends and deletes.

Assumed where the documents are silent (each an assumption, not a documented fact):
* Error bodies are ``{status, error, message, requestId}``.
* Names are unique per tenant (a duplicate is 409).
* Listing needs both ``webhooks.read`` and ``webhooks.list`` (document 004: "read,list").
* ``addHeaders`` sets the values of each header it names (replacing earlier values).
* Assumed: with ``hmacEnabled``, deliveries carry ``X-Hmac-Sha256``: Base64(HMAC-SHA256(secret,
  body)). No public page names the header or its encoding.
* Assumed: the alert (no public page shows one) is POSTed to the alert endpoint as
  ``{webhookLocator, eventLocator, status, error}``, with its headers, signed like a delivery
  when its ``hmacEnabled`` is on.
* An event type neither in the catalog nor among the tenant's custom events is 400.
* Without a retry strategy a delivery is tried once. Assumed: ``interval`` is in seconds (the
  schema says only int64; linear: the same wait each time; exponential: doubling); connection
  errors count as ``timeout``.
* Diverted events are the documented ``{eventLocator, requestLocator, failureMessage,
  failureTimestamp, failureTrigger}``, listed as a bare array (the page's
  ``DivertedEventResponse[]``). ``failureTrigger`` is the trigger that matched (``5xx``,
  ``503``, ``timeout``). Resend answers 200 with ``{eventLocator, resent: true}`` and forgets the
  event; a failed resend answers 502 and keeps it. Delete answers 200 with ``{eventLocator}``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.emulation import (
    Deliverer,
    Delivery,
    Faults,
    add_admin_routes,
    banner,
    dumps,
    emulator_parser,
    error_middleware,
    fault_middleware,
    faults_from_args,
    serve,
    ulid,
)
from gateway.emulation.limits import RateLimit, Traffic, limit_from_args, traffic_middleware
from providers.enterprise_core import catalog as catalog_module
from providers.enterprise_core import shapes
from providers.enterprise_core.adapter import CATALOG
from providers.enterprise_core.shapes import DEFAULT_FAILURE_HANDLING, ApiError
from providers.enterprise_core.signature import HMAC_HEADER, sign
from providers.enterprise_core.wire import LOCATOR

__all__ = ["HMAC_HEADER", "EnterpriseCoreEmulator", "main"]

ALL_PERMISSIONS = (
    "webhooks.read",
    "webhooks.list",
    "webhooks.write",
    "diverted-events.read",
    "diverted-events.list",
    "diverted-events.resend",
    "diverted-events.delete",
)
DOCUMENTED_EVENTS = tuple(catalog_module.names(CATALOG))
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _now() -> datetime:
    return datetime.now(UTC)


class EnterpriseCoreEmulator:
    """One tenant's webhooks and diverted events, in memory.

    ``tokens``: bearer token -> permissions. ``time_scale`` multiplies retry intervals (tests
    use a small one). ``locators``: the locators new webhooks get, in order (then random ones),
    for stable ids in the demo and its documented examples. Public state for tests:
    ``webhooks``, ``diverted``, ``deliveries``, ``alerts``, ``writes``, ``faults``.
    """

    def __init__(
        self,
        *,
        tenant_locator: str | None = None,
        tokens: Mapping[str, Sequence[str]] | None = None,
        custom_events: Sequence[str] = (),
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        legacy_list: bool = False,
        return_secrets: bool = True,
        time_scale: float = 1.0,
        delivery_timeout: float = 10.0,
        clock: Callable[[], datetime] = _now,
        locators: Iterable[str] = (),
        strict_bodies: bool = False,
        catalog: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        #: Refuse create and update bodies that lack a field the OpenAPI lists as required
        #: (``shapes.REQUIRED``): the reading of the documents that gives the strictest server.
        self.strict_bodies = strict_bodies
        self._locators = iter(locators)
        self.tenant_locator = tenant_locator or str(uuid.uuid4())
        self.tokens = {t: frozenset(p) for t, p in (tokens or {}).items()}
        #: What each catalog route serves: route path -> group -> event names.
        self.catalog = (
            {path: {g: list(n) for g, n in groups.items()} for path, groups in catalog.items()}
            if catalog is not None
            else {r["path"]: {g: list(n) for g, n in catalog_module.route_answer(r).items()}
                  for r in CATALOG["routes"]}
        )  # fmt: skip
        served = {n for groups in self.catalog.values() for ns in groups.values() for n in ns}
        self.event_types = frozenset(DOCUMENTED_EVENTS) | served | frozenset(custom_events)
        self.faults = faults or Faults()
        self.traffic = Traffic(rate_limit or RateLimit())
        self.legacy_list = legacy_list
        self.return_secrets = return_secrets
        self.time_scale = time_scale
        self.clock = clock
        self.deliverer = Deliverer(timeout=delivery_timeout)
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        # webhook locator -> event locator -> {"response": DivertedEventResponse, "event": ...}
        self.diverted: dict[str, dict[str, dict[str, Any]]] = {}
        self._request_locators: dict[str, str] = {}  # event locator -> its request's locator
        self.deliveries: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.writes = 0

    # -- application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                traffic_middleware(lambda: self.traffic, lambda s: _error_body(s, _REASONS[s])),
                fault_middleware(lambda: self.faults, lambda s: _error_body(s, _REASONS[s])),
                error_middleware(
                    ApiError,
                    lambda e: web.json_response(_error_body(e.status, e.message), status=e.status),
                ),
            ]
        )
        base = "/event/{tenant}/webhooks"
        r = app.router
        r.add_get(f"{base}/list", self._list)
        r.add_post(base, self._create)
        r.add_get(f"{base}/{{w}}", self._get)
        r.add_patch(f"{base}/{{w}}", self._patch)
        r.add_delete(f"{base}/{{w}}", self._delete)
        r.add_patch(f"{base}/{{w}}/unsuspend", self._unsuspend)
        r.add_get(f"{base}/{{w}}/diverted", self._list_diverted)
        r.add_get(f"{base}/{{w}}/diverted/{{e}}", self._get_diverted)
        r.add_delete(f"{base}/{{w}}/diverted/{{e}}", self._delete_diverted)
        r.add_post(f"{base}/{{w}}/diverted/{{e}}/resend", self._resend)
        for path in self.catalog:
            r.add_get(path, self._catalog_route)
        add_admin_routes(app, self)
        return app

    def _authorize(self, request: web.Request, *needed: str) -> None:
        if request.match_info.get("tenant") != self.tenant_locator:
            raise ApiError(404, f"tenant {request.match_info.get('tenant')} not found")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        granted = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if granted is None:
            raise ApiError(401, "a valid bearer token is required")
        for permission in needed:
            if permission not in granted:
                raise ApiError(403, f"missing permission {permission}")
        if request.method != "GET":
            self.writes += 1

    def _webhook(self, request: web.Request) -> dict[str, Any]:
        locator = request.match_info["w"]
        record = self.webhooks.get(locator) if LOCATOR.match(locator) else None
        if record is None:
            raise ApiError(404, f"webhook {locator} not found")
        return record

    # -- webhooks ----------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.read", "webhooks.list")
        q = request.query
        offset, count = shapes.int_param(q, "offset", 0), shapes.int_param(q, "count", 100)
        items = list(self.webhooks.values())
        if "name" in q:
            items = [w for w in items if w["name"] == q["name"]]
        for key in ("enabled", "suspended"):
            if key in q:
                wanted = shapes.bool_param(q, key)
                items = [w for w in items if w[key] == wanted]
        if "active" in q:
            active = shapes.bool_param(q, "active")
            items = [w for w in items if (w["enabled"] and not w["suspended"]) == active]
        wanted_types = [t for v in q.getall("eventTypes", []) for t in v.split(",") if t]
        if wanted_types:
            items = [w for w in items if set(wanted_types) & set(w["eventTypes"])]
        page = [self.shown(w) for w in items[offset : offset + count]]
        if self.legacy_list:
            return web.json_response(page)
        return web.json_response({"listCompleted": offset + len(page) >= len(items), "items": page})

    async def _get(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.read")
        return web.json_response(self.shown(self._webhook(request)))

    def shown(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A stored record as the API answers it: every ``EndpointResponse`` field, the secrets
        included where reads return them (``return_secrets=False``: left out, as older
        releases did)."""
        shown = {
            **record,
            "endpoint": self._endpoint(record["endpoint"], self.secrets.get(record["locator"])),
        }
        alert = record["failureHandling"].get("alertEndpoint")
        shown["failureHandling"] = {
            "alertEndpoint": None,
            "retryStrategy": None,
            **record["failureHandling"],
        }
        if alert is not None:
            shown["failureHandling"]["alertEndpoint"] = self._endpoint(alert, alert["secret"])
        return shown

    def _endpoint(self, endpoint: Mapping[str, Any], secret: str | None) -> dict[str, Any]:
        # The schema requires secret and tag as strings: unset, they are "" (assumed).
        shown = {k: v for k, v in endpoint.items() if k != "secret"}
        shown["tag"] = endpoint.get("tag") or ""
        if self.return_secrets:
            shown["secret"] = secret or ""
        return shown

    async def _create(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.write")
        body = await shapes.json_body(request)
        if self.strict_bodies:
            shapes.check_required(body, "CreateWebhookRequest")
        allowed = {"name", "enabled", "endpoint", "failureHandling", "eventTypes"}
        shapes.known_fields(body, allowed | {"useAutomationPlugin"}, "")
        shapes.typed_field(body, "useAutomationPlugin", bool, None)  # documented; never read back
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ApiError(400, "name: must be a non-empty string")
        if body.get("endpoint") is None:
            raise ApiError(400, "endpoint: required")
        endpoint = shapes.create_endpoint(body["endpoint"], "endpoint")
        secret = endpoint.pop("secret")
        self._check_name(name, None)
        locator = next(self._locators, None) or ulid()
        record: dict[str, Any] = {
            "locator": locator,
            "name": name,
            "enabled": shapes.typed_field(body, "enabled", bool, True),
            "endpoint": endpoint,
            "failureHandling": shapes.failure_handling(body.get("failureHandling")),
            "suspended": False,
            "suspendedAt": None,
            "eventTypes": sorted(self._event_types(body.get("eventTypes", []), "eventTypes")),
        }
        self.webhooks[locator] = record
        if secret:
            self.secrets[locator] = secret
        return web.json_response(self.shown(record))

    async def _patch(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.write")
        record = self._webhook(request)
        body = await shapes.json_body(request)
        if self.strict_bodies:
            shapes.check_required(body, "UpdateWebhookRequest")
        shapes.known_fields(
            body,
            {
                "name",
                "enabled",
                "endpoint",
                "failureHandling",
                "removeFailureHandling",
                "addEventTypes",
                "removeEventTypes",
            },
            "",
        )
        new = dict(record)
        if "name" in body:
            name = shapes.typed_field(body, "name", str, None)
            if not name or not name.strip():
                raise ApiError(400, "name: must be a non-empty string")
            self._check_name(name, record["locator"])
            new["name"] = name
        if "enabled" in body:
            new["enabled"] = shapes.typed_field(body, "enabled", bool, True)
        secret = self.secrets.get(record["locator"])
        if body.get("endpoint") is not None:
            current = {**record["endpoint"], "secret": secret}
            endpoint = shapes.update_endpoint(current, body["endpoint"], "endpoint")
            secret = endpoint.pop("secret")
            new["endpoint"] = endpoint
        fh = (
            dict(DEFAULT_FAILURE_HANDLING)
            if body.get("removeFailureHandling")
            else record["failureHandling"]
        )
        if "failureHandling" in body:
            fh = shapes.update_failure_handling(fh, body["failureHandling"])
        new["failureHandling"] = fh
        remove_types = self._event_types(body.get("removeEventTypes", []), "removeEventTypes")
        add_types = self._event_types(body.get("addEventTypes", []), "addEventTypes")
        new["eventTypes"] = sorted((set(record["eventTypes"]) - remove_types) | add_types)
        self.webhooks[record["locator"]] = new
        if secret:
            self.secrets[record["locator"]] = secret
        return web.json_response(self.shown(new))

    async def _delete(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.write")
        record = self._webhook(request)
        del self.webhooks[record["locator"]]
        self.secrets.pop(record["locator"], None)
        self.diverted.pop(record["locator"], None)
        return web.Response(status=204)

    async def _unsuspend(self, request: web.Request) -> web.Response:
        self._authorize(request, "webhooks.write")
        record = self._webhook(request)
        record["suspended"], record["suspendedAt"] = False, None
        return web.Response(status=204)

    def _check_name(self, name: str, locator: str | None) -> None:
        if any(w["name"] == name and w["locator"] != locator for w in self.webhooks.values()):
            raise ApiError(409, f"a webhook named {name} already exists")

    def _event_types(self, value: Any, path: str) -> set[str]:
        names = set(shapes.string_list(value, path))
        unknown = sorted(names - self.event_types)
        if unknown:
            raise ApiError(400, f"{path}: unknown event type(s) {', '.join(unknown)}")
        return names

    async def _catalog_route(self, request: web.Request) -> web.Response:
        """A public catalog route (``x-securityGroup: public``): no token needed."""
        groups = self.catalog[request.path]
        return web.json_response({g: {name: {} for name in names} for g, names in groups.items()})

    # -- diverted events ---------------------------------------------------------------------

    def _diverted_event(self, request: web.Request) -> dict[str, Any]:
        record = self._webhook(request)
        event = self.diverted.get(record["locator"], {}).get(request.match_info["e"])
        if event is None:
            raise ApiError(404, f"diverted event {request.match_info['e']} not found")
        return event

    async def _list_diverted(self, request: web.Request) -> web.Response:
        self._authorize(request, "diverted-events.read", "diverted-events.list")
        record = self._webhook(request)
        offset, count = (
            shapes.int_param(request.query, "offset", 0),
            shapes.int_param(request.query, "count", 100),
        )
        items = list(self.diverted.get(record["locator"], {}).values())
        return web.json_response([d["response"] for d in items[offset : offset + count]])

    async def _get_diverted(self, request: web.Request) -> web.Response:
        self._authorize(request, "diverted-events.read")
        return web.json_response(self._diverted_event(request)["response"])

    async def _delete_diverted(self, request: web.Request) -> web.Response:
        self._authorize(request, "diverted-events.delete")
        kept = self._diverted_event(request)
        locator = kept["response"]["eventLocator"]
        del self.diverted[kept["webhook"]][locator]
        return web.json_response({"eventLocator": locator})

    async def _resend(self, request: web.Request) -> web.Response:
        self._authorize(request, "diverted-events.resend")
        kept = self._diverted_event(request)
        record = self.webhooks[kept["webhook"]]
        outcome = await self._post(record, kept["event"])
        locator = kept["response"]["eventLocator"]
        if self._trigger(record, outcome) is not None:
            kept["response"]["failureMessage"] = _failure_message(outcome)
            raise ApiError(502, f"resend failed: {_failure_message(outcome)}")
        del self.diverted[record["locator"]][locator]
        return web.json_response({"eventLocator": locator, "resent": True})

    # -- delivery ----------------------------------------------------------------------------

    async def _post(self, record: Mapping[str, Any], event: Mapping[str, Any]) -> Delivery:
        body = dumps(event)
        ep = record["endpoint"]
        headers = {name: ", ".join(values) for name, values in ep["headers"].items()}
        secret = self.secrets.get(record["locator"])
        if ep.get("hmacEnabled") and secret:
            headers[HMAC_HEADER] = sign(body, secret)
        outcome = await self.deliverer.post(ep["url"], body, headers, verify_tls=ep["secureSsl"])
        self.deliveries.append(
            {
                "webhook": record["locator"],
                "type": event.get("type"),
                "status": outcome.status,
                "error": outcome.error,
            }
        )
        return outcome

    async def _alert(self, endpoint: Mapping[str, Any], alert: Mapping[str, Any]) -> Delivery:
        """POST the alert to the alert endpoint as a delivery goes to a webhook's: with its
        headers, signed when ``hmacEnabled`` (assumed: no public page shows an alert)."""
        body = dumps(alert)
        headers = {name: ", ".join(values) for name, values in endpoint["headers"].items()}
        if endpoint.get("hmacEnabled") and endpoint.get("secret"):
            headers[HMAC_HEADER] = sign(body, endpoint["secret"])
        return await self.deliverer.post(
            endpoint["url"], body, headers, verify_tls=endpoint["secureSsl"]
        )

    @staticmethod
    def _trigger(record: Mapping[str, Any], outcome: Delivery) -> str | None:
        """The trigger a delivery's outcome matched (``timeout``, ``5xx``, ``503``), or None."""
        triggers = set(record["failureHandling"].get("triggers", ()))
        if outcome.status is None:
            return "timeout"  # timeouts and connection errors
        if 200 <= outcome.status < 300:
            return None
        for candidate in (str(outcome.status), f"{outcome.status // 100}xx"):
            if candidate in triggers:
                return candidate
        return None

    def _failed(self, record: Mapping[str, Any], outcome: Delivery) -> bool:
        return self._trigger(record, outcome) is not None

    async def deliver(self, record: dict[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
        """One event to one webhook, with retries and the failure handling it configures."""
        fh = record["failureHandling"]
        rs = fh.get("retryStrategy")
        attempts = rs.get("attempts", 3) if rs else 1
        outcome = await self._post(record, event)
        tries = 1
        while self._failed(record, outcome) and tries < attempts:
            assert rs is not None
            interval = rs.get("interval", 1)
            wait = interval * (2 ** (tries - 1) if rs.get("type") == "exponential" else 1)
            await asyncio.sleep(wait * self.time_scale)
            outcome = await self._post(record, event)
            tries += 1
        report: dict[str, Any] = {
            "webhook": record["locator"],
            "status": outcome.status,
            "error": outcome.error,
            "attempts": tries,
        }
        if not self._failed(record, outcome):
            return report
        report["failed"] = True
        if fh.get("alertEndpoint"):
            alert = {
                "webhookLocator": record["locator"],
                "eventLocator": event["locator"],
                "status": outcome.status,
                "error": outcome.error,
            }
            self.alerts.append(alert)
            await self._alert(fh["alertEndpoint"], alert)
        if fh.get("suspend"):
            record["suspended"], record["suspendedAt"] = True, self.clock().isoformat()
            report["suspended"] = True
        if fh.get("divert"):
            locator = event["locator"]
            self.diverted.setdefault(record["locator"], {})[locator] = {
                "webhook": record["locator"],
                "event": dict(event),
                "response": {
                    "eventLocator": locator,
                    "requestLocator": self._request_locators.setdefault(event["locator"], ulid()),
                    "failureMessage": _failure_message(outcome),
                    "failureTimestamp": self.clock().isoformat(),
                    "failureTrigger": self._trigger(record, outcome),
                },
            }
            report["diverted"] = locator
        return report

    async def fire(self, event_type: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Deliver an event to every enabled, non-suspended subscriber."""
        if event_type not in self.event_types:
            raise ApiError(400, f"type: unknown event type {event_type}")
        event = {
            "locator": ulid(),
            "userLocator": str(uuid.uuid4()),  # EventResponse: a UUID
            "requestId": ulid(),  # EventResponse: a ULID, the request that caused the event
            "timestamp": self.clock().isoformat(),
            "type": event_type,
            "data": dict(data or {}),
        }
        targets = [
            w
            for w in self.webhooks.values()
            if w["enabled"] and not w["suspended"] and event_type in w["eventTypes"]
        ]
        reports = await asyncio.gather(*(self.deliver(w, event) for w in targets))
        return {"event": event, "deliveries": list(reports)}

    # -- admin -------------------------------------------------------------------------------

    def add(self, **fields: Any) -> dict[str, Any]:
        """Store a webhook directly (benchmarks, tests); returns its record."""
        locator = next(self._locators, None) or ulid()
        record: dict[str, Any] = {
            "locator": locator,
            "name": f"webhook-{len(self.webhooks) + 1}",
            "enabled": True,
            "endpoint": shapes.create_endpoint({"url": "https://hooks.example.com/in"}, "endpoint"),
            "failureHandling": shapes.failure_handling(None),
            "suspended": False,
            "suspendedAt": None,
            "eventTypes": ["policy.account.create"],
        } | fields
        record["endpoint"].pop("secret")
        self.webhooks[locator] = record
        return record

    def state(self) -> dict[str, Any]:
        return {
            "tenant_locator": self.tenant_locator,
            "webhooks": len(self.webhooks),
            "writes": self.writes,
            "deliveries": self.deliveries[-100:],
            "alerts": self.alerts[-100:],
        }


def _failure_message(outcome: Delivery) -> str:
    return outcome.error or f"HTTP {outcome.status}"


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "status": status,
        "error": _REASONS.get(status, "Error"),
        "message": message,
        "requestId": str(uuid.uuid4()),
    }


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """Run the emulator with one all-permissions demo token."""
    parser = emulator_parser("A local Enterprise Core webhooks API.", 8103, prog)
    parser.add_argument("--tenant", default="8c6b4a52-6d6e-4b0e-9d55-0b8f3f0c2f4e")
    parser.add_argument("--token", default="demo-enterprise-core-token")
    parser.add_argument(
        "--custom-event", action="append", default=[], metavar="TYPE",
        help="a custom event type of the tenant (repeatable), e.g. custom.event.type.a",
    )  # fmt: skip
    parser.add_argument(
        "--webhooks", type=int, default=0, metavar="N", help="start with N sample webhooks"
    )
    args = parser.parse_args(argv)
    emulator = EnterpriseCoreEmulator(
        tenant_locator=args.tenant,
        tokens={args.token: ALL_PERMISSIONS},
        custom_events=args.custom_event,
        faults=faults_from_args(args),
        rate_limit=limit_from_args(args),
    )
    for _ in range(args.webhooks):
        emulator.add()
    serve(
        emulator.app(),
        host=args.host,
        port=args.port,
        announce=lambda url: banner(
            f"Enterprise Core emulator on {url} (tenant {args.tenant})",
            {"tenant_locator": args.tenant, "token": args.token},
            f"""
[accounts.core-local]
provider = "enterprise_core"
base_url = "{url}"
tenant_locator = "{args.tenant}"
token = "{args.token}"
""",
        ),
    )


if __name__ == "__main__":
    main()
