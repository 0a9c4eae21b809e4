"""The least read-modify-write proxy: what any proxy must at least do to add or remove one
event of a UiPath webhook without losing concurrent updates, and nothing more.

UiPath's PATCH replaces the whole ``Events`` collection, so adding one event means reading the
record first, under a lock held until the PATCH is answered. This proxy does exactly that for
``PATCH /v1/accounts/orch/webhooks/{id}`` with ``{"add_events": [...]}`` or
``{"remove_events": [...]}``: a per-id ``asyncio.Lock``, the read (reads that start together go
as one ``$filter=Id eq 4 or Id eq 7 ...`` request of at most 16 ids, as the gateway's do), one
PATCH, and the record's JSON back. No validation, no typed model, no audit, no metrics, no
logs, no error handling: a baseline for ``bench/write_path.py``, not a server to use. It runs as
``serve`` does (uvloop when installed, the same GC settings).

Options add, one at a time, the least of what the gateway guarantees beyond that
(``bench/write_floor_parts.py`` measures what each costs against the floor):

- ``--audit sqlite:///PATH``: every write appends a row to an audit table in a SQLite file
  (WAL, ``synchronous=NORMAL``), the rows of the writes that finish in one turn of the loop
  as one transaction, and the answer waits for it, as the gateway's does;
- ``--audit postgresql://...``: the same table in PostgreSQL, and the update lock an advisory
  lock there (what makes replicas safe): two round trips a write, the lock before the read,
  and the audit row and the unlock together after the PATCH;
- ``--key KEY``: the caller's bearer key is checked (a SHA-256 compared in constant time);
- ``--access-log PATH``: one JSON line a request (method, path, status, duration).

    python bench/rmw_proxy.py --upstream http://127.0.0.1:8101 --token TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import sqlite3
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.passthrough import SESSION, serve_baseline, with_session
from gateway.lifecycle import run_fast

BATCH = 16
AUDIT_TABLE = """CREATE TABLE IF NOT EXISTS audit (time DOUBLE PRECISION, actor TEXT,
    webhook_id TEXT, operation TEXT, change TEXT, outcome TEXT, duration_ms DOUBLE PRECISION)"""
AUDIT_ROW = "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)"
#: An update lock and an audit row a write, in PostgreSQL: lock before, row and unlock after.
PG_LOCK = "SELECT pg_advisory_lock($1)"
PG_ROW_AND_UNLOCK = """WITH written AS (INSERT INTO audit VALUES ($2, $3, $4, $5, $6, $7, $8)
    RETURNING 1) SELECT pg_advisory_unlock($1) FROM written"""


class SqliteAudit:
    """Audit rows in a SQLite file, those of one loop turn committed together (on the loop)."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(AUDIT_TABLE)
        self.rows: list[tuple[Any, ...]] = []
        self.done: asyncio.Future[None] | None = None

    def record(self, row: tuple[Any, ...]) -> asyncio.Future[None]:
        self.rows.append(row)
        if self.done is None:
            self.done = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._commit)
        return self.done

    def _commit(self) -> None:
        rows, done, self.rows, self.done = self.rows, self.done, [], None
        self.db.execute("BEGIN")
        self.db.executemany(AUDIT_ROW, rows)
        self.db.execute("COMMIT")
        assert done is not None
        done.set_result(None)


async def _keep(connection: Any) -> None:
    """A pooled connection goes back as it is: its one lock was released with its audit row."""


@contextlib.asynccontextmanager
async def _locked(pool: Any, id: str) -> AsyncIterator[Any]:
    """A pooled connection holding the advisory lock of ``id``; a write that fails before its
    audit row (which releases the lock) releases it here."""
    connection = await pool.acquire()
    try:
        await connection.fetchval(PG_LOCK, zlib.crc32(id.encode()))
        try:
            yield connection
        except BaseException:
            await connection.fetchval("SELECT pg_advisory_unlock($1)", zlib.crc32(id.encode()))
            raise
    finally:
        await pool.release(connection)


def audit_row(id: str, change: bytes, started: float) -> tuple[Any, ...]:
    return (time.time(), "key:bench", id, "update", change.decode(), "ok",
            round((time.perf_counter() - started) * 1000, 2))  # fmt: skip


