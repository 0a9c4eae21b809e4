"""The proxy's OpenAPI 3.1 document, built here and kept as docs/openapi.json.

``python -m gateway.proxy.openapi docs/openapi.json`` rewrites the file; ``--check`` fails when
it is stale (the tests run it). The server answers ``GET /openapi.json`` with the same document.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from gateway.proxy.schemas import SCHEMAS, nullable, ref
from gateway.version import VERSION

__all__ = ["openapi_document"]


_ERRORS = {
    "400": "Invalid input: `errors` lists each problem with its path.",
    "401": "No valid API key (inbound: the delivery does not verify).",
    "403": "The API key may only read.",
    "404": "No such account, webhook or route.",
    "408": "The request body did not arrive within `server.request_body_timeout`.",
    "409": "The provider refused because of existing state (for example a taken name), or a "
    "request with the same `Idempotency-Key` is still running (`Retry-After`).",
    "412": "`If-Match` names no ETag the webhook has; `current_etag` is the one it has.",
    "413": "The request body is too large.",
    "422": "The provider refused the input, or lacks the operation or setting, or the "
    "`Idempotency-Key` was used with a different request.",
    "501": "This needs a state store (`[state]` in the configuration), and there is none.",
    "429": "The provider asks to slow down; see `Retry-After`.",
    "502": "The gateway's credentials for the provider were refused.",
    "503": "The provider or the state store failed, or the gateway is at its connection limit.",
    "504": "A write was sent but its answer was lost; look before retrying.",
}
_READ_ERRORS = ("400", "401", "404", "422", "429", "502", "503", "504")
_WRITE_ERRORS = (*_READ_ERRORS, "403", "408", "409", "413")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(codes: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in sorted(codes):
        entry: dict[str, Any] = {
            "description": _ERRORS[code],
            "content": {"application/problem+json": {"schema": ref("Problem")}},
        }
        if code in ("409", "429"):
            entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        if code == "412":
            entry["headers"] = {"ETag": {"schema": {"type": "string"}}}
        out[code] = entry
    return out


def _op(
    summary: str,
    ok: dict[str, Any],
    *,
    write: bool = False,
    params: Sequence[dict[str, Any]] = (),
    body: str | None = None,
    operation_id: str,
    errors: Sequence[str] = (),
) -> dict[str, Any]:
    codes = (*(_WRITE_ERRORS if write else _READ_ERRORS), *errors)
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": operation_id,
        "responses": {**ok, **_errors(codes)},
    }
    if params:
        op["parameters"] = list(params)
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return op


#: A grant (``[[access.grants]]`` without ``who``; a key's own).
GRANT: dict[str, Any] = {
    "type": "object",
    "required": ["can"],
    "properties": {
        "grant": {"type": "string", "description": "Where the grant comes from."},
        "can": {"type": "array", "items": {"type": "string", "enum": [
            "read", "write", "delete", "secrets", "admin"]}},
        "accounts": {"type": "array", "items": {"type": "string"}},
        "webhooks": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}  # fmt: skip

#: A person's tokens (``gateway.proxy.device``).
PERSON_TOKENS: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "refresh_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "refresh_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer"},
        "person": {"type": "object"},
    },
}


def _sign_in_step(summary: str, operation_id: str, field: str, ok: str) -> dict[str, Any]:
    """A step of a person's sign-in at the command line: ``{field}`` in, tokens out."""
    body = {"type": "object", "required": [field], "properties": {field: {"type": "string"}}}
    return {"post": {
        "summary": summary, "operationId": operation_id, "security": [],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": _json(PERSON_TOKENS, ok),
                      **_errors(("400", "401", "429", "501", "503"))},
    }}  # fmt: skip


#: A key issued at run time, as ``GET /v1/keys`` shows it.
ISSUED_KEY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "grants", "created_at", "created_by"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "team": {"type": ["string", "null"]},
        "grants": {"type": "array", "items": GRANT},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used": {"type": ["string", "null"], "format": "date-time"},
        "key": {"type": "string", "description": "Only in the answer that issues it."},
    },
}

