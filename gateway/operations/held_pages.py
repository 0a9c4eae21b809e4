"""Provider pages read whole and served as several of the proxy's smaller pages.

A caller paging through a listing at the API's default ``limit=100`` used to cost a provider
page of 100 per page: 50 requests for 5,000 webhooks, where UiPath serves 1,000 at once
(``$top``). A page asked for by cursor is now read from the provider at its largest page
(``Provider.largest_page``: the account's ``page_size``) and answers the caller's 100; the rest
of that provider page is held, under the key the next page's cursor names (the account, the
query's fingerprint and the position the cursor carries), for the request that follows the
cursor. A first page (no cursor) is still read at its own size, so a caller that reads one page
costs the provider no more. 5,000 webhooks then cost 6 provider pages: the first 100, then
1,000 at a time.

What a held page may be, as for a page read ahead (``gateway.operations.read_ahead``):

- **Fresh**: it answers only within ``max_age`` seconds of its read (``[server]
  list_read_ahead``, 2 by default), and is dropped then.
- **After the caller's writes**: a write through this process to the account since the read
  (``Account.writes``) makes it unusable.
- **Used once**: taking it removes it; what the page taken leaves is held anew under the next
  cursor's position.
- **Few**: at most ``MAX_HELD`` are held (a provider page each, 1,000 webhooks at most); the
  oldest goes first.

Per caller, nothing is kept: a held page holds the provider's records; what a caller may see
of them (grants, masked credentials) is decided when it is served, as for a page read now.

Hand-written: it is a few lines over a dict, bound to the gateway's own cursors.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Hashable

from gateway.provider import ListPage
from gateway.service import Account

__all__ = ["MAX_HELD", "HeldPages"]

#: The most provider pages held at once.
MAX_HELD = 8


class _Held:
    __slots__ = ("account", "at", "expiry", "page", "writes")

    def __init__(self, account: Account, page: ListPage, writes: int, at: float) -> None:
        self.account, self.page, self.writes, self.at = account, page, writes, at
        self.expiry: asyncio.TimerHandle | None = None


class HeldPages:
    """What provider pages left after the proxy's page, by the next page's key."""

    def __init__(self, max_age: float, max_held: int = MAX_HELD) -> None:
        self.max_age = max_age
        self.max_held = max_held
        self._held: OrderedDict[Hashable, _Held] = OrderedDict()
        self.used = 0  # pages answered from a held provider page (tests and metrics)

    def __len__(self) -> int:
        return len(self._held)

    def read_size(self, account: Account, limit: int) -> int | None:
        """How many records to ask the provider for, for a page of ``limit``: its largest
        page, when holding is on and that is larger; else None (``limit``)."""
        if self.max_age <= 0:
            return None
        largest = account.provider.largest_page
        return largest if largest > limit else None

    def take(self, key: Hashable, account: Account) -> ListPage | None:
        held = self._held.pop(key, None)
        if held is None:
            return None
        if held.expiry is not None:
            held.expiry.cancel()
        fresh = time.monotonic() - held.at <= self.max_age
        if not fresh or held.account is not account or held.account.writes != held.writes:
            return None
        self.used += 1
        return held.page

    def keep(self, key: Hashable, account: Account, page: ListPage, writes: int, at: float) -> None:
        """Hold ``page`` for ``key``: read from ``account`` when its ``writes`` and the clock
        (``time.monotonic``) said ``writes`` and ``at``, before the read was sent."""
        if self.max_age <= 0 or not page.records:
            return
        old = self._held.pop(key, None)
        if old is not None and old.expiry is not None:
            old.expiry.cancel()
        while len(self._held) >= self.max_held:
            _, dropped = self._held.popitem(last=False)
            if dropped.expiry is not None:
                dropped.expiry.cancel()
        held = self._held[key] = _Held(account, page, writes, at)
        left = self.max_age - (time.monotonic() - at)
        held.expiry = asyncio.get_running_loop().call_later(max(0.0, left), self._drop, key, held)

    def _drop(self, key: Hashable, held: _Held) -> None:
        if self._held.get(key) is held:
            del self._held[key]
