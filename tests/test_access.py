"""Grants (``[[access.grants]]``, gateway/access.py): who may do what, where; decided in the
operations layer for every front door (issue 40, point 4).

Two teams share a gateway: billing may read, write and delete on the ``billing`` account; Bob
may write only the webhooks named ``bob-*`` of ``claims``; a service key reads everything and
may change ``billing``. Each is checked through the operations (as the console and the local
command line call them) and through the real proxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway import Gateway
from gateway.access import Allowance, Grant, system_allowance
from gateway.config import parse_config
from gateway.errors import ConfigError, Forbidden, NotFound
from gateway.operations import Operations, Principal
from gateway.proxy.server import create_app

PUBLIC = "https://93.184.216.34/hooks"
SVC = {"Authorization": "Bearer svc-key-Qm4Tz8Lp2Wx"}

GRANTS = [
    {"who": "group:billing", "can": ["read", "write", "delete"], "accounts": ["billing"]},
    {"who": ["user:bob@example.com"], "can": ["write"], "accounts": ["claims"],
     "webhooks": ["bob-*"]},
    {"who": "key:billing-svc", "can": ["write", "secrets"], "accounts": ["bill*"]},
    {"who": "group:auditors", "can": ["admin"]},
]  # fmt: skip


def config(grants: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "accounts": {
            "billing": {"provider": "memory", "event_types": ["a.one", "a.two"]},
            "claims": {"provider": "memory", "event_types": ["a.one", "a.two"]},
        },
        "server": {
            "api_keys": [
                {"name": "billing-svc", "scope": "read", "key": "svc-key-Qm4Tz8Lp2Wx"},
            ]
        },
        "access": {"grants": GRANTS if grants is None else grants},
    }


@pytest.fixture
async def ops() -> AsyncIterator[tuple[Operations, tuple[Grant, ...]]]:
    parsed = parse_config(config())
    async with Gateway(parsed) as gw:
        yield Operations(gw), parsed.access.to_grants()


def spec(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": PUBLIC, "events": ["a.one"], **extra}


def test_grants_are_checked_with_their_paths() -> None:
    bad = [
        {"who": "team:billing", "can": ["read"]},
        {"who": "group:billing", "can": ["read", "fly"], "accounts": ["billing"]},
        {"who": "group:billing", "can": ["read"], "accounts": ["biling"]},
        {"who": "group:billing", "can": []},
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(config(bad))
    problems = {p.path: p.message for p in caught.value.problems}
    assert "group:NAME" in problems["access.grants[0].who"]
    assert "must be one of: read, write, delete, secrets, admin" in problems[
        "access.grants[1].can"]  # fmt: skip
    assert "'biling' names no configured account" in problems["access.grants[2].accounts"]
    assert "did you mean 'billing'" in problems["access.grants[2].accounts"]
    assert "at least one action" in problems["access.grants[3].can"]


async def test_a_team_sees_and_changes_only_its_account(
    ops: tuple[Operations, tuple[Grant, ...]],
) -> None:
    operations, grants = ops
    ana = Principal.user("sub-ana", email="ana@example.com", groups=["billing"], grants=grants)
    root = Principal.local()
    await operations.create(root, "claims", spec("claims-hook"))

    assert [a["name"] for a in (await operations.accounts(ana)).items] == ["billing"]
    made = (await operations.create(ana, "billing", spec("ana-hook"))).webhook
    await operations.update(ana, "billing", made.id, {"enabled": False})
    listed = await operations.list_all(ana, None, {})
    assert [(i["account"], i["name"]) for i in listed.items] == [("billing", "ana-hook")]
    # claims does not exist for her: 404, with no list of the accounts she may not read
    for attempt in (
        operations.list_all(ana, "claims", {}),
        operations.create(ana, "claims", spec("x")),
        operations.event_types(ana, "claims"),
    ):
        with pytest.raises(NotFound) as caught:
            await attempt
        assert "claims" not in str(caught.value).split("configured:")[1]
    # no secrets grant: setting a secret is refused, nothing written
    with pytest.raises(Forbidden, match="secrets"):
        await operations.create(ana, "billing", spec("with-secret", secret="s3cret-value-x"))
    assert {w["name"] for w in (await operations.list_all(root, "billing", {})).items} == {
        "ana-hook"
    }
    await operations.delete(ana, "billing", made.id)


async def test_grants_by_webhook_name_hide_the_rest(
    ops: tuple[Operations, tuple[Grant, ...]],
) -> None:
    operations, grants = ops
    bob = Principal.user("sub-bob", email="bob@example.com", grants=grants)
    root = Principal.local()
    other = (await operations.create(root, "claims", spec("team-hook"))).webhook
    mine = (await operations.create(bob, "claims", spec("bob-alerts"))).webhook

    assert [i["name"] for i in (await operations.list_all(bob, "claims", {})).items] == [
        "bob-alerts"
    ]
    assert (await operations.get(bob, "claims", mine.id)).webhook.name == "bob-alerts"
    # what he may not read is a 404 for every use case, never a 403
    for attempt in (
        operations.get(bob, "claims", other.id),
        operations.update(bob, "claims", other.id, {"enabled": False}),
        operations.ping(bob, "claims", other.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    with pytest.raises(Forbidden, match="renaming"):  # out of his names
        await operations.update(bob, "claims", mine.id, {"name": "team-2"})
    with pytest.raises(Forbidden, match="delete"):  # write is not delete
        await operations.delete(bob, "claims", mine.id)
    with pytest.raises(Forbidden):
        await operations.create(bob, "claims", spec("not-bob"))
    with pytest.raises(NotFound):  # billing: nothing of it is his
        await operations.list_all(bob, "billing", {})
    assert (await operations.get(root, "claims", other.id)).webhook.enabled


async def test_plans_leave_out_what_the_caller_may_not_read_and_refuse_what_it_may_not_do(
    ops: tuple[Operations, tuple[Grant, ...]],
) -> None:
    operations, grants = ops
    bob = Principal.user("sub-bob", email="bob@example.com", grants=grants)
    root = Principal.local()
    await operations.create(root, "claims", spec("team-hook"))
    await operations.create(root, "claims", spec("bob-old"))
    manifest = {"accounts": {"claims": {"webhooks": {
        "new": {"name": "bob-new", "url": PUBLIC, "events": ["a.one"]}}}}}  # fmt: skip
    plan = await operations.plan(bob, {"manifest": manifest, "adopt": True, "prune": True})
    (account,) = plan.accounts
    shown = {(a.kind, a.name) for a in account.actions}
    assert ("create", "bob-new") in shown and ("delete", "bob-old") in shown
    assert all(name != "team-hook" for _, name in shown)  # not his: left out, left alone
    assert "1 webhook(s) you may not read are left alone" in account.notes
    assert "not allowed: delete 'bob-old' in claims needs a grant of 'delete'" in account.warnings
    with pytest.raises(Forbidden, match="nothing was applied"):
        await operations.apply(bob, {"manifest": manifest, "adopt": True, "prune": True})
    names = {w["name"] for w in (await operations.list_all(root, "claims", {})).items}
    assert names == {"team-hook", "bob-old"}  # nothing written
    # without prune, his plan is his to apply
    applied = await operations.apply(bob, {"manifest": manifest})
    assert not applied.report.failed
    names = {w["name"] for w in (await operations.list_all(root, "claims", {})).items}
    assert names == {"team-hook", "bob-old", "bob-new"}


async def test_the_audit_log_shows_an_admin_everything_and_others_their_accounts(
    tmp_path: Any,
) -> None:
    data = config() | {"state": {"url": f"sqlite:///{tmp_path}/state.db"}}
    parsed = parse_config(data)
    grants = parsed.access.to_grants()
    async with Gateway(parsed) as gw:
        operations = Operations(gw)
        root = Principal.local()
        await operations.create(root, "claims", spec("claims-hook"))
        ana = Principal.user("sub-ana", email="ana@example.com", groups=["billing"],
                             grants=grants)  # fmt: skip
        await operations.create(ana, "billing", spec("ana-hook"))
        auditor = Principal.user("sub-eve", email="eve@example.com", groups=["auditors"],
                                 grants=grants)  # fmt: skip
        everything = (await operations.audit(auditor, {}))["items"]
        assert {e["account"] for e in everything} == {"billing", "claims"}
        hers = (await operations.audit(ana, {}))["items"]
        assert {e["account"] for e in hers} == {"billing"}
        assert hers[0]["actor"] == "user:ana@example.com"
        assert hers[0]["grant"] == "access.grants[0]"  # the grant that allowed it
        root_entry = next(e for e in everything if e["account"] == "claims")
        assert root_entry["grant"] == "the config's credentials (local)"


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_the_proxy_asks_the_same_grants(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(parse_config(config())))
    made = await client.post("/v1/accounts/billing/webhooks", json=spec("svc"), headers=SVC)
    assert made.status == 201, await made.text()
    refused = await client.post("/v1/accounts/claims/webhooks", json=spec("svc"), headers=SVC)
    assert refused.status == 403  # it may read claims (its scope), not write there
    body = (await refused.json())["detail"]
    assert "may not write account 'claims'" in body
    who = await (await client.get("/v1/whoami", headers=SVC)).json()
    assert who["actor"] == "key:billing-svc" and who["can"] == ["read", "write", "secrets"]
    assert {g["grant"] for g in who["grants"]} == {
        "bootstrap key billing-svc (read)", "access.grants[2]"}  # fmt: skip
    deleted = await client.delete(
        f"/v1/accounts/billing/webhooks/{(await made.json())['id']}", headers=SVC
    )
    assert deleted.status == 403  # write and secrets, not delete
    assert (await client.get("/metrics", headers=SVC)).status == 200  # reads every account


def test_system_watch_does_everything_unless_a_grant_names_it() -> None:
    assert system_allowance("watch", ()).allows("delete", "any", "hook")
    only_billing = Grant(who=("system:watch",), can=frozenset({"write"}), accounts=("billing",))
    allowed = system_allowance("watch", (only_billing,))
    assert allowed.allows("write", "billing", "x") and not allowed.allows("write", "claims", "x")
    assert not allowed.allows("delete", "billing", "x")
    assert Allowance.of(["group:a"], (only_billing,)).grants == ()


async def test_metrics_are_for_callers_that_may_read_every_account(
    aiohttp_client: ClientFactory,
) -> None:
    data = config()
    data["server"]["api_keys"].append({"name": "ops", "scope": "write",
                                       "key": "ops-key-Wq6Tz2Lm8Kx"})  # fmt: skip
    client = await aiohttp_client(create_app(parse_config(data)))
    assert (await client.get("/metrics", headers={
        "Authorization": "Bearer ops-key-Wq6Tz2Lm8Kx"})).status == 200  # fmt: skip
