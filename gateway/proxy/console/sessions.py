"""Console sessions: an API key logged in, behind a random cookie.

The cookie holds a random id (``secrets.token_urlsafe(32)``); the state store holds only its
SHA-256, with the key's name and scope, a CSRF token and two times, so any replica serves a
session and a copy of the database gives no one a way in. A session ends when unused for
``[console] idle_minutes``, after ``SESSION_LIMIT`` (12 hours) whatever, or at logout. Without a
state store the sessions live in this process (one replica; a restart logs everyone out).
"""

from __future__ import annotations

import hashlib
import secrets
import time

import attrs

from gateway.store import ConsoleSession, Store
from gateway.store.sql import SESSION_LIMIT

__all__ = ["COOKIE", "Sessions"]

COOKIE = "wg_console"
#: How often a session's last use is written (seconds): not on every page.
_TOUCH = 60.0


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Start, find and end console sessions, in ``store`` or, without one, in memory."""

    def __init__(self, store: Store | None, idle_minutes: int) -> None:
        self.store = store
        self.idle = idle_minutes * 60.0
        self._memory: dict[str, ConsoleSession] = {}

    async def start(self, key_name: str, scope: str) -> tuple[str, ConsoleSession]:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        csrf = secrets.token_urlsafe(32)
        session = ConsoleSession(key_name=key_name, scope=scope, csrf=csrf, created_at=now,
                                 seen_at=now)  # fmt: skip
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
        if now - found.seen_at > self.idle or now - found.created_at > SESSION_LIMIT:
            await self.end(session_id)
            return None
        if now - found.seen_at > _TOUCH:
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
