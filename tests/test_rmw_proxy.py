"""The write-path floor (bench/rmw_proxy.py) and its options do what bench/write_floor_parts.py
says they add: a row of audit a write (SQLite, PostgreSQL), the caller's key checked, a line of
access log a request; and the change itself lands at the emulator."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from bench import rmw_proxy
from tests.conftest import UiPathHarness

TOKEN = "pat-s3cret"
KEY = "floor-key-Xc5Wd9Fm2Lr"


async def _patch(client: TestClient[Any, Any], id: str, body: dict[str, Any], key: str) -> Any:
    async with client.patch(f"/v1/accounts/orch/webhooks/{id}", json=body,
                            headers={"Authorization": f"Bearer {key}"}) as answer:  # fmt: skip
        return answer.status, (await answer.json() if answer.status == 200 else None)


async def test_the_floor_with_audit_key_and_log_writes_each(
    uipath: UiPathHarness, tmp_path: Path
) -> None:
    id = str(uipath.emulator.add(Name="floor-hook")["Id"])
    audit, log = tmp_path / "audit.db", tmp_path / "access.log"
    app = rmw_proxy.app(uipath.base_url, TOKEN, audit=f"sqlite:///{audit}", key=KEY,
                        access_log=str(log))  # fmt: skip
    async with TestClient(TestServer(app)) as client:
        assert await _patch(client, id, {"add_events": ["job.stopped"]}, "wrong-key") == (401, None)
        status, record = await _patch(client, id, {"add_events": ["job.stopped"]}, KEY)
    assert status == 200
    assert {e["EventType"] for e in record["Events"]} >= {"job.stopped"}
    assert {e["EventType"] for e in uipath.emulator.webhooks[int(id)]["Events"]} >= {"job.stopped"}
    db = sqlite3.connect(audit)
    rows = db.execute("SELECT webhook_id, operation, change FROM audit").fetchall()
    db.close()
    assert rows == [(id, "update", '{"add_events": ["job.stopped"]}')]
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == [200]


async def test_the_floor_with_postgresql_locks_and_audits_each_write(
    uipath: UiPathHarness, postgres_url: str
) -> None:
    id = str(uipath.emulator.add(Name="floor-hook")["Id"])
    app = rmw_proxy.app(uipath.base_url, TOKEN, audit=postgres_url)
    async with TestClient(TestServer(app)) as client:
        status, _ = await _patch(client, id, {"remove_events": ["job.completed"]}, KEY)
    assert status == 200
    connection = await asyncpg.connect(postgres_url)
    try:
        rows = await connection.fetch("SELECT webhook_id, operation FROM audit")
        held = await connection.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        )
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [(id, "update")]
    assert held == 0  # the lock went with the audit row
