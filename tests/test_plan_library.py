"""Desired state through the library, against Enterprise Core's emulator and a SQLite state
store: alert endpoints (the secret by reference, the failure handling diffed field by field,
the alert secret under the webhook secret's write-only and fingerprint rules, export), URLs
shown without their credentials, and secret files confined to the manifest's folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway import Gateway
from gateway.cli import main
from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.errors import ConfigError
from gateway.plan import apply_plan, export_manifest, make_plan, parse_manifest
from gateway.store import AuditQuery
from tests.conftest import EnterpriseCoreHarness, UiPathHarness

ALERT_SECRET = "alert-hmac-s3cret"


@pytest.fixture
async def gw(enterprise_core: EnterpriseCoreHarness, tmp_path: Path) -> AsyncIterator[Gateway]:
    config = {
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
    }
    async with Gateway(parse_config(config)) as gateway:
        yield gateway


def manifest(**failure_handling: Any) -> dict[str, Any]:
    alert = {"url": "https://alerts.example.com/in", "secret_env": "ALERT_SECRET",
             "headers": {"X-Pager": "ops"}}  # fmt: skip
    return {"accounts": {"core": {"webhooks": {"policies": {
        "name": "policies",
        "url": "https://hooks.example.com/p",
        "events": ["policy.quote.issue"],
        "failure_handling": {"divert": True, "alert_endpoint": alert, **failure_handling},
    }}}}}  # fmt: skip


async def plan_json(gw: Gateway, data: dict[str, Any], secret: str = ALERT_SECRET) -> Any:
    parsed = parse_manifest(data, gw.config, env={"ALERT_SECRET": secret})
    return await make_plan(gw, parsed)


async def test_an_alert_endpoint_converges_and_its_secret_never_drifts(
    gw: Gateway, enterprise_core: EnterpriseCoreHarness
) -> None:
    first = await plan_json(gw, manifest())
    (action,) = first.accounts[0].actions
    assert action.kind == "create"
    shown = action.to_json()["fields"]["failure_handling"]["alert_endpoint"]
    assert shown["secret"] == "***" and ALERT_SECRET not in repr(first.to_json())
    report = await apply_plan(gw, first)
    assert report.failed == []
    (stored,) = enterprise_core.emulator.webhooks.values()
    assert stored["failureHandling"]["alertEndpoint"]["url"] == "https://alerts.example.com/in"
    assert stored["failureHandling"]["alertEndpoint"]["secret"] == ALERT_SECRET

    again = await plan_json(gw, manifest())
    assert again.changes == 0, again.to_json()
    assert gw.store is not None  # the audit log fingerprints the alert secret, never keeps it
    (entry,) = await gw.store.audit(AuditQuery(account="core"))
    alert_change = entry.change["failure_handling"]["alert_endpoint"]
    assert set(alert_change["secret"]) == {"changed", "fingerprint"}
    assert ALERT_SECRET not in json.dumps(entry.change)

    # Older releases do not return the secret: the fingerprint of what was applied decides.
    enterprise_core.emulator.return_secrets = False
    assert (await plan_json(gw, manifest())).changes == 0

    # One field changed shows as that field alone.
    changed = await plan_json(gw, manifest(divert=False))
    (update,) = changed.accounts[0].actions
    assert update.kind == "update"
    assert [c["field"] for c in update.to_json()["changes"]] == ["failure_handling.divert"]

    # A new secret shows as a rotation, never its value.
    rotated = await plan_json(gw, manifest(), secret="a-new-alert-secret")
    (update,) = rotated.accounts[0].actions
    changes = update.to_json()["changes"]
    assert changes == [{"field": "failure_handling.alert_endpoint.secret", "before": "set",
                        "after": "rotated"}]  # fmt: skip
    assert (await apply_plan(gw, rotated)).failed == []
    (stored,) = enterprise_core.emulator.webhooks.values()
    assert stored["failureHandling"]["alertEndpoint"]["secret"] == "a-new-alert-secret"
    assert (await plan_json(gw, manifest(), secret="a-new-alert-secret")).changes == 0

    # The alert endpoint's own fields, one by one.
    moved = manifest()
    alert = moved["accounts"]["core"]["webhooks"]["policies"]["failure_handling"]["alert_endpoint"]
    alert["url"] = "https://alerts.example.com/moved"
    (update,) = (await plan_json(gw, moved, "a-new-alert-secret")).accounts[0].actions
    assert update.to_json()["changes"] == [{
        "field": "failure_handling.alert_endpoint.url",
        "before": "https://alerts.example.com/in",
        "after": "https://alerts.example.com/moved",
    }]  # fmt: skip


async def test_the_alert_secret_is_given_by_reference(gw: Gateway) -> None:
    literal = manifest()
    hook = literal["accounts"]["core"]["webhooks"]["policies"]
    alert = hook["failure_handling"]["alert_endpoint"]
    del alert["secret_env"]
    alert["secret"] = ALERT_SECRET
    with pytest.raises(ConfigError) as caught:
        parse_manifest(literal, gw.config, env={})
    assert [p.path for p in caught.value.problems] == [
        "accounts.core.webhooks.policies.failure_handling.alert_endpoint.secret"
    ]
    assert ALERT_SECRET not in str(caught.value)
    with pytest.raises(ConfigError, match="ALERT_SECRET is not set"):
        parse_manifest(manifest(), gw.config, env={})
    data = manifest()
    parse_manifest(data, gw.config, env={"ALERT_SECRET": ALERT_SECRET})
    assert "secret" not in data["accounts"]["core"]["webhooks"]["policies"][
        "failure_handling"]["alert_endpoint"]  # fmt: skip  # the caller's data is left as it was


async def test_export_writes_the_alert_endpoint_with_a_secret_placeholder(gw: Gateway) -> None:
    assert (await apply_plan(gw, await plan_json(gw, manifest()))).failed == []
    text = await export_manifest(gw)
    assert ALERT_SECRET not in text
    exported = tomllib.loads(text)
    (entry,) = exported["accounts"]["core"]["webhooks"].values()
    assert entry["failure_handling"]["alert_endpoint"] == {
        "url": "https://alerts.example.com/in",
        "headers": {"X-Pager": "ops"},
        "secret_env": "CORE_POLICIES_ALERT_SECRET",
    }


async def test_plans_show_urls_without_their_credentials(gw: Gateway) -> None:
    data = manifest()
    hook = data["accounts"]["core"]["webhooks"]["policies"]
    hook["url"] = "https://bot:pa55@hooks.example.com/p?token=first-t0ken"
    first = await plan_json(gw, data)
    shown = json.dumps(first.to_json())
    assert "pa55" not in shown and "first-t0ken" not in shown
    assert "https://***@hooks.example.com/p?token=***" in shown
    assert (await apply_plan(gw, first)).failed == []
    hook["url"] = "https://bot:pa55@hooks.example.com/p?token=second-t0ken"
    (update,) = (await plan_json(gw, data)).accounts[0].actions
    (change,) = update.to_json()["changes"]
    assert change["field"] == "url" and "second-t0ken" not in json.dumps(change)


def test_secret_files_are_confined_to_the_manifest_folder(gw: Gateway, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "ok").write_text("a-secret-in-a-file\n")
    (tmp_path / "outside").write_text("not-for-the-manifest\n")
    (folder / "leak").symlink_to(tmp_path / "outside")
    (folder / "big").write_text("x" * 5000)

    def entry(reference: str) -> dict[str, Any]:
        return {"accounts": {"core": {"webhooks": {"k": {
            "name": "k", "url": "https://hooks.example.com/k", "events": ["policy.quote.issue"],
            "secret_file": reference}}}}}  # fmt: skip

    ok = parse_manifest(entry("secrets/ok"), gw.config, base_dir=folder)
    spec = ok.accounts["core"]["k"].spec
    assert spec.secret is not None and spec.secret.reveal() == "a-secret-in-a-file"
    for reference, why in [
        (str(tmp_path / "outside"), "not an absolute one"),
        ("../outside", "no .."),
        ("leak", "a symlink leads out of it"),
        ("secrets", "not a regular file"),
        ("big", "larger than 4096 bytes"),
        ("missing", "no such file"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_manifest(entry(reference), gw.config, base_dir=folder)
        (problem,) = caught.value.problems
        assert problem.path == "accounts.core.webhooks.k.secret_file", reference
        assert why in problem.message, (reference, problem.message)
        assert "not-for-the-manifest" not in str(caught.value)


async def test_an_interrupted_apply_converges_without_adopt(
    uipath: UiPathHarness, tmp_path: Path
) -> None:
    """The apply is killed after the provider created the webhook but before its id was
    recorded (the create's answer is lost, and the process dies while it looks it up): the
    next plan takes the webhook over, without --adopt, and nothing is created twice."""
    config = parse_config({"accounts": {"orch": uipath.account()},
                           "state": {"url": f"sqlite:///{tmp_path}/state.db"}})  # fmt: skip
    jobs = {"name": "jobs", "url": "https://hooks.example.com/jobs", "events": ["job.completed"]}
    data = {"accounts": {"orch": {"webhooks": {"jobs": jobs}}}}
    async with Gateway(config) as gw:
        manifest = parse_manifest(data, gw.config)
        await gw.account("orch").event_types()  # token and catalog first, without faults
        plan = await make_plan(gw, manifest)
        # Every call now takes 1 s and its answer is lost: the create is made, then the
        # lookup that would settle it hangs, and the process dies meanwhile.
        uipath.emulator.faults = Faults(latency=1.0, drop_rate=1.0)
        applying = asyncio.create_task(apply_plan(gw, plan))
        async with asyncio.timeout(5):
            while not uipath.emulator.webhooks:  # noqa: ASYNC110 - the provider's own state
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.1)  # the lookup is on its way
        applying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await applying
        uipath.emulator.faults = Faults()
        (made,) = uipath.emulator.webhooks.values()
        # Had someone else made a webhook of that name meanwhile, it is not taken over.
        made["Url"] = "https://someone-else.example.com/theirs"
        theirs = (await make_plan(gw, manifest)).accounts[0]
        assert theirs.error is not None and "not the one it meant to make" in theirs.error
        made["Url"] = jobs["url"]
        again = await make_plan(gw, manifest)  # no --adopt
        (account,) = again.accounts
        assert account.error is None, account.error
        assert [a.kind for a in account.actions] == ["adopt"]
        assert any("interrupted" in n for n in account.notes)
        assert (await apply_plan(gw, again)).failed == []
        assert (await make_plan(gw, manifest)).accounts[0].actions == ()
    assert len(uipath.emulator.webhooks) == 1 and made["Name"] == "jobs"


def test_a_plan_that_fails_never_says_no_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[accounts.mem]\nprovider = "memory"\nevent_types = ["job.completed"]\n')
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(
        '[accounts.mem.webhooks.k]\nname = "k"\n'
        'url = "https://hooks.example.com/k"\nevents = ["no.such.event"]\n'
    )
    code = main(["plan", str(manifest), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 1
    assert "No changes" not in out and "Plan incomplete: 1 account(s)" in out


async def test_events_are_planned_in_the_catalogs_spelling(uipath: UiPathHarness) -> None:
    """Two entries spelling their events alike (the set is spelled once) and one that needs no
    respelling: each is planned with the catalog's names, and one in another spelling of what
    the webhook has is no change."""
    uipath.emulator.add(Name="a", Url="https://hooks.example.com/a",
                        Events=[{"EventType": "job.completed"}])  # fmt: skip
    hooks: dict[str, Any] = {
        k: {
            "name": k,
            "url": f"https://hooks.example.com/{k}",
            "events": ["JOB.Completed", "Job.Faulted"],
        }
        for k in ("b", "c")
    }
    hooks["a"] = {"name": "a", "url": "https://hooks.example.com/a", "events": ["Job.Completed"]}
    config = parse_config({"accounts": {"orch": uipath.account()}})
    async with Gateway(config) as gw:
        plan = await make_plan(gw, parse_manifest({"accounts": {"orch": {"webhooks": hooks}}},
                                                  gw.config), adopt=True)  # fmt: skip
    (account,) = plan.accounts
    assert account.error is None, account.error
    created = {a.key: a.spec.events for a in account.actions if a.spec is not None}
    assert created == {k: frozenset({"job.completed", "job.faulted"}) for k in ("b", "c")}
    assert [a.key for a in account.actions] == ["b", "c"] and account.unchanged == 1


async def test_an_empty_tag_the_provider_reads_back_as_none_converges(gw: Gateway) -> None:
    """Enterprise Core stores ``tag = ""`` and reads it back as no tag: a plan takes the two as
    equal, so a reconcile does not rewrite the webhook at every look."""
    data = {"accounts": {"core": {"webhooks": {"t": {
        "name": "t", "url": "https://hooks.example.com/t", "events": ["policy.quote.issue"],
        "extras": {"tag": ""},
    }}}}}  # fmt: skip
    first = await plan_json(gw, data)
    assert (await apply_plan(gw, first)).failed == []
    assert (await plan_json(gw, data)).changes == 0
    data["accounts"]["core"]["webhooks"]["t"]["extras"] = {"tag": "ops"}
    assert (await plan_json(gw, data)).changes == 1  # a real tag still differs
