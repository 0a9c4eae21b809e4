"""The embedded store: one SQLite file (WAL mode), owned by one gateway process.

Statements run on aiosqlite's thread. A statement that stands alone (an audit entry) is queued
there at once, in autocommit mode; a sequence that must not interleave (an idempotency claim)
holds an asyncio lock instead of a SQL transaction, which would cost two more trips to the
thread (each waiting for the event loop to hand over the GIL: three trips per entry capped the
write path at about 500 a second). With one process owning the file, the lock is enough;
migrations alone run in a real transaction, so a crash cannot leave half a schema. Update
locks are the account's in-process locks: a second process must not share the file (use
PostgreSQL for replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.errors import StateUnavailable
from gateway.store.sql import SqlStore, Tx

__all__ = ["SqliteStore"]


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

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._serial = asyncio.Lock()

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

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, atomic: bool = False) -> AsyncIterator[Tx]:
        if self._db is None:
            raise StateUnavailable("the state store is not open")
        db = self._db
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
                raise StateUnavailable(f"the state file {self.path} failed: {exc}") from None

    async def execute_one(self, sql: str, *args: Any) -> None:
        if self._db is None:
            raise StateUnavailable("the state store is not open")
        try:
            await self._db.execute_fetchall(sql, args)
        except sqlite3.Error as exc:
            raise StateUnavailable(f"the state file {self.path} failed: {exc}") from None

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction(atomic=True):  # three trips to the thread, for any count
            assert self._db is not None
            await self._db.executemany(sql, rows)

    @contextlib.asynccontextmanager
    async def lock(self, key: str, wait: float) -> AsyncIterator[None]:
        yield  # one process owns the file: the account's in-process lock is the lock
