"""Enterprise Core (Socotra Insurance Suite): webhooks under ``/event/{tenantLocator}/webhooks``.

Enterprise Core patches natively with add/remove fields, so ``update`` is one ``PATCH`` and the
provider applies it atomically (removals first, then additions, exactly as
``WebhookChange.apply``); no read-modify-write, no lock. It stores custom headers, failure
handling (retries, alert endpoint, diversion, suspension) and an HMAC secret (never returned);
it has no description, no "all events" switch and no ping. Webhooks suspended after failed
deliveries come back with ``unsuspend``; the failed events kept by ``divert`` are reachable
through the ``ex_*_diverted`` extras.

The API documents no event catalog endpoint: ``event_types`` answers the account's
``event_types`` setting, which defaults to an assumed list (docs/providers.md); set it to your
tenant's events so that names are checked before anything is written.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import attrs

from gateway.auth import StaticToken
from gateway.config import check
from gateway.errors import NotFound
from gateway.http import Transport
from gateway.model import EventType, ListFilter, Secret, Webhook, WebhookChange, WebhookSpec
from gateway.paging import Page, prefetched
from gateway.provider import Capabilities, Provider
from providers.enterprise_core import wire

__all__ = [
    "DEFAULT_EVENT_TYPES",
    "DivertedEvent",
    "EnterpriseCoreProvider",
    "EnterpriseCoreSettings",
]

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

#: Assumed: the public pages name no catalog. Override per account with ``event_types``.
DEFAULT_EVENT_TYPES = (
    "account.create",
    "account.update",
    "account.validate",
    "invoice.generate",
    "invoice.settle",
    "payment.post",
    "payment.reverse",
    "policy.cancel",
    "policy.issue",
    "policy.reinstate",
    "policy.renew",
    "quote.accept",
    "quote.create",
    "quote.issue",
    "quote.price",
    "quote.underwrite",
    "transaction.issue",
)


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
    event_types: tuple[str, ...] = attrs.field(
        default=DEFAULT_EVENT_TYPES, validator=check(bool, "must name at least one event")
    )


@attrs.frozen(kw_only=True)
class DivertedEvent:
    """An event whose delivery failed and that ``divert`` kept (an Enterprise Core extra)."""

    id: str
    webhook_id: str
    event: dict[str, Any]
    diverted_at: datetime | None = None
    last_status: int | None = None


class EnterpriseCoreProvider(Provider[EnterpriseCoreSettings]):
    """Webhooks of one Enterprise Core tenant."""

    kind = "enterprise_core"
    title = "Enterprise Core (Socotra)"
    docs_url = "https://docs.socotra.com/enterprise/api/webhooks"
    settings_type = EnterpriseCoreSettings
    capabilities = Capabilities(
        fields=frozenset(
            {"enabled", "secret", "headers", "allow_insecure_ssl", "failure_handling"}
        ),
        atomic_update=True,
        server_filters=frozenset({"name", "enabled", "suspended", "event"}),
        reports_secret=False,
    )

    def __init__(
        self, account: str, settings: EnterpriseCoreSettings, transport: Transport
    ) -> None:
        super().__init__(account, settings, transport)
        base = f"{settings.base_url.rstrip('/')}/event/{settings.tenant_locator}/webhooks"
        self.http = transport.client(
            provider=self.kind,
            account=account,
            base_url=base,
            auth=StaticToken(settings.token),
            read_error=wire.read_error,
        )

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

    async def list(self, filter: ListFilter) -> AsyncIterator[Webhook]:
        params: dict[str, str] = {}
        if filter.name is not None:
            params["name"] = filter.name
        if filter.enabled is True and filter.suspended is False:
            params["active"] = "true"
        else:
            if filter.enabled is not None:
                params["enabled"] = str(filter.enabled).lower()
            if filter.suspended is not None:
                params["suspended"] = str(filter.suspended).lower()
        if filter.event is not None:
            params["eventTypes"] = filter.event
        async for item in self._pages("/list", params):
            yield self._webhook(item)

    def _pages(self, path: str, params: dict[str, str]) -> AsyncIterator[Any]:
        """Every item of an offset/count list, a page ahead; ends at ``listCompleted``."""
        count = self.settings.page_size

        async def fetch(offset: int) -> Page[Any, int]:
            query = {**params, "offset": str(offset), "count": str(count)}
            items, completed = wire.list_page(await self.http.request("GET", path, params=query))
            done = completed or not items or (completed is None and len(items) < count)
            return Page(items, None if done else offset + len(items))

        return prefetched(fetch, 0)

    async def get(self, id: str) -> Webhook:
        return self._webhook(await self.http.request("GET", f"/{self._locator(id)}"))

    async def create(self, spec: WebhookSpec) -> Webhook:
        body = wire.create_body(spec)
        return self._webhook(await self.http.request("POST", "", json_body=body))

    async def update(self, id: str, change: WebhookChange) -> Webhook:
        # Applying the same add/remove PATCH twice gives the same state: safe to retry.
        body = wire.patch_body(change)
        path = f"/{self._locator(id)}"
        return self._webhook(
            await self.http.request("PATCH", path, json_body=body, idempotent=True)
        )

    async def delete(self, id: str) -> None:
        await self.http.request("DELETE", f"/{self._locator(id)}")

    async def event_types(self) -> builtins.list[EventType]:
        return [
            EventType(name=name, group=name.partition(".")[0]) for name in self.settings.event_types
        ]

    async def unsuspend(self, id: str) -> None:
        await self.http.request("PATCH", f"/{self._locator(id)}/unsuspend", idempotent=True)

    # -- extras: diverted events -------------------------------------------------------------

    def _diverted(self, webhook_id: str, item: Any) -> DivertedEvent:
        return DivertedEvent(
            id=item["locator"],
            webhook_id=webhook_id,
            event=dict(item.get("event") or {}),
            diverted_at=wire.parse_time(item.get("divertedAt")),
            last_status=item.get("lastStatus"),
        )

    async def ex_list_diverted(self, webhook_id: str) -> AsyncIterator[DivertedEvent]:
        """Every event diverted from ``webhook_id``, oldest first."""
        path = f"/{self._locator(webhook_id)}/diverted"
        async for item in self._pages(path, {}):
            yield self._diverted(webhook_id, item)

    async def ex_get_diverted(self, webhook_id: str, event_id: str) -> DivertedEvent:
        path = f"/{self._locator(webhook_id)}/diverted/{self._locator(event_id, 'event')}"
        return self._diverted(webhook_id, await self.http.request("GET", path))

    async def ex_resend_diverted(self, webhook_id: str, event_id: str) -> None:
        """Deliver a diverted event again; on success Enterprise Core forgets it."""
        path = f"/{self._locator(webhook_id)}/diverted/{self._locator(event_id, 'event')}/resend"
        await self.http.request("POST", path)

    async def ex_delete_diverted(self, webhook_id: str, event_id: str) -> None:
        path = f"/{self._locator(webhook_id)}/diverted/{self._locator(event_id, 'event')}"
        await self.http.request("DELETE", path)
