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
- A lock can be lost while it is held (the connection drops under it). A session lock lives
  as long as its session: nobody else can release it, and this process releases a key only
  when its holder is done. So a lock is held while its connection answers: ``held`` is
  answered by the statement on the connection in flight when it is asked (the server's answer
  arrives after the question was put: at most half a round trip older than it), or else by
  the next one (alone, the statement with nothing to lock or free). A lock of an earlier
  generation, or of a connection known closed, is lost without asking (``known_lost``: the
  server ends a session, freeing its locks, by closing its connection). Holders ask before
  every provider write and after an update's (``gateway.store.held``); riding the statements
  that flow anyway under load, it costs no statement of its own there (docs/performance.md
  has the cost).

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
    "AS t(k, i) ORDER BY t.i) AS got"
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
        self._asked: list[asyncio.Future[bool]] = []  # for the next statement
        self._riding: list[asyncio.Future[bool]] | None = None  # the one in flight, if any
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

    def known_lost(self, generation: int) -> bool:
        """Whether the locks granted in ``generation`` are known lost without asking: their
        connection was replaced, or it closed (the server frees a session's locks as it ends
        it, and says so by closing the connection)."""
        return generation != self._generation or self._conn is None or self._conn.is_closed()

    async def held(self, generation: int) -> bool:
        """Whether the locks granted in ``generation`` are still held: their connection
        answers a statement in flight now, or the next one."""
        if self.known_lost(generation):
            return False
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._riding is not None:
            self._riding.append(answer)
        else:
            self._asked.append(answer)
            self._flush_soon()
        if not await answer:
            return False
        return not self.known_lost(generation)

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
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                    self._generation += 1
                    freed = []  # a new connection holds none of them
                    self._answer(False)  # asked of an earlier connection: its locks are gone
                self._riding, self._asked = self._asked, []
                row = await self._conn.fetchrow(_STATEMENT, freed, [key for key, _ in wanted])
                self._answer(True)
            except self._failures as exc:
                self._answer(False)
                self._drop()
                error = self._failed(exc)
                for _, granted in wanted:
                    if not granted.done():
                        granted.set_exception(error)
                continue
            except BaseException:
                self._answer(False)
                self._drop()  # cancelled: the locks it held go with the connection
                for _, granted in wanted:
                    if not granted.done():
                        granted.cancel()
                raise
            assert row is not None
            for (key, granted), got in zip(wanted, row["got"], strict=True):
                if not granted.done():
                    granted.set_result(self._generation if got else None)
                elif got:  # its waiter gave up (cancelled) after asking: let it go again
                    self._freed.append(key)

    def _answer(self, held: bool) -> None:
        """Answer the questions riding the statement that just ended (and, when it failed,
        those waiting for the next: their connection is gone)."""
        riding, self._riding = self._riding or [], None
        if not held:
            riding, self._asked = riding + self._asked, []
        for answer in riding:
            if not answer.done():
                answer.set_result(held)

    def _drop(self) -> None:
        """Forget a connection that failed (the server frees its locks as it goes)."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
            self._generation += 1
