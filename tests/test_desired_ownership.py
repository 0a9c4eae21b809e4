"""Desired state that knows the gateway's own hand, against the demo through the command line:
adopting changes nothing on any provider (an unknown secret stays unknown unless asked),
a rotation shows at plan as a rotation (and not at all with ``secret_rotation =
"external"``), a renamed key moves ownership, and a misspelt custom event fails at plan."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.errors import InvalidRequest
from gateway.model import WebhookSpec
from gateway.plan import make_plan, parse_manifest
from gateway.proxy.demo import demo
from gateway.service import Gateway
from tests.conftest import EnterpriseCoreHarness
from tests.test_plan import cli


@pytest.fixture
async def running(tmp_path: Path) -> Any:
    async with demo() as started:
        yield started, {**os.environ, **started.environment()}


async def _audited_writes(env: dict[str, str], tmp_path: Path) -> list[dict[str, Any]]:
    code, out, err = await cli(env, tmp_path, "audit", "--json")
    assert code == 0, err
    found = json.loads(out)
    items = found["items"] if isinstance(found, dict) else found
    return [e for e in items if e["operation"] != "ping"]


async def test_export_then_adopt_writes_nothing_on_any_provider(
    running: Any, tmp_path: Path
) -> None:
    _, env = running
    code, exported, err = await cli(env, tmp_path, "export")
    assert code == 0, err
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(exported)
    # As exported: the secrets' variables are placeholders nobody has set yet.
    code, out, err = await cli(env, tmp_path, "plan", str(manifest), "--adopt")
    assert code == 0, out + err
    assert "No changes" in out and "-/+" not in out
    assert out.count("= adopt (record ownership only)") == 8
    assert "secret_env ORCHESTRY_DEMO_APPROVALS_SECRET is not set" in out

    # With the variables set, Orchestry's secrets (never shown) are unknown: still no write.
    env["ORCHESTRY_DEMO_APPROVALS_SECRET"] = "what-the-team-thinks-it-is"
    env["ORCHESTRY_DEMO_WORKSPACE_READY_SECRET"] = "and-this-one"
    code, out, err = await cli(env, tmp_path, "plan", str(manifest), "--adopt",
                               "--account", "orchestry-demo")  # fmt: skip
    assert code == 0, out + err
    assert "unknown (the provider does not show it): left as it is" in out
    assert "--set-unknown-secrets" in out
    seeded = await _audited_writes(env, tmp_path)  # the demo's own setting up
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--adopt", "--auto-approve")
    assert code == 0, out + err
    assert await _audited_writes(env, tmp_path) == seeded  # nothing written to any provider
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0 and "No changes" in out, out

    # Setting the unknown secrets on purpose replaces them at Orchestry (no update there).
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest), "--account",
                             "orchestry-demo", "--set-unknown-secrets")  # fmt: skip
    assert code == 2, out
    assert out.count("-/+ replace (new id)") == 2 and "will change" in out


async def test_a_rotation_shows_as_one_and_external_rotation_is_left_alone(
    running: Any, tmp_path: Path
) -> None:
    _, env = running
    code, exported, err = await cli(env, tmp_path, "export", "--account", "uipath-demo")
    assert code == 0, err
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(exported)
    env["UIPATH_DEMO_JOBS_TO_OPS_SECRET"] = "demo-signing-secret"  # the seeded one
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--adopt", "--auto-approve")
    assert code == 0, out + err
    code, out, err = await cli(env, tmp_path, "list", "uipath-demo", "--json")
    listed = json.loads(out)
    items = listed["items"] if isinstance(listed, dict) else listed
    jobs = next(w["id"] for w in items if w["name"] == "jobs-to-ops")

    code, out, err = await cli(env, tmp_path, "rotate", "uipath-demo", jobs, "--grace-hours", "1",
                               "--reveal")  # fmt: skip
    assert code == 0, out + err
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 2, out
    assert "secret: set -> rotated at " in out and " by cli:" in out
    assert "apply sets the manifest's secret back" in out

    external = manifest.read_text().replace(
        'secret_env = "UIPATH_DEMO_JOBS_TO_OPS_SECRET"',
        'secret_env = "UIPATH_DEMO_JOBS_TO_OPS_SECRET"\nsecret_rotation = "external"',
    )
    manifest.write_text(external)
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0 and "No changes" in out, out


async def test_a_moved_key_keeps_its_webhook(running: Any, tmp_path: Path) -> None:
    _, env = running
    code, exported, err = await cli(env, tmp_path, "export", "--account", "core-demo")
    assert code == 0, err
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(exported)
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--adopt", "--auto-approve")
    assert code == 0, out + err

    renamed = manifest.read_text().replace(
        "[accounts.core-demo.webhooks.policy-status]",
        '[accounts.core-demo.webhooks.status]\nmoved_from = "policy-status"',
    )
    manifest.write_text(renamed)
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0, out  # no write: a move is the state store's alone
    assert "> move (record ownership only) status (was policy-status)" in out
    assert "to delete" in out and "1 to delete" not in out and "1 to create" not in out
    seeded = await _audited_writes(env, tmp_path)
    code, out, err = await cli(env, tmp_path, "apply", str(manifest), "--auto-approve")
    assert code == 0, out + err
    assert await _audited_writes(env, tmp_path) == seeded
    manifest.write_text(renamed.replace('moved_from = "policy-status"\n', ""))
    code, out, _ = await cli(env, tmp_path, "plan", str(manifest))
    assert code == 0 and "No changes" in out, out


async def test_custom_events_make_the_catalog_strict_at_plan(
    enterprise_core: EnterpriseCoreHarness, tmp_path: Path
) -> None:
    manifest = {"accounts": {"core": {"webhooks": {"p": {
        "name": "p", "url": "https://hooks.example.com/p",
        "events": ["policy.quote.issue", "custom.claim.opend"],
    }}}}}  # fmt: skip
    strict = enterprise_core.account(custom_events=["custom.claim.opened"])
    config = parse_config(
        {"accounts": {"core": strict}, "state": {"url": f"sqlite:///{tmp_path}/s.db"}}
    )
    async with Gateway(config) as gw:
        made = await make_plan(gw, parse_manifest(manifest, config))
        (account,) = made.accounts
        assert account.error is not None and "custom.claim.opend" in account.error
        assert "did you mean" in account.error and "custom.claim.opened" in account.error
        assert enterprise_core.emulator.writes == 0
        with pytest.raises(InvalidRequest, match="did you mean"):
            await gw.account("core").canonical_events(["custom.claim.opend"], "events")
    # Without the list, a name outside the catalog is an error at plan all the same: the
    # tenant would refuse it halfway through an apply. It says where the list goes.
    open_config = parse_config({"accounts": {"core": enterprise_core.account()},
                                "state": {"url": f"sqlite:///{tmp_path}/o.db"}})  # fmt: skip
    async with Gateway(open_config) as gw:
        made = await make_plan(gw, parse_manifest(manifest, open_config))
        (account,) = made.accounts
        assert account.error == (
            "accounts.core.webhooks.p.events: 'custom.claim.opend' is not in core's event "
            "catalog (a custom event of the tenant: list it in [accounts.core] custom_events)"
        )
        assert not account.actions and enterprise_core.emulator.writes == 0
        # A name one of the account's webhooks already takes is the tenant's: planned.
        emulator = enterprise_core.emulator
        emulator.event_types = emulator.event_types | {"custom.claim.opend"}
        await gw.account("core").create(WebhookSpec(
            name="p", url="https://hooks.example.com/p", events={"custom.claim.opend"}
        ))  # fmt: skip
        made = await make_plan(gw, parse_manifest(manifest, open_config), adopt=True)
        (account,) = made.accounts
        assert account.error is None, account.error
        assert [a.kind for a in account.actions] == ["update"]