#: UiPath's ``CustomEventDto`` (the Orchestrator swagger; value types as the emulator assumes).
CUSTOM_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Type": {"type": "string"},
        "EventId": {"type": "string"},
        "EntityKey": {"type": ["string", "null"]},
        "Timestamp": {"type": "string"},
        "EventData": {"type": ["object", "null"]},
        "EventTime": {"type": ["string", "null"]},
        "EventSourceId": {"type": ["string", "null"]},
        "TenantId": {"type": ["integer", "null"]},
        "OrganizationUnitId": {"type": ["integer", "null"]},
        "OrganizationUnitKey": {"type": ["string", "null"]},
        "UserId": {"type": ["integer", "null"]},
    },
}


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


IDEMPOTENCY_KEY = _header(
    "Idempotency-Key",
    "1-255 printable ASCII characters. The first request with this key runs; retries with the "
    "same key and body get its answer again (`Idempotent-Replayed: true`), from any replica, "
    "for `[state] idempotency_retention_hours`. Needs a state store (501 without).",
)
IF_MATCH = _header(
    "If-Match", "Only if the webhook's ETag is one of these (`*`: it exists); else 412."
)
IF_NONE_MATCH = _header("If-None-Match", "304 if the webhook's ETag is one of these.")
ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The webhook's strong ETag."}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


