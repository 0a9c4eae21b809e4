"""Orchestry's webhook wire format, as pure functions (no I/O).

Documented (document 003): ``POST {base_url}/v1/provisioning/webhooks`` with a name, an optional
description, ONE event, a URL and an optional secret; bearer token from the Microsoft identity
platform. Deliveries carry ``tenantId, requestId, templateId, groupId, sharePointUrl, Secret``,
and the secret again as a header.

Assumed (the public page shows neither field spellings nor any other call; check these against
the API reference of your tenant):

* request and response fields are camelCase: ``{name, description, event, url, secret}``;
  a subscription reads back as ``{id, name, description, event, url}`` without the secret;
* ``GET /v1/provisioning/webhooks`` lists every subscription as a JSON array, or an object
  wrapping one in ``value`` or ``items`` (both are read; no paging);
* ``GET`` and ``DELETE /v1/provisioning/webhooks/{id}`` read and remove one (DELETE: 204);
* there is no update: a subscription is deleted and created again;
* event identifiers are the five below; errors are ASP.NET problem details
  ``{title, status, errors: {field: [messages]}, traceId}``;
* the secret header is ``X-Orchestry-Secret``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ProviderError
from gateway.model import EventType, Webhook, WebhookSpec
from gateway.transport.answers import Answer, json_type

__all__ = [
    "EVENTS",
    "SECRET_HEADER",
    "create_body",
    "event_types",
    "list_items",
    "read_error",
    "webhook_from",
]

KIND = "orchestry"
SECRET_HEADER = "X-Orchestry-Secret"  # noqa: S105 - a header name, not a secret

#: The five documented events: (assumed identifier, group, title from document 003).
EVENTS = (
    ("provisioning.requested", "provisioning", "Workspace provisioning has been requested"),
    ("provisioning.completed", "provisioning", "When workspace provisioning has been completed"),
    ("approval.requested", "approval", "Workspace approval has been requested"),
    ("approval.approved", "approval", "When workspace approval has been approved"),
    ("approval.rejected", "approval", "When workspace approval has been rejected"),
)


def event_types() -> list[EventType]:
    return [EventType(name=n, group=g, description=d) for n, g, d in EVENTS]


def create_body(spec: WebhookSpec) -> dict[str, Any]:
    """The body of ``POST /v1/provisioning/webhooks`` (exactly one event)."""
    (event,) = spec.events
    body: dict[str, Any] = {"name": spec.name}
    if spec.description is not None:
        body["description"] = spec.description
    body |= {"event": event, "url": spec.url}
    if spec.secret:
        body["secret"] = spec.secret  # revealed by the transport's encoder, when sent
    return body


def webhook_from(item: Any, *, account: str = "") -> Webhook:
    """The ``Webhook`` of a subscription (``ProviderError`` if the answer is not one)."""
    a = Answer(item, provider=KIND, account=account, what="subscription")
    id = a.required("id", str | int)
    a.named(f"subscription {str(id)[:40]}")
    event = a.optional("event", str)
    return Webhook(
        id=str(id),
        name=a.optional("name", str, ""),
        url=a.required("url", str),
        events=frozenset([event] if event else []),
        description=a.optional("description", str),
        secret_state="unknown",  # noqa: S106 - never returned, nor whether one is set (assumed)
        provider=KIND,
        account=account,
    )


def list_items(body: Any, *, account: str = "") -> list[Any]:
    """The subscriptions of a list answer: a bare array, or an object wrapping one in
    ``value`` or ``items`` (assumed: the shape is not public); anything else is a
    ``ProviderError`` naming what came back."""
    if isinstance(body, list):
        return body
    if isinstance(body, Mapping):
        for key in ("value", "items"):
            if isinstance(body.get(key), list):
                return list(body[key])
        keys = ", ".join(sorted(map(str, body))[:10]) or "no keys"
        raise ProviderError(
            f"the subscription list is an object without a value or items array ({keys})",
            provider=KIND,
            account=account or None,
        )
    raise ProviderError(
        f"the subscription list must be a JSON array, got {json_type(body)}",
        provider=KIND,
        account=account or None,
    )


def read_error(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    """``(None, message, traceId)`` of a problem-details body; field errors are listed."""
    if not isinstance(body, Mapping):
        return None, None, None
    message = body.get("detail") or body.get("title") or body.get("message")
    errors = body.get("errors")
    if isinstance(errors, Mapping) and errors:
        listed = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in errors.items())
        message = f"{message}: {listed}" if message else listed
    return body.get("code"), message, body.get("traceId")
