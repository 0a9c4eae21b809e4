"""Collapsing concurrent identical reads, without ever answering with stale data.

``SharedReads.run(key, read)`` lets reads of the same key that arrive together share one
provider request. The rule that keeps this invisible to callers: a read may only join a request
that has **not been sent yet**. The first read of a key opens a *boarding* request and yields to
the event loop once; every read of that key that starts meanwhile boards it; then it departs and
is sent, and later reads open the next one. So the one provider request of a group is sent after
every member of the group started and answered before every member returns: each caller gets
exactly what a request of its own could have returned (the reads stay linearizable, and a
caller that has just written sees its write). Nothing is cached: when no request is boarding,
a read sends its own.

Under load, many requests for the same webhook reach the proxy in one turn of the event loop
(a dashboard polling it, a deploy checking it): they then cost the provider, its rate limit
and the proxy one request instead of one each. Opening a group costs a turn of the loop, so a
read that starts while no other read is running (a caller reading one webhook after another)
is sent at once: there is nobody to share with. A burst that starts from idle therefore makes
two requests: the first read's own, and the one shared by all the others.

The outcome is shared too: if the request fails, every member gets the same typed error. If the
read that opened the group is cancelled, the others are not: each then sends a read of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SharedReads"]

T = TypeVar("T")


class _Boarding(Generic[T]):
    __slots__ = ("outcome", "riders")

    def __init__(self, outcome: asyncio.Future[T]) -> None:
        self.outcome = outcome
        self.riders = 0


class SharedReads(Generic[T]):
    """Reads of one key that start in the same turn of the event loop, while other reads are
    under way, share one call."""

    def __init__(self) -> None:
        self._boarding: dict[Hashable, _Boarding[T]] = {}
        self._running = 0  # reads of any key under way
        self.shared = 0  # reads answered by another read's request (for tests and metrics)

    async def run(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """``await read()``, or the outcome of an identical read that has not been sent yet."""
        self._running += 1
        try:
            boarding = self._boarding.get(key)
            if boarding is not None:
                boarding.riders += 1
                self.shared += 1
                return await self._ride(boarding, read)
            if self._running == 1:
                return await read()  # nothing else is reading: no one to wait for
            return await self._open(key, read)
        finally:
            self._running -= 1

    async def _open(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        boarding = self._boarding[key] = _Boarding(asyncio.get_running_loop().create_future())
        try:
            try:
                await asyncio.sleep(0)  # one turn of the loop: reads that start now board
            finally:
                del self._boarding[key]  # departed: from here on nobody may join
            result = await read()
        except asyncio.CancelledError:
            boarding.outcome.cancel()  # the riders read for themselves
            raise
        except BaseException as exc:
            if boarding.riders:
                boarding.outcome.set_exception(exc)
                boarding.outcome.exception()  # retrieved, even if every rider was cancelled
            raise
        boarding.outcome.set_result(result)
        return result

    @staticmethod
    async def _ride(boarding: _Boarding[T], read: Callable[[], Awaitable[T]]) -> T:
        try:
            # shield: a rider that is cancelled must not cancel the others' outcome
            return await asyncio.shield(boarding.outcome)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if boarding.outcome.cancelled() and task is not None and not task.cancelling():
                return await read()  # the opener was cancelled, not this rider
            raise
