"""A local UiPath Orchestrator, as far as webhooks go: a real ``aiohttp.web`` server.

Start it from Python (``UiPathEmulator(...).app()``) or from the command line::

    python -m providers.uipath.emulator --port 8101 [--latency 0.05 --error-rate 0.1 ...]

What it does, as documents 000-002 and tests/data/PROVIDER-NOTES.md describe Orchestrator:

* ``POST /identity_/connect/token``: client credentials (form); an unknown client or a wrong
  secret is 400 ``invalid_client``; a scope the client was not granted is 400 ``invalid_scope``.
* Every ``/odata`` call needs ``Authorization: Bearer`` (an issued token or a configured personal
  access token): 401 without; reads need ``OR.Webhooks`` or ``OR.Webhooks.Read``, writes and
  ping ``OR.Webhooks`` or ``OR.Webhooks.Write``: 403 otherwise.
* ``/odata/Webhooks``: ``$filter`` (a real OData parser), ``$orderby``, ``$top`` (above 1000:
  400 / errorCode 1000), ``$skip``, ``$count=true``; ``@odata.context``; ids increase from 1.
* ``GET|PUT|PATCH|DELETE /odata/Webhooks({id})`` (PUT replaces the record, PATCH merges the
  properties it carries; a collection such as ``Events`` is replaced whole, as OData PATCH
  does); ``POST /odata/Webhooks`` answers 201.
* ``mask_secrets``: answers show a fixed mask (``********``) instead of a stored secret, as
  some tenants do; the stored secret is unchanged and still signs deliveries.
* Unknown ids: 404 / errorCode 1002; a name already used: 409 / errorCode 1001; invalid
  bodies: 400 / errorCode 1000, naming the property.
* ``GetEventTypes()``: the whole catalog of document 001 (28 events, with groups).
* ``Ping``: POSTs a signed ``ping`` event to the webhook's URL and returns it.
* Admin routes (no auth, never faulted): ``POST /_emulator/events`` fires a catalog event, with
  document 001's example payload for its type, to every subscriber; ``GET /_emulator/state``;
  ``PUT /_emulator/faults``.

Delivery: JSON POST with ``X-UiPath-Signature`` (Base64 HMAC-SHA256 of the body, when the webhook
has a secret); every payload carries the fields "About webhooks" lists as common to every
payload (``Name``, ``Type``, ``EventId``, ``Timestamp``, ``TenantId``, ``UserId``, ``FolderId``,
the last absent for modern robots) and, assumed (older payloads and the swagger's DTOs carry
it; the list does not), ``OrganizationUnitId``. A failed delivery opens the circuit breaker,
"disabling the webhook for one hour" (Orchestrator's "About webhooks" page): its events of
that hour are dropped, and then it is enabled again (on-premises: ``breaker_seconds``, with
``retry_after`` and ``max_retries`` before it). Assumed: the record reads ``Enabled: false``
for that hour (``breaker_disables=False`` models the other reading: ``Enabled`` stays true).

Assumed where the documents are silent (one line each):
* A duplicate name is 409 (document 002) with errorCode 1001; names compare case-insensitively.
* 401 and 403 bodies are ``{message, errorCode: 0, traceId}``.
* A ping whose delivery fails answers 400 / errorCode 1000 naming the failure.
* A ``$filter`` of more than 100 nodes is 400 / errorCode 1000 (ASP.NET OData's default
  ``MaxNodeCount``); ``Id eq N`` joined by ``or`` is answered by key lookup, like a database.
* The breaker's disabling is the record's ``Enabled`` (the page's word, "disabling", is the one
  it uses for ``Enabled``; no page says so outright). A write that sets ``Enabled`` while the
  breaker is open takes over: ``true`` closes the breaker at once, ``false`` keeps the webhook
  disabled after the hour.
* Folder headers (``X-UIPATH-OrganizationUnitId``) are echoed in ping events, not used to scope;
  ``FolderId`` carries the same value as ``OrganizationUnitId``.
* ``GetEventTypes`` answers with and without ``()`` (document 000 writes it with).
* ``POST /odata/Webhooks`` creates (201 with the entity; from generated clients, no seed page
  shows it); ``DELETE`` answers 204; errorCodes 1000/1001/1002 come from the provider notes
  (tests/data/PROVIDER-NOTES.md).
* ``PATCH`` answers 204 No Content (OData's default), or 200 with the entity when the request
  says ``Prefer: return=representation``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

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
    is_json_type,
    json_object,
    serve,
    trace_id,
)
from gateway.emulation.limits import RateLimit, Traffic, limit_from_args, traffic_middleware
from providers.uipath.odata_filter import ODataError, compile_filter, key_lookup, sort_key
from providers.uipath.signature import SIGNATURE_HEADER, sign

__all__ = ["CATALOG", "UiPathEmulator", "main"]

CATALOG: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "events.json").read_text(encoding="utf-8")
)["events"]

READ_SCOPES = frozenset({"OR.Webhooks", "OR.Webhooks.Read"})
WRITE_SCOPES = frozenset({"OR.Webhooks", "OR.Webhooks.Write"})
MAX_TOP = 1000
PROPERTIES = (
    "Key",
    "Name",
    "Description",
    "Url",
    "Enabled",
    "Secret",
    "SubscribeToAllEvents",
    "AllowInsecureSsl",
    "Id",
    "Events",
)
WRITABLE = frozenset(PROPERTIES) - {"Id", "Key"}
SECRET_MASK = "********"  # noqa: S105 - what masking tenants show instead of a secret
_ENTITY = re.compile(r"^Webhooks\((?P<key>[^)]*)\)$")
PING = "UiPath.Server.Configuration.OData.Ping"
TRIGGER_CUSTOM = "UiPath.Server.Configuration.OData.TriggerCustom"
#: The function, with ``()`` as document 000 writes it and without, as generated clients call it.
GET_EVENT_TYPES = frozenset(
    {"UiPath.Server.Configuration.OData.GetEventTypes()",
     "UiPath.Server.Configuration.OData.GetEventTypes"}
)  # fmt: skip


class ODataFailure(Exception):
    """An Orchestrator error answer: status, errorCode, message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _failure_response(exc: ODataFailure) -> web.Response:
    return web.json_response(
        {"message": exc.message, "errorCode": exc.code, "traceId": trace_id()}, status=exc.status
    )


