"""Watching webhooks' health against the emulators: an Enterprise Core suspension and its diverted
event show exactly once, a return to active and a deletion outside the gateway too; UiPath's
circuit breaker disabling a webhook for an hour shows once, and its end; the proxy's health route
and gauges, and the command line, show the same; the auto-unsuspend policy keeps to its limits."""

from __future__ import annotations

import asyncio
import base64
import getpass
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import attrs
import pytest

from gateway import Gateway, WebhookSpec
from gateway.cli import main
from gateway.config import parse_config
from gateway.health.counts import drift_counts, health_counts
from gateway.health.watch import AUTO_ACTOR, _auto_unsuspend, watch_once
from gateway.model import FailureHandling, Secret, WebhookChange
from gateway.origin import acting_as
from gateway.proxy.server import create_app
from gateway.store import AuditQuery
from tests.conftest import (
    EnterpriseCoreHarness,
    Receiver,
    UiPathHarness,
    create_command,
    memory_state_config,
)

KEY = "health-read-key-Hb4Tn8sPq3Jy"
SINK_KEY = b"k" * 32  # the sink's Standard Webhooks key


def sink_config(
    name: str, account: dict[str, Any], tmp_path: Path, sink: Receiver, *keys: dict[str, str]
) -> Any:
    """A config of one account with a state store, a read key (``KEY``) and any more ``keys``,
    and ``sink`` as the watch's signed event sink."""
    return parse_config({
        "accounts": {name: account},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "r", "scope": "read", "key": KEY}, *keys]},
        "watch": {"sinks": [{
            "url": f"{sink.url}/ops", "secret": "whsec_" + base64.b64encode(SINK_KEY).decode(),
        }]},
    })  # fmt: skip


def policy_config(name: str, account: dict[str, Any], tmp_path: Path) -> tuple[Any, Any]:
    """A config of one account with a state store and an auto-unsuspend policy (600 s, 2 a
    day), and that policy."""
    config = parse_config({
        "accounts": {name: account},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "watch": {"auto_unsuspend": {"after": 600, "max_per_day": 2}},
    })  # fmt: skip
    assert config.watch is not None
    return config, config.watch.auto_unsuspend


def changes(result: Any) -> list[tuple[str, str | None, str | None]]:
    return [(t.change, t.before, t.after) for t in result.transitions]


async def test_transitions_show_once_each(
    enterprise_core: EnterpriseCoreHarness,
    receiver: Receiver,
    sink: Receiver,
    tmp_path: Path,
    aiohttp_client: Any,
) -> None:
    config = sink_config("core", enterprise_core.account(), tmp_path, sink)
    async with Gateway(config) as gw:
        account = gw.account("core")
        made = await account.create(WebhookSpec(
            name="watched", url=f"{receiver.url}/w", events={"policy.quote.issue"},
            failure_handling=FailureHandling(divert=True, suspend=True),
        ))  # fmt: skip
        assert changes(await watch_once(gw)) == [("new", None, "active")]
        assert changes(await watch_once(gw)) == []

        receiver.status = 500  # the receiver fails: Enterprise Core suspends, diverts the event
        await enterprise_core.emulator.fire("policy.quote.issue")
        assert changes(await watch_once(gw)) == [
            ("suspended", "active", "suspended"),
            ("diverted", "0", "1"),
        ]
        assert changes(await watch_once(gw)) == []  # once, not on every look
        assert health_counts(gw).states == {("core", "enterprise_core", "suspended"): 1}
        # The sink got each transition once, as a signed CloudEvent (Standard Webhooks).
        events = [json.loads(body) for _, _, body in sink.received]
        assert sorted(e["type"] for e in events) == [
            "com.webhook-gateway.webhook.diverted",
            "com.webhook-gateway.webhook.suspended",
        ]
        for _, headers, body in sink.received:
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
            expected = hmac.new(SINK_KEY, signed, hashlib.sha256).digest()
            assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
            assert headers["Content-Type"] == "application/cloudevents+json"
        assert events[0]["specversion"] == "1.0" and events[0]["subject"] == made.id

        client = await aiohttp_client(create_app(config, gateway=gw))
        auth = {"Authorization": f"Bearer {KEY}"}
        items = (await (await client.get("/v1/health/webhooks", headers=auth)).json())["items"]
        assert [(i["webhook_id"], i["state"], i["diverted"]) for i in items] == [
            (made.id, "suspended", 1)
        ]
        metrics = await (await client.get("/metrics", headers=auth)).text()
        assert (
            'gateway_webhooks{account="core",provider="enterprise_core",state="suspended"} 1.0'
            in metrics
        )

        with acting_as("deployer"):
            await account.unsuspend(made.id)
        back = (await watch_once(gw)).transitions
        assert [(t.change, t.before, t.after, t.by) for t in back] == [
            ("active", "suspended", "active", "deployer")  # the audit log says who
        ]
        del enterprise_core.emulator.webhooks[made.id]  # gone outside the gateway
        gone = (await watch_once(gw)).transitions
        assert [(t.change, t.before, t.after, t.by) for t in gone] == [
            ("deleted", "active", None, None)
        ]
    # suspended, diverted, deleted: each once; not the unsuspend the gateway made itself
    types = [json.loads(body)["type"].rsplit(".", 1)[1] for _, _, body in sink.received]
    assert sorted(types) == ["deleted", "diverted", "suspended"]
    assert json.loads(sink.received[-1][2])["data"]["by"] is None


