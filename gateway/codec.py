"""The JSON form of the model, shared by the HTTP proxy and the command line (snake_case).

Rules of this format, in one place:

* Reading is strict: unknown keys, wrong types (``"true"`` for a boolean, ``5`` for a string, a
  string where a list is due) and invalid values are ``InvalidRequest`` problems, each with its key
  path (``failure_handling.retry_strategy.attempts``, ``events[2]``), all reported at once.
* Event and header-name sets are JSON arrays; headers are ``{"Name": ["value", ...]}`` and a lone
  string value stands for a one-element list.
* In a change, an absent key leaves the field as it is and ``null`` clears it where clearing means
  something (``secret``, ``description``, ``failure_handling``).
* Secrets are write-only: written as strings, read back as ``"***"`` when the webhook has one
  (whether or not the provider returns it), ``null`` when it has none, and ``"unknown"`` where
  the provider does not say; ``secret_state`` says the same as ``set``/``unset``/``unknown``.
  Nothing here ever serializes a secret's value.
* Provider-only settings are an ``extras`` object of strings (``{"tag": "blue"}``).
* A failure handling's ``alert_endpoint`` is an endpoint object (``url``; ``headers``,
  ``allow_insecure_ssl``, ``secret``, ``tag``), never a bare URL; its secret follows the rules
  of a webhook's: written as a string, read back as ``"***"``/``null`` with a ``secret_state``.
"""

from __future__ import annotations

import hashlib
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

import attrs
import cattrs
import orjson

from gateway.config import cattrs_problems
from gateway.errors import FieldProblem, InvalidRequest
from gateway.model import (
    NO_HEADERS,
    AlertEndpoint,
    EventType,
    Extras,
    FailureHandling,
    Headers,
    PingResult,
    Secret,
    Unset,
    Webhook,
    WebhookChange,
    WebhookSpec,
    mask_url,
)
from gateway.provider import Capabilities
from gateway.transport.answers import UnreadableRecord
from gateway.transport.answers import json_type as _json_type

__all__ = [
    "REDACTED",
    "capabilities_to_json",
    "change_from_json",
    "diverted_to_json",
    "etag_of",
    "event_type_to_json",
    "ping_to_json",
    "read_partially",
    "record_error_to_json",
    "spec_from_json",
    "webhook_body",
    "webhook_to_json",
]

REDACTED = "***"
#: How ``secret`` shows each ``secret_state`` (never the value, never null for a set secret).
_SECRET_SHOWN = {"set": REDACTED, "unset": None, "unknown": "unknown"}

T = TypeVar("T")

_JSON_NAMES = {str: "a string", bool: "true or false", int: "an integer"}


def _strict(kind: type[Any]) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        # bool is an int in Python, never in JSON
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise TypeError(f"must be {_JSON_NAMES[kind]}, not {_json_type(value)}")
        return value

    return structure


def _is_unset_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and Unset in typing.get_args(tp)


