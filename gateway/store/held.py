"""The store locks this task holds, and whether they are still held.

A lock in a shared store can be lost while it is held: PostgreSQL frees a session's advisory
locks when its connection drops (a restart, a failover, a pooler restart,
``idle_session_timeout``), and the holder learns of it only when it next uses the connection.
Another replica may then take the lock and run its own read-modify-write at the same time. So
a holder asks, immediately before every provider write, whether each lock it holds is still
held (``confirm_held``: ``LockLost``, nothing sent, when one is not), and again after the
write (``lost_locks``), so that a write made while the lock was lost is not reported as a plain
success. Both ask the store: a connection the server ended is not always known closed yet when
the write's answer comes (its end travels separately).

Each store lock that can be lost enters itself here for the ``async with`` block that holds
it (a context variable: tasks started inside the block see it too). Locks that cannot be lost
(this process's own, SQLite's) do not enter, and then both checks cost nothing.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Protocol

from gateway.errors import LockLost

__all__ = ["HeldLock", "confirm_held", "enter", "leave", "lost_locks"]


class HeldLock(Protocol):
    """A store lock held by this task: ``name`` (what it guards), ``held()`` (still held?)."""

    name: str

    async def held(self) -> bool: ...


_HELD: ContextVar[tuple[HeldLock, ...]] = ContextVar("webhook_gateway_held_locks", default=())


def enter(lock: HeldLock) -> Token[tuple[HeldLock, ...]]:
    """``lock`` is held from now on in this context (``leave`` with the token it gives)."""
    return _HELD.set((*_HELD.get(), lock))


def leave(token: Token[tuple[HeldLock, ...]]) -> None:
    _HELD.reset(token)


async def lost_locks() -> list[str]:
    """The names of the locks this task entered that are no longer held."""
    # One after another: a task holds one or two, and a gather's tasks cost more than the
    # answers (the asked ones ride the same batched statement anyway).
    return [lock.name for lock in _HELD.get() if not await lock.held()]


async def confirm_held(doing: str) -> None:
    """Raise ``LockLost`` (nothing was sent) unless every lock this task holds is still held."""
    lost = await lost_locks()
    if lost:
        raise LockLost(
            f"the lock of {', '.join(lost)} was lost (its connection to the state store "
            f"dropped), so {doing} was not sent; retry"
        )
