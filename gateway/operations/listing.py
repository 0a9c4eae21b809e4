"""Listing webhooks through the proxy: the query, signed cursors, one account's and all accounts'
pages.

A cursor carries the provider's own position (``Listing.page``): the next page starts where the
last one ended, so paging costs about what the provider's own paging costs, whatever the page's
number. ``GET /v1/webhooks`` carries one position per account that has more: each page asks the
accounts for shares of the page concurrently (an account that ends early hands its share to the
others in another round) and stops once it has the page, so it reads about ``limit`` webhooks,
one provider page per account at most.

Cursors are opaque: JSON (the query's fingerprint, the positions) and an HMAC-SHA256 of it,
base64url. One handed out for a query is refused for another, and a forged or altered one is a
400: an adapter only ever gets back positions it made. The key comes from the state store
(``store_meta``), so any replica reads a cursor another made; without a store it is this
process's own, and cursors do not outlive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any

import orjson

from gateway.codec import record_error_to_json, webhook_to_json
from gateway.errors import FieldProblem, GatewayError, InvalidRequest, ProviderError, kind_of
from gateway.model import ListFilter
from gateway.operations.held_pages import HeldPages
from gateway.operations.read_ahead import Follow, Guess, ReadAhead
from gateway.provider import ListPage
from gateway.service import Account, AccountInfo, Gateway, ListingPage
from gateway.transport.answers import UnreadableRecord

__all__ = [
    "DEFAULT_LIMIT",
    "FILTERS",
    "MAX_LIMIT",
    "Cursors",
    "ListQuery",
    "account_error",
    "all_accounts_page",
    "follow_pages",
    "one_account_page",
    "read_query",
]

FILTERS = ("enabled", "suspended", "event", "name", "url")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
#: The longest cursor read (a cursor of ``fanout`` accounts stays far below it).
MAX_CURSOR = 6000

#: ``(provider kind, account, call) -> its result``: how a provider call is measured.
Measure = Callable[[str, str, Awaitable[ListingPage]], Awaitable[ListingPage]]


class Cursors:
    """Makes and reads the signed cursors of list answers."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def use_key(self, secret: bytes) -> None:
        """Sign with a key derived from ``secret`` (the state store's, shared by replicas)."""
        self._key = hmac.new(secret, b"webhook-gateway list cursors", hashlib.sha256).digest()

    def make(self, query: str, state: Any) -> str:
        payload = orjson.dumps({"q": query, "s": state})
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        return f"{_b64(payload)}.{_b64(mac)}"

    def read(self, cursor: str, query: str) -> Any:
        """The state ``cursor`` carries; ``InvalidRequest`` at ``cursor`` when it is not one
        this gateway made, or was made for another query."""
        payload_text, dot, mac_text = cursor.partition(".")
        try:
            if not dot or len(cursor) > MAX_CURSOR:
                raise ValueError
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError):
            raise InvalidRequest.at("cursor", "is not a cursor this API handed out") from None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise InvalidRequest.at(
                "cursor", "is not a cursor this API handed out (altered, or made by another "
                "gateway); start from the first page"
            )  # fmt: skip
        data = orjson.loads(payload)
        if data["q"] != query:
            raise InvalidRequest.at("cursor", "belongs to another query; repeat the same filters")
        return data["s"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ListQuery:
    """A list request's ``filters``, ``limit`` and its ``fingerprint`` (what a cursor binds)."""

    __slots__ = ("cursor", "filters", "fingerprint", "limit")

    def __init__(self, filters: dict[str, Any], limit: int, cursor: str | None, scope: str):
        self.filters = filters
        self.limit = limit
        self.cursor = cursor
        text = orjson.dumps([scope, sorted(filters.items())])
        self.fingerprint = hashlib.sha256(text).hexdigest()[:16]


def read_query(query: Mapping[str, str], scope: str) -> ListQuery:
    """The ``ListQuery`` of a request's query; unknown parameters are errors. ``scope``: what
    else the cursor is bound to (the path, the accounts listed)."""
    unknown = sorted(set(query) - {*FILTERS, "limit", "cursor"})
    if unknown:
        raise InvalidRequest(
            problems=[FieldProblem(name, "unknown query parameter") for name in unknown]
        )
    filters: dict[str, Any] = {}
    for name in FILTERS:
        if name in query:
            value = query[name]
            filters[name] = _bool(value, name) if name in ("enabled", "suspended") else value
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise InvalidRequest.at("limit", f"must be an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest.at("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return ListQuery(filters, limit, query.get("cursor"), scope)


def _bool(value: str, name: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise InvalidRequest.at(name, "must be true or false")


async def one_account_page(
    gw: Gateway,
    account: str,
    q: ListQuery,
    cursors: Cursors,
    masked: bool,
    measure: Measure,
    ahead: ReadAhead | None = None,
    held: HeldPages | None = None,
) -> dict[str, Any]:
    """One page of one account's webhooks, as ``GET /v1/accounts/{account}/webhooks`` answers;
    ``ahead``: where pages followed by cursor are read ahead (``gateway.operations.read_ahead``);
    ``held``: where what a provider page left after it waits for the next page
    (``gateway.operations.held_pages``)."""
    position = None
    if q.cursor is not None:
        position = _position(cursors.read(q.cursor, q.fingerprint))
    unreadable: list[UnreadableRecord] = []
    read = _Reader(q, measure, held)
    page = await _page(gw.account(account), q, position, read, ahead, unreadable)
    return {
        "items": [webhook_to_json(w, mask_credentials=masked) for w in page.webhooks],
        "next_cursor": None if page.next is None else cursors.make(q.fingerprint, page.next),
        "errors": [record_error_to_json(r) for r in unreadable],
    }


async def _page(
    target: Account,
    q: ListQuery,
    position: str | None,
    read: _Reader,
    ahead: ReadAhead | None,
    unreadable: list[UnreadableRecord],
) -> ListingPage:
    """A page of ``target`` from ``position``: read ahead when a page followed by cursor was,
    else read now; a page followed by cursor that has a next one reads it ahead. The records
    that could not be read go to ``unreadable``."""
    found = None
    if ahead is not None and position is not None:
        found = await ahead.take((target.name, q.fingerprint, position, q.limit))
    if found is None:
        page = await read(target, position, unreadable)
    else:
        page, skipped = found
        unreadable += skipped
    if ahead is not None and position is not None:
        follow = _follower(target, q, read)
        after = follow((page, unreadable))
        if after is not None:
            key, reading = after
            ahead.start(key, target, reading, follow, _guesser(target, q, read))
    return page


def _follower(target: Account, q: ListQuery, read: _Reader) -> Follow:
    """What a read ahead of ``target``'s listing gave -> the key and the read of the page after
    it (``gateway.operations.read_ahead``)."""

    def follow(found: Any) -> tuple[Hashable, Callable[[], Awaitable[Any]]] | None:
        after = found[0].next  # (the page, its unreadable records)
        return None if after is None else _ahead(target, q, read, after)

    return follow


def _guesser(target: Account, q: ListQuery, read: _Reader) -> Guess | None:
    """A page's key -> the key and the read of the page after it, before the page is read:
    where the adapter knows the position ``limit`` records on (``Provider.position_after``) and
    no filter may make a page skip records (``gateway.operations.read_ahead``). Not where pages
    come from larger provider pages held (``held_pages``): the pages after one are in memory
    by the time it is read, and a guess would read them from the provider again."""
    if q.filters or read.held_size(target) is not None:
        return None
    provider, everything = target.provider, ListFilter()

    def guess(key: Hashable) -> tuple[Hashable, Callable[[], Awaitable[Any]]] | None:
        position = provider.position_after(everything, key[2], q.limit)  # type: ignore[index]
        return None if position is None else _ahead(target, q, read, position)

    return guess


def _ahead(
    target: Account, q: ListQuery, read: _Reader, position: str
) -> tuple[Hashable, Callable[[], Awaitable[tuple[ListingPage, list[UnreadableRecord]]]]]:
    """The read-ahead key of the page of ``target`` at ``position``, and its read."""

    async def reading() -> tuple[ListingPage, list[UnreadableRecord]]:
        skipped: list[UnreadableRecord] = []
        return await read(target, position, skipped), skipped

    return (target.name, q.fingerprint, position, q.limit), reading


class _Reader:
    """Reads a page of one account's listing for query ``q``: from what a provider page left
    (``held``) when there is some, else from the provider, at its largest page where that is
    held for the pages after."""

    __slots__ = ("held", "measure", "q")

    def __init__(self, q: ListQuery, measure: Measure, held: HeldPages | None) -> None:
        self.q, self.measure, self.held = q, measure, held

    def held_size(self, target: Account) -> int | None:
        return None if self.held is None else self.held.read_size(target, self.q.limit)

    async def __call__(
        self, target: Account, position: str | None, unreadable: list[UnreadableRecord]
    ) -> ListingPage:
        q, held = self.q, self.held
        if held is None:
            return await _read(target, q, position, q.limit, self.measure, unreadable)
        first = None if position is None else held.take((target.name, q.fingerprint, position),
                                                        target)  # fmt: skip
        writes, at = target.writes, time.monotonic()  # (before the read: see held_pages)
        # A first page is read at its own size (a caller that reads one page, ``?limit=1``,
        # costs the provider no more); a page asked for by cursor, at the provider's largest.
        size = None if position is None else self.held_size(target)
        page = await _read(target, q, position, q.limit, self.measure, unreadable,
                           read_size=size, first=first)  # fmt: skip
        if page.rest is not None and page.next is not None:
            held.keep((target.name, q.fingerprint, page.next), target, page.rest, writes, at)
        return page


async def _read(
    target: Account,
    q: ListQuery,
    position: str | None,
    size: int,
    measure: Measure,
    unreadable: list[UnreadableRecord],
    *,
    read_size: int | None = None,
    first: ListPage | None = None,
) -> ListingPage:
    """A page of ``size`` from ``position`` (``Listing.page``: ``read_size``, ``first``)."""
    listing = target.list(**q.filters)
    call = listing.page(position, size, read_size=read_size, first=first)
    try:
        return await measure(target.kind, target.name, call)
    finally:
        unreadable += listing.unreadable


def _position(state: Any) -> str:
    if not isinstance(state, str):
        raise InvalidRequest.at("cursor", "is not a cursor of one account's list")
    return state


async def all_accounts_page(
    gw: Gateway,
    q: ListQuery,
    cursors: Cursors,
    masked: bool,
    measure: Measure,
    concurrency: int,
    *,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One page of every account's webhooks, as ``GET /v1/webhooks`` answers.

    The accounts with more to give share the page (account order, then each provider's own
    order); they are read concurrently, at most ``concurrency`` at once. An account that fails
    is reported in ``errors`` and left out of the pages after (the error says the listing is
    incomplete); one whose catalog lacks the ``event`` filtered by has nothing that matches.
    ``only``: these accounts (the console's filters), else every one. Nothing is read ahead
    (``gateway.operations.read_ahead``): an account's share of the next page depends on what the
    others have left, so a share read ahead would often be the wrong size.
    """
    infos = [i for i in gw.accounts() if only is None or i.name in only]
    active: dict[str, str | None] = {info.name: None for info in infos}
    if q.cursor is not None:
        active = _positions(cursors.read(q.cursor, q.fingerprint), infos)
    by_name = {info.name: info for info in infos}
    taken: dict[str, list[dict[str, Any]]] = {name: [] for name in active}
    errors: list[dict[str, Any]] = []
    gate = asyncio.Semaphore(concurrency)
    need = q.limit

    async def read(name: str, share: int) -> ListingPage | GatewayError:
        unreadable: list[UnreadableRecord] = []
        try:
            async with gate:
                return await _read(gw.account(name), q, active[name], share, measure, unreadable)
        except InvalidRequest as exc:
            if "event" in q.filters and exc.status is None:
                return ListingPage([], None)  # not an event of its catalog: nothing matches
            return exc
        except GatewayError as exc:
            return exc
        finally:
            errors.extend(record_error_to_json(r) for r in unreadable)

    while need > 0 and active:
        names = list(active)
        shares = [need // len(names) + (i < need % len(names)) for i in range(len(names))]
        asked = [(name, share) for name, share in zip(names, shares, strict=True) if share]
        results = await asyncio.gather(*(read(name, share) for name, share in asked))
        ended = False
        for (name, _), result in zip(asked, results, strict=True):
            if isinstance(result, GatewayError):
                info = by_name[name]
                errors.append(account_error(info.name, info.provider, result))
                del active[name]
                ended = True
                continue
            taken[name] += [webhook_to_json(w, mask_credentials=masked) for w in result.webhooks]
            need -= len(result.webhooks)
            if result.next is None:
                del active[name]
                ended = True
            else:
                active[name] = result.next
        if not ended:
            break  # every account asked gave its whole share: the page is full
    items = [item for found in taken.values() for item in found]
    index = {name: i for i, name in enumerate(by_name)}
    state = [[index[name], position] for name, position in active.items()]
    return {
        "items": items,
        "next_cursor": cursors.make(q.fingerprint, state) if active else None,
        "errors": errors,
    }


def _positions(state: Any, infos: Sequence[AccountInfo]) -> dict[str, str | None]:
    """The per-account positions of an all-accounts cursor (``[[index, position], ...]``)."""
    names = [info.name for info in infos]
    try:
        found = {
            names[i]: p for i, p in state if type(i) is int and i >= 0 and isinstance(p, str | None)
        }
        if len(found) != len(state):
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise InvalidRequest.at("cursor", "is not a cursor of the list of all accounts") from None
    return dict(sorted(found.items(), key=lambda item: names.index(item[0])))


def account_error(account: str, provider: str, exc: GatewayError) -> dict[str, Any]:
    """What ``errors`` says of an account that could not be listed."""
    return {
        "account": account,
        "provider": provider,
        "status": kind_of(exc).status,
        "error": type(exc).__name__,
        "detail": exc.message,
        "provider_status": exc.status,
        "code": exc.code,
        "trace_id": exc.trace_id,
    }


def scope_of(account: str | None, names: Sequence[str]) -> str:
    """What a list cursor is bound to besides the filters: the account, or for the list of
    all accounts the names it covers in order (a cursor made before they changed is refused)."""
    if account is not None:
        return f"/v1/accounts/{account}/webhooks"
    return "/v1/webhooks\n" + "\n".join(names)


#: How far ``follow_pages`` follows a listing at most: a broken or hostile server whose cursors
#: never end must not page (and fill memory) forever.
FOLLOW_PAGES, FOLLOW_ITEMS, FOLLOW_SECONDS = 2000, 200_000, 600.0


async def follow_pages(
    fetch: Callable[[dict[str, str]], Awaitable[Mapping[str, Any]]], filters: Mapping[str, Any]
) -> dict[str, Any]:
    """Every page of a listing, followed by cursor to its end at the largest page size (what
    the command line prints, locally or through a gateway): ``fetch`` answers one page for a
    query. ``filters`` as the query writes them (booleans ``true``/``false``; None left out);
    an error is reported once however many pages repeat it."""
    query = {k: str(v).lower() if isinstance(v, bool) else str(v)
             for k, v in filters.items() if v is not None}  # fmt: skip
    items: list[Any] = []
    errors: list[Any] = []
    cursor: str | None = None
    seen: set[str] = set()
    give_up = time.monotonic() + FOLLOW_SECONDS
    for _ in range(FOLLOW_PAGES):
        more = {"cursor": cursor} if cursor else {}
        page = await fetch({**query, "limit": str(MAX_LIMIT), **more})
        found = page.get("items") if isinstance(page, Mapping) else None
        if not isinstance(found, list):
            raise ProviderError("a page of the listing has no list of items: stopped")
        items += found
        errors += [e for e in page.get("errors", []) if e not in errors]
        cursor = page.get("next_cursor")
        if not cursor:
            return {"items": items, "errors": errors, "next_cursor": None}
        if not isinstance(cursor, str) or cursor in seen:
            raise ProviderError("the listing's next cursor repeats an earlier one: stopped, "
                                "as it would never end")  # fmt: skip
        seen.add(cursor)
        if len(items) > FOLLOW_ITEMS or time.monotonic() > give_up:
            break
    raise ProviderError(
        f"the listing goes on past {FOLLOW_PAGES} pages, {FOLLOW_ITEMS} webhooks or "
        f"{FOLLOW_SECONDS:g} s: stopped (list one account, or filter, to read less)"
    )
