"""Enterprise Core's webhook wire format, as pure functions (no I/O).

Rules (document 004 and the Enterprise Core section of tests/data/PROVIDER-NOTES.md):

* ``WebhookResponse`` is ``{locator, name, enabled, endpoint, failureHandling, suspended,
  suspendedAt, eventTypes}``. An endpoint (the webhook's own, and the failure handling's
  ``alertEndpoint``) is ``EndpointResponse`` ``{url, headers, secureSsl, hmacEnabled, secret,
  tag}`` on read, ``CreateEndpointRequest`` (the same, ``url`` required) on create and
  ``UpdateEndpointRequest`` ``{url, addHeaders, removeHeaders, secureSsl, hmacEnabled, secret,
  tag}`` on update (Socotra's OpenAPI document, tests/data/enterprise_core/event_api_schemas.json);
  headers are ``map<string, string[]>``. ``url`` and ``headers`` are required on read (both the
  OpenAPI document and the Webhooks API page say so); the OpenAPI document marks the other four
  required too, but the Webhooks API page and older releases leave them out, so an absent one
  reads as not set. A field of the wrong type is a ``ProviderError`` naming its path.
* ``allow_insecure_ssl`` is ``secureSsl: false``; a ``secret`` is ``secret`` with
  ``hmacEnabled: true`` (``hmacEnabled`` follows whether a secret is set, on both endpoints);
  clearing it sends ``hmacEnabled: false``. A read whose ``hmacEnabled`` is true or that returns
  a secret has ``secret_state = "set"``; one that returns the secret carries it (never shown).
  The webhook endpoint's ``tag`` is the provider extra ``tag``; the alert endpoint's is its
  ``tag`` field.
* Diverted events (the Diverted Events API page) are ``{eventLocator, requestLocator,
  failureMessage, failureTimestamp, failureTrigger}``, listed as an array (or, like webhooks,
  ``{listCompleted, items}``); resend answers with an object.
* Failure handling is ``{alertEndpoint: endpoint, triggers, retryStrategy: {type, interval,
  attempts}, divert, suspend}``; without one the documented default applies
  (``{"triggers": ["4xx","5xx","timeout"], "divert": false, "suspend": false}``). The model
  says the same with ``None``, so a webhook whose failure handling is exactly the default reads
  back as ``failure_handling=None``.
* An update is ONE ``PATCH`` in the API's own add/remove terms; removals apply first. A new
  failure-handling value is sent as ``removeFailureHandling: true`` (back to the default) plus a
  ``failureHandling`` update relative to that default (``addTriggers``/``removeTriggers``,
  ``alertEndpoint``, ``retryStrategy``, ``divert``, ``suspend``): no read is needed.
* List answers are ``{listCompleted, items}`` (older releases: a bare array).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import attrs
import orjson

from gateway.errors import InvalidRequest
from gateway.model import (
    DEFAULT_TRIGGERS,
    UNSET,
    AlertEndpoint,
    FailureHandling,
    Headers,
    RetryStrategy,
    Secret,
    SecretState,
    Webhook,
    WebhookChange,
    WebhookSpec,
)
from gateway.transport.answers import UNSURE, Answer, PlainFields, plain_fields, read_fast

__all__ = [
    "LOCATOR",
    "DivertedEvent",
    "alert_endpoint_from",
    "create_body",
    "diverted_from",
    "endpoint_body",
    "failure_handling_body",
    "failure_handling_from",
    "list_page",
    "patch_body",
    "read_error",
    "webhook_from",
]

KIND = "enterprise_core"

#: A locator: a ULID (26 characters of Crockford Base32, the first at most 7).
LOCATOR = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.IGNORECASE)


#: Failure handlings without an alert endpoint, read before: most webhooks of a tenant share a
#: few, and a list page reads a hundred (the raw JSON, keys sorted, -> the model). Those with
#: an alert endpoint, which may hold a secret, are never kept.
_READ_BEFORE: dict[bytes, FailureHandling | None] = {}
_READ_BEFORE_MAX = 256


def failure_handling_from(fh: Answer | None) -> FailureHandling | None:
    """The model's failure handling; ``None`` for the documented default."""
    if fh is None:
        return None
    key = _kept_as(fh.data)
    if key is not None and key in _READ_BEFORE:
        return _READ_BEFORE[key]
    value = _failure_handling(fh)
    if key is not None:
        if len(_READ_BEFORE) >= _READ_BEFORE_MAX:
            _READ_BEFORE.clear()
        _READ_BEFORE[key] = value
    return value