def _bad(message: str) -> ODataFailure:
    return ODataFailure(400, 1000, message)


def _folder(request: web.Request) -> int | None:
    """The folder a request names (``X-UIPATH-OrganizationUnitId``), echoed in its events."""
    folder = request.headers.get("X-UIPATH-OrganizationUnitId")
    return int(folder) if folder and folder.isdigit() else None


def _now() -> str:
    # Orchestrator writes 7 fractional digits and a Z (document 000's ping example).
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class UiPathEmulator:
    """One Orchestrator tenant's webhooks, in memory.

    ``clients``: client id -> (secret, granted scopes). ``personal_tokens``: token -> scopes.
    State is public for tests and benchmarks: ``webhooks`` (records by id), ``token_requests``,
    ``writes`` (POST/PUT/PATCH/DELETE on /odata), ``deliveries``, ``faults``.
    """

    def __init__(
        self,
        *,
        clients: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        personal_tokens: Mapping[str, Sequence[str]] | None = None,
        faults: Faults | None = None,
        rate_limit: RateLimit | None = None,
        token_lifetime: int = 3600,
        breaker_seconds: float = 3600.0,
        breaker_disables: bool = True,
        retry_after: Sequence[float] = (),
        max_retries: int = 0,
        delivery_timeout: float = 10.0,
        tenant_id: int = 1,
        user_id: int = 2,
        clock: Callable[[], float] = time.monotonic,
        mask_secrets: bool = False,
    ) -> None:
        self.mask_secrets = mask_secrets
        self.clients = {
            cid: (secret, frozenset(scopes)) for cid, (secret, scopes) in (clients or {}).items()
        }
        self.personal_tokens = {t: frozenset(s) for t, s in (personal_tokens or {}).items()}
        self.faults = faults or Faults()
        self.traffic = Traffic(rate_limit or RateLimit())
        self.token_lifetime = token_lifetime
        self.breaker_seconds = breaker_seconds
        self.breaker_disables = breaker_disables
        #: A failed delivery is tried again ``max_retries`` times, after ``retry_after[i]``
        #: seconds (the last repeated), before the breaker opens: on-premises Orchestrator's
        #: ``Webhooks`` appsettings say ``RetryAfter`` [0s, 45s, 2m30s, 5m], ``MaxRetryRequests``
        #: 2 and ``SubscriberCircuitBreakerExpirationSeconds`` 600 (standalone installation
        #: guide); Automation Cloud documents no retries, and an hour's breaker.
        self.retry_after = tuple(retry_after)
        self.max_retries = max_retries
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.clock = clock
        self.deliverer = Deliverer(timeout=delivery_timeout)
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.token_requests = 0
        self.writes = 0
        self.deliveries: list[dict[str, Any]] = []
        self.breaker_until: dict[int, float] = {}
        self._issued: dict[str, tuple[frozenset[str], float]] = {}
        self._next_id = 1
        self._catalog = {e["Name"].casefold(): e for e in CATALOG}

    # -- application -------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                traffic_middleware(lambda: self.traffic, self._fault_body),
                fault_middleware(lambda: self.faults, self._fault_body),
                error_middleware(ODataFailure, _failure_response),
            ]
        )
        app.router.add_post("/identity_/connect/token", self._token)
        app.router.add_route("*", "/odata/{entity}", self._collection_or_entity)
        app.router.add_route("*", "/odata/{entity}/{action}", self._action)
        add_admin_routes(app, self)
        return app

    def _fault_body(self, status: int) -> dict[str, Any]:
        message = "Too many requests" if status == 429 else "Service unavailable"
        return {"message": message, "errorCode": 0, "traceId": trace_id()}

    # -- auth --------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        client = self.clients.get(str(form.get("client_id", "")))
        offered = str(form.get("client_secret", ""))
        if client is None or not secrets.compare_digest(client[0].encode(), offered.encode()):
            return _oauth_error("invalid_client")
        granted = client[1]
        asked = frozenset(str(form.get("scope", "")).split()) or granted
        if not asked <= granted:
            return _oauth_error("invalid_scope")
        token = secrets.token_urlsafe(32)
        self._issued[token] = (asked, self.clock() + self.token_lifetime)
        return web.json_response(
            {
                "access_token": token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
                "scope": " ".join(sorted(asked)),
            }
        )

    def _authorize(self, request: web.Request, needed: frozenset[str]) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        scopes: frozenset[str] | None = None
        if scheme.lower() == "bearer" and token:
            if token in self.personal_tokens:
                scopes = self.personal_tokens[token]
            elif token in self._issued:
                granted, expires = self._issued[token]
                scopes = granted if self.clock() < expires else None
        if scopes is None:
            raise ODataFailure(401, 0, "You are not authenticated!")
        if not scopes & needed:
            raise ODataFailure(
                403, 0, f"You are not authorized! (needs one of {', '.join(sorted(needed))})"
            )

    # -- OData routes ------------------------------------------------------------------------

    async def _collection_or_entity(self, request: web.Request) -> web.StreamResponse:
        self.close_breakers()
        entity = request.match_info["entity"]
        write = request.method != "GET"
        self._authorize(request, WRITE_SCOPES if write else READ_SCOPES)
        if write:
            self.writes += 1
        if entity == "Webhooks":
            if request.method == "GET":
                return self._list(request)
            if request.method == "POST":
                return await self._create(request)
            raise ODataFailure(405, 1000, f"{request.method} is not allowed on Webhooks")
        match = _ENTITY.match(entity)
        if match is None:
            raise ODataFailure(404, 1000, f"Resource not found for the segment '{entity}'")
        key = _parse_key(match["key"])
        if request.method == "GET":
            return self._entity(request, self._record(key))
        if request.method == "PUT":
            return await self._replace(request, key)
        if request.method == "PATCH":
            return await self._patch(request, key)
        if request.method == "DELETE":
            self._record(key)
            del self.webhooks[key]
            self.breaker_until.pop(key, None)
            return web.Response(status=204)
        raise ODataFailure(405, 1000, f"{request.method} is not allowed on a webhook")

    async def _action(self, request: web.Request) -> web.StreamResponse:
        self.close_breakers()
        entity, action = request.match_info["entity"], request.match_info["action"]
        if entity == "Webhooks" and action in GET_EVENT_TYPES and request.method == "GET":
            self._authorize(request, READ_SCOPES)
            return web.json_response(
                {
                    "@odata.context": _context(
                        request,
                        "Collection(UiPath.Application.Dto.Webhooks.WebhookEventTypeDto)",
                    ),
                    "value": [{"Name": e["Name"], "Group": e["Group"]} for e in CATALOG],
                }
            )
        if entity == "Webhooks" and action == TRIGGER_CUSTOM and request.method == "POST":
            self._authorize(request, WRITE_SCOPES)
            return await self._trigger_custom(request)
        match = _ENTITY.match(entity)
        if match and action == PING and request.method == "POST":
            self._authorize(request, WRITE_SCOPES)
            return await self._ping(request, _parse_key(match["key"]))
        raise ODataFailure(404, 1000, f"Resource not found for the segment '{action}'")

    def _list(self, request: web.Request) -> web.Response:
        query = request.query
        unknown = [k for k in query if k.startswith("$") and k not in _QUERY_OPTIONS]
        if unknown:
            raise _bad(f"The query parameter '{unknown[0]}' is not supported.")
        try:
            top = int(query.get("$top", MAX_TOP))
            skip = int(query.get("$skip", 0))
        except ValueError:
            raise _bad("The value of $top and $skip must be a non-negative integer.") from None
        if top > MAX_TOP:
            raise _bad(
                f"The limit of '{MAX_TOP}' for Top query has been exceeded. "
                f"The value from the incoming request is '{top}'."
            )
        if top < 0 or skip < 0:
            raise _bad("The value of $top and $skip must be a non-negative integer.")
        records = list(self.webhooks.values())
        try:
            keys = key_lookup(query["$filter"]) if "$filter" in query else None
            if keys is not None:  # by primary key, as a database answers it
                records = [self.webhooks[k] for k in dict.fromkeys(keys) if k in self.webhooks]
            elif "$filter" in query:
                keep = compile_filter(query["$filter"], PROPERTIES)
                records = [r for r in records if keep(r)]
            for prop, descending in reversed(sort_key(query.get("$orderby", "Id"), PROPERTIES)):
                records.sort(key=_by(prop), reverse=descending)
        except ODataError as exc:
            raise _bad(str(exc)) from None
        body: dict[str, Any] = {"@odata.context": _context(request, "Webhooks")}
        if query.get("$count", "").lower() == "true":
            body["@odata.count"] = len(records)
        body["value"] = [self.shown(r) for r in records[skip : skip + top]]
        return web.json_response(body)

    def shown(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A stored record as answers show it (the secret masked with ``mask_secrets``)."""
        if self.mask_secrets and record.get("Secret"):
            return {**record, "Secret": SECRET_MASK}
        return dict(record)

    def _entity(
        self, request: web.Request, record: Mapping[str, Any], status: int = 200
    ) -> web.Response:
        return web.json_response(
            {"@odata.context": _context(request, "Webhooks/$entity"), **self.shown(record)},
            status=status,
        )

    async def _create(self, request: web.Request) -> web.Response:
        fields = self._validate(await _json_object(request), None)
        key, self._next_id = self._next_id, self._next_id + 1
        record = {"Key": str(uuid.uuid4()), **fields, "Id": key}
        self.webhooks[key] = _ordered(record)
        return self._entity(request, self.webhooks[key], 201)

    async def _replace(self, request: web.Request, key: int) -> web.Response:
        old = self._record(key)
        fields = self._validate(await _json_object(request), key)
        self.webhooks[key] = _ordered({"Key": old["Key"], **fields, "Id": key})
        self.breaker_until.pop(key, None)  # a PUT sets Enabled (absent: true): it decides
        return self._entity(request, self.webhooks[key])

    async def _patch(self, request: web.Request, key: int) -> web.Response:
        old = self._record(key)
        body = await _json_object(request)
        merged = {k: v for k, v in old.items() if k in WRITABLE} | body
        fields = self._validate(merged, key)
        self.webhooks[key] = _ordered({"Key": old["Key"], **fields, "Id": key})
        if "Enabled" in body:  # the caller decides; the breaker lets go of the webhook
            self.breaker_until.pop(key, None)
        if "return=representation" in request.headers.get("Prefer", ""):
            return self._entity(request, self.webhooks[key])
        return web.Response(status=204)

    def _record(self, key: int) -> dict[str, Any]:
        record = self.webhooks.get(key)
        if record is None:
            raise ODataFailure(404, 1002, "Webhook does not exist.")
        return record

    def _validate(self, body: Mapping[str, Any], key: int | None) -> dict[str, Any]:
        """The stored fields of ``body`` (absent ones take their defaults), or 400/409."""
        for prop in body:
            if (
                prop not in WRITABLE
                and not prop.startswith("@odata.")
                and prop not in ("Id", "Key")
            ):
                raise _bad(f"The property '{prop}' does not exist on type 'Webhook'.")
        fields: dict[str, Any] = {
            "Name": _typed(body, "Name", str, None),
            "Description": _typed(body, "Description", str, None),
            "Url": _typed(body, "Url", str, None),
            "Enabled": _typed(body, "Enabled", bool, True),
            "Secret": _typed(body, "Secret", str, None),
            "SubscribeToAllEvents": _typed(body, "SubscribeToAllEvents", bool, False),
            "AllowInsecureSsl": _typed(body, "AllowInsecureSsl", bool, False),
            "Events": self._events(body.get("Events")),
        }
        url = fields["Url"]
        if not url:
            raise _bad("Url: The Url field is required.")
        parsed = URL(url)
        if len(url) > 2000 or parsed.scheme not in ("http", "https") or not parsed.host:
            raise _bad(
                "Url: The Url field must be an absolute http(s) URL of at most 2000 characters."
            )
        if key is None and not fields["Name"]:
            raise _bad("Name: The Name field is required.")
        # The swagger's WebhookDto: Name at most 128, Description 256, Secret 100 (ASP.NET's
        # StringLength message, as for Secret).
        for prop, most in (("Name", 128), ("Description", 256), ("Secret", 100)):
            if fields[prop] is not None and len(fields[prop]) > most:
                raise _bad(
                    f"{prop}: The field {prop} must be a string with a maximum length of {most}."
                )
        name = fields["Name"]
        if name and any(
            (r.get("Name") or "").casefold() == name.casefold() and r["Id"] != key
            for r in self.webhooks.values()
        ):
            raise ODataFailure(409, 1001, f"The name '{name}' is already used.")
        return fields

    def _events(self, value: Any) -> list[dict[str, str]]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _bad("Events: must be an array of {EventType}.")
        names: dict[str, None] = {}
        for item in value:
            name = item.get("EventType") if isinstance(item, dict) else None
            event = self._catalog.get(name.casefold()) if isinstance(name, str) else None
            if event is None:
                raise _bad(f"Events: '{name}' is not a valid event type.")
            names[event["Name"]] = None
        return [{"EventType": n} for n in names]

    # -- delivery ----------------------------------------------------------------------------

    async def _ping(self, request: web.Request, key: int) -> web.Response:
        record = self._record(key)
        event = {
            "Type": "ping",
            "EventId": uuid.uuid4().hex,
            "Timestamp": _now(),
            "TenantId": self.tenant_id,
            "OrganizationUnitId": _folder(request),
            "UserId": self.user_id,
        }
        outcome = await self._deliver(record, event)
        if not outcome.ok:
            reason = f"HTTP {outcome.status}" if outcome.status else outcome.error
            raise _bad(f"The ping request to {record['Url']} failed: {reason}.")
        return web.json_response(
            {"@odata.context": _context(request, "UiPath.Webhooks.Dto.PingEventDto"), **event}
        )

    async def _trigger_custom(self, request: web.Request) -> web.Response:
        """``TriggerCustom``: the body ("any custom event data payload") becomes a
        ``CustomEventDto``'s ``EventData``, delivered, signed, to every webhook that takes
        events of type "custom" (assumed: those subscribed to all events, or to "custom") and
        answered. Assumed too, as nothing public shows a value: ``EntityKey`` and
        ``EventSourceId`` null, ``EventTime`` the ``Timestamp``."""
        try:
            data = await request.json() if request.can_read_body else None
        except ValueError:
            raise _bad("The request body is not valid JSON.") from None
        if data is not None and not isinstance(data, dict):
            raise _bad("The custom event data payload must be a JSON object.")
        now = _now()
        event = {
            "Type": "custom",
            "EventId": uuid.uuid4().hex,
            "EntityKey": None,
            "Timestamp": now,
            "EventData": data,
            "EventTime": now,
            "EventSourceId": None,
            "TenantId": self.tenant_id,
            "OrganizationUnitId": _folder(request),
            "OrganizationUnitKey": None,
            "UserId": self.user_id,
        }
        # (``_action`` closed the breakers whose time is over)
        takers = [r for r in self.subscribers("custom") if r["Enabled"]]
        await asyncio.gather(*(self._deliver(r, event) for r in takers))
        return web.json_response(
            {"@odata.context": _context(request, "UiPath.Webhooks.Dto.CustomEventDto"), **event}
        )

    async def _deliver(self, record: Mapping[str, Any], event: Mapping[str, Any]) -> Delivery:
        # The fields common to every payload, as "About webhooks" lists them: the folder as
        # OrganizationUnitId and FolderId (assumed: the same folder id; null outside a folder).
        folder = event.get("OrganizationUnitId", event.get("FolderId"))
        body = dumps({"OrganizationUnitId": folder, "FolderId": folder, **event,
                      "Name": record.get("Name")})  # fmt: skip
        headers = {SIGNATURE_HEADER: sign(body, record["Secret"])} if record.get("Secret") else {}
        outcome = await self.deliverer.post(
            record["Url"], body, headers, verify_tls=not record.get("AllowInsecureSsl")
        )
        self.deliveries.append(
            {
                "webhook_id": record["Id"],
                "type": event["Type"],
                "url": record["Url"],
                "status": outcome.status,
                "error": outcome.error,
            }
        )
        return outcome

    async def _deliver_retried(self, record: dict[str, Any], event: dict[str, Any]) -> Delivery:
        """One delivery, tried again per ``retry_after`` up to ``max_retries`` times."""
        outcome = await self._deliver(record, event)
        for attempt in range(self.max_retries):
            if outcome.ok:
                break
            waits = self.retry_after or (0.0,)
            await asyncio.sleep(waits[min(attempt, len(waits) - 1)])
            outcome = await self._deliver(record, event)
        return outcome

    def subscribers(self, event_type: str) -> list[dict[str, Any]]:
        """Webhooks that receive ``event_type``: enabled ones, and those the breaker disabled
        (their events of the hour are dropped, not delivered)."""
        wanted = event_type.casefold()
        return [
            r
            for r in self.webhooks.values()
            if (r["Enabled"] or r["Id"] in self.breaker_until)
            and (
                r["SubscribeToAllEvents"]
                or any(e["EventType"].casefold() == wanted for e in r["Events"])
            )
        ]

    def close_breakers(self) -> None:
        """Enable again the webhooks whose hour under the open breaker is over."""
        now = self.clock()
        for key, until in list(self.breaker_until.items()):
            if until <= now:
                del self.breaker_until[key]
                if key in self.webhooks:
                    self.webhooks[key]["Enabled"] = True

    async def fire(
        self, event_type: str, overrides: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Deliver one catalog event to every subscriber; report each outcome. A failed
        delivery opens the webhook's breaker: disabled for ``breaker_seconds``."""
        entry = self._catalog.get(event_type.casefold())
        if entry is None:
            raise _bad(f"'{event_type}' is not a valid event type.")
        self.close_breakers()
        event = copy.deepcopy(entry["Payload"])
        event.update({"EventId": uuid.uuid4().hex, "Timestamp": _now(), "TenantId": self.tenant_id})
        event.update(overrides or {})
        targets, report = [], []
        for record in self.subscribers(entry["Name"]):
            if record["Id"] in self.breaker_until:
                report.append({"webhook_id": record["Id"], "skipped": "circuit breaker open"})
            else:
                targets.append(record)
        outcomes = await asyncio.gather(*(self._deliver_retried(r, event) for r in targets))
        now = self.clock()
        for record, outcome in zip(targets, outcomes, strict=True):
            stored = self.webhooks.get(record["Id"])
            if not outcome.ok and stored is not None:
                self.breaker_until[record["Id"]] = now + self.breaker_seconds
                if self.breaker_disables:  # the assumed reading; else Enabled stays as it was
                    stored["Enabled"] = False
            report.append(
                {"webhook_id": record["Id"], "status": outcome.status, "error": outcome.error}
            )
        return {"event": event, "deliveries": report}

    # -- admin -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "webhooks": len(self.webhooks),
            "token_requests": self.token_requests,
            "writes": self.writes,
            "deliveries": self.deliveries[-100:],
        }

    # -- seeding -----------------------------------------------------------------------------

    def add(self, **fields: Any) -> dict[str, Any]:
        """Store a webhook directly (demo data, benchmarks); returns its record."""
        body = {"Name": f"webhook-{self._next_id}", "Url": "https://hooks.example.com/in"} | fields
        key, self._next_id = self._next_id, self._next_id + 1
        record = {"Key": str(uuid.uuid4()), **self._validate(body, key), "Id": key}
        self.webhooks[key] = _ordered(record)
        return record


