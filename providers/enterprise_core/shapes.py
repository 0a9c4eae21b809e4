"""The request shapes Enterprise Core's webhook API takes, checked as the emulator checks them:
each refusal is an ``ApiError`` (400) naming the field path, as the API's own messages do.
The emulator's routes and delivery are in ``providers.enterprise_core.emulator``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from gateway.emulation import is_json_type, json_object

__all__ = [
    "CREATE_ENDPOINT_FIELDS",
    "DEFAULT_FAILURE_HANDLING",
    "UPDATE_ENDPOINT_FIELDS",
    "ApiError",
    "bool_param",
    "create_endpoint",
    "failure_handling",
    "headers_field",
    "int_param",
    "json_body",
    "known_fields",
    "retry_strategy",
    "string_list",
    "triggers",
    "typed_field",
    "update_endpoint",
    "update_failure_handling",
    "url_field",
]


DEFAULT_FAILURE_HANDLING: dict[str, Any] = {
    "triggers": ["4xx", "5xx", "timeout"],
    "divert": False,
    "suspend": False,
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def json_body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, lambda message: ApiError(400, message))


def known_fields(body: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"{prefix}{unknown[0]}: unknown field")


def typed_field(body: Mapping[str, Any], key: str, kind: type[Any], default: Any) -> Any:
    value = body.get(key, default)
    if value is not None and not is_json_type(value, kind):
        raise ApiError(400, f"{key}: must be a {kind.__name__}")
    return value


def int_param(query: Mapping[str, str], key: str, default: int) -> int:
    try:
        value = int(query.get(key, default))
    except ValueError:
        raise ApiError(400, f"{key}: must be an integer") from None
    if value < 0:
        raise ApiError(400, f"{key}: must not be negative")
    return value


def bool_param(query: Mapping[str, str], key: str) -> bool:
    value = query[key].lower()
    if value not in ("true", "false"):
        raise ApiError(400, f"{key}: must be true or false")
    return value == "true"


def url_field(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{path}: required")
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ApiError(400, f"{path}: must be an absolute http(s) URL")
    return value


def string_list(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"{path}: must be an array of strings")
    return value


def headers_field(value: Any, path: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{path}: must be a map of header name to values")
    return {name: string_list(values, f"{path}.{name}") for name, values in value.items()}


def retry_strategy(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{path}: must be an object")
    known_fields(value, {"type", "interval", "attempts"}, f"{path}.")
    # Only ``attempts`` (1-10, default 3) is documented (Socotra's webhooks guide); the defaults
    # of ``type`` (exponential) and ``interval`` (1) are assumed.
    kind = value.get("type", "exponential")
    if kind not in ("linear", "exponential"):
        raise ApiError(400, f"{path}.type: must be linear or exponential")
    attempts = typed_field(value, "attempts", int, 3)
    if not 1 <= attempts <= 10:
        raise ApiError(400, f"{path}.attempts: must be from 1 to 10")
    interval = typed_field(value, "interval", int, 1)
    if interval < 0:
        raise ApiError(400, f"{path}.interval: must not be negative")
    return {"type": kind, "interval": interval, "attempts": attempts}


#: The ``required`` lists of the request schemas (Socotra's OpenAPI, event API; the copy in
#: tests/data/enterprise_core/event_api_schemas.json, which a test compares with these).
REQUIRED: dict[str, tuple[str, ...]] = {
    "CreateWebhookRequest": ("name", "enabled", "endpoint", "failureHandling", "eventTypes"),
    "UpdateWebhookRequest": ("name", "enabled", "endpoint", "failureHandling",
                             "removeFailureHandling", "addEventTypes", "removeEventTypes"),
    "CreateEndpointRequest": ("url",),
    "UpdateEndpointRequest": ("url", "addHeaders", "removeHeaders"),
    "FailureHandlingCreateRequest": ("alertEndpoint", "divert", "retryStrategy", "suspend",
                                     "triggers"),
    "FailureHandlingUpdateRequest": ("alertEndpoint", "divert", "removeAlertEndpoint",
                                     "removeRetryStrategy", "retryStrategy", "suspend",
                                     "addTriggers", "removeTriggers"),
    "RetryStrategyCreateRequest": ("attempts", "interval", "type"),
    "RetryStrategyUpdateRequest": ("attempts", "interval", "type"),
}  # fmt: skip

#: Where each request schema nests others: (field, schema of its value when not null).
_NESTED: dict[str, tuple[tuple[str, str], ...]] = {
    "CreateWebhookRequest": (("endpoint", "CreateEndpointRequest"),
                             ("failureHandling", "FailureHandlingCreateRequest")),
    "UpdateWebhookRequest": (("endpoint", "UpdateEndpointRequest"),
                             ("failureHandling", "FailureHandlingUpdateRequest")),
    "FailureHandlingCreateRequest": (("alertEndpoint", "CreateEndpointRequest"),
                                     ("retryStrategy", "RetryStrategyCreateRequest")),
    "FailureHandlingUpdateRequest": (("alertEndpoint", "UpdateEndpointRequest"),
                                     ("retryStrategy", "RetryStrategyUpdateRequest")),
}  # fmt: skip


def check_required(body: Any, schema: str, path: str = "") -> None:
    """400 naming the first field ``schema`` requires that ``body`` lacks (a present ``null``
    counts as given), at any depth (the emulator's ``strict_bodies``)."""
    if not isinstance(body, Mapping):
        return
    for name in REQUIRED[schema]:
        if name not in body:
            raise ApiError(400, f"{path}{name}: required ({schema})")
    for name, inner in _NESTED.get(schema, ()):
        if body.get(name) is not None:
            check_required(body[name], inner, f"{path}{name}.")


def triggers(value: Any, path: str) -> list[str]:
    """Failure triggers as Socotra's webhooks guide takes them: "specific 400- or 500-level
    HTTP codes, or all in those levels (4xx, 5xx)", and timeout."""
    triggers = string_list(value, path)
    for t in triggers:
        if t not in ("4xx", "5xx", "timeout") and not (
            len(t) == 3 and t.isdigit() and t[0] in "45"
        ):
            raise ApiError(
                400, f"{path}: {t} is not 4xx, 5xx, timeout or a 400- or 500-level status code"
            )
    return triggers


def failure_handling(value: Any) -> dict[str, Any]:
    if value is None:
        return dict(DEFAULT_FAILURE_HANDLING)
    if not isinstance(value, dict):
        raise ApiError(400, "failureHandling: must be an object")
    known_fields(
        value,
        {"alertEndpoint", "triggers", "retryStrategy", "divert", "suspend"},
        "failureHandling.",
    )
    fh: dict[str, Any] = {
        "triggers": sorted(
            set(
                triggers(
                    value.get("triggers", DEFAULT_FAILURE_HANDLING["triggers"]),
                    "failureHandling.triggers",
                )
            )
        ),
        "divert": typed_field(value, "divert", bool, False),
        "suspend": typed_field(value, "suspend", bool, False),
    }
    if value.get("retryStrategy") is not None:
        fh["retryStrategy"] = retry_strategy(
            value["retryStrategy"], "failureHandling.retryStrategy"
        )
    if value.get("alertEndpoint") is not None:
        fh["alertEndpoint"] = create_endpoint(
            value["alertEndpoint"], "failureHandling.alertEndpoint"
        )
    return fh


def update_failure_handling(current: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """``FailureHandlingUpdateRequest`` on ``current``: removals first, then additions."""
    path = "failureHandling"
    if not isinstance(value, dict):
        raise ApiError(400, f"{path}: must be an object")
    known_fields(
        value,
        {
            "alertEndpoint",
            "addTriggers",
            "removeTriggers",
            "retryStrategy",
            "removeAlertEndpoint",
            "removeRetryStrategy",
            "divert",
            "suspend",
        },
        f"{path}.",
    )
    fh = dict(current)
    remove = set(triggers(value.get("removeTriggers", []), f"{path}.removeTriggers"))
    add = set(triggers(value.get("addTriggers", []), f"{path}.addTriggers"))
    fh["triggers"] = sorted((set(fh.get("triggers", [])) - remove) | add)
    if value.get("removeAlertEndpoint"):
        fh.pop("alertEndpoint", None)
    if value.get("removeRetryStrategy"):
        fh.pop("retryStrategy", None)
    if value.get("alertEndpoint") is not None:
        fh["alertEndpoint"] = update_endpoint(
            fh.get("alertEndpoint"), value["alertEndpoint"], f"{path}.alertEndpoint"
        )
    if value.get("retryStrategy") is not None:
        fh["retryStrategy"] = retry_strategy(value["retryStrategy"], f"{path}.retryStrategy")
    for key in ("divert", "suspend"):
        if key in value:
            fh[key] = typed_field(value, key, bool, False)
    return fh


#: The fields of ``CreateEndpointRequest`` and ``UpdateEndpointRequest`` (Socotra's OpenAPI).
CREATE_ENDPOINT_FIELDS = frozenset({"url", "headers", "secureSsl", "hmacEnabled", "secret", "tag"})
UPDATE_ENDPOINT_FIELDS = frozenset(
    {"url", "addHeaders", "removeHeaders", "secureSsl", "hmacEnabled", "secret", "tag"}
)


def _object_at(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, f"{path}: must be an endpoint object, not {type(value).__name__}")
    return value


def create_endpoint(value: Any, path: str) -> dict[str, Any]:
    """A ``CreateEndpointRequest`` as stored: the ``EndpointResponse`` fields (``secret``
    included: the caller decides whether reads return it)."""
    endpoint = _object_at(value, path)
    known_fields(endpoint, set(CREATE_ENDPOINT_FIELDS), f"{path}.")
    return {
        "url": url_field(endpoint.get("url"), f"{path}.url"),
        "headers": headers_field(endpoint.get("headers", {}), f"{path}.headers"),
        "secureSsl": typed_field(endpoint, "secureSsl", bool, True),
        "hmacEnabled": typed_field(endpoint, "hmacEnabled", bool, False),
        "secret": typed_field(endpoint, "secret", str, None) or None,
        "tag": typed_field(endpoint, "tag", str, None),
    }


def update_endpoint(current: Mapping[str, Any] | None, value: Any, path: str) -> dict[str, Any]:
    """An ``UpdateEndpointRequest`` on ``current`` (None: there is none yet, and then ``url`` is
    required): removals first, then additions; absent fields keep their value."""
    endpoint = _object_at(value, path)
    known_fields(endpoint, set(UPDATE_ENDPOINT_FIELDS), f"{path}.")
    new: dict[str, Any] = dict(
        current
        or {"headers": {}, "secureSsl": True, "hmacEnabled": False, "secret": None, "tag": None}
    )
    if "url" in endpoint or current is None:
        new["url"] = url_field(endpoint.get("url"), f"{path}.url")
    remove = string_list(endpoint.get("removeHeaders", []), f"{path}.removeHeaders")
    add = headers_field(endpoint.get("addHeaders", {}), f"{path}.addHeaders")
    new["headers"] = {k: v for k, v in new["headers"].items() if k not in remove} | add
    for key in ("secureSsl", "hmacEnabled"):
        if endpoint.get(key) is not None:
            new[key] = typed_field(endpoint, key, bool, None)
    for key in ("secret", "tag"):
        if key in endpoint:
            new[key] = typed_field(endpoint, key, str, None) or None
    return new