ACCOUNT = _path_param("account", "A configured account name.")
ID = _path_param("id", "The webhook's id at the provider.")
EVENT = _path_param("event", "A diverted event's locator.")
BOOL = {"type": "string", "enum": ["true", "false"]}
LIST_PARAMS = (
    _query("enabled", BOOL, "Only enabled (true) or disabled (false) webhooks."),
    _query("suspended", BOOL, "Only suspended (true) or active (false) webhooks."),
    _query("event", {"type": "string"}, "Subscribed to this event (case-insensitive)."),
    _query("name", {"type": "string"}, "Exactly this name."),
    _query("url", {"type": "string"}, "Exactly this URL."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (100)."),
    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
)
CREATED = {
    "201": {
        **_json(ref("Webhook"), "Created."),
        "headers": {"Location": {"schema": {"type": "string"}}, **ETAG},
    }
}
NO_CONTENT = {"204": {"description": "Done."}}


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    webhooks = "/v1/accounts/{account}/webhooks"
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness (no authentication).",
                "operationId": "healthz",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "Alive.")},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness (no authentication): the state store answers and its schema "
                "is this release's; 503 while starting, stopping or not migrated.",
                "operationId": "readyz",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "Ready for traffic."),
                    "503": _json({"type": "object"}, "Not ready, and why (`status`, `detail`)."),
                },
            }
        },
        "/favicon.ico": {
            "get": {
                "summary": "The console's icon, where browsers look for it (no authentication).",
                "operationId": "favicon",
                "security": [],
                "responses": {"301": {"description": "To /console/static/favicon.svg."}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics.",
                "operationId": "metrics",
                "responses": {
                    "200": {"description": "Metrics.", "content": {"text/plain": {}}},
                    **_errors(("401", "429")),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document.",
                "operationId": "openapi",
                "responses": {
                    "200": _json({"type": "object"}, "OpenAPI 3.1."),
                    **_errors(("401", "429")),
                },
            }
        },
        "/v1/accounts": {
            "get": _op(
                "Configured accounts and their capabilities.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": ref("Account")}},
                        },
                        "Accounts.",
                    )
                },
                operation_id="listAccounts",
            )
        },
        "/v1/accounts/{account}/event-types": {
            "get": _op(
                "The events an account can deliver.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": ref("EventType")}},
                        },
                        "Events.",
                    )
                },
                params=[ACCOUNT],
                operation_id="listEventTypes",
            )
        },
        webhooks: {
            "get": _op(
                "An account's webhooks, filtered and paginated.",
                {"200": _json(ref("WebhookPage"), "A page of webhooks.")},
                params=[ACCOUNT, *LIST_PARAMS],
                operation_id="listWebhooks",
            ),
            "post": _op(
                "Create a webhook.",
                CREATED,
                write=True,
                params=[ACCOUNT, IDEMPOTENCY_KEY],
                body="WebhookSpec",
                operation_id="createWebhook",
                errors=("501",),
            ),
        },
        f"{webhooks}/{{id}}": {
            "get": _op(
                "One webhook.",
                {
                    "200": {**_json(ref("Webhook"), "The webhook."), "headers": ETAG},
                    "304": {"description": "Unchanged (If-None-Match).", "headers": ETAG},
                },
                params=[ACCOUNT, ID, IF_NONE_MATCH],
                operation_id="getWebhook",
            ),
            "patch": _op(
                "Change a webhook: scalars, plus add/remove of events and headers.",
                {
                    "200": {
                        **_json(ref("Webhook"), "The webhook after the change."),
                        "headers": ETAG,
                    }
                },
                write=True,
                params=[ACCOUNT, ID, IF_MATCH, IDEMPOTENCY_KEY],
                body="WebhookChange",
                operation_id="updateWebhook",
                errors=("412", "501"),
            ),
            "delete": _op(
                "Delete a webhook.",
                NO_CONTENT,
                write=True,
                params=[ACCOUNT, ID, IF_MATCH],
                operation_id="deleteWebhook",
                errors=("412",),
            ),
        },
        f"{webhooks}/{{id}}/owner": {
            "post": _op(
                "Hand the webhook to another owner's manifest (docs/plan.md, owners); audited.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "account": {"type": "string"},
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "owner": {"type": "string"},
                                "key": {"type": "string"},
                                "previous_owner": {"type": ["string", "null"]},
                            },
                        },
                        "Who manages it now, and who did.",
                    )
                },
                write=True,
                params=[ACCOUNT, ID],
                body="Transfer",
                operation_id="transferWebhook",
                errors=("501",),
            )
        },
        f"{webhooks}/{{id}}/ping": {
            "post": _op(
                "Send a test event to the webhook's URL.",
                {"200": _json(ref("PingResult"), "What the provider reported.")},
                write=True,
                params=[ACCOUNT, ID],
                operation_id="pingWebhook",
            )
        },
        f"{webhooks}/{{id}}/diverted-events": {
            "get": _op(
                "Events whose delivery failed and that the provider kept (Enterprise Core).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {"type": "array", "items": ref("DivertedEvent")}
                            },
                        },
                        "Diverted events.",
                    )
                },
                params=[ACCOUNT, ID],
                operation_id="listDivertedEvents",
            )
        },
        f"{webhooks}/{{id}}/diverted-events/{{event}}/resend": {
            "post": _op(
                "Deliver a diverted event again.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["result"],
                            "properties": {"result": {"type": "object"}},
                        },
                        "What the provider answered.",
                    )
                },
                write=True,
                params=[ACCOUNT, ID, EVENT],
                operation_id="resendDivertedEvent",
            )
        },
        f"{webhooks}/{{id}}/diverted-events/{{event}}": {
            "delete": _op(
                "Forget a diverted event.",
                NO_CONTENT,
                write=True,
                params=[ACCOUNT, ID, EVENT],
                operation_id="deleteDivertedEvent",
            )
        },
        f"{webhooks}/{{id}}/rotate-secret": {
            "post": {
                **_op(
                    "Set a new secret; keep the previous valid for verification (grace_hours).",
                    {"200": _json({"type": "object"}, "Rotated.")},
                    write=True,
                    params=[ACCOUNT, ID],
                    operation_id="rotateSecret",
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["secret"],
                                "additionalProperties": False,
                                "properties": {
                                    "secret": {"type": "string", "minLength": 1},
                                    "previous": {"type": "string"},
                                    "grace_hours": {"type": "number", "minimum": 0, "maximum": 720},
                                },
                            }
                        }
                    },
                },
            }
        },
        f"{webhooks}/{{id}}/unsuspend": {
            "post": _op(
                "Resume deliveries to a suspended webhook.",
                NO_CONTENT,
                write=True,
                params=[ACCOUNT, ID],
                operation_id="unsuspendWebhook",
            )
        },
        "/v1/accounts/{account}/custom-events": {
            "post": {
                **_op(
                    "Send a custom event through the provider, to test a receiver end to end "
                    "(UiPath's TriggerCustom; 422 elsewhere): the body is the event's data (a "
                    "JSON object, at most 32 KiB), the answer the provider's CustomEventDto.",
                    {"200": _json(CUSTOM_EVENT, "The event as the provider sent it.")},
                    write=True,
                    params=[ACCOUNT],
                    operation_id="triggerCustomEvent",
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            }
        },
        "/v1/health/webhooks": {
            "get": _op(
                "Each webhook's health as the last watch saw it (needs a state store).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "items": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "account": {"type": "string"},
                                            "provider": nullable({"type": "string"}),
                                            "webhook_id": {"type": "string"},
                                            "name": {"type": "string"},
                                            "state": {"enum": ["active", "disabled", "suspended"]},
                                            "before": nullable({"type": "string"}),
                                            "after": {"type": "string"},
                                            "by": nullable({"type": "string"}),
                                            "diverted": nullable({"type": "integer"}),
                                            "changed_at": {"type": "number"},
                                            "seen_at": {"type": "number"},
                                            "since": {"type": "string", "format": "date-time"},
                                            "seen": {"type": "string", "format": "date-time"},
                                            "stale": {"type": "boolean"},
                                            "drift": nullable({"type": "string"}),
                                        },
                                    },
                                }
                            },
                        },
                        "Health of each webhook.",
                    )
                },
                params=[_query("account", {"type": "string"}, "Only this account.")],
                operation_id="listHealth",
                errors=("501",),
            )
        },
        "/v1/inbound/{account}": _inbound("inbound", []),
        "/v1/inbound/{account}/{subscription}": _inbound("inboundForSubscription", [SUBSCRIPTION]),
        "/v1/plan": {
            "post": {
                **_op(
                    "What applying a manifest would change (reads only; a read key will do).",
                    {"200": _json(ref("Plan"), "The plan.")},
                    body="PlanRequest",
                    operation_id="plan",
                ),
            }
        },
        "/v1/apply": {
            "post": _op(
                "Plan a manifest and apply it (with plan_fingerprint: only if the plan is that).",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"plan": ref("Plan"), "report": {"type": "object"}},
                        },
                        "The plan and what applying it did.",
                    )
                },
                write=True,
                body="PlanRequest",
                operation_id="apply",
            )
        },
        "/v1/export": {
            "get": _op(
                "A manifest (TOML) of every webhook the caller may read; secrets as "
                "`secret_env` placeholders.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["manifest"],
                            "properties": {"manifest": {"type": "string"}},
                        },
                        "The manifest's text.",
                    )
                },
                params=[_query("account", {"type": "string"}, "Only this account.")],
                operation_id="export",
            )
        },
        "/v1/whoami": {
            "get": _op(
                "Who the gateway takes the caller for, and what it may do.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["kind", "name", "actor", "scope", "can", "grants"],
                            "properties": {
                                "kind": {
                                    "type": "string",
                                    "enum": ["key", "user", "cli", "library", "system"],
                                },
                                "name": {"type": "string"},
                                "actor": {"type": "string"},
                                "email": {"type": ["string", "null"]},
                                "subject": {"type": ["string", "null"]},
                                "groups": {"type": "array", "items": {"type": "string"}},
                                "scope": {"type": "string", "enum": ["read", "write"]},
                                "can": {"type": "array", "items": {"type": "string"}},
                                "grants": {"type": "array", "items": GRANT},
                            },
                        },
                        "The caller, and the grants it holds (docs/access.md).",
                    )
                },
                operation_id="whoami",
            )
        },
        "/v1/login/device": {
            "post": {
                "summary": "Start a person's sign-in at the command line (RFC 8628, through "
                "[auth.oidc]; no authentication): the URL and code to confirm.",
                "operationId": "loginDevice",
                "security": [],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["device_code", "user_code"],
                            "properties": {
                                k: {"type": "string"}
                                for k in (
                                    "device_code",
                                    "user_code",
                                    "verification_uri",
                                    "verification_uri_complete",
                                )
                            },
                        },
                        "What the person needs, and how often to ask.",
                    ),
                    **_errors(("429", "501", "503")),
                },
            }
        },
        "/v1/login/token": _sign_in_step(
            "The person's tokens once they confirmed (no authentication); 400 with error "
            "authorization_pending or slow_down until then.",
            "loginToken",
            "device_code",
            "An hour's access token, and its refresh.",
        ),
        "/v1/login/browser": {
            "post": {
                "summary": "Start a person's sign-in in a browser on the command line's machine "
                "(the code flow back to its loopback redirect_uri; no authentication).",
                "operationId": "loginBrowser",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["redirect_uri"],
                                "properties": {"redirect_uri": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "authorization_url": {"type": "string"},
                                "state": {"type": "string"},
                                "handle": {"type": "string"},
                            },
                        },
                        "The URL to open; send handle back with the code.",
                    ),
                    **_errors(("400", "429", "501", "503")),
                },
            }
        },
        "/v1/login/code": _sign_in_step(
            "The person's tokens for the code their browser brought back ({handle, code, "
            "state}; no authentication).",
            "loginCode",
            "code",
            "An hour's access token, and its refresh.",
        ),
        "/v1/login/refresh": _sign_in_step(
            "A new pair of tokens for a refresh token (good once; no authentication).",
            "loginRefresh",
            "refresh_token",
            "A new access token and refresh token.",
        ),
        "/v1/login": {
            "delete": _op(
                "End the caller's sign-in (a person's access token).",
                NO_CONTENT,
                operation_id="logout",
            )
        },
        "/v1/keys": {
            "post": _op(
                "Issue a key to a service (admin): shown once, kept as a digest.",
                {
                    "201": _json(
                        ISSUED_KEY | {"required": [*ISSUED_KEY["required"], "key"]},
                        "The key, with its value (this once).",
                    )
                },
                write=True,
                body="KeyRequest",
                operation_id="createKey",
                errors=("409", "501"),
            ),
            "get": _op(
                "The keys issued at run time (admin); never their values.",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["items"],
                            "properties": {
                                "items": {"type": "array", "items": ISSUED_KEY},
                                "errors": {"type": "array"},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "The keys.",
                    )
                },
                operation_id="listKeys",
                errors=("501",),
            ),
        },
        "/v1/keys/{id}": {
            "delete": _op(
                "Revoke a key (admin): every replica refuses it at once, its console sessions end.",
                NO_CONTENT,
                write=True,
                params=[_path_param("id", "The key's id (key_...).")],
                operation_id="revokeKey",
            )
        },
        "/v1/audit": {
            "get": _op(
                "The audit log of writes, newest first (needs a state store).",
                {"200": _json(ref("AuditPage"), "A page of audit entries.")},
                params=[
                    _query("account", {"type": "string"}, "Only this account's writes."),
                    _query("webhook", {"type": "string"}, "Only this webhook's (with account)."),
                    _query("actor", {"type": "string"}, "Only this actor's (key:NAME, cli:USER)."),
                    _query("since", {"type": "string"}, "ISO 8601 time or epoch seconds."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "(100)"),
                    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
                ],
                operation_id="listAudit",
                errors=("501",),
            )
        },
        "/v1/webhooks": {
            "get": _op(
                "Every account's webhooks at once; failing accounts are listed in `errors`.",
                {"200": _json(ref("AllWebhooksPage"), "A page of webhooks, and failures.")},
                params=LIST_PARAMS,
                operation_id="listAllWebhooks",
            )
        },
    }
    paths |= _console_paths()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "webhook-gateway",
            "version": VERSION,
            "description": "Manage webhook subscriptions at several providers through one model.",
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer"},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": "wg_console"},
            },
        },
    }