def app(
    upstream: str,
    token: str,
    *,
    audit: str | None = None,
    key: str | None = None,
    access_log: str | None = None,
) -> web.Application:
    auth = {"Authorization": f"Bearer {token}"}
    locks: dict[str, asyncio.Lock] = {}
    waiting: dict[str, asyncio.Future[Any]] = {}

    async def read_batch(session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(0)  # the reads that start in this loop turn go together
        ids = list(waiting)[:BATCH]
        futures = [waiting.pop(i) for i in ids]
        if waiting:
            asyncio.get_running_loop().create_task(read_batch(session))
        query = {"$filter": " or ".join(f"Id eq {i}" for i in ids)}
        async with session.get(f"{upstream}/odata/Webhooks", params=query, headers=auth) as r:
            found = {str(x["Id"]): x for x in orjson.loads(await r.read())["value"]}
        for i, future in zip(ids, futures, strict=True):
            future.set_result(found[i])

    def read(session: aiohttp.ClientSession, id: str) -> asyncio.Future[Any]:
        future = waiting.get(id)
        if future is None:
            if not waiting:
                asyncio.get_running_loop().create_task(read_batch(session))
            future = waiting[id] = asyncio.get_running_loop().create_future()
        return future

    sqlite = SqliteAudit(audit.removeprefix("sqlite:///")) if audit and audit.startswith(
        "sqlite:") else None  # fmt: skip
    pool: list[Any] = []  # the PostgreSQL pool, made at start-up
    log = open(access_log, "a", buffering=1) if access_log else None  # noqa: SIM115
    wanted = hashlib.sha256(key.encode()).digest() if key else None

    async def modify(session: aiohttp.ClientSession, id: str, change: Any) -> bytes:
        """Read webhook ``id`` (batched), PATCH its events changed, answer the record."""
        record = await read(session, id)
        events = {e["EventType"] for e in record["Events"]}
        events = (events - set(change.get("remove_events", ()))) | set(change.get("add_events", ()))
        body = orjson.dumps({"Events": [{"EventType": e} for e in sorted(events)]})
        headers = {**auth, "Content-Type": "application/json",
                   "Prefer": "return=representation"}  # fmt: skip
        async with session.patch(f"{upstream}/odata/Webhooks({id})", data=body,
                                 headers=headers) as r:  # fmt: skip
            return await r.read()

    async def patch(request: web.Request) -> web.Response:
        started = time.perf_counter()
        if wanted is not None:
            presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), wanted):
                return web.Response(status=401)
        id = request.match_info["id"]
        raw = await request.read()
        change = orjson.loads(raw)
        session = request.app[SESSION]
        async with locks.setdefault(id, asyncio.Lock()):
            if not pool:
                answer = await modify(session, id, change)
            else:
                async with _locked(pool[0], id) as connection:
                    answer = await modify(session, id, change)
                    row = audit_row(id, raw, started)
                    await connection.fetchval(PG_ROW_AND_UNLOCK, zlib.crc32(id.encode()), *row)
        if sqlite is not None:
            await sqlite.record(audit_row(id, raw, started))
        if log is not None:
            log.write(orjson.dumps({"method": "PATCH", "path": request.path, "status": 200,
                                    "ms": round((time.perf_counter() - started) * 1000, 2)},
                                   option=orjson.OPT_APPEND_NEWLINE).decode())  # fmt: skip
        return web.Response(body=answer, content_type="application/json")

    application = with_session()
    if audit and audit.startswith("postgresql:"):

        async def pg(app: web.Application) -> AsyncIterator[None]:
            import asyncpg  # the postgres extra

            # No reset query on release (asyncpg's default is a round trip), as the store's.
            pool.append(await asyncpg.create_pool(audit, min_size=40, max_size=40, reset=_keep))
            await pool[0].execute(AUDIT_TABLE)
            yield
            await pool[0].close()

        application.cleanup_ctx.append(pg)
    application.router.add_patch("/v1/accounts/orch/webhooks/{id}", patch)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--audit", help="sqlite:///PATH or a postgresql:// URL")
    parser.add_argument("--key", help="the bearer key callers must present")
    parser.add_argument("--access-log", help="a file for one JSON line a request")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        application = app(args.upstream.rstrip("/"), args.token, audit=args.audit,
                          key=args.key, access_log=args.access_log)  # fmt: skip
        run_fast(serve_baseline(application, "rmw-proxy", args.port))


if __name__ == "__main__":
    main()
