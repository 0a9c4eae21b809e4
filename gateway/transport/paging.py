"""Reading a provider's pages with the next one already on its way.

``prefetched(fetch, first_cursor)`` yields pages in order and asks for page n+1 as soon as page n
has arrived, before the caller sees page n. While the caller converts or consumes a page, the
provider is already producing the next one, so listing costs about the provider's time rather
than the provider's time plus ours. At most two pages are held at once, so memory stays bounded
however long the list is. If the caller stops early, the request in flight is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Page", "prefetched"]

T = TypeVar("T")
C = TypeVar("C")


class Page(Generic[T, C]):
    """One page: its ``items`` and the cursor of the next page (``None`` at the end)."""

    __slots__ = ("items", "next")

    def __init__(self, items: list[T], next: C | None) -> None:
        self.items = items
        self.next = next


async def prefetched(fetch: Callable[[C], Awaitable[Page[T, C]]], first: C) -> AsyncIterator[T]:
    """Every item of every page, fetching one page ahead."""
    page = await fetch(first)
    ahead: asyncio.Future[Page[T, C]] | None = None
    try:
        while True:
            ahead = None
            if page.next is not None:
                ahead = asyncio.ensure_future(fetch(page.next))
                await asyncio.sleep(0)  # let it send its request before we go on
            for item in page.items:
                yield item
            if ahead is None:
                return
            page = await ahead
            ahead = None
    finally:
        # Only when the caller stopped early or a page failed: drop the request in flight.
        if ahead is not None:
            if ahead.done() and not ahead.cancelled():
                ahead.exception()  # retrieved, so asyncio does not log it as forgotten
            else:
                ahead.cancel()
