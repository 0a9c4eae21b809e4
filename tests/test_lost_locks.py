"""A store lock lost while it is held (its PostgreSQL connection dropped) is noticed before the
provider write it guards (503, nothing sent) and after it (no 200 for a write another replica
may have overwritten): gateway.store.held, gateway.store.pg_locks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from gateway.config import StateConfig, parse_config
from gateway.errors import LockLost, OutcomeUnknown, StateUnavailable
from gateway.model import WebhookChange, WebhookSpec
from gateway.service import Account, Gateway
from gateway.store import open_store
from gateway.store.held import confirm_held
from tests.conftest import UiPathHarness


async def drop_lock_connections(url: str) -> int:
    """End every session that holds an advisory lock (as a restart or a failover would)."""
    conn = await asyncpg.connect(url)
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
        ))  # fmt: skip
    finally:
        await conn.close()


async def test_a_lock_whose_connection_dropped_is_known_lost(postgres_url: str) -> None:
    store = open_store(StateConfig(url=postgres_url))
    await store.open()
    try:
        async with store.lock("uipath/orch/1", wait=5) as _:
            await confirm_held("the write")  # held: nothing raised
            assert await drop_lock_connections(postgres_url) == 1
            with pytest.raises(LockLost, match=r"uipath/orch/1 was lost .* the write was not"):
                await confirm_held("the write")
        # The next lock is taken on a new connection, and is held.
        async with store.lock("uipath/orch/1", wait=5):
            await confirm_held("the write")
    finally:
        await store.close()


@pytest.fixture
async def account(uipath: UiPathHarness, postgres_url: str) -> AsyncIterator[Account]:
    config = {"accounts": {"orch": uipath.account()}, "state": {"url": postgres_url}}
    async with Gateway(parse_config(config)) as gw:
        yield gw.account("orch")


async def made(account: Account) -> str:
    spec = WebhookSpec(name="w", url="https://hooks.example.com/w", events=["job.completed"])
    return (await account.create(spec)).id


async def test_an_update_whose_lock_is_lost_before_it_writes_sends_nothing(
    account: Account, uipath: UiPathHarness, postgres_url: str, monkeypatch: Any
) -> None:
    id = await made(account)
    read = account.provider.get

    async def read_then_lose(wid: str) -> Any:
        found = await read(wid)
        await drop_lock_connections(postgres_url)  # the lock goes while the update reads
        return found

    monkeypatch.setattr(account.provider, "get", read_then_lose)
    with pytest.raises(StateUnavailable, match="was lost") as lost:
        await account.update(id, WebhookChange(add_events=["job.started"]))
    assert isinstance(lost.value, LockLost)
    stored = uipath.emulator.webhooks[int(id)]
    assert [e["EventType"] for e in stored["Events"]] == ["job.completed"]  # nothing sent


async def test_an_update_whose_lock_is_lost_while_it_writes_is_not_a_success(
    account: Account, uipath: UiPathHarness, postgres_url: str, monkeypatch: Any
) -> None:
    id = await made(account)
    write = account.provider.update

    async def lose_then_write(*args: Any) -> Any:
        await drop_lock_connections(postgres_url)  # after the check that the lock is held
        return await write(*args)

    monkeypatch.setattr(account.provider, "update", lose_then_write)
    with pytest.raises(OutcomeUnknown, match=r"was lost while it ran.* it shows the change"):
        await account.update(id, WebhookChange(add_events=["job.started"]))
