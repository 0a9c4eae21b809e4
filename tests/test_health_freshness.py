"""Health you can trust at a glance (issue 41, point 1): the demo watches; each state says when
it was seen (RFC 3339 in JSON, "N min ago" in the console and the table) and is marked stale
after two intervals; the gateway's own writes refresh the written webhook at once; and the
overview, the health page, the CLI and /metrics count the same."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import Gateway, WebhookSpec
from gateway.cli import main
from gateway.config import load_config, parse_config
from gateway.health.fresh import ago, stale_after
from gateway.health.watch import watch_once
from gateway.operations import Operations, PlanRequest, Principal
from gateway.proxy.demo import WATCH_INTERVAL, demo
from gateway.store import Health
from tests.conftest import EnterpriseCoreHarness, Receiver, create_command, memory_state_config
from tests.test_console import login

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _gauges(text: str, name: str) -> dict[tuple[str, ...], float]:
    found = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match:
            labels = tuple(re.findall(r'="([^"]*)"', match[1]))
            found[labels] = float(match[2])
    return found


async def test_the_demo_watches_and_an_own_write_shows_at_once_everywhere() -> None:
    async with demo() as running, aiohttp.ClientSession() as http:
        bearer = {"Authorization": f"Bearer {running.write_key}"}
        assert running.config.watch is not None
        assert running.config.watch.interval == WATCH_INTERVAL
        # Health from the first second: the demo looked before it said it was up.
        async with http.get(f"{running.url}/v1/health/webhooks", headers=bearer) as resp:
            rows = (await resp.json())["items"]
        assert len(rows) == 8
        for row in rows:
            assert RFC3339.match(row["seen"]) and RFC3339.match(row["since"])
            assert row["stale"] is False and time.time() - row["seen_at"] < 60
        legacy = next(r for r in rows if r["name"] == "quotes-to-legacy")
        assert (legacy["state"], legacy["diverted"]) == ("suspended", 1)

        # Unsuspend through the API: health says active at once, who did it, from what.
        url = f"{running.url}/v1/accounts/core-demo/webhooks/{legacy['webhook_id']}/unsuspend"
        async with http.post(url, headers=bearer) as resp:
            assert resp.status == 204
        query = f"{running.url}/v1/health/webhooks?account=core-demo"
        async with http.get(query, headers=bearer) as resp:
            rows = (await resp.json())["items"]
        now = next(r for r in rows if r["name"] == "quotes-to-legacy")
        assert (now["state"], now["before"], now["by"]) == ("active", "suspended",
                                                            "key:demo-write")  # fmt: skip
        assert now["diverted"] == 1  # unsuspending resends nothing: the event is still held

        # Resending the diverted event counts them again: none left.
        diverted_url = url.removesuffix("/unsuspend") + "/diverted-events"
        async with http.get(diverted_url, headers=bearer) as resp:
            (event,) = (await resp.json())["items"]
        async with http.post(f"{diverted_url}/{event['id']}/resend", headers=bearer) as resp:
            assert resp.status in (200, 202, 204), await resp.text()
        async with http.get(query, headers=bearer) as resp:
            rows = (await resp.json())["items"]
        assert next(r for r in rows if r["name"] == "quotes-to-legacy")["diverted"] == 0

        # /metrics counts what /v1/health/webhooks lists.
        async with http.get(f"{running.url}/v1/health/webhooks", headers=bearer) as resp:
            rows = (await resp.json())["items"]
        async with http.get(f"{running.url}/metrics", headers=bearer) as resp:
            metrics = await resp.text()
        counted: dict[tuple[str, ...], float] = {}
        for row in rows:
            key = (row["account"], row["provider"], row["state"])
            counted[key] = counted.get(key, 0) + 1
        assert _gauges(metrics, "gateway_webhooks") == counted
        assert _gauges(metrics, "gateway_webhooks_diverting")[
            ("core-demo", "enterprise_core")
        ] == sum(1 for r in rows if r["account"] == "core-demo" and r["diverted"])
        seen = _gauges(metrics, "gateway_health_seen_timestamp_seconds")
        assert seen[("core-demo", "enterprise_core")] == min(
            r["seen_at"] for r in rows if r["account"] == "core-demo"
        )

        # The console's overview counts the same, and says how old the states are.
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as console:
            await login(console, running.url, running.write_key)
            async with console.get(f"{running.url}/console") as resp:
                page = await resp.text()
            assert "States as the gateway last saw them: the oldest" in page
            assert "stale" not in page
            core = page[page.index(">core-demo</a>") :].split("</tr>")[0]
            cells = re.findall(r'<td class="n (\w+)">(\d+)</td>', core)
            assert dict(cells)["suspended"] == "0" and dict(cells)["active"] == "3"
            assert dict(cells)["diverting"] == "0"
            async with console.get(f"{running.url}/console/health") as resp:
                page = await resp.text()
            assert 'datetime="' in page and "just now" in page


def test_states_not_seen_for_two_intervals_are_stale(tmp_path: Path) -> None:
    path = memory_state_config(tmp_path, "[watch]\ninterval = 10\n")
    create = create_command(path)
    assert main(create) == 0
    assert main(["watch", "--config", str(path), "--once"]) == 0
    asyncio.run(_stale(path))


async def _stale(path: Path) -> None:
    async with Gateway(load_config(path)) as gw:
        assert stale_after(gw) == 20
        assert gw.store is not None
        (row,) = await gw.store.health("mem")
        old = time.time() - 21
        await gw.store.save_health("mem", [], [row.webhook_id])
        await gw.store.save_health("mem", [Health(account="mem", webhook_id=row.webhook_id,
                                                  name="a", state="active", changed_at=old,
                                                  seen_at=old)], [])  # fmt: skip
        ops = Operations(gw)
        (shown,) = (await ops.health(Principal.local("cli"))).items
        assert shown["stale"] is True
        # A look under way that read before a newer view does not undo it.
        await gw.store.save_health("mem", [Health(account="mem", webhook_id=row.webhook_id,
                                                  name="a", state="disabled",
                                                  seen_at=old - 5)], [])  # fmt: skip
        (kept,) = await gw.store.health("mem")
        assert (kept.state, kept.seen_at) == ("active", old)


def test_the_table_says_how_old_and_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = memory_state_config(tmp_path, "[watch]\ninterval = 10\n")
    create = create_command(path)
    assert main(create) == 0
    assert main(["watch", "--config", str(path), "--once"]) == 0
    capsys.readouterr()
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE health SET seen_at = seen_at - 180")
    assert main(["health", "--config", str(path)]) == 0
    assert "3 min ago (stale)" in capsys.readouterr().out


def test_ago_reads_as_people_say_it() -> None:
    now = 1_000_000.0
    assert [ago(now - s, now) for s in (3, 45, 150, 7300, 90000, 200000)] == [
        "just now", "45 s ago", "2 min ago", "2 h ago", "1 day ago", "2 days ago"
    ]  # fmt: skip


async def test_apply_refreshes_what_it_wrote_and_sinks_hear_with_notify_own(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, sink: Receiver, tmp_path: Path
) -> None:
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "watch": {"notify_own": True, "sinks": [{
            "url": f"{sink.url}/ops", "secret": "whsec_" + base64.b64encode(b"k" * 24).decode(),
        }]},
    })  # fmt: skip
    async with Gateway(config) as gw:
        account = gw.account("core")
        await account.create(WebhookSpec(name="kept", url=f"{receiver.url}/k",
                                         events={"policy.quote.issue"}))  # fmt: skip
        await watch_once(gw)
        ops, me = Operations(gw), Principal.local("cli")
        manifest: dict[str, Any] = {"accounts": {"core": {"webhooks": {"kept": {
            "name": "kept", "url": f"{receiver.url}/k", "events": ["policy.quote.issue"],
            "enabled": False,
        }}}}}  # fmt: skip
        applied = await ops.apply(me, PlanRequest(manifest=manifest, adopt=True))
        assert not applied.report.failed
        assert gw.store is not None
        (row,) = await gw.store.health("core")
        assert (row.state, row.previous) == ("disabled", "active")
        assert row.changed_by is not None and row.changed_by.startswith("cli:")
        from gateway.health.fresh import drain

        await drain(gw)
    bodies = [json.loads(body) for _, _, body in sink.received]
    assert [(b["type"], b["data"]["name"]) for b in bodies] == [
        ("com.webhook-gateway.webhook.disabled", "kept")
    ]
