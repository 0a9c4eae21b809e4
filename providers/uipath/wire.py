"""UiPath Orchestrator's wire format for webhooks, as pure functions (no I/O).

Rules (from the OData "Webhooks requests" page, document 000, and PROVIDERS.md):

* A record is ``{Id, Key, Name, Description, Url, Enabled, Secret, SubscribeToAllEvents,
  AllowInsecureSsl, Events: [{"EventType": name}]}``; any of Key, Name and Description may be
  absent (document 000's records have none of them). ``Id`` is an int64; ours is its text.
* Orchestrator returns the stored ``Secret`` when a record is read; a PUT replaces the whole
  record, so the record we PUT carries the secret back (leaving it out would clear it).
* A PUT body has the shape of document 000's example: ``Url, Enabled, Secret, AllowInsecureSsl,
  Events``, plus ``Name``/``Description`` when the webhook has them and ``SubscribeToAllEvents``
  (omitting it resets it to false, as the example's response shows).
* ``$filter`` equality on ``Url``, ``Name`` and ``Enabled``, joined with ``and``; single quotes in
  string literals are doubled (OData ABNF ``SQUOTE-in-string``).
* Timestamps carry up to 7 fractional digits (``2018-11-19T14:32:47.6024779Z``); we keep 6.
* Errors are ``{message, errorCode, traceId}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gateway.model import EventType, ListFilter, PingResult, Webhook, WebhookSpec

__all__ = [
    "event_types_from",
    "filter_expression",
    "odata_string",
    "parse_timestamp",
    "ping_from",
    "read_error",
    "record_for_put",
    "record_from_spec",
    "webhook_from",
]

KIND = "uipath"
_FRACTION = re.compile(r"\.(\d{6})\d+")


def webhook_from(record: Mapping[str, Any], *, account: str = "") -> Webhook:
    """The ``Webhook`` of an Orchestrator record."""
    return Webhook(
        id=str(record["Id"]),
        name=record.get("Name") or "",
        url=record["Url"],
        enabled=bool(record.get("Enabled", True)),
        events=frozenset(e["EventType"] for e in record.get("Events") or ()),
        all_events=bool(record.get("SubscribeToAllEvents", False)),
        secret=record.get("Secret") or None,
        description=record.get("Description"),
        allow_insecure_ssl=bool(record.get("AllowInsecureSsl", False)),
        provider=KIND,
        account=account,
    )


def _events(names: Iterable[str]) -> list[dict[str, str]]:
    return [{"EventType": name} for name in sorted(names)]


def record_from_spec(spec: WebhookSpec) -> dict[str, Any]:
    """The body of ``POST /odata/Webhooks``."""
    body: dict[str, Any] = {"Name": spec.name}
    if spec.description is not None:
        body["Description"] = spec.description
    body |= {
        "Url": spec.url,
        "Enabled": spec.enabled,
        "Secret": spec.secret.reveal() if spec.secret else None,
        "SubscribeToAllEvents": spec.all_events,
        "AllowInsecureSsl": spec.allow_insecure_ssl,
        "Events": _events(spec.events),
    }
    return body


def record_for_put(webhook: Webhook) -> dict[str, Any]:
    """The body of ``PUT /odata/Webhooks({id})``: the whole record as it should be stored."""
    body: dict[str, Any] = {}
    if webhook.name:
        body["Name"] = webhook.name
    if webhook.description is not None:
        body["Description"] = webhook.description
    body |= {"Url": webhook.url, "Enabled": webhook.enabled}
    if webhook.secret:
        body["Secret"] = webhook.secret.reveal()
    if webhook.all_events:
        body["SubscribeToAllEvents"] = True
    body |= {"AllowInsecureSsl": webhook.allow_insecure_ssl, "Events": _events(webhook.events)}
    return body


def odata_string(value: str) -> str:
    """An OData string literal: single-quoted, inner single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def filter_expression(flt: ListFilter) -> str | None:
    """The ``$filter`` for what OData can express of ``flt`` (the rest is applied locally)."""
    terms = []
    if flt.url is not None:
        terms.append(f"Url eq {odata_string(flt.url)}")
    if flt.name is not None:
        terms.append(f"Name eq {odata_string(flt.name)}")
    if flt.enabled is not None:
        terms.append(f"Enabled eq {'true' if flt.enabled else 'false'}")
    return " and ".join(terms) or None


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(_FRACTION.sub(r".\1", value))


def ping_from(body: Mapping[str, Any]) -> PingResult:
    """The ``PingResult`` of the Ping action's answer (its ids go into ``details``)."""
    return PingResult(
        event_id=str(body["EventId"]),
        event_type=body.get("Type", "ping"),
        timestamp=parse_timestamp(body.get("Timestamp")),
        details={
            key: body.get(key)
            for key in ("TenantId", "OrganizationUnitId", "UserId")
            if key in body
        },
    )


def event_types_from(body: Mapping[str, Any]) -> list[EventType]:
    """The catalog of the GetEventTypes function's answer."""
    return [EventType(name=e["Name"], group=e.get("Group") or "") for e in body.get("value", ())]


def read_error(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    """``(errorCode, message, traceId)`` of an Orchestrator error body."""
    if not isinstance(body, Mapping):
        return None, None, None
    code = body.get("errorCode")
    message = body.get("message") or body.get("error_description") or body.get("error")
    return code, message, body.get("traceId")
