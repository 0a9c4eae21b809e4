"""Collapsed reads: shared only while unsent, never stale, failures and cancellation contained."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from gateway import Gateway
from gateway.config import parse_config
from gateway.errors import NotFound
from gateway.model import WebhookChange, WebhookSpec
from gateway.transport.collapse import SharedReads
from providers.uipath.emulator import UiPathEmulator


class Store:
    """A value behind a slow read: each read is recorded and waits until ``release``."""

    def __init__(self) -> None:
        self.value = 0
        self.reads = 0
        self.sent = asyncio.Event()
        self.gate = asyncio.Event()

    async def read(self) -> int:
        self.reads += 1
        seen = self.value  # what the provider has when the request reaches it
        self.sent.set()
        await self.gate.wait()
        return seen


def start(
    shared: SharedReads[str, int], read: Callable[[], Awaitable[int]], n: int
) -> list[asyncio.Task[int]]:
    return [asyncio.create_task(shared.run("k", read)) for _ in range(n)]


@contextlib.asynccontextmanager
async def busy(shared: SharedReads[str, int]) -> AsyncIterator[None]:
    """Another read under way meanwhile, as under load: then every read of a burst boards."""
    release = asyncio.Event()

    async def other() -> int:
        await release.wait()
        return -1

    task = asyncio.create_task(shared.run("other", other))
    await asyncio.sleep(0)
    try:
        yield
    finally:
        release.set()
        await task


@pytest.mark.parametrize(
    ("under_way", "requests"),
    [
        (True, 1),  # as under load: all 20 board one request
        (False, 2),  # from idle: the first goes at once, the 19 others share one
    ],
)
async def test_reads_that_start_together_share_a_request(under_way: bool, requests: int) -> None:
    store, shared = Store(), SharedReads[str, int]()
    async with busy(shared) if under_way else contextlib.nullcontext():
        tasks = start(shared, store.read, 20)
        await store.sent.wait()
        store.gate.set()
        assert await asyncio.gather(*tasks) == [0] * 20
    assert store.reads == requests
    assert shared.shared == 20 - requests


async def test_a_read_alone_is_sent_without_waiting_a_turn_of_the_loop() -> None:
    shared = SharedReads[str, int]()
    turned = False

    def turn() -> None:
        nonlocal turned
        turned = True

    async def read() -> int:
        return 0 if turned else 1

    asyncio.get_running_loop().call_soon(turn)
    assert await shared.run("k", read) == 1  # read before the loop came round
    assert turned is False


async def test_a_read_never_joins_a_request_already_sent() -> None:
    """The read-your-writes guarantee: a read that starts after a write sees the write."""
    store, shared = Store(), SharedReads[str, int]()
    async with busy(shared):
        early = start(shared, store.read, 3)
        await store.sent.wait()  # the shared request is on its way: it saw value 0
        store.value = 1  # a write completes
        late = start(shared, store.read, 3)  # these must not get the earlier read's answer
        await asyncio.sleep(0.01)
        store.gate.set()
        assert await asyncio.gather(*early) == [0, 0, 0]
        assert await asyncio.gather(*late) == [1, 1, 1]
    assert store.reads == 2


async def test_different_keys_do_not_share() -> None:
    store, shared = Store(), SharedReads[str, int]()
    store.gate.set()
    await asyncio.gather(shared.run("a", store.read), shared.run("b", store.read))
    assert store.reads == 2
    assert shared.shared == 0


async def test_a_failure_reaches_every_reader_from_one_request() -> None:
    shared = SharedReads[str, int]()
    calls = 0

    async def missing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise NotFound("webhook 7 not found")

    async with busy(shared):
        results = await asyncio.gather(*start(shared, missing, 5), return_exceptions=True)
    assert calls == 1
    assert all(isinstance(r, NotFound) for r in results)


async def test_a_failure_nobody_is_left_to_read_is_not_reported_as_unretrieved() -> None:
    """The only rider was cancelled before the shared request failed."""
    reported: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
    store, shared = Store(), SharedReads[str, int]()

    async def failing() -> int:
        await store.read()
        raise NotFound("webhook 7 not found")

    async with busy(shared):
        opener, rider = start(shared, failing, 2)
        await store.sent.wait()
        rider.cancel()
        await asyncio.sleep(0)
        store.gate.set()
        with pytest.raises(NotFound):
            await opener
        assert shared.shared == 1
    del opener, rider
    gc.collect()
    assert reported == []


async def test_a_cancelled_opener_does_not_cancel_the_others() -> None:
    store, shared = Store(), SharedReads[str, int]()
    async with busy(shared):
        opener, *riders = start(shared, store.read, 4)
        await store.sent.wait()
        opener.cancel()
        await asyncio.sleep(0)
        store.gate.set()
        assert await asyncio.gather(*riders) == [0, 0, 0]  # each read again for itself
        assert opener.cancelled()
    assert store.reads == 4


async def test_a_cancelled_rider_leaves_the_others_alone() -> None:
    store, shared = Store(), SharedReads[str, int]()
    async with busy(shared):
        opener, rider, other = start(shared, store.read, 3)
        await store.sent.wait()
        rider.cancel()
        await asyncio.sleep(0)
        store.gate.set()
        assert await opener == 0 and await other == 0
        assert rider.cancelled()
    assert store.reads == 1


async def test_without_batches_interleaved_keys_still_share_per_key() -> None:
    """A provider without ``read_many``: reads of two webhooks, interleaved in one turn, make
    one request per webhook."""
    reads: list[str] = []
    gate = asyncio.Event()

    def reader(key: str) -> Callable[[], Awaitable[int]]:
        async def read() -> int:
            reads.append(key)
            await gate.wait()
            return len(key)

        return read

    shared = SharedReads[str, int]()
    async with busy(shared):
        keys = ["a", "bb", "a", "bb", "a"]
        tasks = [asyncio.create_task(shared.run(k, reader(k))) for k in keys]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gate.set()
        assert await asyncio.gather(*tasks) == [1, 2, 1, 2, 1]
    assert sorted(reads) == ["a", "bb"]


async def test_batch_members_are_answered_each_and_a_cancelled_one_alone() -> None:
    """Reads of different keys in one departure: one ``read_many``; each gets its own result
    or error; cancelling one leaves the others' answers alone."""
    asked: list[list[str]] = []
    gate = asyncio.Event()

    async def read_many(keys: Any) -> dict[str, int | BaseException]:
        asked.append(list(keys))
        await gate.wait()
        return {k: NotFound(f"no {k}") if k == "gone" else len(k) for k in keys}

    async def alone() -> int:
        raise AssertionError("a batch member read on its own")

    shared = SharedReads[str, int](read_many, 8)
    async with busy(shared):
        keys = ["a", "bb", "gone", "cccc", "ddddd"]
        tasks = [asyncio.create_task(shared.run(k, alone)) for k in keys]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        tasks[3].cancel()
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert asked == [keys]
    assert results[:2] == [1, 2] and results[4] == 5
    assert isinstance(results[2], NotFound)
    assert isinstance(results[3], asyncio.CancelledError)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def counted_uipath(
    refuse_key_filters: bool = False, **settings: Any
) -> AsyncIterator[tuple[Gateway, UiPathEmulator, list[str]]]:
    """A gateway in front of a UiPath emulator that records each GET (path and query); with
    ``refuse_key_filters``, the emulator answers a filter on Id as a tenant that refuses it."""
    emulator = UiPathEmulator(personal_tokens={"pat": ["OR.Webhooks"]})
    gets: list[str] = []

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET":
            gets.append(request.path_qs)
            if refuse_key_filters and "Id eq" in request.query.get("$filter", ""):
                body = {"message": "The query specified in the URI is not valid.",
                        "errorCode": 1000, "traceId": "t"}  # fmt: skip
                return web.json_response(body, status=400)
        return await handler(request)

    app = emulator.app()
    app.middlewares.append(count)
    server = TestServer(app)
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    account = {"provider": "uipath", "base_url": base, "token": "pat", **settings}
    try:
        async with Gateway(parse_config({"accounts": {"u": account}})) as gw:
            yield gw, emulator, gets
    finally:
        await server.close()


