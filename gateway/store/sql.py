"""What the SQL stores share: migrations, idempotency claims and the audit log, in SQL both
SQLite and PostgreSQL run (``?`` placeholders; the PostgreSQL store numbers them).

A backend provides ``transaction()``, yielding a ``Tx``: ``execute``, ``fetchrow``, ``fetch``.
Migrations are the files ``migrations/<dialect>/NNNN_name.sql``, applied in order inside one
transaction each and recorded in ``schema_version``; a database newer than this code refuses
to open rather than be misread.
"""

from __future__ import annotations

import abc
import functools
import importlib.resources
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import orjson

from gateway.errors import SchemaNewer
from gateway.store.base import (
    AuditEntry,
    AuditQuery,
    Claim,
    ConsoleSession,
    Drift,
    Health,
    Managed,
    Relay,
    Store,
    StoredAnswer,
    TransitionRecord,
)
from gateway.store.sql_keys import IssuedKeysSql, PersonTokensSql

__all__ = ["SESSION_LIMIT", "SqlStore", "Tx", "migrations", "newer_message"]

#: The longest a console session lives, however busy (seconds): its absolute expiry.
SESSION_LIMIT = 12 * 3600

_HEALTH_FIELDS = (
    "account",
    "webhook_id",
    "name",
    "state",
    "diverted",
    "changed_at",
    "seen_at",
    "previous",
    "changed_by",
)
_AUDIT_COLUMNS = (
    "time", "actor", "account", "provider", "webhook_id", "operation", "change", "outcome",
    "detail", "request_id", "duration_ms", "grant_label",
)  # fmt: skip


@functools.lru_cache(maxsize=256)
def insert_sql(table: str, columns: Sequence[str], rows: int = 1) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)``, with ``rows`` rows of placeholders.
    ``table`` and ``columns`` are this package's own names, never input."""
    row = f"({', '.join('?' * len(columns))})"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * rows)}"  # noqa: S608


#: The most values one statement binds here (SQLite's default limit is 32766, PostgreSQL's 32767).
_MAX_BOUND = 32000

_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Tx(Protocol):
    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def fetchrow(self, sql: str, *args: Any) -> Mapping[str, Any] | None: ...
    async def fetch(self, sql: str, *args: Any) -> Sequence[Mapping[str, Any]]: ...


def newer_message(current: int, known: int) -> str:
    return (f"the state store's schema is version {current}, newer than this release's {known}: "
            "a later release migrated it; run that release (or a later one)")  # fmt: skip


def migrations(dialect: str) -> list[tuple[int, str]]:
    """``(version, sql)`` of every migration for ``dialect``, in order."""
    folder = importlib.resources.files("gateway.store") / "migrations" / dialect
    found = []
    for item in folder.iterdir():
        match = _MIGRATION.match(item.name)
        if match:
            found.append((int(match.group(1)), item.read_text(encoding="utf-8")))
    return sorted(found)