_QUERY_OPTIONS = frozenset({"$filter", "$top", "$skip", "$count", "$orderby"})


def _oauth_error(error: str) -> web.Response:
    return web.json_response({"error": error}, status=400)


def _parse_key(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _bad(f"The key value '{text}' is not a valid Int64.") from None


def _typed(body: Mapping[str, Any], prop: str, kind: type[Any], default: Any) -> Any:
    value = body.get(prop, default)
    if value is not None and not is_json_type(value, kind):
        raise _bad(f"{prop}: expected {kind.__name__}, got {type(value).__name__}.")
    return value


def _by(prop: str) -> Callable[[Mapping[str, Any]], tuple[int, Any]]:
    """A sort key on ``prop`` that puts nulls first, as SQL Server does."""
    return lambda record: (0, "") if record.get(prop) is None else (1, record.get(prop))


def _ordered(record: Mapping[str, Any]) -> dict[str, Any]:
    return {prop: record.get(prop) for prop in PROPERTIES}


def _context(request: web.Request, suffix: str) -> str:
    return f"{request.url.origin()}/odata/$metadata#{suffix}"


async def _json_object(request: web.Request) -> dict[str, Any]:
    return await json_object(request, _bad)


#: On-premises Orchestrator's ``Webhooks:RetryAfter`` default (standalone installation guide).
STANDALONE_RETRY_AFTER = (0.0, 45.0, 150.0, 300.0)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """Run the emulator with a demo client and personal access token."""
    parser = emulator_parser("A local UiPath Orchestrator (webhooks).", 8101, prog)
    parser.add_argument("--client-id", default="gateway-demo")
    parser.add_argument("--client-secret", default="demo-client-secret")
    parser.add_argument("--token", default="demo-personal-access-token")
    parser.add_argument(
        "--webhooks", type=int, default=0, metavar="N", help="start with N sample webhooks"
    )
    parser.add_argument(
        "--standalone", action="store_true",
        help="as on-premises Orchestrator's default Webhooks appsettings: a failed delivery "
        "retried twice (after 0 s and 45 s), then a 600 s breaker (default: Automation "
        "Cloud's one hour, no retries)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    standalone = {"breaker_seconds": 600.0, "retry_after": STANDALONE_RETRY_AFTER,
                  "max_retries": 2} if args.standalone else {}  # fmt: skip
    emulator = UiPathEmulator(
        clients={args.client_id: (args.client_secret, ["OR.Webhooks"])},
        personal_tokens={args.token: ["OR.Webhooks"]},
        faults=faults_from_args(args),
        rate_limit=limit_from_args(args),
        **standalone,  # type: ignore[arg-type]
    )
    for i in range(args.webhooks):
        emulator.add(
            Name=f"sample-{i + 1}",
            Url=f"https://hooks.example.com/sample/{i + 1}",
            Events=[{"EventType": "job.completed"}, {"EventType": "job.faulted"}],
            Secret="sample-signing-secret",  # noqa: S106 - sample data
        )
    serve(
        emulator.app(),
        host=args.host,
        port=args.port,
        announce=lambda url: banner(
            f"UiPath Orchestrator emulator on {url} (identity: {url}/identity_, "
            f"client {args.client_id!r})",
            {"client_id": args.client_id, "client_secret": args.client_secret, "token": args.token},
            f"""
[accounts.uipath-local]
provider = "uipath"
base_url = "{url}"
identity_url = "{url}/identity_"
client_id = "{args.client_id}"
client_secret = "{args.client_secret}"      # or: token = "{args.token}"
""",
        ),
    )


if __name__ == "__main__":
    main()
