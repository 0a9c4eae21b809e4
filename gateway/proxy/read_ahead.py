"""Reading the next page of a listing while its caller reads this one.

A caller that follows a list cursor is paging through a listing, and will most likely ask for
the page after this one next. When a page asked for **with a cursor** has a next page, the
proxy starts reading that page from the provider as it answers, so the provider's time and the
proxy's parsing overlap the caller's own work and the next round trip, and the next request
finds the page read (or being read) instead of starting from nothing.

What a read-ahead page may be, so that a caller cannot tell it from a page read on request:

- **Fresh**: it is used only if it was read at most ``[server] list_read_ahead`` seconds
  (2 by default) before it is asked for; an older one is dropped and the page is read anew.
- **After the caller's writes**: any write through this process to the account (create,
  update, delete, unsuspend, an extra) that began or ended after the read-ahead started makes
  it unusable (``Account.writes``), so a caller that writes between two pages sees its write.
  Writes made elsewhere (another replica, the provider's own console) are seen within the age
  limit, as they would be by a read that happened that much earlier; a listing is not a
  snapshot either way.
- **Used once**: an entry answers one request and is gone; the request it answers starts the
  read-ahead of the page after it.
- **Not an error**: a read-ahead that failed (or was refused) is dropped and the page is read
  on request, so errors are those of the request's own read.

Only pages asked for with a cursor read ahead: a caller that reads one page (a first page,
``?limit=1``) costs the provider nothing more. A caller that stops paging costs one page read for
nothing; its page is dropped once older than ``list_read_ahead``. At most ``MAX_PAGES`` reads
ahead are kept (each one page of one account); beyond it no more start until some are taken or
dropped. ``list_read_ahead = 0`` turns it off.

Written by hand: no library prefetches paged HTTP listings across requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from gateway.service import Account

__all__ = ["ReadAhead"]

#: The most pages read ahead and not taken yet, in all.
MAX_PAGES = 64


class _Entry:
    __slots__ = ("account", "expiry", "started", "task", "writes")

    def __init__(self, account: Account, task: asyncio.Task[Any]) -> None:
        self.account = account
        self.writes = account.writes
        self.started = time.monotonic()
        self.task = task
        self.expiry: asyncio.TimerHandle | None = None


class ReadAhead:
    """Pages read ahead of their request, by what the request will ask (see the module doc)."""

    def __init__(self, max_age: float, max_pages: int = MAX_PAGES) -> None:
        self.max_age = max_age
        self.max_pages = max_pages
        self._entries: dict[Hashable, _Entry] = {}
        self.used = 0  # requests answered by a page read ahead (tests and metrics)

    def start(self, key: Hashable, account: Account, read: Callable[[], Awaitable[Any]]) -> None:
        """Read what ``key`` names now (``read()``), for the request that will ask for it."""
        if self.max_age <= 0 or key in self._entries:
            return
        if len(self._entries) >= self.max_pages:
            self._expire()
            if len(self._entries) >= self.max_pages:
                return
        task = asyncio.ensure_future(read())
        task.add_done_callback(_retrieve)
        entry = self._entries[key] = _Entry(account, task)
        # Dropped once too old to be used: a page nobody asks for is not kept.
        entry.expiry = asyncio.get_running_loop().call_later(self.max_age, self._drop, key, entry)

    async def take(self, key: Hashable) -> Any | None:
        """What was read ahead for ``key`` (awaiting a read still under way), or None when
        nothing usable was: never read, too old, overtaken by a write, or failed."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        if entry.expiry is not None:
            entry.expiry.cancel()
        if not self._usable(entry):
            entry.task.cancel()
            return None
        try:
            found = await asyncio.shield(entry.task)
        except asyncio.CancelledError:
            if not entry.task.cancelled():
                raise  # this request was cancelled, not the read
            return None
        except Exception:  # the request reads the page itself, and sees its own error
            return None
        if entry.account.writes != entry.writes:
            return None
        self.used += 1
        return found

    def _usable(self, entry: _Entry) -> bool:
        return (
            entry.account.writes == entry.writes
            and time.monotonic() - entry.started <= self.max_age
        )

    def _expire(self) -> None:
        for key, entry in list(self._entries.items()):
            if not self._usable(entry):
                self._drop(key, entry)

    def _drop(self, key: Hashable, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
            entry.task.cancel()
            if entry.expiry is not None:
                entry.expiry.cancel()

    def __len__(self) -> int:
        return len(self._entries)

    async def close(self) -> None:
        """Stop the reads under way (the server is stopping)."""
        entries = list(self._entries.items())
        for key, entry in entries:
            self._drop(key, entry)
        for _, entry in entries:
            with contextlib.suppress(BaseException):
                await entry.task


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a read's failure as seen (one nobody takes must not be logged as unhandled)."""
    if not task.cancelled():
        task.exception()
