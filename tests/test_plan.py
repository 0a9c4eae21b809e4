"""Declarative desired state against the demo's emulators, through the command line: export,
edit, plan, apply, plan again; drift made outside the gateway; write-only secrets without
perpetual drift; a key removed deletes only its webhook; unstorable fields fail at plan."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.proxy.demo import demo

ROOT = Path(__file__).resolve().parent.parent


async def cli(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *argv, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.fixture
async def running(tmp_path: Path) -> Any:
    async with demo() as started:
        env = {**os.environ, **started.environment()}
        yield started, env


async def test_export_edit_plan_apply_converge(running: Any, tmp_path: Path) -> None:
    started, env = running
    code, exported, err = await cli(env, tmp_path, "export", "--account", "uipath-demo")
    assert code == 0, err
    assert "[accounts.uipath-demo.webhooks.jobs-to-ops]" in exported
    assert 'secret_env = "UIPATH_DEMO_JOBS_TO_OPS_SECRET"' in exported
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(exported)
    env["UIPATH_DEMO_JOBS_TO_OPS_SECRET"] = "demo-signing-secret"  # the seeded one

    # Adopting what exists: nothing to write (the demo's UiPath returns the secret: equal).
    code, out, err = await cli(env, tmp_path, "plan", str(manifest), "--adopt")
    assert code == 0, out + err
    assert "No changes" in out
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--adopt", "--auto-approve")
    assert code == 0, out + err
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0 and "No changes" in out

    # Edits show exactly as edits.
    text = manifest.read_text()
    text = text.replace('events = ["job.completed", "job.faulted"]',
                        'events = ["job.completed", "job.stopped"]')  # fmt: skip
    text += ('\n[accounts.uipath-demo.webhooks.builds]\nname = "builds"\n'
             'url = "https://hooks.example.com/builds"\nevents = ["job.completed"]\n')  # fmt: skip
    manifest.write_text(text)
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest), "--json")
    assert code == 2
    plan = json.loads(out)
    assert plan["schema"] == 1 and plan["changes"] == 2
    actions = {a["key"]: a for a in plan["accounts"][0]["actions"]}
    assert actions["builds"]["action"] == "create"
    update = actions["jobs-to-ops"]
    assert update["action"] == "update"
    assert update["changes"] == [
        {"field": "events", "before": {"-": ["job.faulted"]}, "after": {"+": ["job.stopped"]}}
    ]
    code, out, err = await cli(env, tmp_path, "apply", str(manifest))  # no terminal to ask
    assert code == 2 and "--auto-approve" in err
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--auto-approve")
    assert code == 0, out + err
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0, out

    # Drift: a change made at the provider directly shows as one to undo.
    uipath = started.config.accounts["uipath-demo"].settings.base_url
    record = next(r for r in await _uipath_records(uipath) if r["Name"] == "builds")
    await _uipath_patch(uipath, record["Id"], {"Enabled": False})
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 2 and "enabled: false -> true" in out

    # A key removed from the manifest deletes that webhook only.
    manifest.write_text(text.split("\n[accounts.uipath-demo.webhooks.builds]")[0])
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest), "--json")
    deletes = [a for a in json.loads(out)["accounts"][0]["actions"] if a["action"] == "delete"]
    assert [(d["key"], d["name"]) for d in deletes] == [("builds", "builds")]


async def test_unstorable_fields_and_literal_secrets_fail_at_plan(
    running: Any, tmp_path: Path
) -> None:
    _, env = running
    manifest = tmp_path / "bad.toml"
    manifest.write_text(
        '[accounts.orchestry-demo.webhooks.a]\nname = "a"\nurl = "https://h.example.com/a"\n'
        'events = ["e.one", "e.two"]\nenabled = false\n'
        '[accounts.uipath-demo.webhooks.b]\nname = "b"\nurl = "https://h.example.com/b"\n'
        'secret = "literal"\n'
        '[accounts.nowhere.webhooks.c]\nname = "c"\nurl = "https://h.example.com/c"\n'
    )
    code, _, err = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 4  # refused input, as through the proxy (the one error table)
    assert "accounts.orchestry-demo.webhooks.a.enabled: the provider cannot store this" in err
    assert "accounts.orchestry-demo.webhooks.a.events: at most 1 events, not 2" in err
    assert "accounts.uipath-demo.webhooks.b.secret: a literal secret is refused" in err
    assert "accounts.nowhere: not an account of the configuration" in err
    manifest.write_text(
        '[accounts.uipath-demo.webhooks.b]\nname = "b"\nurl = "https://h.example.com/b"\n'
        'events = ["job.complete"]\n'
    )
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 1
    assert "accounts.uipath-demo.webhooks.b.events: unknown event 'job.complete'" in out


async def test_a_secret_the_provider_never_returns_shows_no_drift_after_apply(
    running: Any, tmp_path: Path
) -> None:
    """Orchestry never shows a secret, not even whether one is set."""
    _, env = running
    env["APPROVALS_SECRET"] = "a-secret-orchestry-never-shows"
    manifest = tmp_path / "orchestry.toml"
    manifest.write_text(
        '[accounts.orchestry-demo.webhooks.approvals]\nname = "approvals"\n'
        f'url = "{env["GW"]}/never-called"\nevents = ["approval.requested"]\n'
        'secret_env = "APPROVALS_SECRET"\n'
    )
    code, out, err = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 1 and "exists and is not managed; plan with --adopt" in out + err
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--adopt", "--auto-approve")
    assert code == 0, out + err
    # Orchestry has no update: the url differs, so delete, then create, and the plan says the
    # id changes; the unknown secret alone would not have been a reason.
    assert "-/+ replace (new id) approvals" in out and "will change" in out
    for _ in range(2):
        code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
        assert code == 0, out
    env["APPROVALS_SECRET"] = "rotated-orchestry-secret"
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 2 and "secret: unknown -> rotated (value not shown)" in out
    assert "rotated-orchestry-secret" not in out
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--auto-approve")
    assert code == 0, out + err
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0, out


async def _uipath_records(base_url: str) -> list[dict[str, Any]]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        token = await _uipath_token(http, base_url)
        async with http.get(f"{base_url}/odata/Webhooks",
                            headers={"Authorization": f"Bearer {token}"}) as resp:  # fmt: skip
            return list((await resp.json())["value"])


async def _uipath_patch(base_url: str, id: int, body: dict[str, Any]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        token = await _uipath_token(http, base_url)
        async with http.patch(f"{base_url}/odata/Webhooks({id})", json=body,
                              headers={"Authorization": f"Bearer {token}"}) as resp:  # fmt: skip
            assert resp.status in (200, 204), await resp.text()


async def _uipath_token(http: Any, base_url: str) -> str:
    form = {"grant_type": "client_credentials", "client_id": "demo-client",
            "client_secret": "demo-client-secret", "scope": "OR.Webhooks"}  # fmt: skip
    async with http.post(f"{base_url}/identity_/connect/token", data=form) as resp:
        return str((await resp.json())["access_token"])


async def test_plan_and_apply_over_http_with_a_plan_fingerprint(running: Any) -> None:
    import aiohttp

    started, _ = running
    manifest = {"accounts": {"uipath-demo": {"webhooks": {"api-made": {
        "name": "api-made", "url": "https://hooks.example.com/api", "events": ["job.completed"],
        "secret": "inline-secret-of-the-api",
    }}}}}  # fmt: skip
    read = {"Authorization": f"Bearer {started.read_key}"}
    write = {"Authorization": f"Bearer {started.write_key}"}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{started.url}/v1/plan", json={"manifest": manifest}, headers=read)
        plan = await resp.json()
        assert resp.status == 200 and plan["changes"] == 1
        assert "inline-secret-of-the-api" not in json.dumps(plan)
        refused = await http.post(f"{started.url}/v1/apply", json={"manifest": manifest},
                                  headers=read)  # fmt: skip
        assert refused.status == 403
        stale = await http.post(
            f"{started.url}/v1/apply",
            json={"manifest": manifest, "plan_fingerprint": "0" * 32},
            headers=write,
        )
        assert stale.status == 409 and (await stale.json())["current_plan"]["changes"] == 1
        done = await http.post(
            f"{started.url}/v1/apply",
            json={"manifest": manifest, "plan_fingerprint": plan["fingerprint"]},
            headers=write,
        )
        body = await done.json()
        assert done.status == 200 and body["report"]["applied"] == 1
        again = await http.post(f"{started.url}/v1/plan", json={"manifest": manifest},
                                headers=read)  # fmt: skip
        assert (await again.json())["changes"] == 0
        bad = {"accounts": {"uipath-demo": {"webhooks": {"x": {
            "name": "x", "url": "https://h.example.com/x", "secret_env": "HOME"}}}}}  # fmt: skip
        resp = await http.post(f"{started.url}/v1/plan", json={"manifest": bad}, headers=read)
        problem = await resp.json()
        assert resp.status == 400
        assert problem["errors"][0]["path"] == "manifest.accounts.uipath-demo.webhooks.x.secret_env"


async def test_apply_refuses_a_saved_plan_that_is_out_of_date(running: Any, tmp_path: Path) -> None:
    _, env = running
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[accounts.uipath-demo.webhooks.n]\nname = "n"\n'
        'url = "https://hooks.example.com/n"\nevents = ["job.completed"]\n'
    )
    saved = tmp_path / "plan.json"
    code, _, _ = await cli(env, tmp_path, "plan", str(manifest), "--out", str(saved))
    assert code == 2 and json.loads(saved.read_text())["changes"] == 1
    manifest.write_text(manifest.read_text().replace("job.completed", "job.faulted"))
    code, _, err = await cli(env, tmp_path, "apply", str(manifest), "--plan", str(saved),
                             "--auto-approve")  # fmt: skip
    assert code == 1 and "out of date" in err
    code, _, _ = await cli(env, tmp_path, "plan", str(manifest), "--out", str(saved))
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--plan", str(saved),
                               "--auto-approve")  # fmt: skip
    assert code == 0, out + err


async def test_prune_deletes_what_no_key_matches(running: Any, tmp_path: Path) -> None:
    _, env = running
    env["S"] = "demo-signing-secret"
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[accounts.uipath-demo.webhooks.jobs]\nname = "jobs-to-ops"\n'
        'url = "https://hooks.example.com/jobs"\nevents = ["job.completed", "job.faulted"]\n'
        'secret_env = "S"\n'
    )
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest), "--adopt", "--json")
    actions = json.loads(out)["accounts"][0]["actions"]
    assert [a["action"] for a in actions if a["action"] == "delete"] == []
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest), "--adopt", "--prune", "--json")
    deletes = [a for a in json.loads(out)["accounts"][0]["actions"] if a["action"] == "delete"]
    assert code == 2 and [(d["name"], d["key"]) for d in deletes] == [
        ("queue-audit", None),
        ("robots-to-legacy", None),
    ]


async def test_apply_at_scale_rides_out_rate_limits(tmp_path: Path) -> None:
    """1,000 creates over 10 accounts whose provider answers 30% of creates with 429 (RFC 6585:
    not processed, so sent again after Retry-After): every one lands, none twice, and no
    account ever sees more than ``concurrency`` writes at once."""
    from aiohttp import web

    from gateway import Gateway
    from gateway.config import parse_config
    from gateway.emulation import Faults, start
    from gateway.plan import apply_plan, make_plan, parse_manifest
    from providers.uipath.emulator import UiPathEmulator

    emulators, runners, accounts, peaks = [], [], {}, []
    for i in range(10):
        emulator = UiPathEmulator(personal_tokens={"pat": ["OR.Webhooks"]})
        emulator.faults = Faults(error_rate=0.3, error_statuses=(429,), retry_after=0,
                                 methods=("POST",), seed=i)  # fmt: skip
        app = emulator.app()
        load = {"now": 0, "peak": 0}
        peaks.append(load)

        @web.middleware
        async def count(request: web.Request, handler: Any, load: Any = load) -> Any:
            if request.method != "POST":
                return await handler(request)
            load["now"] += 1
            load["peak"] = max(load["peak"], load["now"])
            try:
                return await handler(request)
            finally:
                load["now"] -= 1

        app.middlewares.insert(0, count)
        runner, url = await start(app)
        emulators.append(emulator)
        runners.append(runner)
        accounts[f"u{i}"] = {"provider": "uipath", "base_url": url, "token": "pat"}
    try:
        config = parse_config({
            "accounts": accounts,
            "state": {"url": f"sqlite:///{tmp_path}/state.db"},
            "http": {"retry": {"max_attempts": 10, "backoff_base": 0.01}},
        })  # fmt: skip
        manifest = parse_manifest({"accounts": {name: {"webhooks": {
            f"h{n}": {"name": f"h{n}", "url": f"https://hooks.example.com/{n}",
                      "events": ["job.completed"]}
            for n in range(100)}} for name in accounts}}, config)  # fmt: skip
        async with Gateway(config) as gw:
            plan = await make_plan(gw, manifest)
            assert plan.changes == 1000
            report = await apply_plan(gw, plan, concurrency=4)
            assert report.failed == []
            again = await make_plan(gw, manifest)
        assert again.changes == 0
        assert all(len(e.webhooks) == 100 for e in emulators)
        assert sum(e.faults.injected for e in emulators) > 100
        assert max(load["peak"] for load in peaks) <= 4
    finally:
        for runner in runners:
            await runner.cleanup()
