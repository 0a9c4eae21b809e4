"""Several proxy processes sharing one PostgreSQL store, in front of one UiPath emulator: no
lost update across replicas, one create per Idempotency-Key from any replica, and an audit log
that holds every replica's writes and no secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bench.common import gateway_process
from providers.uipath.emulator import CATALOG
from tests.conftest import UiPathHarness

KEY = "replica-write-key-Gz6Ny3Kt8Qv"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "whsec-replicated-secret-77"


def config_text(uipath: UiPathHarness, state_url: str) -> str:
    return f"""
[accounts.orch]
provider = "uipath"
base_url = "{uipath.base_url}"
token = "pat-s3cret"

[server]
port = 0
[server.destinations]
allow_unresolvable = true
[[server.api_keys]]
name = "deploy"
scope = "write"
key = "{KEY}"

[state]
url = "{state_url}"
"""


def replica(config: Path) -> AbstractAsyncContextManager[str]:
    """A ``webhook-gateway serve`` process of its own; its URL once it listens."""
    return gateway_process(str(config))


@pytest.fixture
async def replicas(
    uipath: UiPathHarness, postgres_url: str, tmp_path: Path
) -> AsyncIterator[list[str]]:
    config = tmp_path / "gateway.toml"
    config.write_text(config_text(uipath, postgres_url))
    async with replica(config) as one, replica(config) as two, replica(config) as three:
        yield [one, two, three]


async def test_no_update_is_lost_across_replicas(
    replicas: list[str], uipath: UiPathHarness
) -> None:
    """140 concurrent add/remove-event PATCHes, alternating over the replicas, in seven rounds
    (add 20, remove 20, ...): after each round the webhook holds exactly what it should."""
    events = [e["Name"] for e in CATALOG if e["Name"] != "job.completed"][:20]
    async with aiohttp.ClientSession(headers=AUTH) as http:
        made = await http.post(
            f"{replicas[0]}/v1/accounts/orch/webhooks",
            json={"name": "r", "url": "https://hooks.example.com/r", "events": ["job.completed"]},
        )
        path = f"/v1/accounts/orch/webhooks/{(await made.json())['id']}"
        patches = 0
        for round_ in range(7):
            op = "add_events" if round_ % 2 == 0 else "remove_events"
            answers = await asyncio.gather(*(
                http.patch(f"{replicas[i % len(replicas)]}{path}", json={op: [event]})
                for i, event in enumerate(events)
            ))  # fmt: skip
            assert [a.status for a in answers] == [200] * len(events)
            patches += len(answers)
            got = set((await (await http.get(f"{replicas[1]}{path}")).json())["events"])
            expected = {"job.completed"} | (set(events) if op == "add_events" else set())
            assert {e.lower() for e in got} == {e.lower() for e in expected}, f"round {round_}"
    assert patches == 140


async def test_a_retry_on_another_replica_replays_the_first_create(
    replicas: list[str], uipath: UiPathHarness, postgres_url: str
) -> None:
    spec = {"name": "once", "url": "https://hooks.example.com/o", "events": ["job.completed"],
            "secret": SECRET}  # fmt: skip
    headers = {"Idempotency-Key": "deploy-42"}
    async with aiohttp.ClientSession(headers=AUTH) as http:
        first = await http.post(f"{replicas[0]}/v1/accounts/orch/webhooks", json=spec,
                                headers=headers)  # fmt: skip
        body = await first.read()
        for url in replicas[1:]:
            again = await http.post(f"{url}/v1/accounts/orch/webhooks", json=spec, headers=headers)
            assert again.status == 201 and await again.read() == body
            assert again.headers["Idempotent-Replayed"] == "true"
        where = first.headers["Location"]
        etag = first.headers["ETag"]
        renamed = await http.patch(f"{replicas[1]}{where}", json={"name": "twice"},
                                   headers={"If-Match": etag})  # fmt: skip
        assert renamed.status == 200
        stale = await http.patch(f"{replicas[2]}{where}", json={"name": "thrice"},
                                 headers={"If-Match": etag})  # fmt: skip
        assert stale.status == 412
        audit = await (await http.get(f"{replicas[2]}/v1/audit?account=orch")).json()
    assert len(uipath.emulator.webhooks) == 1
    assert [e["operation"] for e in audit["items"]] == ["update", "update", "create"]
    assert [e["outcome"] for e in audit["items"]] == ["PreconditionFailed", "ok", "ok"]
    conn = await asyncpg.connect(postgres_url)
    try:
        for table in ("audit", "idempotency", "store_meta"):
            rows = await conn.fetch(f"SELECT * FROM {table}")  # noqa: S608 - our own names
            assert SECRET not in repr([dict(r) for r in rows])
    finally:
        await conn.close()
