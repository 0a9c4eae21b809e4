"""Rows appended to the SQLite file on a thread of the store's own, off the event loop.

Every webhook change appends an audit entry, and every relayed delivery is stored and settled:
these are the store's writes on the hot path, and this thread is the file's one writer for
them (so they never wait for each other's lock).
Run on the loop (as it was), a group's multi-row INSERT and its WAL commit cost the loop
about 300 us under load (the statement itself, then the WAL frames of the audit table's page,
its two indexes' and ``sqlite_sequence``'s written to the file), about 10% of the loop's
samples with every PATCH a change. ``sqlite3`` releases the GIL while SQLite works, so here
that work runs beside the loop on another core, and the loop pays a queue put and a future.

aiosqlite is not used for this: its trip to its thread cost 135 us of loop CPU for a
``SELECT 1`` (measured), more than the INSERT it would carry. This thread does one thing,
so its hand-off is a ``queue.SimpleQueue`` one way and ``call_soon_threadsafe`` back.

The connection here keeps SQLite's automatic checkpoint (1,000 pages), which then runs on this
thread between two appends: with no write in flight beside it, it copies the whole WAL back
and the next append starts the WAL over, so the file stays about 4 MB under any load. (A
checkpoint on another connection, concurrent with appends, never caught up: the WAL grew
without bound, about 8 MB a second under ``bench/write_path.py``'s load.) It waits for a busy
file (``busy_timeout``), which the loop does not notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["Appender"]

#: Each statement's rows (``RETURNING``; none for the others).
Rows = list[list[tuple[Any, ...]]]
#: One job: the statements of one append (one, or several in a transaction), and where its
#: outcome goes.
_Job = tuple[Sequence[tuple[str, Sequence[Any]]], asyncio.AbstractEventLoop, "asyncio.Future[Rows]"]


class Appender:
    """A thread that owns one connection to ``path`` and runs appends in order.

    ``append(statements)`` runs them on the thread (several in one transaction) and returns
    once they are committed, with each statement's rows (what a ``RETURNING`` gave, as
    tuples); an SQLite error is raised as it is, for the store to map.
    """

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        # Opened here (a bad path fails ``open``), used on the thread alone from then on.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in ("synchronous=NORMAL", f"busy_timeout={busy_timeout_ms}"):
                self._db.execute(f"PRAGMA {pragma}")
        except sqlite3.Error:
            self._db.close()
            raise
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="gateway-sqlite-append", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Appender {self.path}>"

    async def append(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> Rows:
        if self._closed:
            raise sqlite3.ProgrammingError("the appender is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Rows] = loop.create_future()
        self._jobs.put((statements, loop, done))
        return await done

    async def close(self) -> None:
        """Run what is queued, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                statements, loop, done = job
                error: BaseException | None = None
                rows: Rows = []
                try:
                    rows = self._execute(statements)
                except Exception as exc:  # the caller maps it; the thread goes on
                    error = exc
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, done, rows, error)
        finally:
            self._db.close()

    def _execute(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> Rows:
        if len(statements) == 1:  # autocommit: one statement is atomic on its own
            [(sql, values)] = statements
            return [self._db.execute(sql, values).fetchall()]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = [self._db.execute(sql, values).fetchall() for sql, values in statements]
        except BaseException:
            if self._db.in_transaction:  # (SQLite rolls some failures back on its own)
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return rows


def _settle(done: asyncio.Future[Rows], rows: Rows, error: BaseException | None) -> None:
    if done.done():  # its caller was cancelled: the rows are stored all the same
        return
    if error is None:
        done.set_result(rows)
    else:
        done.set_exception(error)