def _is_literal(tp: Any) -> bool:
    origin: Any = typing.get_origin(tp)
    return bool(origin is Literal)


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind in _JSON_NAMES:
        conv.register_structure_hook(kind, _strict(kind))

    def name_set(value: Any, _type: Any) -> frozenset[str]:
        if not isinstance(value, list):
            raise TypeError(f"must be an array of strings, not {_json_type(value)}")
        return frozenset(conv.structure(value, list[str]))

    def headers(value: Any, _type: Any) -> Headers:
        if not isinstance(value, dict):
            raise TypeError(f"must be an object of header name to values, not {_json_type(value)}")
        values = {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        for name, v in values.items():
            if not isinstance(v, list):
                raise InvalidRequest.at(
                    name, f"must be a string or an array of strings, not {_json_type(v)}"
                )
        return Headers(conv.structure(values, dict[str, list[str]]))

    def extras(value: Any, _type: Any) -> Extras:
        if not isinstance(value, dict):
            raise TypeError(f"must be an object of name to string, not {_json_type(value)}")
        return Extras(conv.structure(value, dict[str, str]))

    def secret(value: Any, _type: Any) -> Secret:
        return Secret(conv.structure(value, str))

    def alert_endpoint(value: Any, _type: Any) -> AlertEndpoint:
        if not isinstance(value, dict):
            raise TypeError(
                f"must be an endpoint object with a url, not {_json_type(value)}"
                + (' (give {"url": ...})' if isinstance(value, str) else "")
            )
        unknown = sorted(set(value) - _ALERT_ENDPOINT_KEYS)
        if unknown:  # secret_state is read-only: the secret's presence says it
            raise InvalidRequest.at(unknown[0], "unknown field")
        fields = {k: v for k, v in value.items() if v is not None or k == "url"}
        return conv.structure(fields, _AlertEndpointInput).endpoint()

    def literal(tp: Any) -> Any:
        allowed = typing.get_args(tp)

        def structure(value: Any, _type: Any) -> Any:
            if value not in allowed:
                raise InvalidRequest.at("", f"must be one of {', '.join(map(str, allowed))}")
            return value

        return structure

    def unset_union(tp: Any) -> Any:
        rest = tuple(a for a in typing.get_args(tp) if a is not Unset)
        inner: Any = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
        return lambda value, _type: conv.structure(value, inner)

    def optional(tp: Any) -> Any:
        (inner,) = (a for a in typing.get_args(tp) if a is not type(None))
        return lambda value, _type: None if value is None else conv.structure(value, inner)

    def is_optional(tp: Any) -> bool:
        args = typing.get_args(tp)
        return (
            typing.get_origin(tp) in (typing.Union, types.UnionType)
            and type(None) in args
            and len(args) == 2
        )

    conv.register_structure_hook_func(lambda tp: tp == frozenset[str], name_set)
    conv.register_structure_hook(Headers, headers)
    conv.register_structure_hook(Extras, extras)
    conv.register_structure_hook(Secret, secret)
    conv.register_structure_hook(AlertEndpoint, alert_endpoint)
    conv.register_structure_hook_factory(_is_literal, literal)
    conv.register_structure_hook_factory(_is_unset_union, unset_union)
    conv.register_structure_hook_factory(is_optional, optional)
    return conv


@attrs.frozen(kw_only=True)
class _AlertEndpointInput:
    """What a write may give of an alert endpoint (its ``secret_state`` follows ``secret``)."""

    url: str
    headers: Headers = NO_HEADERS
    allow_insecure_ssl: bool = False
    secret: Secret | None = None
    tag: str | None = None

    def endpoint(self) -> AlertEndpoint:
        return AlertEndpoint(**attrs.asdict(self, recurse=False))


_ALERT_ENDPOINT_KEYS = frozenset(f.name for f in attrs.fields(_AlertEndpointInput))

_converter_instance = _converter()


def _structure(data: Any, cls: type[Any]) -> Any:
    if not isinstance(data, Mapping):
        raise InvalidRequest.at("", f"the body must be a JSON object, not {_json_type(data)}")
    try:
        return _converter_instance.structure(dict(data), cls)
    except InvalidRequest:
        raise
    except Exception as exc:
        raise InvalidRequest(problems=cattrs_problems(exc)) from None


#: Stand-ins for a create's required fields that were missing or wrong, so that the rest of the
#: input can still be looked at (``read_partially``); never sent anywhere.
_STAND_INS: dict[str, Any] = {"name": "stand-in", "url": "https://stand-in.invalid/"}


def read_partially(data: Any, cls: type[T]) -> tuple[T | None, list[FieldProblem], set[str]]:
    """``cls`` (``WebhookSpec`` or ``WebhookChange``) from ``data``, or when it has problems:
    ``(None, every problem, the top-level fields they name)``, and as first item a stand-in
    made of the fields that were right (required ones wrong or missing get ``_STAND_INS``), so
    that the checks that need a whole value (the account's: storable fields, unknown events)
    can add theirs to the same answer. The stand-in is for looking only."""
    try:
        return _structure(data, cls), [], set()
    except InvalidRequest as exc:
        problems = list(exc.problems)
    if not isinstance(data, Mapping):
        return None, problems, set()
    bad: set[str] = set()
    for _ in range(3):  # structural problems, then the value checks of what is left
        bad |= {p.path.split(".")[0].split("[")[0] for p in problems}
        kept = {k: v for k, v in data.items() if k not in bad}
        if cls is WebhookSpec:
            kept |= {k: v for k, v in _STAND_INS.items() if k not in kept}
        try:
            return _structure(kept, cls), problems, bad
        except InvalidRequest as again:
            problems += [p for p in again.problems if p not in problems]
    return None, problems, bad


def spec_from_json(data: Any) -> WebhookSpec:
    """A ``WebhookSpec`` from a JSON object; ``InvalidRequest`` lists each problem and its path."""
    spec: WebhookSpec = _structure(data, WebhookSpec)
    return spec


def change_from_json(data: Any) -> WebhookChange:
    """A ``WebhookChange`` from a JSON object: absent keys are left alone, ``null`` clears."""
    change: WebhookChange = _structure(data, WebhookChange)
    return change


def _alert_endpoint(
    endpoint: AlertEndpoint | None, mask_credentials: bool
) -> dict[str, Any] | None:
    if endpoint is None:
        return None
    return {
        "url": mask_url(endpoint.url) if mask_credentials else endpoint.url,
        "headers": _headers_json(endpoint.headers, mask_credentials),
        "allow_insecure_ssl": endpoint.allow_insecure_ssl,
        "secret": _SECRET_SHOWN[endpoint.secret_state],
        "secret_state": endpoint.secret_state,
        "tag": endpoint.tag,
    }


def _failure_handling(fh: FailureHandling | None, mask_credentials: bool) -> dict[str, Any] | None:
    if fh is None:
        return None
    rs = fh.retry_strategy
    return {
        "triggers": sorted(fh.triggers),
        "retry_strategy": attrs.asdict(rs) if rs is not None else None,
        "alert_endpoint": _alert_endpoint(fh.alert_endpoint, mask_credentials),
        "divert": fh.divert,
        "suspend": fh.suspend,
    }


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _headers_json(headers: Mapping[str, Any], masked: bool) -> dict[str, list[str]]:
    """Headers as JSON; ``masked``: their values as ``***`` (names stay: ``Authorization``,
    ``X-Api-Key`` and the like hold credentials)."""
    if masked:
        return {name: ["***"] * len(values) for name, values in headers.items()}
    return {name: list(values) for name, values in headers.items()}


def webhook_to_json(webhook: Webhook, *, mask_credentials: bool = False) -> dict[str, Any]:
    """The JSON form of a webhook; its secret shows as ``"***"`` or ``null``.
    ``mask_credentials``: credentials in its URLs (user info, ``token=`` and the like, by
    ``gateway.model.mask_url``) and its header values show as ``***``, for readers who may not
    see them."""
    return {
        "id": webhook.id,
        "account": webhook.account,
        "provider": webhook.provider,
        "name": webhook.name,
        "url": mask_url(webhook.url) if mask_credentials else webhook.url,
        "enabled": webhook.enabled,
        "events": sorted(webhook.events),
        "all_events": webhook.all_events,
        "secret": _SECRET_SHOWN[webhook.secret_state],
        "secret_state": webhook.secret_state,
        "description": webhook.description,
        "headers": _headers_json(webhook.headers, mask_credentials),
        "suspended": webhook.suspended,
        "suspended_at": _time(webhook.suspended_at),
        "allow_insecure_ssl": webhook.allow_insecure_ssl,
        "failure_handling": _failure_handling(webhook.failure_handling, mask_credentials),
        "extras": dict(webhook.extras),
    }


def diverted_to_json(event: Any) -> dict[str, Any]:
    """The JSON form of a diverted event (an ``attrs`` class with the documented fields)."""
    data = attrs.asdict(event, recurse=False)
    return {k: _time(v) if isinstance(v, datetime) else v for k, v in data.items()}


def record_error_to_json(record: UnreadableRecord) -> dict[str, Any]:
    """A record a list could not read, as an item-level error of a list answer."""
    return {
        "id": record.id,
        "account": record.account,
        "provider": record.provider,
        "status": 503,
        "error": "ProviderError",
        "detail": record.problem,
    }


def event_type_to_json(event: EventType) -> dict[str, str]:
    return {"name": event.name, "group": event.group, "description": event.description}


def ping_to_json(result: PingResult) -> dict[str, Any]:
    return {
        "event_id": result.event_id,
        "event_type": result.event_type,
        "timestamp": _time(result.timestamp),
        "details": dict(result.details),
    }


def capabilities_to_json(caps: Capabilities) -> dict[str, Any]:
    return {
        "operations": sorted(caps.operations),
        "fields": sorted(caps.fields),
        "min_events": caps.min_events,
        "max_events": caps.max_events,
        "atomic_update": caps.atomic_update,
        "server_filters": sorted(caps.server_filters),
        "reports_secret": caps.reports_secret,
        "reports_secret_state": caps.reports_secret_state,
        "extras": sorted(caps.extras),
        "disables_failing": caps.disables_failing,
        "disabled_for": caps.disabled_for,
        "batch_get": caps.batch_get,
    }


def webhook_body(webhook: Webhook, *, mask_credentials: bool = False) -> tuple[bytes, str]:
    """A webhook's JSON answer body and its strong ETag: a hash of exactly those bytes, so it
    changes whenever what a reader sees changes (secret state included, never the secret),
    whoever made the change (the providers keep no ETag of their own; fresh reads compare)."""
    body = orjson.dumps(webhook_to_json(webhook, mask_credentials=mask_credentials))
    return body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_of(webhook: Webhook) -> str:
    """The ETag of ``webhook`` (``webhook_body``)."""
    return webhook_body(webhook)[1]