#: The console's pages (gateway/proxy/console): HTML for people, in a session made by logging in
#: with an API key. ``(method, path, summary, writes)``.
CONSOLE_ROUTES = (
    ("get", "/console", "Overview: accounts, counts by state, latest transitions.", False),
    ("get", "/console/login", "The login form.", False),
    ("post", "/console/login", "Log in with an API key: sets the session cookie.", False),
    ("get", "/console/sso/start", "Sign in with the identity provider ([auth.oidc]).", False),
    ("get", "/console/sso/callback", "The identity provider's redirect back: opens a session.",
     False),
    ("post", "/console/logout", "End the session.", False),
    ("get", "/console/webhooks", "Webhooks of every account, filtered and paged.", False),
    ("get", "/console/webhooks/new", "The new-webhook form (an account's fields and catalog).",
     True),
    ("post", "/console/webhooks/new", "Create a webhook (a made secret shown once).", True),
    ("get", "/console/webhooks/{account}/{id}", "One webhook: fields, health, audit.", False),
    ("get", "/console/webhooks/{account}/{id}/edit", "The edit form.", True),
    ("post", "/console/webhooks/{account}/{id}/edit", "Save an edit (with the page's ETag).",
     True),
    ("post", "/console/webhooks/{account}/{id}/update", "Enable, disable, add or remove an event.",
     True),
    ("post", "/console/webhooks/{account}/{id}/ping", "Send a test delivery.", True),
    ("post", "/console/webhooks/{account}/{id}/unsuspend", "Resume deliveries.", True),
    ("post", "/console/webhooks/{account}/{id}/rotate", "Rotate the secret (shown once).", True),
    ("get", "/console/webhooks/{account}/{id}/delete", "The delete confirmation.", True),
    ("post", "/console/webhooks/{account}/{id}/delete", "Delete (its name typed).", True),
    ("post", "/console/webhooks/{account}/{id}/diverted/{event}/{action}",
     "Resend or delete a diverted event.", True),
    ("get", "/console/audit", "The audit log, filtered.", False),
    ("get", "/console/health", "Health states and the transition timeline.", False),
    ("get", "/console/plan", "The plan form.", False),
    ("post", "/console/plan", "Plan a pasted or uploaded manifest.", False),
    ("post", "/console/apply", "Apply the plan shown (by its fingerprint; its deletes counted).",
     True),
    ("post", "/console/accounts/{account}/custom-event",
     "Send a custom event to test a receiver (UiPath).", True),
    ("get", "/console/keys", "The keys issued to services (admin).", False),
    ("post", "/console/keys", "Issue a key to a service (admin; shown once).", True),
    ("post", "/console/keys/{id}/revoke", "Revoke a key (admin).", True),
    ("get", "/console/static/{name}", "The console's stylesheet and script.", False),
)  # fmt: skip


