"""Console sessions: an API key logged in, or a person signed in with single sign-on, behind a
random cookie.

The cookie holds a random id (``secrets.token_urlsafe(32)``); the state store holds only its
SHA-256, with the key's name, a reference to the key by value (``KeyMatch.ref``), a CSRF token
and two times, so any replica serves a session and a copy of the database gives no one a way
in. A session ends when unused for ``[console] idle_minutes``, after ``SESSION_LIMIT`` (12
hours) whatever, at logout, or when its key is no longer configured (the console's middleware
looks the key up on every request and takes the scope from it).

Idle time counts from the last real use: this process remembers each use, and the store's
``seen_at`` (what other replicas see) is written at most every tenth of the idle time (a
minute at most), so a session used on another replica is off by at most that. Without a state
store the sessions live in this process (one replica; a restart logs everyone out).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

import attrs

from gateway.proxy.keys import KeyMatch
from gateway.proxy.oidc import Person
from gateway.store import ConsoleSession, Store
from gateway.store.sql import SESSION_LIMIT

__all__ = ["COOKIE", "Sessions"]

COOKIE = "wg_console"
#: How often a session's last use is written at most (seconds): not on every page.
_TOUCH = 60.0
#: Sessions whose last use this process remembers, at most.
_REMEMBERED = 10000


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Start, find and end console sessions, in ``store`` or, without one, in memory."""

    def __init__(self, store: Store | Callable[[], Store | None] | None, idle_minutes: int) -> None:
        self._store = store
        self.idle = idle_minutes * 60.0
        self._touch = min(_TOUCH, self.idle / 10)
        self._memory: dict[str, ConsoleSession] = {}
        self._used: dict[str, float] = {}  # this process's last use of each session

    @property
    def store(self) -> Store | None:
        """The state store (given, or asked for: the gateway may open after the console)."""
        return self._store() if callable(self._store) else self._store

    async def start(
        self, key: KeyMatch | None, person: Person | None = None
    ) -> tuple[str, ConsoleSession]:
        """A new session of an API key, or of a person signed in with single sign-on."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        csrf = secrets.token_urlsafe(32)
        if person is not None:
            session = ConsoleSession(key_name=person.email or person.subject, scope="person",
                                     csrf=csrf, created_at=now, seen_at=now,
                                     person=person.to_json())  # fmt: skip
        else:
            assert key is not None
            session = ConsoleSession(key_name=key.name, scope=key.scope, csrf=csrf,
                                     created_at=now, seen_at=now, key_ref=key.ref)  # fmt: skip
        if self.store is not None:
            await self.store.save_session(_hash(session_id), session)
        else:
            self._memory[_hash(session_id)] = session
        return session_id, session

    async def find(self, session_id: str | None) -> ConsoleSession | None:
        """The live session of a cookie's id, or None (unknown, idle too long, too old)."""
        if not session_id or len(session_id) > 100:
            return None
        key = _hash(session_id)
        found = (await self.store.session(key) if self.store is not None
                 else self._memory.get(key))  # fmt: skip
        if found is None:
            return None
        now = time.time()
        used = max(found.seen_at, self._used.get(key, 0.0))
        if now - used > self.idle or now - found.created_at > SESSION_LIMIT:
            await self.end(session_id)
            return None
        self._used.pop(key, None)
        self._used[key] = now  # the newest last
        if len(self._used) > _REMEMBERED:
            del self._used[next(iter(self._used))]
        if now - found.seen_at > self._touch:
            if self.store is not None:
                await self.store.touch_session(key, now)
            else:
                self._memory[key] = attrs.evolve(found, seen_at=now)
        return found

    async def end(self, session_id: str) -> None:
        key = _hash(session_id)
        if self.store is not None:
            await self.store.drop_session(key)
        self._memory.pop(key, None)
        self._used.pop(key, None)
