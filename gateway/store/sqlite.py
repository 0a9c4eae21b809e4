"""The embedded store: one SQLite file (WAL mode), owned by one gateway process.

Statements run on aiosqlite's thread. A statement that stands alone runs there in autocommit
mode, after any sequence in progress; a sequence that must not interleave (an idempotency
claim) holds an asyncio lock instead of a SQL transaction, which would cost two more trips to
the thread.
With one process owning the file, the lock is enough; migrations alone run in a real
transaction, so a crash cannot leave half a schema. Update locks are the account's in-process
locks: a second process must not share the file (use PostgreSQL for replicas).

Audit entries, the one write every webhook change makes, are appended on the event loop
itself, through a second connection: a trip to aiosqlite's thread costs about three times the
INSERT it carries (measured: 135 us of CPU for ``SELECT 1`` through the thread, 45 us for an
autocommitted INSERT done directly). That connection never waits: it does not checkpoint
(the thread does, at most once a second, so the loop never runs the WAL's fsync) and has no
busy timeout; when the file is busy (the thread is writing), the rows go through the thread
instead. A WAL commit with ``synchronous=NORMAL`` writes to the page cache without an fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.errors import StateUnavailable
from gateway.store.sql import SqlStore, Tx, insert_sql
from gateway.transport import tracing

__all__ = ["SqliteStore"]

log = logging.getLogger("gateway.store")

#: Seconds between the WAL checkpoints the thread runs for the loop's connection.
CHECKPOINT_EVERY = 1.0

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
    #: A commit writes the WAL frames of the audit table's pages and its indexes' on the loop,
    #: about as costly for eight rows as for one (docs/performance.md).
    audit_window = 0.002

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._direct: sqlite3.Connection | None = None  # the loop's own, for audit entries
        self._serial = asyncio.Lock()
        self._checkpointed = 0.0
        self._checkpoint: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
                await self._db.execute_fetchall(f"PRAGMA {pragma}")
        except (sqlite3.Error, OSError) as exc:
            raise StateUnavailable(f"cannot open the state file {self.path}: {exc}") from None
        async with self.transaction(atomic=True) as tx:
            await self._migrate(tx)
        if self.path != ":memory:":  # a second connection to :memory: would be another database
            try:
                self._direct = sqlite3.connect(self.path, isolation_level=None)
                for pragma in ("synchronous=NORMAL", "busy_timeout=0", "wal_autocheckpoint=0"):
                    self._direct.execute(f"PRAGMA {pragma}")
            except sqlite3.Error as exc:
                raise StateUnavailable(f"cannot open the state file {self.path}: {exc}") from None

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._direct is not None:
            direct, self._direct = self._direct, None
            direct.close()
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
        # One multi-row INSERT, atomic on its own in autocommit mode, on the loop's own
        # connection (one trip to the thread when the file is busy). Only more rows than one
        # statement may bind take a transaction around several statements, on the thread.
        per = max(1, _MAX_VALUES // len(columns))
        chunks = [
            (insert_sql(table, tuple(columns), len(chunk)), [v for row in chunk for v in row])
            for chunk in (rows[start : start + per] for start in range(0, len(rows), per))
        ]
        if len(chunks) > 1:
            async with self.transaction(atomic=True) as tx:
                for sql, values in chunks:
                    await tx.execute(sql, *values)
            return
        [(sql, values)] = chunks
        if self._direct is not None:
            try:
                self._direct.execute(sql, values)
            except sqlite3.Error as exc:
                busy = isinstance(exc, sqlite3.OperationalError) and (
                    exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                )
                if not busy:
                    raise self._failed(exc) from None
            else:
                self._schedule_checkpoint()
                return
        await self.execute_one(sql, *values)  # the file is busy: wait for it on the thread

    def _schedule_checkpoint(self) -> None:
        """Copy the WAL back into the file on the thread, at most once a ``CHECKPOINT_EVERY``
        (the loop's connection never checkpoints, so that its commits never fsync)."""
        now = time.monotonic()
        if self._checkpoint is None and now - self._checkpointed >= CHECKPOINT_EVERY:
            self._checkpointed = now
            self._checkpoint = asyncio.create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            if self._db is not None:
                await self._db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one tries again; the entries are committed
            log.warning("a WAL checkpoint of the state file failed", extra={"error": str(exc)})
        finally:
            self._checkpoint = None

    @contextlib.asynccontextmanager
    async def lock(self, key: str, wait: float) -> AsyncIterator[None]:
        yield  # one process owns the file: the account's in-process lock is the lock