def _console_paths() -> dict[str, Any]:
    html = {"text/html": {"schema": {"type": "string"}}}
    paths: dict[str, Any] = {}
    for method, path, summary, writes in CONSOLE_ROUTES:
        public = path in (
            "/console/login",
            "/console/static/{name}",
            "/console/sso/start",
            "/console/sso/callback",
        )
        names = [n for n in ("account", "id", "event", "action", "name") if f"{{{n}}}" in path]
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in names]  # fmt: skip
        operation: dict[str, Any] = {
            "summary": summary + (" A write key." if writes else ""),
            "tags": ["console"],
            "operationId": "console_"
            + (method + path).replace("/", "_").replace("{", "").replace("}", "").strip("_"),
            "security": [] if public else [{"consoleSession": []}],
            "responses": {
                "200": {"description": "A page.", "content": html},
                "303": {"description": "To the next page (or to the login page: no session)."},
                "4XX": {"description": "A page that says what was refused.", "content": html},
            },
        }
        if params:
            operation["parameters"] = params
        if method == "post":
            form = {"type": "object", "properties": {"csrf": {"type": "string"}}}
            operation["requestBody"] = {
                "content": {"application/x-www-form-urlencoded": {"schema": form}}
            }
        paths.setdefault(path, {})[method] = operation
    return paths