async def test_account_get_through_the_uipath_emulator_shares_requests() -> None:
    """Real transport: 30 concurrent gets of one webhook, from idle, reach the emulator as two
    GETs (the first read's own, and the one the other 29 share)."""
    async with counted_uipath() as (gw, _, gets):
        acct = gw.account("u")
        made = await acct.create(
            WebhookSpec(name="n", url="https://h.example", events={"job.completed"})
        )
        gets.clear()
        found = await asyncio.gather(*(acct.get(made.id) for _ in range(30)))
        assert found == [made] * 30
        assert gets == [f"/odata/Webhooks({made.id})"] * 2
        assert acct.shared_reads == 28

        # a read after a write sees it, whatever was in flight before
        updated = await acct.update(made.id, WebhookChange(enabled=False))
        assert (await acct.get(made.id)) == updated

        with pytest.raises(NotFound):
            await asyncio.gather(*(acct.get("999") for _ in range(5)))


async def test_concurrent_gets_of_different_webhooks_go_as_one_batch() -> None:
    """Real transport: 40 concurrent gets of 40 webhooks (and of one that does not exist) reach
    the emulator as the first read's own GET and batches of at most ``batch_reads`` ids, each
    caller getting exactly what a GET of its own returns."""
    async with counted_uipath(batch_reads=16) as (gw, emulator, gets):
        acct = gw.account("u")
        for i in range(40):
            emulator.add(Name=f"w{i}", Url=f"https://h.example/{i}", Enabled=i % 2 == 0)
        alone = [await acct.get(str(i)) for i in range(1, 41)]
        gets.clear()
        ids = [str(i) for i in range(1, 41)] + ["999"]
        found = await asyncio.gather(*(acct.get(i) for i in ids), return_exceptions=True)
        assert found[:40] == alone
        assert isinstance(found[40], NotFound) and found[40].provider == "uipath"
        assert gets[0] == "/odata/Webhooks(1)"  # from idle: the first read is sent at once
        batches = [URL(g).query["$filter"].split(" or ") for g in gets[1:]]
        assert [len(b) for b in batches] == [16, 16, 8]  # 40 ids after the first one
        assert all(
            URL(g).query["$top"] == str(len(b)) for g, b in zip(gets[1:], batches, strict=True)
        )
        assert acct.shared_reads == 37  # 40 reads shared three requests