def test_the_command_line_watches_and_shows_health(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = memory_state_config(tmp_path)
    create = create_command(path)
    assert main(create) == 0
    capsys.readouterr()
    assert main(["watch", "--config", str(path), "--once"]) == 0
    assert "mem 1 'a': new (first seen -> active) by cli" in capsys.readouterr().out
    assert main(["health", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.split()[:9] == [
        "ACCOUNT", "WEBHOOK_ID", "NAME", "STATE", "DIVERTED", "SEEN", "SINCE", "BY", "DRIFT"
    ]  # fmt: skip
    assert "active" in out and "just now" in out
    # the state store alone is read, and the provider is named all the same (as the API does)
    assert main(["health", "--config", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"][0]["provider"] == "memory"
    # The gateway's own write refreshes the health at once, with who made it (no look
    # needed), and the next look has nothing to say of it, nor to warn of.
    assert main(["update", "mem", "1", "--config", str(path), "--enabled", "false"]) == 0
    capsys.readouterr()
    assert main(["health", "--config", str(path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["items"]
    me = f"cli:{getpass.getuser()}"
    assert (row["state"], row["before"], row["by"]) == ("disabled", "active", me)
    assert main(["watch", "--config", str(path), "--once"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    # One nobody in the audit log made is warned of on stderr, with its fields.
    kept = json.loads((tmp_path / "hooks.json").read_text())  # the provider's own state
    kept["webhooks"][0]["enabled"] = True
    (tmp_path / "hooks.json").write_text(json.dumps(kept))
    assert main(["watch", "--config", str(path), "--once"]) == 0
    captured = capsys.readouterr()
    assert "mem 1 'a': active (disabled -> active)\n" in captured.out
    assert captured.err.strip() == (
        "warning: webhook active (account=mem, provider=memory, webhook_id=1, webhook=a, "
        "before=disabled, after=active)"
    )
    assert main(["watch", "--config", str(path), "--once", "--json"]) == 0
    assert capsys.readouterr().err == ""  # nothing changed since: nothing logged


async def test_auto_unsuspend_keeps_to_its_limits(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, tmp_path: Path
) -> None:
    config, policy = policy_config("core", enterprise_core.account(), tmp_path)
    receiver.status = 500
    async with Gateway(config) as gw:
        made = await gw.account("core").create(WebhookSpec(
            name="flaky", url=f"{receiver.url}/f", events={"policy.quote.issue"},
            failure_handling=FailureHandling(suspend=True),
        ))  # fmt: skip
        for round_ in range(3):
            await enterprise_core.emulator.fire("policy.quote.issue")
            await watch_once(gw)
            assert (await gw.account("core").get(made.id)).suspended
            await _auto_unsuspend(gw, ["core"], policy, time.time() + 60)  # too soon: waits
            assert (await gw.account("core").get(made.id)).suspended
            await _auto_unsuspend(gw, ["core"], policy, time.time() + 601)
            resumed = not (await gw.account("core").get(made.id)).suspended
            assert resumed is (round_ < 2), round_  # at most twice a day
            await watch_once(gw)
        assert gw.store is not None
        entries = await gw.store.audit(AuditQuery(account="core", webhook_id=made.id))
        assert [e.actor for e in entries if e.operation == "unsuspend"] == [AUTO_ACTOR] * 2


async def test_uipath_circuit_breaker_shows_once_and_its_end(
    uipath: UiPathHarness,
    receiver: Receiver,
    sink: Receiver,
    tmp_path: Path,
    aiohttp_client: Any,
) -> None:
    now = [1000.0]
    uipath.emulator.clock = lambda: now[0]
    config = sink_config("orch", uipath.account(), tmp_path, sink)
    async with Gateway(config) as gw:
        made = await gw.account("orch").create(
            WebhookSpec(name="jobs", url=f"{receiver.url}/jobs", events={"job.completed"})
        )
        assert changes(await watch_once(gw)) == [("new", None, "active")]
        receiver.status = 500  # a delivery fails: Orchestrator disables the webhook for an hour
        await uipath.emulator.fire("job.completed")
        assert changes(await watch_once(gw)) == [("disabled", "active", "disabled")]
        assert changes(await watch_once(gw)) == []  # once
        assert health_counts(gw).states == {("orch", "uipath", "disabled"): 1}
        client = await aiohttp_client(create_app(config, gateway=gw))
        auth = {"Authorization": f"Bearer {KEY}"}
        items = (await (await client.get("/v1/health/webhooks", headers=auth)).json())["items"]
        assert [(i["webhook_id"], i["state"]) for i in items] == [(made.id, "disabled")]
        metrics = await (await client.get("/metrics", headers=auth)).text()
        assert 'gateway_webhooks{account="orch",provider="uipath",state="disabled"} 1.0' in metrics
        events = [json.loads(body) for _, _, body in sink.received]
        assert [(e["type"], e["subject"]) for e in events] == [
            ("com.webhook-gateway.webhook.disabled", made.id)
        ]
        now[0] += 3601  # the hour is over: Orchestrator enables it again
        assert changes(await watch_once(gw)) == [("active", "disabled", "active")]
    assert len(sink.received) == 2  # disabled, active: each once


async def test_serve_watches_on_its_interval_and_reports_the_breaker_once(
    uipath: UiPathHarness, receiver: Receiver, sink: Receiver, tmp_path: Path, aiohttp_client: Any
) -> None:
    """The proxy's own watch loop ([watch] interval; shortened here, as no config may go below
    10 s): the breaker's disabling reaches the sink, the gauges and the health route within one
    interval, exactly once."""
    config = sink_config("orch", uipath.account(), tmp_path, sink)
    assert config.watch is not None
    with attrs.validators.disabled():
        config = attrs.evolve(config, watch=attrs.evolve(config.watch, interval=0.2))
    uipath.emulator.add(Name="jobs", Url=f"{receiver.url}/jobs", SubscribeToAllEvents=True)
    client = await aiohttp_client(create_app(config))
    auth = {"Authorization": f"Bearer {KEY}"}

    async def shows(state: str) -> bool:
        """Whether the health route and the gauges both show ``state``."""
        answer = await (await client.get("/v1/health/webhooks", headers=auth)).json()
        metrics = await (await client.get("/metrics", headers=auth)).text()
        gauge = f'gateway_webhooks{{account="orch",provider="uipath",state="{state}"}} 1.0'
        return [i["state"] for i in answer["items"]] == [state] and gauge in metrics

    async def until(state: str) -> float:
        """Seconds until the health route and the gauges show ``state`` (at most 5)."""
        started = time.monotonic()
        for _ in range(250):  # polling, as a dashboard and a Prometheus scraper would
            if await shows(state):
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise AssertionError(f"the health route or the gauges never showed {state}")

    await until("active")  # the first look, at start
    receiver.status = 500
    await uipath.emulator.fire("job.completed")
    assert await until("disabled") < 1  # within an interval (0.2 s), and a slow machine's margin
    await asyncio.sleep(0.5)  # more looks: nothing new to report
    assert [json.loads(body)["type"] for _, _, body in sink.received] == [
        "com.webhook-gateway.webhook.disabled"
    ]


async def test_auto_unsuspend_enables_again_what_the_uipath_breaker_disabled(
    uipath: UiPathHarness, receiver: Receiver, tmp_path: Path
) -> None:
    config, policy = policy_config("orch", uipath.account(), tmp_path)
    receiver.status = 500
    async with Gateway(config) as gw:
        orch = gw.account("orch")
        old = await orch.create(WebhookSpec(
            name="off-from-the-start", url=f"{receiver.url}/o", events={"job.completed"},
            enabled=False,
        ))  # fmt: skip
        made = await orch.create(
            WebhookSpec(name="flaky", url=f"{receiver.url}/f", events={"job.completed"})
        )
        held = await orch.create(
            WebhookSpec(name="held", url=f"{receiver.url}/h", events={"job.started"})
        )
        await watch_once(gw)
        await orch.update(held.id, WebhookChange(enabled=False))  # disabled on purpose
        for round_ in range(3):
            await uipath.emulator.fire("job.completed")
            await watch_once(gw)
            assert not (await orch.get(made.id)).enabled
            await _auto_unsuspend(gw, ["orch"], policy, time.time() + 60)  # too soon: waits
            assert not (await orch.get(made.id)).enabled
            await _auto_unsuspend(gw, ["orch"], policy, time.time() + 601)
            enabled = (await orch.get(made.id)).enabled
            assert enabled is (round_ < 2), round_  # at most twice a day
            await watch_once(gw)
        assert not (await orch.get(old.id)).enabled  # never seen active: left alone
        assert not (await orch.get(held.id)).enabled  # the gateway disabled it: left alone
        assert gw.store is not None
        entries = await gw.store.audit(AuditQuery(account="orch", webhook_id=made.id))
        assert [(e.actor, e.operation, e.change) for e in entries if e.actor == AUTO_ACTOR] == [
            (AUTO_ACTOR, "update", {"enabled": True})
        ] * 2


def test_a_sink_url_is_logged_without_its_credentials() -> None:
    from gateway.health.events import _shown

    assert _shown("https://user:pw@ops.example.com:8443/in?token=t0k") == (
        "https://ops.example.com:8443/in"
    )


async def test_a_breaker_that_leaves_enabled_true_makes_watch_report_and_write_nothing(
    uipath: UiPathHarness, receiver: Receiver, tmp_path: Path
) -> None:
    """The other reading of "disabling the webhook for one hour": the record keeps
    ``Enabled: true``. Then the gateway cannot see the breaker: the webhook reads active, so
    watch reports nothing and auto-unsuspend writes nothing; only the receiver misses events."""
    uipath.emulator.breaker_disables = False
    config, policy = policy_config("orch", uipath.account(), tmp_path)
    receiver.status = 500
    async with Gateway(config) as gw:
        orch = gw.account("orch")
        made = await orch.create(
            WebhookSpec(name="flaky", url=f"{receiver.url}/f", events={"job.completed"})
        )
        first = await watch_once(gw)
        await uipath.emulator.fire("job.completed")
        report = await uipath.emulator.fire("job.completed")
        assert report["deliveries"] == [{"webhook_id": int(made.id), "skipped":
                                         "circuit breaker open"}]  # fmt: skip
        after = await watch_once(gw)
        assert [t.change for t in first.transitions] == ["new"]
        assert after.transitions == ()
        assert after.counts == {("orch", "uipath", "active"): 1}
        await _auto_unsuspend(gw, ["orch"], policy, time.time() + 601)
        assert gw.store is not None
        entries = await gw.store.audit(AuditQuery(account="orch", webhook_id=made.id))
        assert [e.actor for e in entries if e.actor == AUTO_ACTOR] == []


async def test_auto_unsuspend_leaves_a_webhook_disabled_for_longer_than_the_breakers_hour(
    uipath: UiPathHarness, tmp_path: Path
) -> None:
    """A webhook that has read disabled for longer than the breaker keeps one off (an hour,
    plus a margin for watch's interval) was disabled by someone, not by the breaker."""
    config, policy = policy_config("orch", uipath.account(), tmp_path)
    async with Gateway(config) as gw:
        orch = gw.account("orch")
        made = await orch.create(
            WebhookSpec(name="off-in-the-ui", url="https://hooks.example.com/o",
                        events={"job.completed"})
        )  # fmt: skip
        await watch_once(gw)
        uipath.emulator.webhooks[int(made.id)]["Enabled"] = False  # in Orchestrator's own UI
        await watch_once(gw)
        await _auto_unsuspend(gw, ["orch"], policy, time.time() + 3600 + 600 + 60)
        assert not (await orch.get(made.id)).enabled
        await _auto_unsuspend(gw, ["orch"], policy, time.time() + 601)  # as the breaker's
        assert (await orch.get(made.id)).enabled


async def test_sinks_never_follow_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sink answering 3xx has not taken the event: it is retried like a 5xx, and the
    redirect's target never gets the event or its signature."""
    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from gateway.health import events

    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    taken: list[str] = []
    asked = 0

    async def elsewhere(request: web.Request) -> web.Response:
        taken.append(request.path)
        return web.Response()

    async def moved(request: web.Request) -> web.Response:
        nonlocal asked
        asked += 1
        return web.Response(status=302, headers={"Location": str(other.make_url("/stolen"))})

    other_app, sink_app = web.Application(), web.Application()
    other_app.router.add_post("/{tail:.*}", elsewhere)
    sink_app.router.add_post("/{tail:.*}", moved)
    other, sink_server = TestServer(other_app), TestServer(sink_app)
    await other.start_server()
    await sink_server.start_server()
    try:
        secret = "whsec_" + base64.b64encode(SINK_KEY).decode()
        sink = events.Sink(url=str(sink_server.make_url("/ops")), secret=Secret(secret))
        event = {"id": "e1", "type": "com.webhook-gateway.webhook.disabled"}
        async with aiohttp.ClientSession() as http:
            assert await events.deliver_event(http, sink, event) is False
    finally:
        await other.close()
        await sink_server.close()
    assert taken == [] and asked == events.ATTEMPTS
    assert [w for w in waits if w] == [0.5, 1.0, 2.0, 4.0]  # backoff between the attempts


async def _made(account: Any, receiver: Receiver, *names: str) -> list[Any]:
    """A webhook of each name, created through the gateway, to ``receiver``."""
    return [
        await account.create(
            WebhookSpec(name=name, url=f"{receiver.url}/{name}", events={"policy.quote.issue"})
        )
        for name in names
    ]


async def test_a_first_look_tells_what_is_broken_once(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, sink: Receiver, tmp_path: Path
) -> None:
    """Turning watch on (a fresh state store) sends each webhook already disabled, suspended
    or holding diverted events once, with ``before: null``; a healthy one is only recorded."""
    config = sink_config("core", enterprise_core.account(), tmp_path, sink)
    async with Gateway(config) as gw:
        account = gw.account("core")
        made = await _made(account, receiver, *("healthy", "off", "stuck"))
        records = enterprise_core.emulator.webhooks
        records[made[1].id]["enabled"] = False  # broken before anyone watched
        records[made[2].id]["suspended"] = True
        first = (await watch_once(gw)).transitions
        assert sorted((t.name, t.change, t.before, t.after, t.by) for t in first) == [
            ("healthy", "new", None, "active", f"library:{getpass.getuser()}"),
            ("off", "disabled", None, "disabled", None),
            ("stuck", "suspended", None, "suspended", None),
        ]
        assert (await watch_once(gw)).transitions == ()
    sent = sorted(
        (json.loads(body)["type"], json.loads(body)["data"]["before"])
        for _, _, body in sink.received
    )
    assert sent == [
        ("com.webhook-gateway.webhook.disabled", None),
        ("com.webhook-gateway.webhook.suspended", None),
    ]


async def test_the_gateways_own_deletes_are_not_out_of_band(
    enterprise_core: EnterpriseCoreHarness,
    receiver: Receiver,
    sink: Receiver,
    tmp_path: Path,
    aiohttp_client: Any,
) -> None:
    """Deletes through the proxy (at once) and through the library (as the CLI, at the next
    look) are recorded with who made them and not sent; a delete at the provider directly is
    sent once, ``by: null``."""
    ops = {"name": "ops", "scope": "write", "key": "ops-key-Vq7LmZ2xR9wK"}
    config = sink_config("core", enterprise_core.account(), tmp_path, sink, ops)
    async with Gateway(config) as gw:
        account = gw.account("core")
        made = await _made(account, receiver, *("by-proxy", "by-cli", "by-hand"))
        await watch_once(gw)
        # (the proxy without its own watch loop: this test looks when it means to)
        client = await aiohttp_client(create_app(attrs.evolve(config, watch=None), gateway=gw))
        resp = await client.delete(
            f"/v1/accounts/core/webhooks/{made[0].id}",
            headers={"Authorization": "Bearer ops-key-Vq7LmZ2xR9wK"},
        )
        assert resp.status == 204, await resp.text()
        with acting_as("cli"):
            await account.delete(made[1].id)
        del enterprise_core.emulator.webhooks[made[2].id]
        gone = (await watch_once(gw)).transitions
        # (the proxy's delete refreshed the health at once: this look does not see it again)
        assert sorted((t.name, t.change, t.by) for t in gone) == [
            ("by-cli", "deleted", f"cli:{getpass.getuser()}"),
            ("by-hand", "deleted", None),
        ]
        assert gw.store is not None
        recorded = await gw.store.transitions("core", made[0].id)
        newest = recorded[0]
        assert (newest.change, newest.before, newest.by) == ("deleted", "active", "key:ops")
    bodies = [json.loads(body) for _, _, body in sink.received]
    assert [(b["data"]["name"], b["data"]["by"]) for b in bodies] == [("by-hand", None)]


async def test_drift_is_reported_once_and_resolved_once(
    enterprise_core: EnterpriseCoreHarness,
    receiver: Receiver,
    sink: Receiver,
    tmp_path: Path,
    aiohttp_client: Any,
) -> None:
    from gateway.plan import apply_plan, load_manifest, make_plan

    config = sink_config("core", enterprise_core.account(), tmp_path, sink)
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(
        '[accounts.core.webhooks.quotes]\nname = "quotes"\n'
        f'url = "{receiver.url}/q"\nevents = ["policy.quote.issue"]\n'
    )
    async with Gateway(config) as gw:
        await apply_plan(gw, await make_plan(gw, load_manifest(manifest, config)))
        first = await watch_once(gw, manifest=str(manifest))
        assert first.drift == ()  # as the manifest says
        (record,) = enterprise_core.emulator.webhooks.values()
        record["eventTypes"] = ["policy.status.update"]  # changed in the provider's own UI
        found = (await watch_once(gw, manifest=str(manifest))).drift
        assert [(d.change, d.key, d.webhook_id, d.summary) for d in found] == [
            ("drift", "quotes", record["locator"], "update: events")
        ]
        assert drift_counts(gw) == {"core": 1}
        assert (await watch_once(gw, manifest=str(manifest))).drift == ()  # once
        client = await aiohttp_client(create_app(attrs.evolve(config, watch=None), gateway=gw))
        auth = {"Authorization": f"Bearer {KEY}"}
        items = (await (await client.get("/v1/health/webhooks", headers=auth)).json())["items"]
        assert [i["drift"] for i in items] == ["update: events"]
        metrics = await (await client.get("/metrics", headers=auth)).text()
        assert 'gateway_drift{account="core"} 1.0' in metrics

        await apply_plan(gw, await make_plan(gw, load_manifest(manifest, config)))
        gone = (await watch_once(gw, manifest=str(manifest))).drift
        assert [(d.change, d.key) for d in gone] == [("drift_resolved", "quotes")]
        assert drift_counts(gw) == {"core": 0}
    types = [json.loads(body)["type"] for _, _, body in sink.received]
    assert types == ["com.webhook-gateway.drift", "com.webhook-gateway.drift_resolved"]


async def test_reconcile_applies_the_manifest_as_watch_reconcile(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, sink: Receiver, tmp_path: Path
) -> None:
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(
        "".join(
            f'[accounts.core.webhooks.h{i}]\nname = "h{i}"\nurl = "{receiver.url}/{i}"\n'
            'events = ["policy.quote.issue"]\n'
            for i in range(3)
        )
    )
    base = sink_config("core", enterprise_core.account(), tmp_path, sink)
    assert base.watch is not None
    watch = attrs.evolve(base.watch, manifest=str(manifest), reconcile=True, max_writes_per_look=2)
    async with Gateway(attrs.evolve(base, watch=watch)) as gw:
        first = await watch_once(gw)
        assert sorted(d.key for d in first.drift) == ["h0", "h1", "h2"]  # three to create
        assert len(enterprise_core.emulator.webhooks) == 2  # at most two writes a look
        second = await watch_once(gw)  # h0, h1 are there now; h2 is made after this plan
        assert len(enterprise_core.emulator.webhooks) == 3
        entries = await gw.store.audit(AuditQuery(account="core"))  # type: ignore[union-attr]
        assert {e.actor for e in entries} == {"watch:reconcile"}
        third = await watch_once(gw)
        resolved = [(d.change, d.key) for d in second.drift + third.drift]
        assert sorted(resolved) == [
            ("drift_resolved", "h0"), ("drift_resolved", "h1"), ("drift_resolved", "h2")
        ]  # fmt: skip
        # The reconciled creates were the gateway's own: not news to the sinks.
        assert {t.by for t in second.transitions + third.transitions} <= {"watch:reconcile"}


async def test_a_reconcile_that_makes_no_progress_stops_and_says_so(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, sink: Receiver, tmp_path: Path
) -> None:
    """A drift the reconcile wrote that comes back the same is not written at every look."""
    from gateway.plan import apply_plan, load_manifest, make_plan

    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(
        '[accounts.core.webhooks.quotes]\nname = "quotes"\n'
        f'url = "{receiver.url}/q"\nevents = ["policy.quote.issue"]\n'
    )
    base = sink_config("core", enterprise_core.account(), tmp_path, sink)
    assert base.watch is not None
    watch = attrs.evolve(base.watch, manifest=str(manifest), reconcile=True)
    config = attrs.evolve(base, watch=watch)
    async with Gateway(config) as gw:
        await apply_plan(gw, await make_plan(gw, load_manifest(manifest, config)))
        (record,) = enterprise_core.emulator.webhooks.values()
        record["eventTypes"] = ["policy.status.update"]
        first = await watch_once(gw)  # drift, written back
        (record,) = enterprise_core.emulator.webhooks.values()
        assert record["eventTypes"] == ["policy.quote.issue"] and first.errors == {}
        record["eventTypes"] = ["policy.status.update"]  # and it comes back the same
        writes = enterprise_core.emulator.writes
        second = await watch_once(gw)
        assert enterprise_core.emulator.writes == writes  # not written again
        assert "reconcile made no progress on quotes (update: events)" in second.errors["core"]


@pytest.mark.parametrize(("breaker", "resumed"), [(None, True), (600, False)])
async def test_a_standalone_orchestrators_breaker_is_what_watch_expects(
    uipath: UiPathHarness, tmp_path: Path, breaker: int | None, resumed: bool
) -> None:
    """On-premises Orchestrator's breaker lasts its SubscriberCircuitBreakerExpirationSeconds
    (600 by default; Automation Cloud: an hour): a webhook off for 1,300 s is the breaker's on
    the cloud, and someone's doing on a standalone one (600 s + watch's margin)."""
    settings = {} if breaker is None else {"breaker_seconds": breaker}
    config, policy = policy_config("orch", uipath.account(**settings), tmp_path)
    async with Gateway(config) as gw:
        orch = gw.account("orch")
        assert orch.capabilities.disabled_for == (breaker or 3600)
        made = await orch.create(
            WebhookSpec(name="failing", url="https://hooks.example.com/f", events={"job.completed"})
        )
        await watch_once(gw)
        uipath.emulator.webhooks[int(made.id)]["Enabled"] = False
        await watch_once(gw)
        await _auto_unsuspend(gw, ["orch"], policy, time.time() + 1300)
        assert (await orch.get(made.id)).enabled is resumed
