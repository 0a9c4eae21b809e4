"""Changes waiting for one webhook's update lock, written together.

A provider that replaces whole records (UiPath's ``Events``) makes each change a read and a
write under the webhook's update lock, so concurrent changes of one webhook used to queue, each
reading and writing in its turn: 20 changes, 40 requests, one after another. Here the holder of
the lock takes every change waiting when its read comes back and sends them as one write:

* Changes are taken in the order they arrived and merged with ``WebhookChange.then``, which is
  ``apply`` one after the other; what the provider stores is what the changes one at a time
  would have left.
* A change is checked (``Account._vetted_change``) before it waits: one that fails validation
  fails alone.
* A change with ``If-Match`` joins only when its ETag matches the state it would be applied to
  (the read, with the changes before it applied). The first of a round that does not match is
  refused (``PreconditionFailed``), as its own fresh read would refuse it; a later one waits
  for the next round and its fresh read, with those after it, so the order holds.
* The write's outcome is every taken caller's: each hears the webhook as the write left it, or
  the write's error (a provider error fails the whole merged write). Each caller's change is
  audited as its own entry (``Account.update`` records around this).
* Across replicas the store lock still orders the rounds: changes waiting on one replica join
  its next round; those of another replica wait for the lock, as before, and form their own.

The first caller of a webhook with nobody waiting writes in its own task, as before (no task
is started for an update that is alone). If others are still waiting when its change is done,
a task of their own carries on with them, so a caller never waits for changes that came after
it. A caller cancelled while it waits is left out; one cancelled while its round is being
written gets no answer, the others do.

Hand-written: no library merges writes by a domain's own composition law.
"""

from __future__ import annotations

import asyncio
import copy
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs

from gateway.errors import GatewayError
from gateway.model import Webhook, WebhookChange

__all__ = ["MergedWrites"]


@attrs.define(eq=False)
class _Waiting:
    change: WebhookChange
    if_match: Collection[str] | None
    done: asyncio.Future[Webhook]


def _retrieved(future: asyncio.Future[Webhook]) -> None:
    """(A caller that stopped waiting leaves its outcome unread: not a "never retrieved".)"""
    if not future.cancelled():
        future.exception()


def _settle(entry: _Waiting, outcome: Webhook | BaseException) -> None:
    if entry.done.done():  # its caller stopped waiting
        return
    if isinstance(outcome, BaseException):
        entry.done.set_exception(outcome)
    else:
        entry.done.set_result(outcome)


#: ``refused(id, state or the read's error, if_match)``: the error a change with that
#: ``If-Match`` (None: without one) gets against that state, or None when it may be applied.
Refusal = Callable[[str, Webhook | GatewayError, Collection[str] | None], GatewayError | None]


class MergedWrites:
    """The changes waiting per webhook of one account, and the round that writes them.

    ``lock(id)`` holds the webhook for a round, ``read(id)`` reads it under the lock,
    ``write(id, change, previous)`` sends a merged change, and ``refused`` says whether a
    change may be applied to a state (the read's error included).
    """

    def __init__(
        self,
        lock: Callable[[str], AbstractAsyncContextManager[Any]],
        read: Callable[[str], Awaitable[Webhook]],
        write: Callable[[str, WebhookChange, Webhook], Awaitable[Webhook]],
        refused: Refusal,
    ) -> None:
        self._lock, self._read, self._write, self._refused = lock, read, write, refused
        self._waiting: dict[str, deque[_Waiting]] = {}
        self._carriers: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()

    async def update(
        self, id: str, change: WebhookChange, if_match: Collection[str] | None
    ) -> Webhook:
        """``change`` applied to webhook ``id``, alone or with the changes waiting with it."""
        entry = _Waiting(change, if_match, asyncio.get_running_loop().create_future())
        entry.done.add_done_callback(_retrieved)
        queue = self._waiting.get(id)
        if queue is not None:  # a round is under way or due: the next one takes this too
            queue.append(entry)
            return await entry.done
        queue = self._waiting[id] = deque([entry])
        try:
            while not entry.done.done():
                await self._round(id, queue)
        finally:
            if not entry.done.done():  # (cancelled) the others must not wait for it
                entry.done.cancel()
            self._carry_on(id, queue)
        return entry.done.result()

    def _carry_on(self, id: str, queue: deque[_Waiting]) -> None:
        """Those still waiting get a task of their own; with none, the webhook is free."""
        while queue and queue[0].done.done():
            queue.popleft()
        if not queue:
            if self._waiting.get(id) is queue:
                del self._waiting[id]
            return
        task = asyncio.ensure_future(self._drain(id, queue))
        self._carriers.add(task)

    async def _drain(self, id: str, queue: deque[_Waiting]) -> None:
        try:
            while any(not w.done.done() for w in queue):
                await self._round(id, queue)
        finally:
            for entry in queue:  # (only when cancelled, at shutdown)
                entry.done.cancel()
            queue.clear()
            if self._waiting.get(id) is queue:
                del self._waiting[id]

    async def _round(self, id: str, queue: deque[_Waiting]) -> None:
        """Hold ``id``, read it, take the changes waiting that apply in order, write them as
        one change, and settle each taken caller."""
        try:
            async with self._lock(id):
                await self._merge_and_write(id, queue)
        except GatewayError as exc:  # the lock was not granted, or the store failed
            taken = list(queue)
            queue.clear()
            for entry in taken:
                _settle(entry, _own(exc, entry, taken))

    async def _merge_and_write(self, id: str, queue: deque[_Waiting]) -> None:
        previous: Webhook | GatewayError
        try:
            previous = await self._read(id)
        except GatewayError as exc:
            previous = exc
        taken: list[_Waiting] = []
        merged, state = WebhookChange(), previous
        while queue:
            entry = queue[0]
            if entry.done.done():  # its caller stopped waiting
                queue.popleft()
                continue
            refusal = self._refused(id, state, entry.if_match)
            if refusal is not None:
                if taken:  # not against the state it would be applied to: the next round
                    break
                queue.popleft()
                _settle(entry, refusal)
                continue
            assert isinstance(state, Webhook)  # (a read's error is every change's refusal)
            queue.popleft()
            taken.append(entry)
            merged, state = merged.then(entry.change), entry.change.apply(state)
        if not taken:
            return
        assert isinstance(previous, Webhook)
        try:
            updated = previous if merged.is_empty else await self._write(id, merged, previous)
        except GatewayError as exc:
            for entry in taken:
                _settle(entry, _own(exc, entry, taken))
            return
        except BaseException:  # cancelled: unsent or unanswered; the next round tries again
            queue.extendleft(reversed(taken))
            raise
        for entry in taken:
            _settle(entry, updated)


def _own(exc: GatewayError, entry: _Waiting, taken: list[_Waiting]) -> GatewayError:
    """``exc`` for one of the callers a round failed: the first gets it, each other a copy
    (one exception raised in many tasks would gather all their tracebacks)."""
    return exc if entry is taken[0] else copy.copy(exc)
