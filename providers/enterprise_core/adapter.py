"""Enterprise Core (Socotra Insurance Suite): webhooks under ``/event/{tenantLocator}/webhooks``.

Enterprise Core patches natively with add/remove fields, so ``update`` is one ``PATCH`` and the
provider applies it atomically (removals first, then additions, exactly as
``WebhookChange.apply``); no read-modify-write, no lock. It stores custom headers, failure
handling (retries, an alert endpoint, diversion, suspension) and an HMAC secret (returned on
read as ``EndpointResponse.secret``; the gateway never shows it); it has no description, no
"all events" switch and no ping. Webhooks suspended after failed deliveries come back with
``unsuspend``; the failed events kept by ``divert`` are reachable through the ``ex_*_diverted``
extras. The endpoint's ``tag`` is the provider extra ``tag``.

Event names: Socotra's OpenAPI document defines nine public catalog routes (``GET
/policy/events``, ``/billing/events`` ... ``/config/events``: 193 names, ``catalog.py``), and
``event_types`` answers that catalog (``events.json``, generated from the document). With
``read_catalog`` an account reads its own tenant's routes instead (a route the tenant does not
serve, 404, or cannot be read falls back to the bundled names for it, with a warning). Tenants
add custom events from plugin code, so no list is complete: a name outside the catalog is
accepted and sent exactly as written, with a warning in the log (and in a plan's output). An
account that lists its tenant's ``custom_events`` makes its catalog strict: the catalog's events
plus those, and a name outside them is rejected before anything is written (at plan: with a
"did you mean"). ``event_types`` instead replaces the catalog whole (also strict). Known names
match case-insensitively and are sent in the catalog's spelling.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs

from gateway.checks import check
from gateway.errors import NotFound, ProviderError
from gateway.model import EventType, ListFilter, Secret, Webhook, WebhookChange, WebhookSpec
from gateway.provider import (
    Capabilities,
    ListPage,
    Provider,
    offset_after,
    offset_page,
    parse_offset,
)
from gateway.transport.answers import Answer, UnreadableRecord
from gateway.transport.auth import StaticToken
from gateway.transport.http import Transport
from gateway.transport.paging import Page, prefetched
from providers.enterprise_core import signature, wire
from providers.enterprise_core.catalog import ROUTES
from providers.enterprise_core.wire import DivertedEvent

__all__ = [
    "CATALOG",
    "DivertedEvent",
    "EnterpriseCoreProvider",
    "EnterpriseCoreSettings",
]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

log = logging.getLogger(__name__)

#: The event catalog of Socotra's OpenAPI document (``catalog.py`` writes it):
#: ``{"source", "note", "routes": [{path, schema, groups: [{name, schema, events: [{name,
#: data}]}]}]}``.
CATALOG: dict[str, Any] = json.loads(
    (Path(__file__).parent / "events.json").read_text(encoding="utf-8")
)
_BUNDLED = {route["path"]: route for route in CATALOG["routes"]}


def _group_title(path: str, group: str) -> str:
    """``/billing/events`` + ``invoiceEvents`` -> ``billing invoice``."""
    area = path.strip("/").split("/")[0]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", group.removesuffix("Events")).lower()
    return f"{area} {words}".strip()


def _route_types(path: str, groups: dict[str, dict[str, str]]) -> list[EventType]:
    """``groups`` (group -> event name -> data schema) of one route as event types."""
    return [
        EventType(
            name=name,
            group=_group_title(path, group),
            description=f"GET {path}: {group}" + (f" ({data})" if data else ""),
        )
        for group, events in groups.items()
        for name, data in events.items()
    ]


def _bundled(path: str) -> list[EventType]:
    groups = {
        g["name"]: {e["name"]: e["data"] for e in g["events"]} for g in _BUNDLED[path]["groups"]
    }
    return _route_types(path, groups)


def _catalog() -> list[EventType]:
    return [t for path in ROUTES for t in _bundled(path)]


@attrs.frozen(kw_only=True)
class EnterpriseCoreSettings:
    """Keys of a ``provider = "enterprise_core"`` account."""

    base_url: str = attrs.field(
        validator=check(lambda v: v.startswith(("https://", "http://")), "must be an http(s) URL")
    )
    tenant_locator: str = attrs.field(
        validator=check(lambda v: bool(_UUID.match(v)), "must be a UUID (the tenant locator)")
    )
    token: Secret
    page_size: int = attrs.field(
        default=100, validator=check(lambda v: 1 <= v <= 1000, "must be from 1 to 1000")
    )
    #: Your tenant's event names, documented and custom: makes the list strict. Unset: the
    #: documented catalog, and names outside it are passed on as written.
    event_types: tuple[str, ...] | None = attrs.field(
        default=None, validator=check(bool, "must name at least one event")
    )
    #: Your tenant's custom events (from its plugins): the documented catalog plus these, strict.
    custom_events: tuple[str, ...] | None = attrs.field(
        default=None, validator=check(bool, "must name at least one event")
    )
    #: Send every field Socotra's OpenAPI lists as required on a create and an update (an
    #: update then reads the webhook under the update lock for the values it leaves). Off: an
    #: update sends only what changes (``wire.patch_body`` says why that is assumed to work).
    complete_updates: bool = False
    #: Read the event names from the tenant's own catalog routes (``GET /policy/events`` ...)
    #: instead of the copy of Socotra's OpenAPI this release bundles.
    read_catalog: bool = False

    def __attrs_post_init__(self) -> None:
        if self.custom_events is not None and self.event_types is not None:
            raise ValueError("give custom_events (added to the documented catalog) or "
                             "event_types (the whole catalog), not both")  # fmt: skip


class EnterpriseCoreProvider(Provider[EnterpriseCoreSettings]):
    """Webhooks of one Enterprise Core tenant."""

    kind = "enterprise_core"
    title = "Enterprise Core (Socotra)"
    docs_url = "https://docs.socotra.com/api/configuration-and-development/webhooks/"
    emulator = "providers.enterprise_core.emulator"
    settings_type = EnterpriseCoreSettings
    verify_delivery = staticmethod(signature.verify)
    delivery_id = "locator"  # EventResponse.locator
    capabilities = Capabilities(
        fields=frozenset(
            {"enabled", "secret", "headers", "allow_insecure_ssl", "failure_handling"}
        ),
        atomic_update=True,
        server_filters=frozenset({"name", "enabled", "suspended", "event"}),
        reports_secret=False,
        extras=frozenset({"tag"}),
        blank_extras=frozenset({"tag"}),  # an empty tag reads back as none
    )

    def __init__(
        self, account: str, settings: EnterpriseCoreSettings, transport: Transport
    ) -> None:
        super().__init__(account, settings, transport)
        if settings.complete_updates:  # the values an update leaves are read under the lock
            self.capabilities = attrs.evolve(type(self).capabilities, atomic_update=False)
        base = f"{settings.base_url.rstrip('/')}/event/{settings.tenant_locator}/webhooks"
        self.http = transport.client(
            provider=self.kind,
            account=account,
            base_url=base,
            auth=StaticToken(settings.token),
            read_error=wire.read_error,
        )
        self.catalog_http = transport.client(
            provider=self.kind,
            account=account,
            base_url=settings.base_url.rstrip("/"),
            auth=StaticToken(settings.token),
            read_error=wire.read_error,
        )
        self.strict_events = settings.event_types is not None or settings.custom_events is not None

    def _webhook(self, item: Any) -> Webhook:
        return wire.webhook_from(item, account=self.account)

    def _locator(self, id: str, what: str = "webhook") -> str:
        """``id`` if it is a ULID; anything else names nothing, so it is not found."""
        if not wire.LOCATOR.match(id):
            raise NotFound(
                f"{what} {id!r} not found (Enterprise Core locators are ULIDs)",
                provider=self.kind,
                account=self.account,
            )
        return quote(id, safe="")

    # -- the standard API --------------------------------------------------------------------

    async def list(self, filter: ListFilter) -> AsyncIterator[Webhook | UnreadableRecord]:
        async for page in self._pages("/list", _list_params(filter)):
            for webhook in self.read_each(page, self._webhook, "locator"):
                yield webhook

    async def list_page(self, filter: ListFilter, position: str | None, size: int) -> ListPage:
        """``offset``/``count`` from ``position`` (the list's own order, which the
        documentation does not name: the emulator keeps creation order)."""
        offset = parse_offset(position, self.kind)
        count = min(size, self.settings.page_size)
        items, more = await self._page("/list", _list_params(filter), offset, count)
        return offset_page(list(self.read_each(items, self._webhook, "locator")), offset, more)

    def position_after(self, filter: ListFilter, position: str | None, count: int) -> str | None:
        # No total to say where the listing ends: a guess past it reads one empty page.
        return offset_after(position, count)

    def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[builtins.list[Any]]:
        """Every item of an offset/count list, a page ahead; ends at ``listCompleted``."""
        count = self.settings.page_size

        async def fetch(offset: int) -> Page[builtins.list[Any], int]:
            items, more = await self._page(path, params, offset, count)
            return Page([items], offset + len(items) if more else None)

        return prefetched(fetch, 0)

    async def _page(
        self, path: str, params: dict[str, str], offset: int, count: int
    ) -> tuple[builtins.list[Any], bool]:
        """The items of one offset/count page, and whether more follow."""
        query = {**params, "offset": str(offset), "count": str(count)}
        answer = await self.http.request("GET", path, params=query)
        items, completed = wire.list_page(answer, account=self.account)
        done = completed or not items or (completed is None and len(items) < count)
        return items, not done

    async def get(self, id: str) -> Webhook:
        return self._webhook(await self.http.request("GET", f"/{self._locator(id)}"))

    async def create(self, spec: WebhookSpec) -> Webhook:
        body = wire.create_body(spec, complete=self.settings.complete_updates)
        return self._webhook(await self.http.request("POST", "", json_body=body))

    async def update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        # Applying the same add/remove PATCH twice gives the same state: safe to retry.
        complete = self.settings.complete_updates and previous is not None
        body = wire.patch_body(change, previous if complete else None)
        path = f"/{self._locator(id)}"
        return self._webhook(
            await self.http.request("PATCH", path, json_body=body, idempotent=True)
        )

    async def delete(self, id: str) -> None:
        await self.http.request("DELETE", f"/{self._locator(id)}")

    async def event_types(self) -> builtins.list[EventType]:
        catalog = await self._tenant_catalog() if self.settings.read_catalog else _catalog()
        if self.settings.event_types is None:
            known = {t.name.casefold() for t in catalog}
            custom = [
                EventType(name=name, group="custom")
                for name in self.settings.custom_events or ()
                if name.casefold() not in known
            ]
            return catalog + custom
        documented = {t.name.casefold(): t for t in catalog}
        return [
            documented.get(name.casefold()) or EventType(name=name, group="custom")
            for name in self.settings.event_types
        ]

    async def _tenant_catalog(self) -> builtins.list[EventType]:
        routes = await asyncio.gather(*(self._read_route(path) for path in ROUTES))
        return [t for route in routes for t in route]

    async def _read_route(self, path: str) -> builtins.list[EventType]:
        """The names one catalog route of the tenant serves; the bundled ones when the tenant
        does not serve it (404) or its answer is not ``{group: {name: ...}}``. Any other
        failure is raised, so that it is not remembered as the catalog."""
        try:
            answer = await self.catalog_http.request("GET", path)
        except NotFound:
            log.warning("%s:%s: GET %s is not served: the bundled names are used for it",
                        self.kind, self.account, path)  # fmt: skip
            return _bundled(path)
        try:
            groups = Answer(
                answer, provider=self.kind, account=self.account, what=f"GET {path}"
            ).as_dict()
            return _route_types(path, {g: _names(v, path, g) for g, v in groups.items()})
        except (ProviderError, ValueError) as e:
            log.warning("%s:%s: %s: the bundled names are used for %s",
                        self.kind, self.account, e, path)  # fmt: skip
            return _bundled(path)

    async def unsuspend(self, id: str) -> None:
        await self.http.request("PATCH", f"/{self._locator(id)}/unsuspend", idempotent=True)

    # -- extras: diverted events -------------------------------------------------------------

    def _diverted_path(self, webhook_id: str, event_id: str | None = None) -> str:
        path = f"/{self._locator(self.canonical_id(webhook_id))}/diverted"
        if event_id is not None:
            path += f"/{self._locator(self.canonical_id(event_id), 'diverted event')}"
        return path

    async def ex_list_diverted(self, webhook_id: str) -> AsyncIterator[DivertedEvent]:
        """Every event diverted from ``webhook_id``, as the provider lists them."""
        path = self._diverted_path(webhook_id)
        async for page in self._pages(path, {}):
            for item in page:
                yield wire.diverted_from(item, webhook_id, account=self.account)

    async def ex_get_diverted(self, webhook_id: str, event_id: str) -> DivertedEvent:
        answer = await self.http.request("GET", self._diverted_path(webhook_id, event_id))
        return wire.diverted_from(answer, webhook_id, account=self.account)

    async def ex_resend_diverted(self, webhook_id: str, event_id: str) -> dict[str, Any]:
        """Deliver a diverted event again; returns the object the provider answers with."""
        path = self._diverted_path(webhook_id, event_id) + "/resend"
        answer = await self.http.request("POST", path)
        if answer is None:
            return {}
        return Answer(answer, provider=self.kind, account=self.account, what="resend").as_dict()

    async def ex_delete_diverted(self, webhook_id: str, event_id: str) -> None:
        await self.http.request("DELETE", self._diverted_path(webhook_id, event_id))


def _names(group: Any, path: str, name: str) -> dict[str, str]:
    """A catalog group's event names (its keys), with no data schema to name."""
    if not isinstance(group, dict) or not all(isinstance(k, str) and k for k in group):
        raise ValueError(f"GET {path}: {name} must be an object of event names")
    return {key: "" for key in group}


def _list_params(filter: ListFilter) -> dict[str, str]:
    """The list's query for ``filter``: only the documented filters the caller asked for.
    (``active`` is documented as a parameter, but not what it means, so it is never sent.)"""
    params: dict[str, str] = {}
    if filter.name is not None:
        params["name"] = filter.name
    if filter.enabled is not None:
        params["enabled"] = str(filter.enabled).lower()
    if filter.suspended is not None:
        params["suspended"] = str(filter.suspended).lower()
    if filter.event is not None:
        params["eventTypes"] = filter.event
    return params
