"""The JSON shapes of the proxy's bodies (the OpenAPI document's ``components.schemas``):
webhooks, specs, changes, pages, problems, health and audit entries. The routes that use them
are ``gateway.proxy.openapi``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "nullable", "ref"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


STRING_SET = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
HEADERS = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    },
    "description": "Header name to values; a lone string is one value.",
}
URL = {"type": "string", "format": "uri", "maxLength": 2000, "pattern": "^https?://"}
EXTRAS = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": "Provider-only settings by the provider's name (Enterprise Core: `tag`).",
}


def _failure_handling(alert_endpoint: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Enterprise Core: what happens when a delivery fails.",
        "properties": {
            "triggers": {
                "type": "array",
                "items": {"type": "string", "pattern": "^(4xx|5xx|timeout|[1-5][0-9][0-9])$"},
            },
            "retry_strategy": nullable(ref("RetryStrategy")),
            "alert_endpoint": nullable(ref(alert_endpoint)),
            "divert": {"type": "boolean"},
            "suspend": {"type": "boolean"},
        },
    }


SCHEMAS: dict[str, Any] = {
    "RetryStrategy": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type": {"enum": ["linear", "exponential"]},
            "interval": {"type": "integer", "minimum": 0},
            "attempts": {"type": "integer", "minimum": 1, "maximum": 10},
        },
    },
    "AlertEndpoint": {
        "type": "object",
        "required": ["url", "headers", "allow_insecure_ssl", "secret", "secret_state", "tag"],
        "description": "Enterprise Core: where alerts go once a delivery failed for good (an "
        "endpoint like the webhook's own).",
        "properties": {
            "url": {"type": "string"},
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "allow_insecure_ssl": {"type": "boolean"},
            "secret": {
                "anyOf": [{"enum": ["***", "unknown"]}, {"type": "null"}],
                "description": "Write-only: *** when it has a secret, null when none.",
            },
            "secret_state": {"enum": ["set", "unset", "unknown"]},
            "tag": nullable({"type": "string"}),
        },
    },
    "AlertEndpointInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "description": "Enterprise Core: where alerts go once a delivery failed for good.",
        "properties": {
            "url": URL,
            "headers": HEADERS,
            "allow_insecure_ssl": {"type": "boolean"},
            "secret": nullable(
                {"type": "string", "minLength": 1, "description": "Write-only; signs alerts."}
            ),
            "tag": nullable({"type": "string"}),
        },
    },
    "FailureHandling": _failure_handling("AlertEndpoint"),
    "FailureHandlingInput": _failure_handling("AlertEndpointInput"),
    "Webhook": {
        "type": "object",
        "required": [
            "id",
            "account",
            "provider",
            "name",
            "url",
            "enabled",
            "events",
            "all_events",
            "secret",
            "description",
            "headers",
            "suspended",
            "suspended_at",
            "allow_insecure_ssl",
            "failure_handling",
            "secret_state",
            "extras",
        ],
        "properties": {
            "id": {"type": "string"},
            "account": {"type": "string"},
            "provider": {"type": "string"},
            "name": {"type": "string"},
            "url": {"type": "string"},
            "enabled": {"type": "boolean"},
            "events": {"type": "array", "items": {"type": "string"}},
            "all_events": {"type": "boolean"},
            "secret": {
                "anyOf": [{"enum": ["***", "unknown"]}, {"type": "null"}],
                "description": "Write-only: *** when the webhook has a secret (whether or not the "
                "provider returns it), null when it has none, unknown where the provider does "
                "not say.",
            },
            "secret_state": {"enum": ["set", "unset", "unknown"]},
            "extras": EXTRAS,
            "description": nullable({"type": "string"}),
            "headers": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "suspended": {"type": "boolean"},
            "suspended_at": nullable({"type": "string", "format": "date-time"}),
            "allow_insecure_ssl": {"type": "boolean"},
            "failure_handling": nullable(ref("FailureHandling")),
        },
    },
    "WebhookSpec": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "url"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "url": URL,
            "events": STRING_SET,
            "all_events": {"type": "boolean"},
            "enabled": {"type": "boolean"},
            "secret": nullable({"type": "string", "writeOnly": True}),
            "description": nullable({"type": "string"}),
            "headers": HEADERS,
            "allow_insecure_ssl": {"type": "boolean"},
            "failure_handling": nullable(ref("FailureHandlingInput")),
            "extras": EXTRAS,
        },
    },
    "WebhookChange": {
        "type": "object",
        "additionalProperties": False,
        "description": "Absent keys keep their value; null clears; removals come first.",
        "properties": {
            "name": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "url": URL,
            "enabled": {"type": "boolean"},
            "all_events": {"type": "boolean"},
            "secret": nullable({"type": "string", "writeOnly": True}),
            "description": nullable({"type": "string"}),
            "allow_insecure_ssl": {"type": "boolean"},
            "failure_handling": nullable(ref("FailureHandlingInput")),
            "add_events": STRING_SET,
            "remove_events": STRING_SET,
            "add_headers": HEADERS,
            "remove_headers": STRING_SET,
            "extras": EXTRAS,
        },
    },
    "WebhookPage": {
        "type": "object",
        "required": ["items", "next_cursor", "errors"],
        "properties": {
            "items": {"type": "array", "items": ref("Webhook")},
            "next_cursor": nullable({"type": "string"}),
            "errors": {
                "type": "array",
                "items": ref("AccountError"),
                "description": "Records the provider listed but that could not be read.",
            },
        },
    },
    "DivertedEvent": {
        "type": "object",
        "required": [
            "id",
            "webhook_id",
            "request_locator",
            "failure_message",
            "failure_timestamp",
            "failure_trigger",
        ],
        "properties": {
            "id": {"type": "string", "description": "The event's locator."},
            "webhook_id": {"type": "string"},
            "request_locator": {"type": "string"},
            "failure_message": {"type": "string"},
            "failure_timestamp": nullable({"type": "string", "format": "date-time"}),
            "failure_trigger": {"type": "string"},
        },
    },
    "AccountError": {
        "type": "object",
        "description": "A failing account, or (with `id`) one record that could not be read.",
        "required": ["account", "provider", "status", "error", "detail"],
        "properties": {
            "id": nullable({"type": "string"}),
            "account": {"type": "string"},
            "provider": {"type": "string"},
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "detail": {"type": "string"},
            "provider_status": nullable({"type": "integer"}),
            "code": nullable({"type": ["string", "integer"]}),
            "trace_id": nullable({"type": "string"}),
        },
    },
    "AllWebhooksPage": {
        "type": "object",
        "required": ["items", "next_cursor", "errors"],
        "properties": {
            "items": {"type": "array", "items": ref("Webhook")},
            "next_cursor": nullable({"type": "string"}),
            "errors": {"type": "array", "items": ref("AccountError")},
        },
    },
    "EventType": {
        "type": "object",
        "required": ["name", "group", "description"],
        "properties": {
            "name": {"type": "string"},
            "group": {"type": "string"},
            "description": {"type": "string"},
        },
    },
    "PingResult": {
        "type": "object",
        "required": ["event_id", "event_type", "timestamp", "details"],
        "properties": {
            "event_id": {"type": "string"},
            "event_type": {"type": "string"},
            "timestamp": nullable({"type": "string", "format": "date-time"}),
            "details": {"type": "object"},
        },
    },
    "Account": {
        "type": "object",
        "required": ["name", "provider", "title", "capabilities"],
        "properties": {
            "name": {"type": "string"},
            "provider": {"type": "string"},
            "title": {"type": "string"},
            "capabilities": {
                "type": "object",
                "properties": {
                    "operations": {"type": "array", "items": {"type": "string"}},
                    "fields": {"type": "array", "items": {"type": "string"}},
                    "min_events": {"type": "integer"},
                    "max_events": nullable({"type": "integer"}),
                    "atomic_update": {"type": "boolean"},
                    "server_filters": {"type": "array", "items": {"type": "string"}},
                    "reports_secret": {"type": "boolean"},
                    "reports_secret_state": {"type": "boolean"},
                    "extras": {"type": "array", "items": {"type": "string"}},
                    "disables_failing": {"type": "boolean"},
                    "disabled_for": nullable({"type": "integer"}),
                    "batch_get": {"type": "integer"},
                },
            },
        },
    },
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "request_id": nullable({"type": "string"}),
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                },
            },
            "provider": {"type": "string"},
            "account": {"type": "string"},
            "provider_status": {"type": "integer"},
            "code": {"type": ["string", "integer"]},
            "trace_id": {"type": "string"},
            "current_etag": {"type": "string", "description": "412: the webhook's ETag now."},
        },
    },
    "PlanRequest": {
        "type": "object",
        "required": ["manifest"],
        "additionalProperties": False,
        "properties": {
            "manifest": {
                "type": "object",
                "description": "The manifest as JSON: {accounts: {ACCOUNT: {webhooks: {KEY: "
                "fields of a create}}}}; secrets as `secret` (docs/plan.md).",
            },
            "adopt": {"type": "boolean"},
            "prune": {"type": "boolean"},
            "plan_fingerprint": {"type": "string", "description": "apply: only this plan"},
            "parallelism": {"type": "integer", "minimum": 1, "maximum": 32},
        },
    },
    "Transfer": {
        "type": "object",
        "required": ["owner", "key"],
        "additionalProperties": False,
        "properties": {
            "owner": {"type": "string", "description": 'The team ("": no owner).'},
            "key": {"type": "string", "minLength": 1, "description": "Its manifest key."},
        },
    },
    "KeyRequest": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "description": "A key for a service: its own grants, a team (group:TEAM's grants of the "
        "config apply), or both (docs/access.md).",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "team": {"type": "string"},
            "grants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["can"],
                    "additionalProperties": False,
                    "properties": {
                        "can": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "enum": ["read", "write", "delete", "secrets", "admin"],
                            },
                        },
                        "accounts": {"type": "array", "items": {"type": "string"}},
                        "webhooks": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
            "expires_in_days": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 3650,
                "description": "(90)",
            },
        },
    },
    "Plan": {
        "type": "object",
        "required": ["schema", "fingerprint", "changes", "accounts"],
        "description": "docs/plan.md: the plan's JSON (schema 1).",
        "properties": {
            "schema": {"const": 1},
            "fingerprint": {"type": "string"},
            "changes": {"type": "integer"},
            "accounts": {"type": "array", "items": {"type": "object"}},
        },
    },
    "AuditEntry": {
        "type": "object",
        "required": ["id", "time", "actor", "account", "provider", "operation", "outcome"],
        "properties": {
            "id": {"type": "integer"},
            "time": {"type": "string", "format": "date-time"},
            "actor": {
                "type": "string",
                "description": "key:<name>, user:<email>, cli:<user>, "
                "library:<user> or watch:<what>",
            },
            "grant": {
                "type": ["string", "null"],
                "description": "The grant that allowed the write (docs/access.md).",
            },
            "account": {"type": "string"},
            "provider": {"type": "string"},
            "webhook_id": nullable({"type": "string"}),
            "operation": {
                "enum": [
                    "create",
                    "update",
                    "delete",
                    "ping",
                    "unsuspend",
                    "resend_diverted",
                    "delete_diverted",
                    "trigger_custom",
                    "plan",
                    "transfer",
                    "issue key",
                    "revoke key",
                ],
            },
            "change": {
                "type": "object",
                "description": "What the write set, in gateway terms; a secret shows as "
                "{changed, fingerprint}, header values as fingerprints.",
            },
            "outcome": {"type": "string", "description": "ok, outcome_unknown or an error type"},
            "detail": nullable({"type": "string"}),
            "request_id": nullable({"type": "string"}),
            "duration_ms": {"type": "number"},
        },
    },
    "AuditPage": {
        "type": "object",
        "required": ["items", "errors", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": ref("AuditEntry")},
            "errors": {"type": "array", "items": {"type": "object"}, "maxItems": 0},
            "next_cursor": nullable({"type": "string"}),
        },
    },
}
