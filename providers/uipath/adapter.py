"""UiPath Orchestrator: webhooks through the OData API (``{base_url}/odata/Webhooks``).

What Orchestrator can and cannot store decides the capabilities: it keeps a name, description,
URL, enabled flag, secret, "subscribe to all events" and "allow insecure SSL"; it has no custom
headers, no failure-handling settings and no suspension state, so those are rejected and
``unsuspend`` is unsupported. Its circuit breaker disables a webhook whose delivery fails for an
hour ("About webhooks"); assumed: ``enabled`` reads false meanwhile (``disables_failing``, for
``disabled_for`` 3600 s), and enabling it again is the way back. No public page says which field
the breaker sets; gateway/health/watch.py says what watch sees under the other reading.

Updates: a change of scalar fields alone (``enabled``, ``name``, the secret...) is one ``PATCH``
of the properties it sets, without a read and without the update lock (``writes_alone``:
Orchestrator merges what a PATCH carries). A change of the events takes the record as the
account read it under the update lock (or reads it itself), applies the change with
``WebhookChange.apply`` and sends a ``PATCH`` of ``Webhooks({id})`` with only the properties
that change (the new ``Events``
collection whole, ``Secret`` only when the change sets it: some tenants mask the secret in
answers, and writing a read secret back would replace the real one with the mask). It asks for
the updated record (``Prefer: return=representation``) and reads it back when the answer is
empty (204). The gateway serializes updates of one webhook, by canonical id, so concurrent
changes through one Gateway are not lost. Orchestrator offers no ETag on webhooks, so a writer
outside this Gateway can still race with us between the read and the PATCH.

Listing pages with ``$top``/``$skip`` in ``Id`` order and filters on ``Url``, ``Name`` and
``Enabled`` server-side; the event filter is applied locally.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import attrs

from gateway.checks import SettingProblem, check, raise_problems
from gateway.errors import (
    Conflict,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    NotFound,
    ProviderError,
)
from gateway.model import (
    EventType,
    ListFilter,
    PingResult,
    Secret,
    Webhook,
    WebhookChange,
    WebhookSpec,
)
from gateway.provider import (
    Capabilities,
    ListPage,
    Provider,
    offset_after,
    offset_page,
    parse_offset,
)
from gateway.transport.answers import UnreadableRecord
from gateway.transport.auth import StaticToken, TokenSource
from gateway.transport.http import Transport
from gateway.transport.paging import Page, prefetched
from providers.uipath import signature, wire

__all__ = ["UiPathProvider", "UiPathSettings"]

MAX_PAGE = 1000
#: Ids one batched read may ask for: ``Id eq N`` joined by ``or`` is four nodes an id (with the
#: conversion of the literal to Int64), and ASP.NET OData refuses a ``$filter`` of more than
#: 100 nodes by default (``MaxNodeCount``).
MAX_BATCH = 20
MAX_SECRET = 100
#: The most listings (by ``$filter``) whose end ``position_after`` remembers.
_TOTALS_KEPT = 64
PING = "UiPath.Server.Configuration.OData.Ping"
GET_EVENT_TYPES = "UiPath.Server.Configuration.OData.GetEventTypes()"
#: "Triggers an event of type "custom"" (the Orchestrator swagger's ``Webhooks_TriggerCustom``:
#: scope OR.Webhooks or OR.Webhooks.Write, permission Webhooks.View; the body is "any custom
#: event data payload", the answer a ``CustomEventDto``).
TRIGGER_CUSTOM = "UiPath.Server.Configuration.OData.TriggerCustom"
#: ``CustomEventDto``'s fields (the swagger as the generated client uipath-orchestrator-rest
#: 18.x publishes it).
CUSTOM_EVENT_FIELDS = (
    "Type", "EventId", "EntityKey", "Timestamp", "EventData", "EventTime", "EventSourceId",
    "TenantId", "OrganizationUnitId", "OrganizationUnitKey", "UserId",
)  # fmt: skip


def _http_url(value: str) -> bool:
    return value.startswith(("https://", "http://"))


@attrs.frozen(kw_only=True)
class UiPathSettings:
    """Keys of a ``provider = "uipath"`` account.

    ``base_url`` is the Orchestrator URL (cloud: ``https://cloud.uipath.com/{org}/{tenant}/
    orchestrator_``). Authenticate with ``token`` (a personal access token) or with
    ``identity_url`` + ``client_id`` + ``client_secret`` (+ ``scope``) for client credentials
    at ``{identity_url}/connect/token`` (cloud: ``https://cloud.uipath.com/identity_``).
    """

    base_url: str = attrs.field(validator=check(_http_url, "must be an http(s) URL"))
    token: Secret | None = None
    identity_url: str | None = attrs.field(
        default=None, validator=check(_http_url, "must be an http(s) URL")
    )
    client_id: str | None = None
    client_secret: Secret | None = None
    scope: str = "OR.Webhooks"
    folder_id: int | None = None
    page_size: int = attrs.field(
        default=MAX_PAGE,
        validator=check(lambda v: 1 <= v <= MAX_PAGE, f"must be from 1 to {MAX_PAGE}"),
    )
    #: How long Orchestrator's circuit breaker keeps a failing webhook disabled (seconds):
    #: Automation Cloud "disabl[es] the webhook for one hour"; on-premises Orchestrator takes
    #: its ``Webhooks:SubscriberCircuitBreakerExpirationSeconds`` appsetting, 600 by default
    #: (standalone installation guide). Watch and auto-unsuspend take a webhook disabled for
    #: longer as disabled on purpose.
    breaker_seconds: int = attrs.field(
        default=3600, validator=check(lambda v: 1 <= v <= 7 * 86400, "must be from 1 to 604800")
    )
    #: Concurrent reads of up to this many webhooks go as one request (0: each its own).
    batch_reads: int = attrs.field(
        default=16, validator=check(lambda v: 0 <= v <= MAX_BATCH, f"must be from 0 to {MAX_BATCH}")
    )

    def __attrs_post_init__(self) -> None:
        oauth = (self.identity_url, self.client_id, self.client_secret)
        if self.token is not None:
            if any(v is not None for v in oauth):
                raise SettingProblem(
                    "token", "give either token or identity_url/client_id/client_secret, not both"
                )
            return
        raise_problems(
            FieldProblem(
                name,
                "required field missing (client credentials need identity_url, client_id "
                "and client_secret; or give a personal access token as token)",
            )
            for name, value in zip(
                ("identity_url", "client_id", "client_secret"), oauth, strict=True
            )
            if value is None
        )


class UiPathProvider(Provider[UiPathSettings]):
    """Webhooks of one Orchestrator tenant (with ``folder_id``, requests carry its folder
    header; assumed, no public page says so: webhooks are per tenant, the header only scopes
    what the caller may see)."""

    kind = "uipath"
    title = "UiPath Orchestrator"
    docs_url = "https://docs.uipath.com/orchestrator/reference/webhooks-requests"
    emulator = "providers.uipath.emulator"
    settings_type = UiPathSettings
    verify_delivery = staticmethod(signature.verify_delivery)
    delivery_id = "EventId"
    capabilities = Capabilities(
        fields=frozenset({"enabled", "all_events", "secret", "description", "allow_insecure_ssl"}),
        atomic_update=False,
        server_filters=frozenset({"enabled", "name", "url"}),
        reports_secret=True,
        disables_failing=True,
        disabled_for=3600,  # "disabling the webhook for one hour"
        batch_get=MAX_BATCH,
        # The Orchestrator swagger's WebhookDto (as its generated client uipath-orchestrator-rest
        # 18.x publishes it): Name required, at most 128; Description at most 256; Secret at
        # most 100 (Url's 2000 is every provider's limit, gateway.model).
        max_lengths=(("name", 128), ("description", 256), ("secret", MAX_SECRET)),
    )

    def __init__(self, account: str, settings: UiPathSettings, transport: Transport) -> None:
        super().__init__(account, settings, transport)
        if settings.breaker_seconds != type(self).capabilities.disabled_for:  # on-premises
            self.capabilities = attrs.evolve(
                type(self).capabilities, disabled_for=settings.breaker_seconds
            )
        self.tokens = self._token_source()
        self.http = transport.client(
            provider=self.kind,
            account=account,
            base_url=settings.base_url.rstrip("/") + "/odata",
            auth=self.tokens,
            read_error=wire.read_error,
            codes={1000: InvalidRequest, 1001: Conflict, 1002: NotFound},
        )
        self._headers = (
            {"X-UIPATH-OrganizationUnitId": str(settings.folder_id)}
            if settings.folder_id is not None
            else {}
        )
        #: The ``@odata.count`` of each listing (by its ``$filter``) at its last page read.
        self._totals: dict[str | None, int] = {}

    def _token_source(self) -> TokenSource:
        s = self.settings
        if s.token is not None:
            return StaticToken(s.token)
        assert s.identity_url and s.client_id and s.client_secret  # checked by UiPathSettings
        return self.transport.client_credentials(
            s.identity_url.rstrip("/") + "/connect/token",
            s.client_id,
            s.client_secret,
            s.scope,
            provider=self.kind,
            account=self.account,
        )

    async def _call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        sent = {**self._headers, **headers} if headers else self._headers or None
        return await self.http.request(method, path, headers=sent, **kwargs)

    def _webhook(self, record: Any) -> Webhook:
        return wire.webhook_from(record, account=self.account)

    def canonical_id(self, id: str) -> str:
        """Orchestrator ids are int64: ``007`` and ``7`` are one webhook, spelled ``7``.

        Text that is no positive int64 names no webhook (``NotFound``, without a request).
        """
        if _is_canonical(id):  # as the gateway passes ids on: nothing to check or change
            return id
        id = super().canonical_id(id)
        digits = id.isascii() and id.isdigit() and len(id.lstrip("0")) <= 19
        key = int(id) if digits else 0
        if not 0 < key < 2**63:
            raise NotFound(
                f"webhook {id[:40]!r} not found (UiPath ids are positive integers)",
                provider=self.kind,
                account=self.account,
            )
        return str(key)

    def _key(self, id: str) -> int:
        """The int64 key of ``id`` (canonicalized first; see ``canonical_id``)."""
        return int(self.canonical_id(id))

    # -- the standard API --------------------------------------------------------------------

    async def list(self, filter: ListFilter) -> AsyncIterator[Webhook | UnreadableRecord]:
        size = self.settings.page_size

        async def fetch(skip: int) -> Page[builtins.list[Any], int]:
            records, more = await self._records(filter, skip, size)
            return Page([records], skip + len(records) if more else None)

        async for records in prefetched(fetch, 0):
            for webhook in self.read_each(records, self._webhook, "Id"):
                yield webhook

    async def list_page(self, filter: ListFilter, position: str | None, size: int) -> ListPage:
        """``$skip`` from ``position`` with ``$orderby=Id``: a stable order, so an offset names
        the same place on every page (a webhook deleted meanwhile shifts later ones by one)."""
        skip = parse_offset(position, self.kind)
        records, more = await self._records(filter, skip, min(size, self.settings.page_size))
        return offset_page(list(self.read_each(records, self._webhook, "Id")), skip, more)

    def position_after(self, filter: ListFilter, position: str | None, count: int) -> str | None:
        """``$skip`` ``count`` on, while short of the ``@odata.count`` the listing's last page
        said (None before any page of it said one)."""
        after = offset_after(position, count)
        total = self._totals.get(wire.filter_expression(filter))
        return after if after is not None and total is not None and int(after) < total else None

    async def _records(
        self, filter: ListFilter, skip: int, top: int
    ) -> tuple[builtins.list[Any], bool]:
        """The raw records of one ``GET /odata/Webhooks`` page, and whether more follow."""
        params = {"$top": str(top), "$skip": str(skip), "$count": "true", "$orderby": "Id"}
        expression = wire.filter_expression(filter)
        if expression:
            params["$filter"] = expression
        records, total = wire.list_page(
            await self._call("GET", "/Webhooks", params=params), account=self.account
        )
        if total is not None:  # where the listing ends, for position_after
            if len(self._totals) >= _TOTALS_KEPT:
                self._totals.clear()
            self._totals[expression] = total
        end = skip + len(records)
        return records, not (len(records) < top or (total is not None and end >= total))

    async def get(self, id: str) -> Webhook:
        return self._webhook(await self._call("GET", f"/Webhooks({self._key(id)})"))

    @property
    def batch_get(self) -> int:
        return self.settings.batch_reads

    async def get_many(self, ids: Sequence[str]) -> dict[str, Webhook | GatewayError]:
        """One ``GET /odata/Webhooks?$filter=Id eq 4 or Id eq 7...``: what a database answers
        from its primary key. An id the answer lacks is ``NotFound``, as its own ``GET``."""
        keys = [self._key(id) for id in ids]
        params = {"$filter": " or ".join(f"Id eq {k}" for k in keys), "$top": str(len(keys))}
        records, _ = wire.list_page(await self._call("GET", "/Webhooks", params=params),
                                    account=self.account)  # fmt: skip
        found: dict[str, Webhook | GatewayError] = {}
        for item in self.read_each(records, self._webhook, "Id"):
            if isinstance(item, UnreadableRecord):
                if item.id is not None:
                    found[item.id] = ProviderError(
                        item.problem, provider=self.kind, account=self.account
                    )
            else:
                found[item.id] = item
        for key in keys:
            if str(key) not in found:  # the message of a GET of it alone
                found[str(key)] = NotFound(
                    "Webhook does not exist.", provider=self.kind, account=self.account
                )
        return found

    async def create(self, spec: WebhookSpec) -> Webhook:
        body = wire.record_from_spec(spec)
        return self._webhook(await self._call("POST", "/Webhooks", json_body=body))

    async def update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        key = self._key(id)
        if previous is None and self.writes_alone(change):
            body = wire.scalar_patch_body(change)
        else:
            if previous is None:
                previous = self._webhook(await self._call("GET", f"/Webhooks({key})"))
            body = wire.patch_body(previous, change)
            if not body:
                return previous
        # Every property the PATCH carries is an absolute value (Events the whole collection),
        # so sending it twice leaves the same record: safe to retry.
        answer = await self._call(
            "PATCH",
            f"/Webhooks({key})",
            json_body=body,
            headers={"Prefer": "return=representation"},
            idempotent=True,
        )
        if answer is None:  # 204 No Content: OData's default answer to a PATCH
            answer = await self._call("GET", f"/Webhooks({key})")
        return self._webhook(answer)

    def writes_alone(self, change: WebhookChange) -> bool:
        """A change of scalar fields alone is one ``PATCH``: Orchestrator merges the properties
        it carries. One that adds or removes events needs the record read, as ``Events`` is
        written whole."""
        return not (change.add_events or change.remove_events)

    async def delete(self, id: str) -> None:
        await self._call("DELETE", f"/Webhooks({self._key(id)})")

    async def ping(self, id: str) -> PingResult:
        answer = await self._call("POST", f"/Webhooks({self._key(id)})/{PING}")
        return wire.ping_from(answer, account=self.account)

    async def event_types(self) -> builtins.list[EventType]:
        answer = await self._call("GET", f"/Webhooks/{GET_EVENT_TYPES}")
        return wire.event_types_from(answer, account=self.account)

    # -- extras --------------------------------------------------------------------------------

    async def ex_trigger_custom(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Send a custom event (``data``: any JSON object) to the tenant's webhooks that take
        it; Orchestrator's ``CustomEventDto`` of it (its documented fields, what it answered)."""
        answer = await self._call("POST", f"/Webhooks/{TRIGGER_CUSTOM}", json_body=dict(data))
        if not isinstance(answer, Mapping):
            raise ProviderError("TriggerCustom answered no object", provider=self.kind,
                                account=self.account)  # fmt: skip
        return {name: answer.get(name) for name in CUSTOM_EVENT_FIELDS}


def _is_canonical(id: object) -> bool:
    """Whether ``id`` is already an Orchestrator id as ``canonical_id`` spells it: ASCII digits
    without a leading zero, below 2**63."""
    return (
        type(id) is str
        and 0 < len(id) <= 19
        and id.isascii()
        and id.isdigit()
        and id[0] != "0"
        and int(id) < 2**63
    )