class SqlStore(IssuedKeysSql, PersonTokensSql, Store):
    dialect: str = ""

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...

    async def _migrate(self, tx: Tx) -> int:
        """Apply the migrations ``tx``'s database lacks (the caller serializes migrators)."""
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        row = await tx.fetchrow("SELECT MAX(version) AS version FROM schema_version")
        current = (row or {}).get("version") or 0
        known = migrations(self.dialect)
        if known and current > known[-1][0]:
            raise SchemaNewer(newer_message(current, known[-1][0]))
        applied = 0
        for version, sql in known:
            if version > current:
                for statement in _statements(sql):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
                applied += 1
        await tx.execute(
            "INSERT INTO store_meta (name, value) VALUES ('audit_key', ?) ON CONFLICT DO NOTHING",
            secrets.token_bytes(32),
        )
        return applied

    async def schema(self) -> tuple[int, int]:
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)"
            )
            row = await tx.fetchrow("SELECT MAX(version) AS version FROM schema_version")
        known = migrations(self.dialect)
        return int((row or {}).get("version") or 0), known[-1][0] if known else 0

    async def secret_key(self) -> bytes:
        async with self.transaction() as tx:
            row = await tx.fetchrow("SELECT value FROM store_meta WHERE name = 'audit_key'")
        assert row is not None, "the store was not opened"
        return bytes(row["value"])

    # -- idempotency ----------------------------------------------------------------------------

    async def claim(
        self, scope: str, key: str, fingerprint: str, now: float, lease: float
    ) -> Claim:
        async with self.transaction() as tx:
            inserted = await tx.fetchrow(
                "INSERT INTO idempotency (scope, key, fingerprint, state, lease_until) "
                "VALUES (?, ?, ?, 'running', ?) ON CONFLICT DO NOTHING RETURNING state",
                scope, key, fingerprint, now + lease,
            )  # fmt: skip
            if inserted is not None:
                return Claim(state="new")
            row = await tx.fetchrow(
                "SELECT fingerprint, state, lease_until, expires_at, status, headers, body "
                "FROM idempotency WHERE scope = ? AND key = ?" + self._for_update(),
                scope, key,
            )  # fmt: skip
            if row is not None:
                done = row["state"] == "done"
                live = (row["expires_at"] or 0) > now if done else row["lease_until"] > now
                if live and row["fingerprint"] != fingerprint:
                    return Claim(state="mismatch")
                if live and done:
                    answer = StoredAnswer(
                        status=row["status"],
                        headers=orjson.loads(row["headers"] or "{}"),
                        body=bytes(row["body"] or b""),
                    )
                    return Claim(state="done", answer=answer)
                if live:
                    wait = max(1.0, min(5.0, row["lease_until"] - now))
                    return Claim(state="running", retry_after=math.ceil(wait))
            # Expired (or gone between the two statements): this request takes the key over.
            await tx.execute(
                "INSERT INTO idempotency (scope, key, fingerprint, state, lease_until) "
                "VALUES (?, ?, ?, 'running', ?) ON CONFLICT (scope, key) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, state = 'running', "
                "lease_until = excluded.lease_until, expires_at = NULL, status = NULL, "
                "headers = NULL, body = NULL",
                scope, key, fingerprint, now + lease,
            )  # fmt: skip
            return Claim(state="new")

    def _for_update(self) -> str:
        return ""

    async def settle(
        self, scope: str, key: str, answer: StoredAnswer, now: float, retention: float
    ) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "UPDATE idempotency SET state = 'done', expires_at = ?, status = ?, "
                "headers = ?, body = ? WHERE scope = ? AND key = ?",
                now + retention, answer.status, orjson.dumps(dict(answer.headers)).decode(),
                answer.body, scope, key,
            )  # fmt: skip

    async def release(self, scope: str, key: str) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "DELETE FROM idempotency WHERE scope = ? AND key = ? AND state = 'running'",
                scope, key,
            )  # fmt: skip

    # -- audit ----------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.execute_one("SELECT 1")  # one statement, no transaction: one round trip

    async def execute_one(self, sql: str, *args: Any) -> None:
        """One statement, atomic on its own (backends may skip the transaction around it)."""
        async with self.transaction() as tx:
            await tx.execute(sql, *args)

    @abc.abstractmethod
    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values in the order of ``columns``), each row atomically, in as few
        trips to the database as the backend allows."""

    async def record(self, *entries: AuditEntry) -> None:
        rows = [
            (e.time, e.actor, e.account, e.provider, e.webhook_id, e.operation,
             orjson.dumps(dict(e.change)).decode(), e.outcome, e.detail, e.request_id,
             e.duration_ms, e.grant)
            for e in entries
        ]  # fmt: skip
        if rows:
            await self.insert_rows("audit", _AUDIT_COLUMNS, rows)

    async def audit(self, query: AuditQuery) -> list[AuditEntry]:
        where, args = [], []
        for column, value in (
            ("account = ?", query.account),
            ("webhook_id = ?", query.webhook_id),
            ("time >= ?", query.since),
            ("id < ?", query.before_id),
            ("actor = ?", query.actor),
        ):
            if value is not None:
                where.append(column)
                args.append(value)
        sql = "SELECT * FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        async with self.transaction() as tx:
            rows = await tx.fetch(sql + " ORDER BY id DESC LIMIT ?", *args, query.limit)
        return [
            AuditEntry(
                id=row["id"],
                time=row["time"],
                actor=row["actor"],
                account=row["account"],
                provider=row["provider"],
                webhook_id=row["webhook_id"],
                operation=row["operation"],
                change=orjson.loads(row["change"]),
                outcome=row["outcome"],
                detail=row["detail"],
                request_id=row["request_id"],
                duration_ms=row["duration_ms"],
                grant=row["grant_label"],
            )
            for row in rows
        ]

    # -- managed webhooks -------------------------------------------------------------------

    async def managed(self, account: str, owner: str = "") -> dict[str, Managed]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT key, webhook_id, secret_fingerprint, alert_secret_fingerprint, "
                "rotated_at, rotated_by, rotated_fingerprint FROM managed "
                "WHERE account = ? AND owner = ?",
                account, owner,
            )  # fmt: skip
        return {
            row["key"]: Managed(
                account=account,
                key=row["key"],
                webhook_id=row["webhook_id"],
                secret_fingerprint=row["secret_fingerprint"],
                alert_secret_fingerprint=row["alert_secret_fingerprint"],
                rotated_at=row["rotated_at"],
                rotated_by=row["rotated_by"],
                rotated_fingerprint=row["rotated_fingerprint"],
                owner=owner,
            )
            for row in rows
        }

    async def owners(self, account: str) -> dict[str, str]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT webhook_id, owner FROM managed WHERE account = ?", account
            )
        return {row["webhook_id"]: row["owner"] for row in rows}

    async def manage(self, entry: Managed, now: float) -> None:
        await self.execute_one(
            "INSERT INTO managed (account, owner, key, webhook_id, secret_fingerprint, "
            "alert_secret_fingerprint, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (account, owner, key) DO UPDATE SET webhook_id = excluded.webhook_id, "
            "secret_fingerprint = excluded.secret_fingerprint, "
            "alert_secret_fingerprint = excluded.alert_secret_fingerprint, "
            "applied_at = excluded.applied_at, rotated_at = NULL, rotated_by = NULL, "
            "rotated_fingerprint = NULL",
            entry.account, entry.owner, entry.key, entry.webhook_id, entry.secret_fingerprint,
            entry.alert_secret_fingerprint, now,
        )  # fmt: skip

    async def unmanage(self, account: str, key: str, owner: str = "") -> None:
        await self.execute_one(
            "DELETE FROM managed WHERE account = ? AND owner = ? AND key = ?", account, owner, key
        )

    async def transfer(self, account: str, webhook_id: str, owner: str, key: str) -> str | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT owner FROM managed WHERE account = ? AND webhook_id = ?",
                account, webhook_id,
            )  # fmt: skip
            await tx.execute(
                "DELETE FROM managed WHERE account = ? AND webhook_id = ?", account, webhook_id
            )
            await tx.execute(
                "INSERT INTO managed (account, owner, key, webhook_id, applied_at) "
                "VALUES (?, ?, ?, ?, ?)",
                account, owner, key, webhook_id, time.time(),
            )  # fmt: skip
        return None if row is None else str(row["owner"])

    async def record_rotation(
        self, account: str, webhook_id: str, fingerprint: str | None, by: str, now: float
    ) -> None:
        await self.execute_one(
            "UPDATE managed SET rotated_at = ?, rotated_by = ?, rotated_fingerprint = ? "
            "WHERE account = ? AND webhook_id = ?",
            now, by, fingerprint, account, webhook_id,
        )  # fmt: skip

    async def drift(self, account: str | None = None) -> list[Drift]:
        sql, args = "SELECT * FROM drift", []
        if account is not None:
            sql, args = sql + " WHERE account = ?", [account]
        async with self.transaction() as tx:
            rows = await tx.fetch(sql + " ORDER BY account, key", *args)
        return [Drift(account=r["account"], key=r["key"], webhook_id=r["webhook_id"],
                      summary=r["summary"], since=r["since"]) for r in rows]  # fmt: skip

    async def record_transitions(self, found: list[TransitionRecord]) -> None:
        if not found:
            return
        columns = ("account", "webhook_id", "name", "change", "before", "after", "by_actor", "at")
        await self.insert_rows("transitions", columns, [
            (t.account, t.webhook_id, t.name, t.change, t.before, t.after, t.by, t.at)
            for t in found
        ])  # fmt: skip

    async def transitions(
        self, account: str | None = None, webhook_id: str | None = None, limit: int = 100
    ) -> list[TransitionRecord]:
        where, args = [], []
        for column, value in (("account = ?", account), ("webhook_id = ?", webhook_id)):
            if value is not None:
                where.append(column)
                args.append(value)
        sql = "SELECT * FROM transitions" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608 - fixed columns
        async with self.transaction() as tx:
            rows = await tx.fetch(sql + " ORDER BY at DESC LIMIT ?", *args, limit)
        return [TransitionRecord(account=r["account"], webhook_id=r["webhook_id"],
                                 name=r["name"], change=r["change"], before=r["before"],
                                 after=r["after"], by=r["by_actor"], at=r["at"])
                for r in rows]  # fmt: skip

    async def save_session(self, id_hash: str, session: ConsoleSession) -> None:
        await self.execute_one(
            "INSERT INTO console_sessions (id_hash, key_name, scope, csrf, created_at, seen_at, "
            "key_ref, person) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            id_hash, session.key_name, session.scope, session.csrf, session.created_at,
            session.seen_at, session.key_ref,
            None if session.person is None else orjson.dumps(dict(session.person)).decode(),
        )  # fmt: skip

    async def session(self, id_hash: str) -> ConsoleSession | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow("SELECT * FROM console_sessions WHERE id_hash = ?", id_hash)
        if row is None:
            return None
        person = orjson.loads(row["person"]) if row["person"] else None
        return ConsoleSession(key_name=row["key_name"], scope=row["scope"], csrf=row["csrf"],
                              created_at=row["created_at"], seen_at=row["seen_at"],
                              key_ref=row["key_ref"], person=person)  # fmt: skip

    async def touch_session(self, id_hash: str, now: float) -> None:
        await self.execute_one(
            "UPDATE console_sessions SET seen_at = ? WHERE id_hash = ?", now, id_hash
        )

    async def drop_session(self, id_hash: str) -> None:
        await self.execute_one("DELETE FROM console_sessions WHERE id_hash = ?", id_hash)

    async def save_drift(self, account: str, found: list[Drift]) -> None:
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM drift WHERE account = ?", account)
            for d in found:
                await tx.execute(
                    "INSERT INTO drift (account, key, webhook_id, summary, since) "
                    "VALUES (?, ?, ?, ?, ?)",
                    account, d.key, d.webhook_id, d.summary, d.since,
                )  # fmt: skip

    # -- health ----------------------------------------------------------------------------

    async def health(
        self, account: str | None = None, webhook_id: str | None = None, limit: int | None = None
    ) -> list[Health]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("account = ?", account), ("webhook_id = ?", webhook_id)):
            if value is not None:
                where.append(column)
                args.append(value)
        sql = "SELECT * FROM health" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608 - fixed columns
        sql += " ORDER BY account, webhook_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        async with self.transaction() as tx:
            rows = await tx.fetch(sql, *args)
        return [Health(**{field: r[field] for field in _HEALTH_FIELDS}) for r in rows]

    async def save_health(self, account: str, seen: list[Health], gone: list[str]) -> None:
        async with self.transaction() as tx:
            for h in seen:
                await tx.execute(
                    "INSERT INTO health (account, webhook_id, name, state, diverted, changed_at, "
                    "seen_at, previous, changed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON "
                    "CONFLICT (account, webhook_id) DO UPDATE SET name = excluded.name, state = "
                    "excluded.state, diverted = excluded.diverted, changed_at = "
                    "excluded.changed_at, seen_at = excluded.seen_at, previous = "
                    "excluded.previous, changed_by = excluded.changed_by WHERE health.seen_at <= "
                    "excluded.seen_at",
                    account, h.webhook_id, h.name, h.state, h.diverted, h.changed_at, h.seen_at,
                    h.previous, h.changed_by,
                )  # fmt: skip
            for webhook_id in gone:
                await tx.execute(
                    "DELETE FROM health WHERE account = ? AND webhook_id = ?", account, webhook_id
                )

    # -- kept secrets ------------------------------------------------------------------------

    async def keep_secrets(
        self, account: str, webhook_id: str, current: bytes, previous: bytes | None,
        now: float, not_after: float,
    ) -> None:  # fmt: skip
        async with self.transaction() as tx:
            # The current one is replaced; earlier previous ones keep their own expiry.
            await tx.execute(
                "DELETE FROM kept_secrets WHERE account = ? AND webhook_id = ? "
                "AND (not_after IS NULL OR not_after <= ?)",
                account, webhook_id, now,
            )  # fmt: skip
            rows = [(current, None)] + ([(previous, not_after)] if previous is not None else [])
            for ciphertext, until in rows:
                await tx.execute(
                    "INSERT INTO kept_secrets (account, webhook_id, ciphertext, kept_at, "
                    "not_after) VALUES (?, ?, ?, ?, ?)",
                    account, webhook_id, ciphertext, now, until,
                )  # fmt: skip

    async def kept_secrets(
        self, account: str, webhook_id: str, now: float, *, current_only: bool = False
    ) -> list[bytes]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "SELECT ciphertext FROM kept_secrets WHERE account = ? AND webhook_id = ? "
                "AND (not_after IS NULL OR not_after > ?) AND (? = 0 OR not_after IS NULL) "
                "ORDER BY not_after IS NOT NULL, kept_at DESC",
                account, webhook_id, now, int(current_only),
            )  # fmt: skip
        return [bytes(r["ciphertext"]) for r in rows]

    # -- provider facts shared by replicas and runs ------------------------------------------

    async def catalog(self, key: str) -> tuple[bytes, float] | None:
        async with self.transaction() as tx:
            row = await tx.fetchrow("SELECT types, read_at FROM event_catalogs WHERE key = ?", key)
        return None if row is None else (str(row["types"]).encode(), float(row["read_at"]))

    async def save_catalog(self, key: str, types: bytes, read_at: float) -> None:
        await self.execute_one(
            "INSERT INTO event_catalogs (key, types, read_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET types = excluded.types, read_at = excluded.read_at "
            "WHERE event_catalogs.read_at <= excluded.read_at",
            key, types.decode(), read_at,
        )  # fmt: skip

    async def pause_rate(self, account: str, until: float) -> None:
        await self.execute_one(
            "INSERT INTO rate_budgets (account, paused_until) VALUES (?, ?) "
            "ON CONFLICT (account) DO UPDATE SET paused_until = excluded.paused_until "
            "WHERE rate_budgets.paused_until < excluded.paused_until",
            account, until,
        )  # fmt: skip

    async def rate_paused(self, account: str) -> float:
        async with self.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT paused_until FROM rate_budgets WHERE account = ?", account
            )
        return 0.0 if row is None else float(row["paused_until"])

    async def take_rate(self, account: str, now: float, interval: float) -> tuple[float, float]:
        # One statement (its own transaction): replicas reserving at once are serialized by
        # the row's lock.
        async with self.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO rate_budgets (account, paused_until, next_slot) VALUES (?, 0, ?) "
                "ON CONFLICT (account) DO UPDATE SET next_slot = CASE WHEN "
                "rate_budgets.next_slot > ? THEN rate_budgets.next_slot ELSE ? END + ? "
                "RETURNING next_slot, paused_until",
                account, now + interval, now, now, interval,
            )  # fmt: skip
        assert row is not None
        return float(row["next_slot"]) - interval, float(row["paused_until"])

    # -- the inbound relay's outbox ----------------------------------------------------------

    async def enqueue_relays(self, relays: list[Relay], now: float, keep_until: float) -> bool:
        return (await self.enqueue_many([(relays, now, keep_until)]))[0]

    async def enqueue_many(
        self, deliveries: Sequence[tuple[Sequence[Relay], float, float]]
    ) -> list[bool]:
        """Several deliveries' relays (each ``(relays, now, keep_until)``) in one statement and
        one commit; for each delivery whether it was queued (False: its event id was there,
        or came earlier in this group: a replay). A relay with a ``next_at`` is stored held
        until then (the process queueing it sends it at once); else it is due ``now``."""
        rows = [(r, now, keep) for relays, now, keep in deliveries for r in relays]
        if not rows:
            return [False] * len(deliveries)
        per = max(1, _MAX_BOUND // 7)
        statements = []
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join(["(?, ?, ?, ?, 'queued', 0, ?, ?, ?)"] * len(chunk))
            statements.append((
                "INSERT INTO relay_outbox (event_id, destination, account, event, state, "  # noqa: S608 - placeholders only
                f"attempts, next_at, received_at, keep_until) VALUES {values} "
                "ON CONFLICT (event_id, destination) DO NOTHING "
                "RETURNING event_id, destination",
                [v for r, now, keep in chunk
                 for v in (r.event_id, r.destination, r.account, r.event, r.next_at or now, now,
                           keep)],
            ))  # fmt: skip
        inserted = {(row[0], row[1]) for found in await self.write(statements) for row in found}
        outcomes = []
        for relays, _now, _keep in deliveries:  # the first of a key in the group is its owner
            keys = {(r.event_id, r.destination) for r in relays}
            outcomes.append(bool(keys & inserted))
            inserted -= keys
        return outcomes

    async def hold_due(self, now: float, limit: int, until: float) -> list[Relay]:
        skip = " FOR UPDATE SKIP LOCKED" if self.dialect == "postgresql" else ""
        [rows] = await self.write([(
            "UPDATE relay_outbox SET next_at = ? WHERE (event_id, destination) IN ("  # noqa: S608 - fixed text
            "SELECT event_id, destination FROM relay_outbox WHERE state = 'queued' "
            f"AND next_at <= ? ORDER BY next_at LIMIT ?{skip}) "
            f"RETURNING {_RELAY_COLUMNS}",
            (until, now, limit),
        )])  # fmt: skip
        return [_relay(r) for r in rows]

    async def due_relays(self, now: float, limit: int) -> list[Relay]:
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT {_RELAY_COLUMNS} FROM relay_outbox "  # noqa: S608 - fixed text
                "WHERE state = 'queued' AND next_at <= ? ORDER BY next_at LIMIT ?",
                now, limit,
            )  # fmt: skip
        return [_relay(tuple(r.values())) for r in rows]

    async def hold_relay(self, relay: Relay, until: float) -> bool:
        async with self.transaction() as tx:
            held = await tx.execute(
                "UPDATE relay_outbox SET next_at = ? WHERE event_id = ? AND destination = ? "
                "AND state = 'queued' AND next_at = ?",
                until, relay.event_id, relay.destination, relay.next_at,
            )  # fmt: skip
        return held == 1

    async def settle_relays(self, outcomes: Sequence[tuple[Relay, str, int, float]]) -> None:
        # One statement a group (an UPDATE from a list of values), not one a relay: SQLite's
        # writer thread then takes the GIL back once a group instead of once a row.
        per = max(1, _MAX_BOUND // 5)
        statements = []
        for start in range(0, len(outcomes), per):
            chunk = outcomes[start : start + per]
            values = ", ".join(["(CAST(? AS TEXT), CAST(? AS INTEGER), "
                                "CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), "
                                "CAST(? AS TEXT))"] * len(chunk))  # fmt: skip
            statements.append((
                f"WITH settled (state, attempts, next_at, event_id, destination) AS "  # noqa: S608 - placeholders only
                f"(VALUES {values}) UPDATE relay_outbox SET state = settled.state, "
                "attempts = settled.attempts, next_at = settled.next_at FROM settled "
                "WHERE relay_outbox.event_id = settled.event_id "
                "AND relay_outbox.destination = settled.destination",
                [v for r, state, attempts, next_at in chunk
                 for v in (state, attempts, next_at, r.event_id, r.destination)],
            ))  # fmt: skip
        if statements:
            await self.write(statements)

    @abc.abstractmethod
    async def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Run ``statements`` (each ``(sql, values)``) in one transaction on the store's writer,
        off the event loop; each statement's rows (what its ``RETURNING`` gave), each row a
        sequence in the statement's column order. (SQLite: the appender's thread, so the
        relay's writes and the audit log's never wait for each other's lock on the file.)"""

    async def relay_counts(self) -> dict[str, int]:
        async with self.transaction() as tx:
            rows = await tx.fetch("SELECT state, COUNT(*) AS n FROM relay_outbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def queued_relays(self) -> int:
        async with self.transaction() as tx:  # (the due index holds queued relays alone)
            row = await tx.fetchrow("SELECT COUNT(*) AS n FROM relay_outbox WHERE state = 'queued'")
        return int(row["n"]) if row is not None else 0

    async def prune(self, now: float, audit_retention: float) -> int:
        async with self.transaction() as tx:  # counted, not read back: the audit log is big
            gone = await tx.execute(
                "DELETE FROM idempotency WHERE (state = 'done' AND expires_at <= ?) "
                "OR (state = 'running' AND lease_until <= ?)",
                now, now,
            )  # fmt: skip
            old = await tx.execute("DELETE FROM audit WHERE time < ?", now - audit_retention)
            # a relay is kept (as its replay window) until keep_until, sent or not
            relayed = await tx.execute(
                "DELETE FROM relay_outbox WHERE keep_until <= ? AND state <> 'queued'", now
            )
            # the health history is kept as long as the audit log; console sessions expire
            history = await tx.execute("DELETE FROM transitions WHERE at < ?",
                                       now - audit_retention)  # fmt: skip
            sessions = await tx.execute(
                "DELETE FROM console_sessions WHERE created_at < ?", now - SESSION_LIMIT
            )
        return gone + old + relayed + history + sessions


#: A relay's columns, in the order ``_relay`` reads them.
_RELAY_COLUMNS = "event_id, destination, account, event, state, attempts, next_at"


def _relay(row: Sequence[Any]) -> Relay:
    event_id, destination, account, event, state, attempts, next_at = row
    return Relay(event_id=event_id, destination=destination, account=account,
                 event=bytes(event), state=state, attempts=attempts, next_at=next_at)  # fmt: skip


def _statements(sql: str) -> list[str]:
    """The statements of a migration file (``;`` ends one; comments are dropped)."""
    text = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]
