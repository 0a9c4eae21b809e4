"""The embedded store: one SQLite file (WAL mode), owned by one gateway process.

Statements run on aiosqlite's thread. A statement that stands alone runs there in autocommit
mode, after any sequence in progress; a sequence that must not interleave (an idempotency
claim) holds an asyncio lock instead of a SQL transaction, which would cost two more trips to
the thread.
With one process owning the file, the lock is enough; migrations alone run in a real
transaction, so a crash cannot leave half a schema. Update locks are the account's in-process
locks: a second process must not share the file (use PostgreSQL for replicas).

Audit entries, the one write every webhook change makes, are appended on a thread of the
store's own (``gateway.store.sqlite_appender``), through a second connection: the INSERT and
its WAL commit run beside the loop (``sqlite3`` releases the GIL while SQLite works), and that
thread runs the WAL's checkpoints between its appends, so the WAL stays small under load. A WAL
commit with ``synchronous=NORMAL`` writes to the page cache without an fsync. The relay's
writes (deliveries taken, relays held, outcomes) go to that thread too (``write``): with two
connections writing at once, one waited for the other's lock in SQLite's busy handler (a
sleep of milliseconds), which left the relay's intake waiting with the cores idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.errors import StateUnavailable
from gateway.store.sql import SqlStore, Tx, insert_sql
from gateway.store.sqlite_appender import Appender
from gateway.transport import tracing

__all__ = ["SqliteStore"]

log = logging.getLogger("gateway.store")

#: The most values one statement may bind (SQLITE_MAX_VARIABLE_NUMBER: 32766 since SQLite 3.32).
_MAX_VALUES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


class _SqliteTx:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def execute(self, sql: str, *args: Any) -> int:
        # Closing the cursor finishes the statement (no lock outlives it).
        async with self._db.execute(sql, args) as cursor:
            return max(cursor.rowcount, 0)

    async def fetchrow(self, sql: str, *args: Any) -> Mapping[str, Any] | None:
        async with self._db.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        return dict(row) if row is not None else None

    async def fetch(self, sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
        async with self._db.execute(sql, args) as cursor:
            return [dict(row) for row in await cursor.fetchall()]


class SqliteStore(SqlStore):
    dialect = "sqlite"
    shared = False
    #: A commit writes the WAL frames of the audit table's pages and its indexes', about as
    #: costly for eight rows as for one (docs/performance.md); 5 ms measured better than 2
    #: under bench/write_path.py's load, 10 no better than 5.
    audit_window = 0.005

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._appender: Appender | None = None  # the audit entries' own thread and connection
        self._serial = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    async def open(self, *, migrate: bool = True) -> None:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
                await self._db.execute_fetchall(f"PRAGMA {pragma}")
        except (sqlite3.Error, OSError) as exc:
            raise StateUnavailable(f"cannot open the state file {self.path}: {exc}") from None
        if migrate:
            await self.migrate()
        if self.path != ":memory:":  # a second connection to :memory: would be another database
            try:
                self._appender = Appender(self.path)
            except sqlite3.Error as exc:
                raise StateUnavailable(f"cannot open the state file {self.path}: {exc}") from None

    async def migrate(self) -> int:
        async with self.transaction(atomic=True) as tx:  # (the file's write lock: one at a time)
            return await self._migrate(tx)

    async def close(self) -> None:
        if self._appender is not None:
            appender, self._appender = self._appender, None
            await appender.close()
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, atomic: bool = False) -> AsyncIterator[Tx]:
        if self._db is None:
            raise StateUnavailable("the state store is not open")
        db = self._db
        with tracing.span("store transaction", db__system__name="sqlite"):
            async with self._serial:
                try:
                    if not atomic:
                        yield _SqliteTx(db)
                        return
                    await db.execute_fetchall("BEGIN IMMEDIATE")
                    try:
                        yield _SqliteTx(db)
                    except BaseException:
                        await db.execute_fetchall("ROLLBACK")
                        raise
                    await db.execute_fetchall("COMMIT")
                except sqlite3.Error as exc:
                    raise self._failed(exc) from None

    def _failed(self, exc: sqlite3.Error) -> StateUnavailable:
        """The error a caller sees (the failure's kind only: the file's path and SQLite's
        message are for the log, where they go with the request id)."""
        log.error("the SQLite state store failed", extra={"path": self.path, "error": str(exc)})
        return StateUnavailable(f"the SQLite state store failed ({type(exc).__name__})")

    async def execute_one(self, sql: str, *args: Any) -> None:
        if self._db is None:
            raise StateUnavailable("the state store is not open")
        try:
            with tracing.span("store statement", db__system__name="sqlite"):
                async with self._serial:  # never inside another's transaction on one connection
                    await self._db.execute_fetchall(sql, args)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # One multi-row INSERT, atomic on its own in autocommit mode, on the appender's thread;
        # more rows than one statement may bind take several statements in one transaction.
        per = max(1, _MAX_VALUES // len(columns))
        statements = [
            (insert_sql(table, tuple(columns), len(chunk)), [v for row in chunk for v in row])
            for chunk in (rows[start : start + per] for start in range(0, len(rows), per))
        ]
        if self._appender is None:  # ":memory:": one connection, aiosqlite's
            async with self.transaction(atomic=len(statements) > 1) as tx:
                for sql, values in statements:
                    await tx.execute(sql, *values)
            return
        try:
            with tracing.span("store insert", db__system__name="sqlite", db__collection__name=table,
                              db__operation__batch__size=len(rows)):  # fmt: skip
                await self._appender.append(statements)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    async def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        if self._appender is None:  # ":memory:": one connection, aiosqlite's
            async with self.transaction(atomic=len(statements) > 1) as tx:
                return [[tuple(r.values()) for r in await tx.fetch(sql, *values)]
                        for sql, values in statements]  # fmt: skip
        try:  # the file's one writer: never a wait for another connection's lock
            with tracing.span("store write", db__system__name="sqlite",
                              db__operation__batch__size=len(statements)):  # fmt: skip
                return await self._appender.append(statements)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    @contextlib.asynccontextmanager
    async def lock(self, key: str, wait: float) -> AsyncIterator[None]:
        yield  # one process owns the file: the account's in-process lock is the lock
