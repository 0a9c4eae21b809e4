"""Collapsed reads: shared only while unsent, never stale, failures and cancellation contained."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import Gateway
from gateway.collapse import SharedReads
from gateway.config import parse_config
from gateway.errors import NotFound
from gateway.model import WebhookChange, WebhookSpec
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
    shared: SharedReads[int], read: Callable[[], Awaitable[int]], n: int
) -> list[asyncio.Task[int]]:
    return [asyncio.create_task(shared.run("k", read)) for _ in range(n)]


@contextlib.asynccontextmanager
async def busy(shared: SharedReads[int]) -> AsyncIterator[None]:
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
    store, shared = Store(), SharedReads[int]()
    async with busy(shared) if under_way else contextlib.nullcontext():
        tasks = start(shared, store.read, 20)
        await store.sent.wait()
        store.gate.set()
        assert await asyncio.gather(*tasks) == [0] * 20
    assert store.reads == requests
    assert shared.shared == 20 - requests


async def test_a_read_alone_is_sent_without_waiting_a_turn_of_the_loop() -> None:
    shared = SharedReads[int]()
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
    store, shared = Store(), SharedReads[int]()
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
    store, shared = Store(), SharedReads[int]()
    store.gate.set()
    await asyncio.gather(shared.run("a", store.read), shared.run("b", store.read))
    assert store.reads == 2
    assert shared.shared == 0


async def test_a_failure_reaches_every_reader_from_one_request() -> None:
    shared = SharedReads[int]()
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
    store, shared = Store(), SharedReads[int]()

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
    store, shared = Store(), SharedReads[int]()
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
    store, shared = Store(), SharedReads[int]()
    async with busy(shared):
        opener, rider, other = start(shared, store.read, 3)
        await store.sent.wait()
        rider.cancel()
        await asyncio.sleep(0)
        store.gate.set()
        assert await opener == 0 and await other == 0
        assert rider.cancelled()
    assert store.reads == 1


async def test_account_get_through_the_uipath_emulator_shares_requests() -> None:
    """Real transport: 30 concurrent gets of one webhook, from idle, reach the emulator as two
    GETs (the first read's own, and the one the other 29 share)."""
    emulator = UiPathEmulator(personal_tokens={"pat": ["OR.Webhooks"]})
    gets: list[str] = []

    @web.middleware
    async def count(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method == "GET":
            gets.append(request.path)
        return await handler(request)

    app = emulator.app()
    app.middlewares.append(count)
    server = TestServer(app)
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    config = parse_config(
        {"accounts": {"u": {"provider": "uipath", "base_url": base, "token": "pat"}}}
    )
    try:
        async with Gateway(config) as gw:
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
    finally:
        await server.close()