_UNREAD: Any = object()


def _kept_as(data: Any) -> bytes | None:
    """The key a failure handling is kept by in ``_READ_BEFORE`` (its JSON, keys sorted); None
    for one that is never kept (with an alert endpoint, or not plain JSON)."""
    if type(data) is not dict or data.get("alertEndpoint") is not None:
        return None
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None


def _read_before(data: Any) -> Any:
    """The model of a failure handling read before (``_UNREAD`` if it was not, or is never
    kept)."""
    key = _kept_as(data)
    return _UNREAD if key is None else _READ_BEFORE.get(key, _UNREAD)


def _failure_handling(fh: Answer) -> FailureHandling | None:
    rs = fh.child("retryStrategy")
    try:
        value = FailureHandling(
            triggers=frozenset(fh.strings("triggers") or DEFAULT_TRIGGERS),
            retry_strategy=RetryStrategy(
                type=rs.optional("type", str, "exponential"),
                interval=rs.optional("interval", int, 1),
                attempts=rs.optional("attempts", int, 3),
            )
            if rs is not None
            else None,
            alert_endpoint=alert_endpoint_from(fh.child("alertEndpoint")),
            divert=fh.optional("divert", bool, False),
            suspend=fh.optional("suspend", bool, False),
        )
    except InvalidRequest as exc:
        raise fh.error(f"{fh.what}: {exc.message}") from None
    return None if value == FailureHandling() else value


class _Endpoint(NamedTuple):
    """An ``EndpointResponse`` read: what both kinds of endpoint hold."""

    url: str
    headers: dict[str, list[str]]
    secure_ssl: bool | None
    secret: str | None
    secret_state: SecretState
    tag: str | None


def _endpoint(endpoint: Answer) -> _Endpoint:
    headers = endpoint.required("headers", dict)
    for name, values in headers.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise endpoint.error(f"{endpoint.what}.headers.{name} must be an array of strings")
    secret = endpoint.optional("secret", str) or None
    hmac_enabled = endpoint.optional("hmacEnabled", bool, False)
    state: SecretState = "set" if hmac_enabled or secret else "unset"
    return _Endpoint(
        url=endpoint.required("url", str),
        headers=headers,
        secure_ssl=endpoint.optional("secureSsl", bool),
        secret=secret,
        secret_state=state,
        tag=endpoint.optional("tag", str) or None,
    )


def alert_endpoint_from(endpoint: Answer | None) -> AlertEndpoint | None:
    """The model's alert endpoint of a failure handling's ``alertEndpoint``."""
    if endpoint is None:
        return None
    e = _endpoint(endpoint)
    return AlertEndpoint(
        url=e.url,
        headers=e.headers,
        allow_insecure_ssl=e.secure_ssl is False,
        secret=e.secret,
        secret_state=e.secret_state,
        tag=e.tag,
    )