#: The subscription of ``/v1/inbound/{account}/{subscription}``.
SUBSCRIPTION = {
    "name": "subscription",
    "in": "path",
    "required": True,
    "description": "One path per subscription, named as you like (1-128 letters, digits, '.', "
    "'_', '-'): events whose provider ids they share are told apart by it (Orchestry's "
    "requestId), and it is the CloudEvent's subject.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
}


def _inbound(operation_id: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    """The inbound relay's route, with or without a subscription in its path."""
    return {
        "post": {
            "summary": "The inbound relay: a provider's delivery, verified, kept and forwarded "
            "(configured in [inbound.ACCOUNT]; the delivery's signature authenticates it).",
            "operationId": operation_id,
            "security": [],
            "parameters": [ACCOUNT, *extra],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {}}},
            },
            "responses": {
                "202": _json(
                    {
                        "type": "object",
                        "properties": {
                            "queued": {"type": "string"},
                            "replayed": {"type": "string"},
                            "secret": {"type": "integer"},
                        },
                    },
                    "Verified and stored, to be forwarded (queued: the CloudEvent's id), or "
                    "relayed before within the replay window (replayed: not forwarded again).",
                ),
                **_errors(("400", "401", "404", "408", "413", "503")),
            },
        }
    }


def render() -> str:
    return json.dumps(openapi_document(), indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    if args.check:
        current = args.file.read_text(encoding="utf-8") if args.file.exists() else ""
        if current != render():
            command = f"python -m gateway.proxy.openapi {args.file}"
            sys.stderr.write(f"{args.file} is stale: run {command}\n")
            return 1
        return 0
    args.file.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
