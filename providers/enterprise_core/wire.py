"""Enterprise Core's webhook wire format, as pure functions (no I/O).

Rules (document 004 and the Enterprise Core section of PROVIDERS.md):

* ``WebhookResponse`` is ``{locator, name, enabled, endpoint: {url, headers}, failureHandling,
  suspended, suspendedAt, eventTypes}``; headers are ``map<string, string[]>``. ``endpoint`` may
  also carry ``secureSsl`` and ``hmacEnabled``; the secret is never returned.
* ``allow_insecure_ssl`` is the inverse of ``endpoint.secureSsl``; a webhook ``secret`` is
  ``endpoint.secret`` with ``hmacEnabled: true``; clearing it sends ``hmacEnabled: false``.
* Failure handling is ``{alertEndpoint, triggers, retryStrategy: {type, interval, attempts},
  divert, suspend}``; without one the documented default applies
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
from typing import Any

from gateway.model import (
    DEFAULT_TRIGGERS,
    UNSET,
    FailureHandling,
    RetryStrategy,
    Webhook,
    WebhookChange,
    WebhookSpec,
)

__all__ = [
    "LOCATOR",
    "create_body",
    "failure_handling_body",
    "failure_handling_from",
    "list_page",
    "parse_time",
    "patch_body",
    "read_error",
    "webhook_from",
]

KIND = "enterprise_core"

#: A locator: a ULID (26 characters of Crockford Base32, the first at most 7).
LOCATOR = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$", re.IGNORECASE)


def failure_handling_from(data: Mapping[str, Any] | None) -> FailureHandling | None:
    """The model's failure handling; ``None`` for the documented default."""
    if not data:
        return None
    rs = data.get("retryStrategy")
    fh = FailureHandling(
        triggers=frozenset(data.get("triggers") or DEFAULT_TRIGGERS),
        retry_strategy=RetryStrategy(
            type=rs.get("type", "exponential"),
            interval=rs.get("interval", 1),
            attempts=rs.get("attempts", 3),
        )
        if rs
        else None,
        alert_endpoint=data.get("alertEndpoint"),
        divert=bool(data.get("divert", False)),
        suspend=bool(data.get("suspend", False)),
    )
    return None if fh == FailureHandling() else fh


def _retry(rs: RetryStrategy) -> dict[str, Any]:
    return {"type": rs.type, "interval": rs.interval, "attempts": rs.attempts}


def failure_handling_body(fh: FailureHandling) -> dict[str, Any]:
    """``FailureHandlingCreateRequest`` for ``fh``."""
    body: dict[str, Any] = {"triggers": sorted(fh.triggers)}
    if fh.retry_strategy is not None:
        body["retryStrategy"] = _retry(fh.retry_strategy)
    if fh.alert_endpoint is not None:
        body["alertEndpoint"] = fh.alert_endpoint
    return body | {"divert": fh.divert, "suspend": fh.suspend}


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def webhook_from(item: Mapping[str, Any], *, account: str = "") -> Webhook:
    """The ``Webhook`` of a ``WebhookResponse``."""
    endpoint = item.get("endpoint") or {}
    return Webhook(
        id=item["locator"],
        name=item.get("name") or "",
        url=endpoint.get("url", ""),
        enabled=bool(item.get("enabled", True)),
        events=frozenset(item.get("eventTypes") or ()),
        headers=endpoint.get("headers") or {},
        suspended=bool(item.get("suspended", False)),
        suspended_at=parse_time(item.get("suspendedAt")),
        allow_insecure_ssl=endpoint.get("secureSsl") is False,
        failure_handling=failure_handling_from(item.get("failureHandling")),
        provider=KIND,
        account=account,
    )


def _headers(headers: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {name: list(values) for name, values in headers.items()}


def create_body(spec: WebhookSpec) -> dict[str, Any]:
    """``CreateWebhookRequest``."""
    endpoint: dict[str, Any] = {"url": spec.url, "headers": _headers(spec.headers)}
    if spec.allow_insecure_ssl:
        endpoint["secureSsl"] = False
    if spec.secret:
        endpoint |= {"hmacEnabled": True, "secret": spec.secret.reveal()}
    body: dict[str, Any] = {"name": spec.name, "enabled": spec.enabled, "endpoint": endpoint}
    if spec.failure_handling is not None:
        body["failureHandling"] = failure_handling_body(spec.failure_handling)
    body["eventTypes"] = sorted(spec.events)
    return body


def _failure_handling_update(fh: FailureHandling) -> dict[str, Any]:
    """A ``FailureHandlingUpdateRequest`` taking the documented default to ``fh``."""
    body: dict[str, Any] = {}
    if DEFAULT_TRIGGERS - fh.triggers:
        body["removeTriggers"] = sorted(DEFAULT_TRIGGERS - fh.triggers)
    if fh.triggers - DEFAULT_TRIGGERS:
        body["addTriggers"] = sorted(fh.triggers - DEFAULT_TRIGGERS)
    if fh.retry_strategy is not None:
        body["retryStrategy"] = _retry(fh.retry_strategy)
    if fh.alert_endpoint is not None:
        body["alertEndpoint"] = fh.alert_endpoint
    return body | {"divert": fh.divert, "suspend": fh.suspend}


def patch_body(change: WebhookChange) -> dict[str, Any]:
    """``UpdateWebhookRequest`` for ``change``: one PATCH, in add/remove terms."""
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
        endpoint |= {"hmacEnabled": True, "secret": change.secret.reveal()}
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


def list_page(body: Any) -> tuple[list[Mapping[str, Any]], bool | None]:
    """``(items, listCompleted)`` of a list answer; ``None`` when a bare array does not say."""
    if isinstance(body, list):
        return body, None
    if isinstance(body, Mapping):
        return list(body.get("items") or ()), body.get("listCompleted")
    return [], True


def read_error(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    """``(error, message, requestId)`` of an error body."""
    if not isinstance(body, Mapping):
        return None, None, None
    return body.get("error"), body.get("message"), body.get("requestId")