def endpoint_body(
    url: str,
    headers: Headers,
    *,
    allow_insecure_ssl: bool = False,
    secret: Secret | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    """A ``CreateEndpointRequest``: ``url`` and ``headers``, and the optional fields set."""
    body: dict[str, Any] = {"url": url, "headers": _headers(headers)}
    if allow_insecure_ssl:
        body["secureSsl"] = False
    if secret:
        # the Secret itself: the transport's encoder reveals it when the body is sent
        body |= {"hmacEnabled": True, "secret": secret}
    if tag is not None:
        body["tag"] = tag
    return body


def _alert_body(endpoint: AlertEndpoint) -> dict[str, Any]:
    return endpoint_body(
        endpoint.url,
        endpoint.headers,
        allow_insecure_ssl=endpoint.allow_insecure_ssl,
        secret=endpoint.secret,
        tag=endpoint.tag,
    )


def _retry(rs: RetryStrategy) -> dict[str, Any]:
    return {"type": rs.type, "interval": rs.interval, "attempts": rs.attempts}


def failure_handling_body(fh: FailureHandling, *, complete: bool = False) -> dict[str, Any]:
    """``FailureHandlingCreateRequest`` for ``fh`` (``complete``: ``retryStrategy`` and
    ``alertEndpoint`` too, null when there is none)."""
    body: dict[str, Any] = {"triggers": sorted(fh.triggers)}
    if fh.retry_strategy is not None or complete:
        body["retryStrategy"] = _retry(fh.retry_strategy) if fh.retry_strategy else None
    if fh.alert_endpoint is not None or complete:
        body["alertEndpoint"] = _alert_body(fh.alert_endpoint) if fh.alert_endpoint else None
    return body | {"divert": fh.divert, "suspend": fh.suspend}


def webhook_from(item: Any, *, account: str = "") -> Webhook:
    """The ``Webhook`` of a ``WebhookResponse`` (``ProviderError`` if it is not one).

    A list page reads a hundred of these, so a record is first read in one pass over plain
    dicts, checking each field's exact type (``_read_plainly``); a record that pass is unsure
    of (a wrong type, a timestamp, anything but a plain dict) is read again field by field
    through ``Answer``, which names what is wrong. Both build the model with ``_webhook``:
    tests/test_enterprise_core_wire.py checks that they agree, on good records and bad."""
    return read_fast(_read_plainly, _read_checked, item, account)


_FIELDS: PlainFields = (
    ("locator", str, True), ("endpoint", dict, True), ("name", str, False),
    ("enabled", bool, False), ("suspended", bool, False), ("eventTypes", list, False),
)  # fmt: skip
_ENDPOINT_FIELDS: PlainFields = (
    ("url", str, True), ("headers", dict, True), ("secureSsl", bool, False),
    ("secret", str, False), ("hmacEnabled", bool, False), ("tag", str, False),
)  # fmt: skip


def _read_plainly(item: Any, account: str) -> Webhook:
    locator, endpoint, name, enabled, suspended, events = plain_fields(item, _FIELDS)
    if (
        item.get("suspendedAt") is not None  # a timestamp: read with its checks
        or (events is not None and not all(type(e) is str for e in events))
    ):
        raise UNSURE
    fh = item.get("failureHandling")
    fh_model = None
    if fh is not None:
        fh_model = _read_before(fh)
        if fh_model is _UNREAD:
            raise UNSURE
    url, headers, secure_ssl, secret, hmac_enabled, tag = plain_fields(endpoint, _ENDPOINT_FIELDS)
    if not all(type(v) is list and all(type(x) is str for x in v) for v in headers.values()):
        raise UNSURE
    state: SecretState = "set" if hmac_enabled or secret else "unset"
    found = _Endpoint(url, headers, secure_ssl, secret or None, state, tag or None)
    return _webhook(locator, name or "", enabled is not False, events or [], found,
                    suspended is True, None, fh_model, account)  # fmt: skip


def _read_checked(item: Any, account: str) -> Webhook:
    a = Answer(item, provider=KIND, account=account, what="webhook")
    locator = a.required("locator", str)
    a.named(f"webhook {locator[:40]}")
    child = a.child("endpoint", required=True)
    assert child is not None
    return _webhook(
        locator,
        a.optional("name", str, ""),
        a.optional("enabled", bool, True),
        a.strings("eventTypes"),
        _endpoint(child),
        a.optional("suspended", bool, False),
        a.time("suspendedAt"),
        failure_handling_from(a.child("failureHandling")),
        account,
    )


def _webhook(
    locator: str,
    name: str,
    enabled: bool,
    events: list[str],
    endpoint: _Endpoint,
    suspended: bool,
    suspended_at: datetime | None,
    failure_handling: FailureHandling | None,
    account: str,
) -> Webhook:
    return Webhook(
        id=locator,
        name=name,
        url=endpoint.url,
        enabled=enabled,
        events=frozenset(events),
        headers=endpoint.headers,
        suspended=suspended,
        suspended_at=suspended_at,
        allow_insecure_ssl=endpoint.secure_ssl is False,
        failure_handling=failure_handling,
        secret=endpoint.secret,
        secret_state=endpoint.secret_state,
        extras={"tag": endpoint.tag} if endpoint.tag else _NO_EXTRAS,
        provider=KIND,
        account=account,
    )


_NO_EXTRAS: dict[str, str] = {}


@attrs.frozen(kw_only=True)
class DivertedEvent:
    """An event whose delivery failed and that ``divert`` kept (an Enterprise Core extra).

    ``id`` is its ``eventLocator``; the other fields are the documented ones.
    """

    id: str
    webhook_id: str
    request_locator: str
    failure_message: str
    failure_timestamp: datetime | None
    failure_trigger: str


def diverted_from(item: Any, webhook_id: str, *, account: str = "") -> DivertedEvent:
    """The ``DivertedEvent`` of a ``DivertedEventResponse`` (``ProviderError`` if not one)."""
    a = Answer(item, provider=KIND, account=account, what="diverted event")
    locator = a.required("eventLocator", str)
    a.named(f"diverted event {locator[:40]}")
    return DivertedEvent(
        id=locator,
        webhook_id=webhook_id,
        request_locator=a.required("requestLocator", str),
        failure_message=a.optional("failureMessage", str, ""),
        failure_timestamp=a.time("failureTimestamp"),
        failure_trigger=a.optional("failureTrigger", str, ""),
    )


def _headers(headers: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {name: list(values) for name, values in headers.items()}


def create_body(spec: WebhookSpec, *, complete: bool = False) -> dict[str, Any]:
    """``CreateWebhookRequest``; ``complete``: every field the OpenAPI lists as required,
    ``failureHandling`` (the documented default when the spec has none) included."""
    endpoint = endpoint_body(
        spec.url,
        spec.headers,
        allow_insecure_ssl=spec.allow_insecure_ssl,
        secret=spec.secret,
        tag=spec.extras.get("tag"),
    )
    body: dict[str, Any] = {"name": spec.name, "enabled": spec.enabled, "endpoint": endpoint}
    if spec.failure_handling is not None or complete:
        fh = spec.failure_handling or FailureHandling()
        body["failureHandling"] = failure_handling_body(fh, complete=complete)
    body["eventTypes"] = sorted(spec.events)
    return body


def _failure_handling_update(fh: FailureHandling, *, complete: bool = False) -> dict[str, Any]:
    """A ``FailureHandlingUpdateRequest`` taking the documented default to ``fh``
    (``complete``: with every field the OpenAPI lists as required, null or empty where there
    is nothing to say)."""
    body: dict[str, Any] = {}
    if DEFAULT_TRIGGERS - fh.triggers or complete:
        body["removeTriggers"] = sorted(DEFAULT_TRIGGERS - fh.triggers)
    if fh.triggers - DEFAULT_TRIGGERS or complete:
        body["addTriggers"] = sorted(fh.triggers - DEFAULT_TRIGGERS)
    if fh.retry_strategy is not None or complete:
        body["retryStrategy"] = _retry(fh.retry_strategy) if fh.retry_strategy else None
    if fh.alert_endpoint is not None or complete:
        body["alertEndpoint"] = _alert_update(fh.alert_endpoint) if fh.alert_endpoint else None
    if complete:
        body |= {"removeAlertEndpoint": False, "removeRetryStrategy": False}
    return body | {"divert": fh.divert, "suspend": fh.suspend}


def _unchanged_failure_handling(fh: FailureHandling) -> dict[str, Any]:
    """A complete ``FailureHandlingUpdateRequest`` that changes nothing of ``fh``."""
    return {"addTriggers": [], "removeTriggers": [], "retryStrategy": None,
            "removeRetryStrategy": False, "alertEndpoint": None, "removeAlertEndpoint": False,
            "divert": fh.divert, "suspend": fh.suspend}  # fmt: skip


def _alert_update(endpoint: AlertEndpoint) -> dict[str, Any]:
    """An ``UpdateEndpointRequest`` setting the alert endpoint to ``endpoint`` after
    ``removeFailureHandling`` took the old one away: its headers are all additions."""
    body = _alert_body(endpoint)
    body["addHeaders"] = body.pop("headers")
    body["removeHeaders"] = []  # url, addHeaders and removeHeaders: the schema's required three
    if not endpoint.secret:
        body["hmacEnabled"] = False
    return body


def patch_body(change: WebhookChange, previous: Webhook | None = None) -> dict[str, Any]:
    """``UpdateWebhookRequest`` for ``change``: one PATCH, in add/remove terms.

    Without ``previous``, sparse: only what changes (assumed to be how Socotra applies a PATCH,
    as the add/remove fields imply: its OpenAPI lists every field of the request as required,
    ``removeFailureHandling`` included, which a PATCH that names its removals cannot mean
    literally). With ``previous`` (the webhook read under the update lock: the account's
    ``complete_updates``), complete: every field the OpenAPI requires, the values the change
    leaves taken from ``previous``."""
    if previous is not None:
        return _complete_patch(change, previous)
    body: dict[str, Any] = {}
    if change.name is not UNSET:
        body["name"] = change.name
    if change.enabled is not UNSET:
        body["enabled"] = change.enabled
    endpoint: dict[str, Any] = {}
    if change.url is not UNSET:
        endpoint["url"] = change.url
    if change.add_headers:
        endpoint["addHeaders"] = _headers(change.add_headers)
    if change.remove_headers:
        endpoint["removeHeaders"] = sorted(change.remove_headers)
    if change.allow_insecure_ssl is not UNSET:
        endpoint["secureSsl"] = not change.allow_insecure_ssl
    if change.secret is None:
        endpoint["hmacEnabled"] = False
    elif change.secret is not UNSET:
        endpoint |= {"hmacEnabled": True, "secret": change.secret}
    if "tag" in change.extras:
        endpoint["tag"] = change.extras["tag"]
    if endpoint:
        body["endpoint"] = endpoint
    if change.failure_handling is not UNSET:
        body["removeFailureHandling"] = True
        if change.failure_handling is not None:
            body["failureHandling"] = _failure_handling_update(change.failure_handling)
    if change.add_events:
        body["addEventTypes"] = sorted(change.add_events)
    if change.remove_events:
        body["removeEventTypes"] = sorted(change.remove_events)
    return body


def _complete_patch(change: WebhookChange, previous: Webhook) -> dict[str, Any]:
    """The complete ``UpdateWebhookRequest`` (see ``patch_body``)."""
    sparse = patch_body(change)
    endpoint = {
        "url": previous.url if change.url is UNSET else change.url,
        "addHeaders": {},
        "removeHeaders": [],
        **sparse.get("endpoint", {}),
    }
    fh = previous.failure_handling or FailureHandling()
    if change.failure_handling is UNSET:
        failure = _unchanged_failure_handling(fh)
    elif change.failure_handling is None:  # back to the documented default
        failure = _failure_handling_update(FailureHandling(), complete=True)
    else:
        failure = _failure_handling_update(change.failure_handling, complete=True)
    return {
        "name": previous.name if change.name is UNSET else change.name,
        "enabled": previous.enabled if change.enabled is UNSET else change.enabled,
        "endpoint": endpoint,
        "failureHandling": failure,
        "removeFailureHandling": change.failure_handling is not UNSET,
        "addEventTypes": sparse.get("addEventTypes", []),
        "removeEventTypes": sparse.get("removeEventTypes", []),
    }


def list_page(
    body: Any, *, account: str = "", what: str = "webhook list"
) -> tuple[list[Any], bool | None]:
    """``(items, listCompleted)`` of a list answer; ``None`` when a bare array does not say."""
    if isinstance(body, list):
        return body, None
    a = Answer(body, provider=KIND, account=account, what=what)
    return a.optional("items", list, []), a.optional("listCompleted", bool)


def read_error(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    """``(error, message, requestId)`` of an error body (assumed: Socotra's OpenAPI gives no
    error schema; this is the shape of a Spring Boot error answer its services return)."""
    if not isinstance(body, Mapping):
        return None, None, None
    return body.get("error"), body.get("message"), body.get("requestId")