async def test_concurrent_updates_read_their_webhooks_in_batches() -> None:
    """Each update reads its webhook under its lock (to add an event to UiPath's collection);
    20 concurrent updates of 20 webhooks read them in a few batches, and none is lost."""
    async with counted_uipath() as (gw, emulator, gets):
        acct = gw.account("u")
        for i in range(20):
            emulator.add(Name=f"w{i}", Url=f"https://h.example/{i}",
                         Events=[{"EventType": "job.started"}])  # fmt: skip
        await acct.event_types()  # the catalog, which each update checks its events against
        gets.clear()
        change = WebhookChange(add_events={"job.completed"})
        await asyncio.gather(*(acct.update(str(i), change) for i in range(1, 21)))
        assert len(gets) <= 3  # the first read alone, then batches
        for record in emulator.webhooks.values():
            assert {e["EventType"] for e in record["Events"]} == {"job.started", "job.completed"}


async def test_a_tenant_refusing_the_batch_filter_is_read_one_by_one() -> None:
    async with counted_uipath(refuse_key_filters=True) as (gw, emulator, gets):
        acct = gw.account("u")
        for i in range(5):
            emulator.add(Name=f"w{i}", Url=f"https://h.example/{i}")
        found = await asyncio.gather(*(acct.get(str(i)) for i in range(1, 6)))
        assert [w.name for w in found] == [f"w{i}" for i in range(5)]
        refused = [g for g in gets if "filter" in g]
        assert len(refused) == 1  # tried once, then off for this account
        gets.clear()
        await asyncio.gather(*(acct.get(str(i)) for i in range(1, 6)))
        assert all("filter" not in g for g in gets) and len(gets) == 5
