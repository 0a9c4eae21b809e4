"""UiPath Orchestrator's wire format for webhooks, as pure functions (no I/O).

Rules (from the OData "Webhooks requests" page, document 000, and tests/data/PROVIDER-NOTES.md):

* A record is ``{Id, Key, Name, Description, Url, Enabled, Secret, SubscribeToAllEvents,
  AllowInsecureSsl, Events: [{"EventType": name}]}``; any of Key, Name and Description may be
  absent (document 000's records have none of them). ``Id`` is an int64; ours is its text.
* Orchestrator returns the stored ``Secret`` when a record is read (the swagger's
  ``WebhookDto`` has it). Assumed, as no public page shows one: a tenant may mask it (a run of
  ``*``); a masked secret reads as ``secret=None, secret_state="set"``, and so a secret that
  was read is never written back.
* An update is a ``PATCH`` of ``Webhooks({id})`` carrying only the properties that change:
  the new ``Events`` collection (an OData PATCH replaces a collection whole), computed by
  ``WebhookChange.apply`` on the record read, and ``Secret`` only when the change sets it.
* ``$filter`` equality on ``Url``, ``Name`` and ``Enabled``, joined with ``and``; single quotes in
  string literals are doubled (OData ABNF ``SQUOTE-in-string``).
* Timestamps carry up to 7 fractional digits (``2018-11-19T14:32:47.6024779Z``); we keep 6.
* Errors are ``{message, errorCode, traceId}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gateway.model import EventType, ListFilter, PingResult, Webhook, WebhookChange, WebhookSpec
from gateway.transport.answers import UNSURE, Answer, PlainFields, plain_fields, read_fast

__all__ = [
    "event_types_from",
    "filter_expression",
    "is_masked",
    "list_page",
    "odata_string",
    "patch_body",
    "ping_from",
    "read_error",
    "record_from_spec",
    "webhook_from",
]

KIND = "uipath"


def is_masked(secret: str) -> bool:
    """Whether a ``Secret`` read from Orchestrator is a mask rather than the value."""
    return len(secret) >= 3 and not secret.strip("*")


def webhook_from(record: Any, *, account: str = "") -> Webhook:
    """The ``Webhook`` of an Orchestrator record (``ProviderError`` if it is not one).

    A list page reads a hundred, a plan thousands: a record is first read in one pass over a
    plain dict, checking each field's exact type (``_read_plainly``); one that pass is unsure
    of is read again field by field through ``Answer``, which names what is wrong
    (``_read_checked``). Both build the model with ``_webhook``; tests/test_uipath_wire.py
    checks that they agree, on good records and bad."""
    return read_fast(_read_plainly, _read_checked, record, account)


_FIELDS: PlainFields = (
    ("Id", int, True), ("Url", str, True), ("Name", str, False), ("Events", list, False),
    ("Enabled", bool, False), ("SubscribeToAllEvents", bool, False), ("Secret", str, False),
    ("Description", str, False), ("AllowInsecureSsl", bool, False),
)  # fmt: skip


def _read_plainly(record: Any, account: str) -> Webhook:
    id, url, name, events, enabled, every, secret, description, insecure = plain_fields(
        record, _FIELDS
    )
    names = []
    for item in events or ():
        event = item.get("EventType") if type(item) is dict else None
        if type(event) is not str:
            raise UNSURE
        names.append(event)
    return _webhook(id, name or "", url, enabled is not False, names, every is True,
                    secret or None, description, insecure is True, account)  # fmt: skip


def _read_checked(record: Any, account: str) -> Webhook:
    a = Answer(record, provider=KIND, account=account, what="webhook")
    id = a.required("Id", int)
    a.named(f"webhook {id}")
    events = [item.required("EventType", str) for item in a.objects("Events")]
    return _webhook(
        id,
        a.optional("Name", str, ""),
        a.required("Url", str),
        a.optional("Enabled", bool, True),
        events,
        a.optional("SubscribeToAllEvents", bool, False),
        a.optional("Secret", str) or None,
        a.optional("Description", str),
        a.optional("AllowInsecureSsl", bool, False),
        account,
    )


def _webhook(
    id: int,
    name: str,
    url: str,
    enabled: bool,
    events: list[str],
    all_events: bool,
    secret: str | None,
    description: str | None,
    allow_insecure_ssl: bool,
    account: str,
) -> Webhook:
    masked = secret is not None and is_masked(secret)
    return Webhook(
        id=str(id),
        name=name,
        url=url,
        enabled=enabled,
        events=frozenset(events),
        all_events=all_events,
        secret=None if masked else secret,
        secret_state="set" if secret else "unset",
        description=description,
        allow_insecure_ssl=allow_insecure_ssl,
        provider=KIND,
        account=account,
    )


def _events(names: Iterable[str]) -> list[dict[str, str]]:
    return [{"EventType": name} for name in sorted(names)]


def record_from_spec(spec: WebhookSpec) -> dict[str, Any]:
    """The body of ``POST /odata/Webhooks`` (the secret stays a ``Secret``: the transport's
    encoder reveals it when the body is sent)."""
    body: dict[str, Any] = {"Name": spec.name}
    if spec.description is not None:
        body["Description"] = spec.description
    body |= {
        "Url": spec.url,
        "Enabled": spec.enabled,
        "Secret": spec.secret or None,
        "SubscribeToAllEvents": spec.all_events,
        "AllowInsecureSsl": spec.allow_insecure_ssl,
        "Events": _events(spec.events),
    }
    return body


#: Model field -> (Orchestrator property, how the model's value is written).
_PATCHED: dict[str, tuple[str, Any]] = {
    "name": ("Name", lambda v: v),
    "description": ("Description", lambda v: v),
    "url": ("Url", lambda v: v),
    "enabled": ("Enabled", lambda v: v),
    "all_events": ("SubscribeToAllEvents", lambda v: v),
    "allow_insecure_ssl": ("AllowInsecureSsl", lambda v: v),
    "events": ("Events", _events),
}


def patch_body(previous: Webhook, change: WebhookChange) -> dict[str, Any]:
    """The body of ``PATCH /odata/Webhooks({id})``: only what ``change`` alters on ``previous``.

    ``Events`` is the whole new collection (``change.apply`` on the record read). ``Secret`` is
    sent only when the change sets it (``null`` clears it): a secret that was read, possibly a
    mask, is never written back.
    """
    updated = change.apply(previous)
    body: dict[str, Any] = {}
    for field, (prop, write) in _PATCHED.items():
        if getattr(updated, field) != getattr(previous, field):
            body[prop] = write(getattr(updated, field))
    if "secret" in change.set_fields():
        body["Secret"] = change.secret or None
    return body


def scalar_patch_body(change: WebhookChange) -> dict[str, Any]:
    """The body of ``PATCH /odata/Webhooks({id})`` for a change of scalar fields alone, sent
    without reading the record: each property it sets, as it sets it (Orchestrator merges the
    properties a PATCH carries, the seed's PATCH example and the swagger's ``Webhooks_PatchById``;
    a property already at that value stays so). ``Secret`` as ``patch_body`` sends it."""
    assert not (change.add_events or change.remove_events), "events need the record read"
    body: dict[str, Any] = {}
    for field in change.set_fields():
        if field in _PATCHED:
            prop, write = _PATCHED[field]
            body[prop] = write(getattr(change, field))
    if "secret" in change.set_fields():
        body["Secret"] = change.secret or None
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


def ping_from(body: Any, *, account: str = "") -> PingResult:
    """The ``PingResult`` of the Ping action's answer (its ids go into ``details``)."""
    a = Answer(body, provider=KIND, account=account, what="ping answer")
    return PingResult(
        event_id=str(a.required("EventId", str | int)),
        event_type=a.optional("Type", str, "ping"),
        timestamp=a.time("Timestamp"),
        details={
            key: a.data.get(key)
            for key in ("TenantId", "OrganizationUnitId", "UserId")
            if isinstance(a.data.get(key), int | str | None) and key in a.data
        },
    )


def event_types_from(body: Any, *, account: str = "") -> list[EventType]:
    """The catalog of the GetEventTypes function's answer."""
    a = Answer(body, provider=KIND, account=account, what="event types")
    return [
        EventType(name=e.required("Name", str), group=e.optional("Group", str, ""))
        for e in a.objects("value")
    ]


def list_page(body: Any, *, account: str = "") -> tuple[list[Any], int | None]:
    """``(records, @odata.count)`` of a list answer."""
    a = Answer(body, provider=KIND, account=account, what="webhook list")
    return a.optional("value", list, []), a.optional("@odata.count", int)


def read_error(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    """``(errorCode, message, traceId)`` of an Orchestrator error body."""
    if not isinstance(body, Mapping):
        return None, None, None
    code = body.get("errorCode")
    message = body.get("message") or body.get("error_description") or body.get("error")
    return code, message, body.get("traceId")
