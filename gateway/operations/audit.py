"""``GET /v1/audit``: the audit log, newest first, filtered and paged.

Query: ``account``, ``webhook`` (an id; needs ``account``), ``actor`` (exactly, e.g.
``key:deployer``), ``since`` (ISO 8601 time or
seconds since the epoch), ``limit`` (1-500, default 100), ``cursor`` (``next_cursor`` of the
previous page). Needs a read key and a state store (501 without one).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.errors import FieldProblem, InvalidRequest
from gateway.store import AuditEntry, AuditQuery, Store

__all__ = ["audit_answer", "entry_to_json", "since_to_epoch"]

MAX_LIMIT = 500
_PARAMETERS = ("account", "webhook", "actor", "since", "limit", "cursor")


def entry_to_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time": datetime.fromtimestamp(entry.time, UTC).isoformat(),
        "actor": entry.actor,
        "grant": entry.grant,
        "account": entry.account,
        "provider": entry.provider,
        "webhook_id": entry.webhook_id,
        "operation": entry.operation,
        "change": dict(entry.change),
        "outcome": entry.outcome,
        "detail": entry.detail,
        "request_id": entry.request_id,
        "duration_ms": entry.duration_ms,
    }


def since_to_epoch(value: str) -> float:
    """``since`` as epoch seconds, from ISO 8601 (UTC when no zone is given) or a number."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest.at(
            "since", "must be an ISO 8601 time (2026-11-29T10:00:00Z) or epoch seconds"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _cursor(value: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        kind, _, number = raw.partition(":")
        if kind == "audit" and number.isdigit() and len(number) <= 18:  # (a 64-bit id)
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidRequest.at("cursor", "is not a cursor this API handed out")


def parse_query(query: Mapping[str, str]) -> AuditQuery:
    unknown = sorted(set(query) - set(_PARAMETERS))
    if unknown:
        raise InvalidRequest(problems=[FieldProblem(n, "unknown query parameter") for n in unknown])
    if "webhook" in query and "account" not in query:
        raise InvalidRequest.at("webhook", "needs account too (ids are per account)")
    try:
        limit = int(query.get("limit", 100))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest.at("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return AuditQuery(
        account=query.get("account"),
        webhook_id=query.get("webhook"),
        since=since_to_epoch(query["since"]) if "since" in query else None,
        before_id=_cursor(query["cursor"]) if "cursor" in query else None,
        limit=limit,
        actor=query.get("actor"),
    )


async def audit_answer(params: Mapping[str, str], store: Store) -> dict[str, Any]:
    """One page of the audit log for the API's query ``params``, in the list envelope
    (``items``, ``errors``: always empty here, ``next_cursor``)."""
    query = parse_query(params)
    entries = await store.audit(query)
    last = entries[-1].id if len(entries) == query.limit else None
    cursor = base64.urlsafe_b64encode(f"audit:{last}".encode()).decode().rstrip("=")
    return {
        "items": [entry_to_json(e) for e in entries],
        "errors": [],
        "next_cursor": cursor if last is not None else None,
    }
