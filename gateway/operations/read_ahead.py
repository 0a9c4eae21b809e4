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

**Depth** (``[server] list_read_ahead_pages``, 2 by default): how many pages ahead of its
caller a listing is read. The page after the one answered is read at once; once it has been
read, the page after that, and so on up to the depth; each page the caller takes moves the
window on by one. With two, the provider prepares one page while the proxy reads the one before
it and the caller the one before that, so the three work at once instead of in turn.

**Guessed positions**: a page is read once the page before it has been, since the position it
starts at comes with that page. Where the position after a page is known before the page is
read (an offset adapter, ``Provider.position_after``; unfiltered listings, whose pages hold
exactly ``limit`` records), the pages of the window are asked for at once instead, so the
provider prepares one while the proxy parses the one before it. A guess the page read
contradicts (a record skipped as unreadable) is dropped, its read cancelled; a guess past the
end of the listing (its last page still on its way) costs one empty provider page.

Only pages asked for with a cursor read ahead: a caller that reads one page (a first page,
``?limit=1``) costs the provider nothing more. A caller that stops paging costs at most the depth
in pages read for nothing; they are dropped once older than ``list_read_ahead``. At most
``MAX_PAGES`` reads ahead are kept (each one page of one account); beyond it no more start until
some are taken or dropped. ``list_read_ahead = 0`` turns it off.

Written by hand: no library prefetches paged HTTP listings across requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from gateway.service import Account

__all__ = ["Follow", "Guess", "ReadAhead"]

#: The most pages read ahead and not taken yet, in all.
MAX_PAGES = 64

#: What a read gave -> the key and the read of the page after it (None: it was the last).
Follow = Callable[[Any], tuple[Hashable, Callable[[], Awaitable[Any]]] | None]
#: A page's key -> the key and the read of the page after it, when that is known before the
#: page is read (None: only reading it tells).
Guess = Callable[[Hashable], tuple[Hashable, Callable[[], Awaitable[Any]]] | None]


class _Entry:
    __slots__ = ("account", "depth", "expiry", "follow", "guess", "started", "task", "writes")

    def __init__(
        self,
        account: Account,
        task: asyncio.Task[Any],
        depth: int,
        follow: Follow | None,
        guess: Guess | None,
    ) -> None:
        self.account = account
        self.writes = account.writes
        self.started = time.monotonic()
        self.task = task
        self.expiry: asyncio.TimerHandle | None = None
        self.depth = depth  # pages ahead of the caller this one is, counting down from depth
        self.follow = follow
        self.guess = guess


class ReadAhead:
    """Pages read ahead of their request, by what the request will ask (see the module doc)."""

    def __init__(self, max_age: float, max_pages: int = MAX_PAGES, depth: int = 2) -> None:
        self.max_age = max_age
        self.max_pages = max_pages
        self.depth = depth
        self._entries: dict[Hashable, _Entry] = {}
        self.used = 0  # requests answered by a page read ahead (tests and metrics)

    def start(
        self,
        key: Hashable,
        account: Account,
        read: Callable[[], Awaitable[Any]],
        follow: Follow | None = None,
        guess: Guess | None = None,
        *,
        depth: int | None = None,
    ) -> None:
        """Read what ``key`` names now (``read()``), for the request that will ask for it; once
        read, ``follow`` names the page after it, read in turn while ``depth`` (the pages ahead
        of the caller, ``self.depth`` by default) allows; ``guess`` names it before (then it is
        read at once). A key already being read is not read again (its window moves on to
        ``depth`` instead), unless what it read can no longer be used."""
        depth = self.depth if depth is None else depth
        if self.max_age <= 0 or depth < 1:
            return
        entry = self._entries.get(key)
        if entry is not None and not self._usable(entry):  # overtaken by a write, or too old
            self._drop(key, entry)
            entry = None
        if entry is not None:
            if depth > entry.depth:  # the caller came nearer: this page may be followed further
                entry.depth = depth
                if entry.task.done():
                    self._follow(key, entry)
                else:
                    self._guess(key, entry)
            return
        if len(self._entries) >= self.max_pages:
            self._expire()
            if len(self._entries) >= self.max_pages:
                return
        task = asyncio.ensure_future(read())
        task.add_done_callback(_retrieve)
        entry = self._entries[key] = _Entry(account, task, depth, follow, guess)
        task.add_done_callback(lambda _: self._follow(key, entry))
        # Dropped once too old to be used: a page nobody asks for is not kept.
        entry.expiry = asyncio.get_running_loop().call_later(self.max_age, self._drop, key, entry)
        self._guess(key, entry)

    def _guess(self, key: Hashable, entry: _Entry) -> None:
        """Start reading the page after ``entry``'s before ``entry``'s has arrived, where its
        position is known (``guess``) and the depth allows."""
        if entry.depth <= 1 or entry.guess is None:
            return
        after = entry.guess(key)
        if after is not None:
            next_key, read = after
            self.start(next_key, entry.account, read, entry.follow, entry.guess,
                       depth=entry.depth - 1)  # fmt: skip

    def _follow(self, key: Hashable, entry: _Entry) -> None:
        """Start reading the page after ``entry``'s, if it is still waiting to be taken, was
        read, and is not yet as far ahead as the depth allows."""
        task = entry.task
        if self._entries.get(key) is not entry or entry.follow is None:
            return
        if task.cancelled() or task.exception() is not None or not self._usable(entry):
            return
        after = entry.follow(task.result())
        self._drop_contradicted(key, entry, after)
        if after is not None and entry.depth > 1:
            next_key, read = after
            self.start(next_key, entry.account, read, entry.follow, entry.guess,
                       depth=entry.depth - 1)  # fmt: skip

    def _drop_contradicted(
        self, key: Hashable, entry: _Entry, after: tuple[Hashable, Any] | None
    ) -> None:
        """Drop the page guessed to follow ``entry``'s when the page read says otherwise
        (``after``: what ``follow`` made of it; None: it was the last)."""
        guessed = entry.guess(key) if entry.guess is not None else None
        if guessed is not None and (after is None or guessed[0] != after[0]):
            wrong = self._entries.get(guessed[0])
            if wrong is not None:
                self._drop(guessed[0], wrong)

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
        if entry.follow is not None:  # taken before it was read: its guess not yet checked
            self._drop_contradicted(key, entry, entry.follow(found))
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
