"""Manifests belong to an owner (issue 40, point 5): two teams' manifests on one account plan
and apply without touching each other; ``--prune`` stays within the owner's own; another
owner's webhook is "managed by X" and never taken; handing one over is explicit and audited.

Against a real PostgreSQL server (the store replicas share) and the SQLite default.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway import Gateway
from gateway.config import parse_config
from gateway.errors import ConfigError, Conflict, Forbidden
from gateway.operations import Operations, Principal
from gateway.plan import parse_manifest

URL = "https://93.184.216.34/hooks"


def manifest(owner: str | None, **hooks: str) -> dict[str, Any]:
    hooks_table = {k: {"name": n, "url": URL, "events": ["a.one"]} for k, n in hooks.items()}
    data: dict[str, Any] = {"accounts": {"shared": {"webhooks": hooks_table}}}
    if owner is not None:
        data["owner"] = owner
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_two_owners_share_an_account_without_touching_each_other(state_url: str) -> None:
    config = parse_config({
        "accounts": {"shared": {"provider": "memory", "event_types": ["a.one"]}},
        "state": {"url": state_url},
    })  # fmt: skip
    async with Gateway(config) as gw:
        ops, root = Operations(gw), Principal.local()

        async def apply(data: dict[str, Any], **flags: Any) -> Any:
            return await ops.apply(root, {"manifest": data, **flags})

        first = await apply(manifest("billing", a="bill-a", b="bill-b", c="bill-c"))
        assert first.report.to_json()["applied"] == 3
        # claims' one-entry manifest: one create, nothing of billing's to delete, even pruned
        plan = await ops.plan(root, {"manifest": manifest("claims", x="claims-x"),
                                     "prune": True})  # fmt: skip
        (account,) = plan.accounts
        assert [(a.kind, a.name) for a in account.actions] == [("create", "claims-x")]
        assert "3 webhook(s) managed by owner 'billing': left alone" in account.notes
        await apply(manifest("claims", x="claims-x"), prune=True)
        names = {w["name"] for w in (await ops.list_all(root, "shared", {})).items}
        assert names == {"bill-a", "bill-b", "bill-c", "claims-x"}

        # billing drops one of its own, prunes: only its own goes
        await apply(manifest("billing", a="bill-a", b="bill-b"), prune=True)
        names = {w["name"] for w in (await ops.list_all(root, "shared", {})).items}
        assert names == {"bill-a", "bill-b", "claims-x"}

        # claims names billing's webhook: not taken, even with adopt
        stolen = await ops.plan(root, {"manifest": manifest("claims", x="claims-x", y="bill-a"),
                                       "adopt": True})  # fmt: skip
        assert "managed by owner 'billing': not taken over" in (stolen.accounts[0].error or "")

        # billing hands it over (audited); then claims manages it and billing's plan lets go
        bill_a = next(w for w in (await ops.list_all(root, "shared", {})).items
                      if w["name"] == "bill-a")  # fmt: skip
        moved = await ops.transfer(root, "shared", bill_a["id"], {"owner": "claims", "key": "y"})
        assert moved["previous_owner"] == "billing" and moved["owner"] == "claims"
        bill_b = next(w for w in (await ops.list_all(root, "shared", {})).items
                      if w["name"] == "bill-b")  # fmt: skip
        with pytest.raises(Conflict, match="under the key 'y'"):  # a key is one webhook's
            await ops.transfer(root, "shared", bill_b["id"], {"owner": "claims", "key": "y"})
        plan = await ops.plan(root, {"manifest": manifest("claims", x="claims-x", y="bill-a")})
        assert plan.changes == 0
        plan = await ops.plan(root, {"manifest": manifest("billing", b="bill-b"), "prune": True})
        assert [(a.kind, a.name) for a in plan.accounts[0].actions] == []
        audit = (await ops.audit(root, {}))["items"]
        transfer = next(e for e in audit if e["operation"] == "transfer")
        assert transfer["change"] == {"from": "billing", "to": "claims", "key": "y"}

        # a manifest without an owner is an owner of its own ("")
        plan = await ops.plan(root, {"manifest": manifest(None, z="bill-b")})
        assert "managed by owner 'billing': not taken over" in (plan.accounts[0].error or "")


def test_an_owner_must_be_a_name() -> None:
    config = parse_config({"accounts": {"shared": {"provider": "memory",
                                                   "event_types": ["a.one"]}}})  # fmt: skip
    with pytest.raises(ConfigError, match="owner: must be a team's name"):
        parse_manifest(manifest("two words"), config)
    assert parse_manifest(manifest("billing"), config).owner == "billing"


async def test_a_person_plans_only_their_own_teams_manifests(tmp_path: Any) -> None:
    config = parse_config({
        "accounts": {"shared": {"provider": "memory", "event_types": ["a.one"]}},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "access": {"grants": [{"who": ["group:billing", "group:claims"],
                               "can": ["read", "write"], "accounts": ["shared"]}]},
    })  # fmt: skip
    grants = config.access.to_grants()
    bob = Principal.user("bob", email="bob@example.com", groups=["claims"], grants=grants)
    async with Gateway(config) as gw:
        ops = Operations(gw)
        with pytest.raises(Forbidden, match="belongs to 'billing'"):
            await ops.plan(bob, {"manifest": manifest("billing", a="bill-a")})
        plan = await ops.plan(bob, {"manifest": manifest("claims", x="claims-x")})
        assert plan.changes == 1
        # a bootstrap key of the config (a read key in CI, say) plans any team's
        reader = Principal.key("ci-read", "read", grants)
        assert (await ops.plan(reader, {"manifest": manifest("billing", a="b")})).changes == 1
