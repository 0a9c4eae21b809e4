"""Collapsing concurrent reads into fewer provider requests, without ever answering with stale
data.

``SharedReads.run(key, read)`` lets reads that arrive together share provider requests. The
rule that keeps this invisible to callers: a read may only join a request that has **not been
sent yet**. The first read opens a *departure* and yields to the event loop once; every read
that starts meanwhile boards it; then it departs and is sent, and later reads open the next
one. So the one provider request of a departure is sent after every member started and answered
before every member returns: each caller gets exactly what a request of its own could have
returned (the reads stay linearizable, and a caller that has just written sees its write).
Nothing is cached: when no departure is boarding, a read sends its own.

Who shares what:

- reads of the **same key** share one result (a dashboard polling one webhook, a deploy
  checking it);
- reads of **different keys** go as one batch request when the provider can answer several
  ids at once (``read_many``, at most ``max_batch`` keys a departure: UiPath's
  ``$filter=Id eq 4 or Id eq 7``); without it, each key is read on its own.

Under load this costs the provider, its rate limit and the proxy one request a departure
instead of one a read. Opening a departure costs a turn of the loop, so a read that starts
while no other read is running (a caller reading one webhook after another) is sent at once:
there is nobody to share with. A burst that starts from idle therefore makes two requests: the
first read's own, and the one shared by all the others.

Outcomes are shared too: if the request fails, every member gets the same typed error; with a
batch, each key gets its own answer (its webhook, or the error a read of it alone would have
raised). If the read that opened the departure is cancelled, the others are not: each then sends
a read of its own; so does each member when the batch request itself is refused as invalid
(``read_many`` raising ``InvalidRequest``, a provider that does not take the batch filter, or
``Unsupported``),
after which batching stays off for this reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from gateway.errors import InvalidRequest, Unsupported

__all__ = ["ReadMany", "SharedReads"]

log = logging.getLogger("gateway.transport.collapse")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: ``keys -> {key: result or the exception a read of that key alone would raise}``.
ReadMany = Callable[[Sequence[K]], Awaitable[Mapping[K, T | BaseException]]]


class _Departure(Generic[K, T]):
    """Reads waiting for one provider request: an outcome per key."""

    __slots__ = ("outcomes",)

    def __init__(self) -> None:
        self.outcomes: dict[K, asyncio.Future[T]] = {}


class SharedReads(Generic[K, T]):
    """Reads that start in the same turn of the event loop, while other reads are under way,
    share provider requests (see the module docstring)."""

    def __init__(self, read_many: ReadMany[K, T] | None = None, max_batch: int = 0) -> None:
        self._read_many = read_many if max_batch > 1 else None
        self._max_batch = max(max_batch, 1)
        #: The outcome of every read that is boarding (not sent yet), by key, whichever
        #: departure carries it; and the departure that takes more keys, when batching.
        self._boarding: dict[K, asyncio.Future[T]] = {}
        self._open_batch: _Departure[K, T] | None = None
        self._running = 0  # reads of any key under way
        self.shared = 0  # reads answered by a request another read sent (tests and metrics)

    async def run(self, key: K, read: Callable[[], Awaitable[T]]) -> T:
        """``await read()``, or its part of a request that has not been sent yet."""
        self._running += 1
        try:
            outcome = self._boarding.get(key)
            if outcome is not None:  # the same key is boarding: share its outcome
                self.shared += 1
                return await self._ride(asyncio.shield(outcome), outcome, read)
            batch = self._open_batch
            if batch is not None and self._read_many and len(batch.outcomes) < self._max_batch:
                # A key of its own in the batch: the outcome is this read's alone, so it needs
                # no shield (cancelling it cancels nobody else's).
                outcome = asyncio.get_running_loop().create_future()
                batch.outcomes[key] = self._boarding[key] = outcome
                self.shared += 1
                return await self._ride(outcome, outcome, read)
            if self._running == 1:
                return await read()  # nothing else is reading: no one to wait for
            return await self._open(key, read)
        finally:
            self._running -= 1

    async def _open(self, key: K, read: Callable[[], Awaitable[T]]) -> T:
        departure: _Departure[K, T] = _Departure()
        mine: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        departure.outcomes[key] = self._boarding[key] = mine
        if self._read_many:
            self._open_batch = departure
        try:
            try:
                await asyncio.sleep(0)  # one turn of the loop: reads that start now board
            finally:  # departed: from here on nobody may join
                if self._open_batch is departure:
                    self._open_batch = None
                for boarded, outcome in departure.outcomes.items():
                    if self._boarding.get(boarded) is outcome:
                        del self._boarding[boarded]
            if len(departure.outcomes) == 1:
                mine.set_result(await read())
            elif not await self._batch(departure, key):
                mine.set_result(await read())  # refused: the other keys read for themselves
        except asyncio.CancelledError:
            for outcome in departure.outcomes.values():
                outcome.cancel()  # the riders read for themselves
            raise
        except BaseException as exc:
            for outcome in departure.outcomes.values():
                if not outcome.done():
                    outcome.set_exception(exc)
                    outcome.exception()  # retrieved, even if every rider was cancelled
            raise
        return mine.result()

    async def _batch(self, departure: _Departure[K, T], opener: K) -> bool:
        """Send the departure's keys as one request and hand each key its outcome; False when
        batching is (or has just been turned) off, the members other than ``opener`` then
        reading for themselves."""
        results = None
        if self._read_many is not None:  # (another departure may have turned it off)
            try:
                results = await self._read_many(list(departure.outcomes))
            except (InvalidRequest, Unsupported) as exc:
                log.warning("batched reads refused; reading one by one from now on",
                            extra={"error": str(exc)})  # fmt: skip
                self._read_many = None
        if results is None:
            for key, outcome in departure.outcomes.items():
                if key != opener:
                    outcome.cancel()
            return False
        for key, outcome in departure.outcomes.items():
            result = results[key]
            if outcome.done():  # its reader was cancelled
                continue
            if isinstance(result, BaseException):
                outcome.set_exception(result)
                outcome.exception()  # retrieved, even if its reader was cancelled
            else:
                outcome.set_result(result)
        return True

    @staticmethod
    async def _ride(
        waited: Awaitable[T], outcome: asyncio.Future[T], read: Callable[[], Awaitable[T]]
    ) -> T:
        """Wait for ``outcome`` through ``waited`` (a shield of it when others share it: a
        rider that is cancelled must not cancel their outcome)."""
        try:
            return await waited
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if outcome.cancelled() and task is not None and not task.cancelling():
                return await read()  # the opener was cancelled, not this rider
            raise
