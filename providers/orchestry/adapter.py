"""Orchestry: outgoing provisioning webhooks (``{base_url}/v1/provisioning/webhooks``).

Documented (document 003): create with a name, an optional description, exactly ONE event, a URL
and an optional secret, authenticated with a Microsoft identity platform client-credentials token.

Assumed, because the public page shows nothing else (see ``providers.orchestry.wire`` for the
field names; check each against the API reference of your tenant):

* ``GET /v1/provisioning/webhooks`` lists every subscription as one JSON array, or an object
  wrapping one in ``value`` or ``items`` (no paging, no server-side filters: the gateway
  filters locally);
* ``GET /v1/provisioning/webhooks/{id}`` reads one; ``DELETE`` of the same path removes it (204);
* there is no update, ping or unsuspend (they raise ``Unsupported``): to change a subscription,
  delete it and create it again;
* the secret is never returned when read, nor whether there is one (``secret_state`` reads
  ``"unknown"``);
* the five event identifiers in ``wire.EVENTS``.

Tokens come from MSAL (``providers.orchestry.tokens``); with ``ca_bundle`` both MSAL and the
API calls trust that CA file (a private authority, such as the emulator's).
"""

from __future__ import annotations

import builtins
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import attrs

from gateway.checks import SettingProblem, check
from gateway.model import EventType, ListFilter, Secret, Webhook, WebhookSpec
from gateway.provider import Capabilities, Provider
from gateway.transport.answers import UnreadableRecord
from gateway.transport.http import Transport
from providers.orchestry import verification, wire
from providers.orchestry.tokens import MsalTokenSource

__all__ = ["OrchestryProvider", "OrchestrySettings"]

PATH = "/v1/provisioning/webhooks"


def _https(value: str) -> bool:
    return value.startswith("https://")


@attrs.frozen(kw_only=True)
class OrchestrySettings:
    """Keys of a ``provider = "orchestry"`` account.

    ``scope`` is shown on Orchestry's Connections page ("Client Credentials Flow Scope").
    ``authority`` defaults to ``https://login.microsoftonline.com/{tenant_id}``; MSAL accepts only
    https authorities. ``ca_bundle`` is a CA file for a private authority and API.
    """

    tenant_id: str = attrs.field(validator=check(bool, "must not be empty"))
    client_id: str = attrs.field(validator=check(bool, "must not be empty"))
    client_secret: Secret
    scope: str = attrs.field(
        validator=check(
            lambda v: v.endswith("/.default"),
            "must end in /.default (client-credentials scopes do; Orchestry's Connections "
            "page shows it as the Client Credentials Flow Scope)",
        )
    )
    base_url: str = attrs.field(
        default="https://api.orchestry.com", validator=check(_https, "must be an https URL")
    )
    authority: str | None = attrs.field(
        default=None, validator=check(_https, "must be an https URL (MSAL accepts no other)")
    )
    ca_bundle: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.ca_bundle is not None:
            try:
                with open(self.ca_bundle, "rb"):
                    pass
            except OSError as exc:
                raise SettingProblem(
                    "ca_bundle", f"cannot read {self.ca_bundle}: {exc.strerror}"
                ) from None

    @property
    def authority_url(self) -> str:
        return self.authority or f"https://login.microsoftonline.com/{self.tenant_id}"


class OrchestryProvider(Provider[OrchestrySettings]):
    """Provisioning webhooks of one Orchestry tenant."""

    kind = "orchestry"
    title = "Orchestry"
    docs_url = "https://success.orchestry.com/knowledge/how-to-register-outgoing-custom-webhooks-in-orchestry"
    emulator = "providers.orchestry.emulator"
    settings_type = OrchestrySettings
    verify_delivery = staticmethod(verification.verify)
    # Seed 003 ("The Outgoing Webhook Payload"): requestId is "the Id of the associated request";
    # the payload has no event id and no event name, and one request's deliveries (requested,
    # approved or rejected, completed) share it: the subscription's inbound path tells them apart.
    delivery_id = "requestId"
    delivery_id_names_event = False
    delivery_secret_fields = ("Secret",)
    capabilities = Capabilities(
        fields=frozenset({"secret", "description"}),
        min_events=1,
        max_events=1,
        reports_secret=False,
        reports_secret_state=False,
    )

    def __init__(self, account: str, settings: OrchestrySettings, transport: Transport) -> None:
        super().__init__(account, settings, transport)
        http = transport.settings
        self.tokens = MsalTokenSource(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            authority=settings.authority_url,
            scope=settings.scope,
            ca_bundle=settings.ca_bundle,
            timeout=(http.connect_timeout, http.read_timeout),
            provider=self.kind,
            account=account,
        )
        tls: Any = True
        if settings.ca_bundle:
            tls = ssl.create_default_context(cafile=settings.ca_bundle)
        self.http = transport.client(
            provider=self.kind,
            account=account,
            base_url=settings.base_url.rstrip("/") + PATH,
            auth=self.tokens,
            read_error=wire.read_error,
            ssl=tls,
        )

    def _webhook(self, item: Any) -> Webhook:
        return wire.webhook_from(item, account=self.account)

    def _id(self, id: str) -> str:
        """``id`` as one percent-encoded path segment (never a dot segment or a slash)."""
        return quote(self.canonical_id(id), safe="")

    async def list(self, filter: ListFilter) -> AsyncIterator[Webhook | UnreadableRecord]:
        items = wire.list_items(await self.http.request("GET", ""), account=self.account)
        for webhook in self.read_each(items, self._webhook, "id"):
            yield webhook

    async def get(self, id: str) -> Webhook:
        return self._webhook(await self.http.request("GET", f"/{self._id(id)}"))

    async def create(self, spec: WebhookSpec) -> Webhook:
        created = self._webhook(
            await self.http.request("POST", "", json_body=wire.create_body(spec))
        )
        return created

    async def delete(self, id: str) -> None:
        await self.http.request("DELETE", f"/{self._id(id)}")

    async def event_types(self) -> builtins.list[EventType]:
        return wire.event_types()

    async def close(self) -> None:
        self.tokens.close()
