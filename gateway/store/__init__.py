"""Shared state: update locks across replicas, idempotency records and the audit log.

``open_store(config)`` picks the implementation by ``[state] url``: ``sqlite:///path`` (the
embedded default, one process; ``gateway.store.sqlite``) or ``postgresql://...`` (several
replicas; ``gateway.store.postgres``). Without ``[state]`` the gateway keeps no state: update
locks are in-process and nothing is recorded.
"""

from __future__ import annotations

from gateway.config import StateConfig
from gateway.store.base import (
    AuditEntry,
    AuditQuery,
    Claim,
    ConsoleSession,
    Drift,
    Health,
    IssuedKey,
    Managed,
    PersonToken,
    Relay,
    Store,
    StoredAnswer,
    TransitionRecord,
)

__all__ = [
    "AuditEntry",
    "AuditQuery",
    "Claim",
    "ConsoleSession",
    "Drift",
    "Health",
    "IssuedKey",
    "Managed",
    "PersonToken",
    "Relay",
    "Store",
    "StoredAnswer",
    "TransitionRecord",
    "open_store",
]


def open_store(config: StateConfig) -> Store:
    """The store ``config`` names, not yet opened (``await store.open()``)."""
    if config.url.startswith("sqlite:"):
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(config.url.removeprefix("sqlite:///"))
    from gateway.store.postgres import PostgresStore

    return PostgresStore(config.url, pool_size=config.pool_size)
