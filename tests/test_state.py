"""The proxy with a state store (a SQLite file): Idempotency-Key, ETag/If-Match and the audit
log, against the UiPath emulator; and what the proxy says without a store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.errors import NotFound, StateUnavailable
from gateway.origin import acting_as
from gateway.proxy.server import create_app
from gateway.store import AuditQuery
from gateway.store.audit import Auditor
from tests.conftest import EnterpriseCoreHarness, UiPathHarness

KEY = "write-key-Gz6Ny3Kt8Qv"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "whsec-very-secret-value-42"
SPEC = {"name": "jobs", "url": "https://hooks.example.com/jobs", "events": ["job.completed"],
        "secret": SECRET}  # fmt: skip


def proxy_config(uipath: UiPathHarness, state: Path | None) -> Any:
    data: dict[str, Any] = {
        "accounts": {"orch": uipath.account()},
        "server": {
            "api_keys": [{"name": "deploy", "scope": "write", "key": KEY}],
            "destinations": {"allow_unresolvable": True},
        },
    }
    if state is not None:
        data["state"] = {"url": f"sqlite:///{state}"}
    return parse_config(data)


@pytest.fixture
async def client(
    aiohttp_client: Any, uipath: UiPathHarness, tmp_path: Path
) -> TestClient[Any, Any]:
    made: TestClient[Any, Any] = await aiohttp_client(
        create_app(proxy_config(uipath, tmp_path / "state.db"))
    )
    return made


async def test_a_retried_create_with_one_key_creates_once(
    client: TestClient[Any, Any], uipath: UiPathHarness
) -> None:
    headers = {**AUTH, "Idempotency-Key": "create-jobs-1"}
    first = await client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=headers)
    assert first.status == 201, await first.text()
    reordered = dict(reversed(SPEC.items()))  # the same JSON in another order
    again = await asyncio.gather(*(
        client.post("/v1/accounts/orch/webhooks", json=reordered, headers=headers)
        for _ in range(5)
    ))  # fmt: skip
    for resp in again:
        assert resp.status == 201 and resp.headers["Idempotent-Replayed"] == "true"
        assert resp.headers["Location"] == first.headers["Location"]
        assert await resp.read() == await first.read()
    assert len(uipath.emulator.webhooks) == 1
    other = await client.post(
        "/v1/accounts/orch/webhooks", json={**SPEC, "name": "other"}, headers=headers
    )
    assert other.status == 422 and "different request" in (await other.json())["detail"]
    assert len(uipath.emulator.webhooks) == 1


async def test_concurrent_first_requests_with_one_key_run_once(
    client: TestClient[Any, Any], uipath: UiPathHarness
) -> None:
    headers = {**AUTH, "Idempotency-Key": "race"}
    answers = await asyncio.gather(*(
        client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=headers) for _ in range(8)
    ))  # fmt: skip
    statuses = sorted(r.status for r in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert all("Retry-After" in r.headers for r in answers if r.status == 409)
    assert len(uipath.emulator.webhooks) == 1


async def test_a_refused_answer_is_replayed_and_a_rate_limit_is_not_kept(
    client: TestClient[Any, Any], uipath: UiPathHarness
) -> None:
    headers = {**AUTH, "Idempotency-Key": "bad"}
    bad = {**SPEC, "events": ["no.such.event"]}
    first = await client.post("/v1/accounts/orch/webhooks", json=bad, headers=headers)
    second = await client.post("/v1/accounts/orch/webhooks", json=bad, headers=headers)
    assert first.status == second.status == 400
    assert "Idempotent-Replayed" in second.headers


async def test_idempotency_keys_are_checked_and_scoped_per_route(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.post(
        "/v1/accounts/orch/webhooks", json=SPEC, headers={**AUTH, "Idempotency-Key": "x" * 300}
    )
    assert resp.status == 400 and "1 to 255" in (await resp.json())["detail"]


async def test_etags_make_conditional_writes(
    client: TestClient[Any, Any], uipath: UiPathHarness
) -> None:
    made = await client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=AUTH)
    where, etag = made.headers["Location"], made.headers["ETag"]
    got = await client.get(where, headers=AUTH)
    assert got.headers["ETag"] == etag
    cached = await client.get(where, headers={**AUTH, "If-None-Match": etag})
    assert cached.status == 304
    changed = await client.patch(
        where, json={"name": "renamed"}, headers={**AUTH, "If-Match": etag}
    )
    assert changed.status == 200 and changed.headers["ETag"] != etag
    stale = await client.patch(where, json={"name": "lost"}, headers={**AUTH, "If-Match": etag})
    problem = await stale.json()
    assert stale.status == 412 and problem["current_etag"] == changed.headers["ETag"]
    assert stale.headers["ETag"] == changed.headers["ETag"]
    # an outside writer changes it too: the next stale write is refused as well
    record = next(iter(uipath.emulator.webhooks.values()))
    record["Description"] = "edited in Orchestrator"
    refused = await client.delete(where, headers={**AUTH, "If-Match": changed.headers["ETag"]})
    assert refused.status == 412
    current = (await client.get(where, headers=AUTH)).headers["ETag"]
    # an unquoted tag is a mistake of the caller's (400, saying so), not a change (412)
    unquoted = await client.delete(where, headers={**AUTH, "If-Match": current.strip('"')})
    problem = await unquoted.json()
    assert unquoted.status == 400 and "quote it" in problem["errors"][0]["message"]
    assert problem["errors"][0]["path"] == "If-Match"
    assert (await client.delete(where, headers={**AUTH, "If-Match": current})).status == 204


async def test_every_write_is_audited_without_secrets(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    made = await (await client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=AUTH)).json()
    where = f"/v1/accounts/orch/webhooks/{made['id']}"
    await client.patch(where, json={"secret": SECRET + "-2", "add_events": ["job.faulted"]},
                       headers={**AUTH, "X-Request-Id": "req-patch-1"})  # fmt: skip
    await client.patch(where, json={"add_events": ["no.such"]}, headers=AUTH)  # refused: audited
    await client.delete(where, headers=AUTH)
    page = await (await client.get("/v1/audit?account=orch&limit=2", headers=AUTH)).json()
    assert [e["operation"] for e in page["items"]] == ["delete", "update"]
    rest = await (
        await client.get(f"/v1/audit?account=orch&cursor={page['next_cursor']}", headers=AUTH)
    ).json()
    entries = page["items"] + rest["items"]
    assert [e["operation"] for e in entries] == ["delete", "update", "update", "create"]
    assert [e["outcome"] for e in entries] == ["ok", "InvalidRequest", "ok", "ok"]
    assert {e["actor"] for e in entries} == {"key:deploy"}
    assert {e["webhook_id"] for e in entries} == {made["id"]}
    patch = entries[2]
    assert patch["request_id"] == "req-patch-1" and patch["duration_ms"] > 0
    assert patch["change"]["secret"]["changed"] is True
    assert patch["change"]["add_events"] == ["job.faulted"]
    assert entries[3]["change"]["secret"]["fingerprint"] != patch["change"]["secret"]["fingerprint"]
    for dump_line in sqlite3.connect(tmp_path / "state.db").iterdump():
        assert SECRET not in dump_line


async def test_without_a_store_idempotency_and_audit_say_what_is_missing(
    aiohttp_client: Any, uipath: UiPathHarness
) -> None:
    client = await aiohttp_client(create_app(proxy_config(uipath, None)))
    resp = await client.post(
        "/v1/accounts/orch/webhooks", json=SPEC, headers={**AUTH, "Idempotency-Key": "k"}
    )
    assert resp.status == 501 and "[state]" in (await resp.json())["detail"]
    assert (await client.get("/v1/audit", headers=AUTH)).status == 501
    made = await client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=AUTH)
    assert made.status == 201 and "ETag" in made.headers  # ETags need no store


async def test_a_write_whose_audit_entry_fails_still_answers_and_is_counted(
    client: TestClient[Any, Any], tmp_path: Path
) -> None:
    def drop() -> None:  # in a thread: the store works on while this waits for its lock
        with sqlite3.connect(tmp_path / "state.db") as db:
            db.execute("DROP TABLE audit")  # every audit insert now fails

    await asyncio.to_thread(drop)
    made = await client.post("/v1/accounts/orch/webhooks", json=SPEC, headers=AUTH)
    assert made.status == 201
    metrics = await (await client.get("/metrics", headers=AUTH)).text()
    assert "gateway_audit_failures_total 1.0" in metrics


async def test_library_writes_and_provider_extras_are_audited(
    enterprise_core: EnterpriseCoreHarness, tmp_path: Path
) -> None:
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
    })  # fmt: skip
    async with Gateway(config) as gw:
        account = gw.account("core")
        with pytest.raises(NotFound):
            await account.ex_delete_diverted("01HZYWEBHOOK", "01J0AEVENT")
        with acting_as("release-bot"), pytest.raises(NotFound):
            await account.delete("01HZYOTHER")
        assert gw.store is not None
        entries = await gw.store.audit(AuditQuery())
    assert [(e.operation, e.outcome, e.webhook_id) for e in entries] == [
        ("delete", "NotFound", "01HZYOTHER"),
        ("delete_diverted", "NotFound", "01HZYWEBHOOK"),
    ]
    assert entries[0].actor == "release-bot" and entries[1].actor.startswith("library:")
    assert entries[1].change == {"arguments": ["01J0AEVENT"]}


@pytest.mark.parametrize("mode", ["required", "best-effort"])
async def test_no_write_goes_unaudited_unless_asked(
    uipath: UiPathHarness, tmp_path: Path, mode: str
) -> None:
    """With [state] and the store unreachable, a write is refused (503) before the provider
    hears of it; ``audit = "best-effort"`` writes anyway, logged and counted."""
    state = {"url": f"sqlite:///{tmp_path}/state.db", "audit": mode}
    config = parse_config({"accounts": {"orch": uipath.account()}, "state": state})
    async with Gateway(config) as gw:
        orch = gw.account("orch")
        await orch.create(WebhookSpec(name="first", url="https://hooks.example.com/1",
                                      events={"job.completed"}))  # fmt: skip
        assert gw.store is not None and gw.auditor is not None
        await gw.store.close()  # the store is gone
        await asyncio.sleep(Auditor.FRESH)
        writes = uipath.emulator.writes
        spec = WebhookSpec(name="second", url="https://hooks.example.com/2",
                           events={"job.completed"})  # fmt: skip
        if mode == "required":
            with pytest.raises(StateUnavailable, match="cannot audit this write"):
                await orch.create(spec)
            assert uipath.emulator.writes == writes  # nothing was sent
            assert gw.auditor.unaudited == 0
        else:
            await orch.create(spec)
            assert uipath.emulator.writes == writes + 1 and gw.auditor.unaudited == 1
