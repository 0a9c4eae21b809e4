"""The shared store: PostgreSQL, for several gateway replicas.

A pool of asyncpg connections. Update locks are session advisory locks on a 64-bit hash of the
key, all of one process's on one connection of their own, taken and released in batches
(``gateway.store.pg_locks``): a replica that dies drops its connection, and with it its locks.
Migrations run at open under a session advisory lock, so replicas starting together apply
each one once.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import Token
from typing import Any

import asyncpg
import orjson

from gateway.errors import StateUnavailable
from gateway.store import held as held_locks
from gateway.store.pg_locks import LockBatcher
from gateway.store.sql import SqlStore, Tx
from gateway.transport import tracing

__all__ = ["PostgresStore"]

log = logging.getLogger("gateway.store")

_MIGRATION_LOCK = 0x7765_6268_6F6F_6B21  # "webhook!": one migrator at a time
_PLACEHOLDER = re.compile(r"\?")
_FAILURES = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def _numbered(sql: str) -> str:
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing more than the rollback
    of an open transaction, which asyncpg does before calling this. The store keeps no session
    state (no LISTEN, cursors or session settings; its one session lock, the migrations', is
    released where it is taken), so asyncpg's default reset query (``pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL``) would be a round trip per use for nothing: a third of
    every update lock's."""


class _PgTx:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(_numbered(sql), *args)  # e.g. "DELETE 3"
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0

    async def fetchrow(self, sql: str, *args: Any) -> Mapping[str, Any] | None:
        row = await self._conn.fetchrow(_numbered(sql), *args)
        return dict(row) if row is not None else None

    async def fetch(self, sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
        return [dict(row) for row in await self._conn.fetch(_numbered(sql), *args)]


class PostgresStore(SqlStore):
    dialect = "postgresql"
    shared = True

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self._url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._locks = LockBatcher(self._lock_connection, _FAILURES, _failed)

    def __repr__(self) -> str:
        return "<PostgresStore>"  # the URL may hold a password

    async def open(self, *, migrate: bool = True) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=self._pool_size, timeout=10, reset=_keep_session
            )
        except _FAILURES as exc:
            raise StateUnavailable(
                f"cannot connect to the PostgreSQL state store ({_why(exc)})"
            ) from None
        if migrate:
            await self.migrate()

    async def migrate(self) -> int:
        async with self._connection() as conn:  # one migrator at a time, across replicas
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                async with conn.transaction():
                    return await self._migrate(_PgTx(conn))
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    async def _lock_connection(self) -> asyncpg.Connection:
        """The connection that holds this process's update locks (``gateway.store.pg_locks``)."""
        return await asyncpg.connect(self._url, timeout=10)

    async def close(self) -> None:
        await self._locks.close()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self._pool is None:
            raise StateUnavailable("the state store is not open")
        try:
            async with self._pool.acquire(timeout=10) as conn:
                yield conn
        except _FAILURES as exc:
            raise _failed(exc) from None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        with tracing.span("store transaction", db__system__name="postgresql"):
            async with self._connection() as conn, conn.transaction():
                yield _PgTx(conn)

    async def execute_one(self, sql: str, *args: Any) -> None:
        with tracing.span("store statement", db__system__name="postgresql"):
            async with self._connection() as conn:  # autocommit: one round trip
                await conn.execute(_numbered(sql), *args)

    async def write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        with tracing.span("store write", db__system__name="postgresql",
                          db__operation__batch__size=len(statements)):  # fmt: skip
            async with self._connection() as conn:
                if len(statements) == 1:  # autocommit: one statement is atomic on its own
                    [(sql, values)] = statements
                    return [list(await conn.fetch(_numbered(sql), *values))]
                async with conn.transaction():
                    return [list(await conn.fetch(_numbered(sql), *values))
                            for sql, values in statements]  # fmt: skip

    async def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        # One statement for any count, atomic on its own (autocommit): the rows travel as one
        # JSON array that the server turns into rows of the table's own type. One Bind and
        # Execute however many rows (``executemany`` sends one of each per row: under load the
        # audit log's groups of writes cost the driver and the server a tenth of a write).
        names = ", ".join(columns)
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {names} "  # noqa: S608 - our own names
            f"FROM json_populate_recordset(NULL::{table}, $1::json)"
        )
        data = orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows]).decode()
        with tracing.span("store insert", db__system__name="postgresql", db__collection__name=table,
                          db__operation__batch__size=len(rows)):  # fmt: skip
            async with self._connection() as conn:
                await conn.execute(sql, data)

    def _for_update(self) -> str:
        return " FOR UPDATE"

    def lock(self, key: str, wait: float) -> _AdvisoryLock:
        if self._pool is None:
            raise StateUnavailable("the state store is not open")
        return _AdvisoryLock(self._locks, key, wait)


class _AdvisoryLock:
    """One update lock held (``PostgresStore.lock``): a class rather than a generator, as it is
    taken by every update (an ``asynccontextmanager`` measured a tenth of the lock's cost)."""

    __slots__ = ("_generation", "_id", "_locks", "_token", "_wait", "name")

    def __init__(self, locks: LockBatcher, key: str, wait: float) -> None:
        self._locks, self.name, self._wait = locks, key, wait
        self._id = lock_id(key)
        self._generation = -1
        self._token: Token[Any] | None = None

    async def __aenter__(self) -> None:
        with tracing.span("store lock", db__system__name="postgresql"):
            self._generation = await self._locks.acquire(self._id, self._wait, self.name)
        self._token = held_locks.enter(self)  # its holder checks it before each provider write

    async def __aexit__(self, *exc: object) -> None:
        if self._token is not None:
            held_locks.leave(self._token)
            self._token = None
        self._locks.release(self._id, self._generation)  # errors of the work pass untouched

    async def held(self) -> bool:
        """Whether this lock is still held: its connection is the one it was granted on and
        open, and answers now (``LockBatcher.held``)."""
        return await self._locks.held(self._generation)


def _failed(exc: BaseException) -> StateUnavailable:
    """The error a caller sees (the failure's kind only: driver messages are for the log,
    where they go with the request id)."""
    log.error("the PostgreSQL state store failed", extra={"error": _why(exc)})
    return StateUnavailable(f"the PostgreSQL state store failed ({type(exc).__name__})")


def _why(exc: BaseException) -> str:
    """A failure's kind and message, without the connection URL (it may hold a password)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
