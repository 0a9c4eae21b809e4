"""Update locks on PostgreSQL, taken and released in batches on one connection.

Each update of a webhook holds a lock on its key across the provider's GET and PATCH. Taken one
by one on pooled connections, a lock costs two round trips (``BEGIN; pg_advisory_xact_lock``
and ``ROLLBACK``) and a connection for as long as it is held. Here every lock of this process is
a session-level advisory lock of one connection, and the locks wanted and released while a
statement is in flight go together in the next one::

    SELECT array(SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k),
           array(SELECT pg_try_advisory_lock(k) FROM unnest($2::bigint[]) WITH ORDINALITY
                 AS t(k, i) ORDER BY i)

so under load a round trip serves many updates, and no pooled connection is held.

Why it is still a lock:

- The account takes its in-process lock first, so this process never asks for a key it holds:
  session locks are re-entrant, so two local holders of one key would both be granted.
- A key released and taken again by the next local update in one statement stays held
  whichever half runs first (re-entrant counts: 1 -> 0 -> 1 or 1 -> 2 -> 1).
- A key another replica holds is not granted (``pg_try_advisory_lock``); it is asked again
  after a short, growing pause (2 ms doubling to 50 ms) until ``wait`` runs out, then
  ``StateUnavailable``, as before. Waiting is polling here, so it is not first-come
  first-served across replicas.
- A replica that dies drops its connection and the server frees every lock it held. A lost
  connection is opened again for the next statement; locks granted on the old one are not
  released on the new one (it does not hold them).
- A lock can be lost while it is held (the connection drops under it): ``held`` asks, in the
  same batched statement, whether the server still counts it for this session (``pg_locks``);
  a lock granted on an earlier connection (an older generation) is lost without asking.
  Holders ask before every provider write (``gateway.store.held``).

Written by hand: no library batches advisory locks; asyncpg runs the statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from gateway.errors import StateUnavailable

__all__ = ["LockBatcher"]

log = logging.getLogger("gateway.store")

_STATEMENT = (
    "SELECT array(SELECT pg_advisory_unlock(k) FROM unnest($1::bigint[]) AS k) AS freed, "
    "array(SELECT pg_try_advisory_lock(t.k) FROM unnest($2::bigint[]) WITH ORDINALITY "
    "AS t(k, i) ORDER BY t.i) AS got, "
    # Still held by this session? A bigint advisory key is classid (high half), objid (low).
    "array(SELECT EXISTS(SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
    "AND l.pid = pg_backend_pid() AND l.granted AND l.objsubid = 1 "
    "AND l.classid = ((t.k >> 32) & 4294967295)::oid AND l.objid = (t.k & 4294967295)::oid) "
    "FROM unnest($3::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY t.i) AS held"
)
_FIRST_PAUSE, _LONGEST_PAUSE = 0.002, 0.05


class LockBatcher:
    """The update locks of one store: ``acquire`` (awaits), ``release`` (queued)."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[asyncpg.Connection]],
        failures: tuple[type[BaseException], ...],
        failed: Callable[[BaseException], StateUnavailable],
    ) -> None:
        self._connect = connect
        self._failures = failures
        self._failed = failed
        self._conn: asyncpg.Connection | None = None
        self._generation = 0  # one more for each connection: locks live and die with theirs
        self._wanted: list[tuple[int, asyncio.Future[int | None]]] = []
        self._freed: list[int] = []
        self._asked: list[tuple[int, int, asyncio.Future[bool]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def acquire(self, key: int, wait: float, name: str) -> int:
        """Hold ``key``; the generation it was granted in (for ``release``)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + wait
        pause = _FIRST_PAUSE
        while True:
            granted: asyncio.Future[int | None] = loop.create_future()
            self._wanted.append((key, granted))
            self._flush_soon()
            try:
                generation = await granted
            except asyncio.CancelledError:
                # Cancelled after the lock was granted but before this task saw it: let it go.
                if granted.done() and not granted.cancelled() and granted.exception() is None:
                    held = granted.result()
                    if held is not None:
                        self.release(key, held)
                raise
            if generation is not None:
                return generation
            if loop.time() + pause > give_up:
                raise StateUnavailable(
                    f"the update lock of {name} was held elsewhere for over {wait:g} s"
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    async def held(self, key: int, generation: int) -> bool:
        """Whether ``key``, granted in ``generation``, is still held (a round trip)."""
        if generation != self._generation or self._conn is None or self._conn.is_closed():
            return False
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asked.append((key, generation, answer))
        self._flush_soon()
        return await answer

    def release(self, key: int, generation: int) -> None:
        """Let ``key`` go (with the next statement; nothing to wait for)."""
        if generation == self._generation and self._conn is not None:
            self._freed.append(key)
            self._flush_soon()

    async def close(self) -> None:
        """Send what is queued, then close the connection (which frees whatever it holds)."""
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(*self._failures):
                await conn.close()

    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._wanted or self._freed or self._asked:
            await asyncio.sleep(0)  # gather what the other ready tasks want in this turn
            wanted, self._wanted = self._wanted, []
            freed, self._freed = self._freed, []
            asked, self._asked = self._asked, []
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                    self._generation += 1
                    freed = []  # a new connection holds none of them
                asked = self._answer_lost(asked)
                row = await self._conn.fetchrow(
                    _STATEMENT, freed, [key for key, _ in wanted], [key for key, _, _ in asked]
                )
            except self._failures as exc:
                self._drop()
                error = self._failed(exc)
                for _, granted in wanted:
                    if not granted.done():
                        granted.set_exception(error)
                self._answer_lost(asked)
                continue
            except BaseException:
                self._drop()  # cancelled: the locks it held go with the connection
                for _, granted in wanted:
                    if not granted.done():
                        granted.cancel()
                self._answer_lost(asked)
                raise
            assert row is not None
            for (_, _, answer), still in zip(asked, row["held"], strict=True):
                if not answer.done():
                    answer.set_result(bool(still))
            for (key, granted), got in zip(wanted, row["got"], strict=True):
                if not granted.done():
                    granted.set_result(self._generation if got else None)
                elif got:  # its waiter gave up (cancelled) after asking: let it go again
                    self._freed.append(key)

    def _answer_lost(
        self, asked: list[tuple[int, int, asyncio.Future[bool]]]
    ) -> list[tuple[int, int, asyncio.Future[bool]]]:
        """Answer "lost" to the questions about an earlier generation; the rest, to ask."""
        ask = []
        for question in asked:
            _, generation, answer = question
            if generation == self._generation and self._conn is not None:
                ask.append(question)
            elif not answer.done():
                answer.set_result(False)
        return ask

    def _drop(self) -> None:
        """Forget a connection that failed (the server frees its locks as it goes)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
            self._generation += 1
