"""Provider calls at the API's minimum (issue 43, point 3), counted at the emulators: a UiPath
change of scalars is one PATCH; event changes read, then write; the proxy's pages come from
provider pages of the provider's largest size."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway import Gateway, WebhookChange
from gateway.config import parse_config
from gateway.errors import InvalidRequest
from gateway.operations.held_pages import MAX_HELD, HeldPages
from gateway.proxy.appkeys import OPERATIONS
from gateway.proxy.server import create_app
from gateway.service import Account
from providers.uipath.emulator import CATALOG
from tests.conftest import UiPathHarness
from tests.test_listing import READ, ClientFactory, _config, _pages, _uipath, uipath_with

WRITE = "write-key-0987-abcdef"


async def cli_with(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    """``webhook-gateway ARGV`` in a subprocess with ``env`` added to this one's."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *argv, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def orch(uipath: UiPathHarness) -> AsyncIterator[Account]:
    async with Gateway(parse_config({"accounts": {"orch": uipath.account()}})) as gw:
        yield gw.account("orch")


def _api(harness: UiPathHarness) -> dict[str, int]:
    """The OData requests the emulator got (the token's left out), by method."""
    counted: dict[str, int] = {}
    for key, n in harness.emulator.traffic.requests.items():
        method, route = key.split(" ", 1)
        if route.startswith("/odata"):
            counted[method] = counted.get(method, 0) + n
    return counted


@pytest.mark.parametrize(
    "change",
    [
        {"enabled": False},
        {"name": "renamed", "description": None},
        {"secret": "a-new-secret-of-enough-length", "allow_insecure_ssl": True},
        {"all_events": True},
    ],
)
async def test_a_scalar_uipath_update_is_one_patch(
    uipath: UiPathHarness, orch: Account, change: dict[str, Any]
) -> None:
    record = uipath.emulator.add(Events=[{"EventType": "job.completed"}], Description="d")
    before = dict(record)
    uipath.emulator.traffic.reset()
    updated = await orch.update(str(record["Id"]), WebhookChange(**change))
    assert _api(uipath) == {"PATCH": 1}
    stored = uipath.emulator.webhooks[record["Id"]]
    expected = {
        "enabled": "Enabled", "name": "Name", "description": "Description",
        "allow_insecure_ssl": "AllowInsecureSsl", "all_events": "SubscribeToAllEvents",
    }  # fmt: skip
    for field, value in change.items():
        if field in expected:
            assert stored[expected[field]] == value
            assert getattr(updated, field) == value
    if "secret" in change:
        assert stored["Secret"] == change["secret"]
    untouched = {"Url", "Events"} | {p for f, p in expected.items() if f not in change}
    assert {k: stored[k] for k in untouched} == {k: before[k] for k in untouched}


async def test_an_event_change_reads_then_writes(uipath: UiPathHarness, orch: Account) -> None:
    record = uipath.emulator.add(Events=[{"EventType": "job.completed"}])
    await orch.event_types()  # (the catalog, read once, is not what this counts)
    uipath.emulator.traffic.reset()
    updated = await orch.update(
        str(record["Id"]), WebhookChange(add_events={"job.faulted"}, enabled=False)
    )
    assert _api(uipath) == {"GET": 1, "PATCH": 1}
    assert updated.events == {"job.completed", "job.faulted"} and not updated.enabled


async def test_paging_5000_at_the_default_limit_reads_provider_pages_of_1000(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(5000) as (_emulator, url, seen):
        app = create_app(parse_config(_config({"orch": _uipath(url)})))
        client = await aiohttp_client(app)
        pages = await _pages(client, "/v1/accounts/orch/webhooks")
        names = [item["name"] for page in pages for item in page["items"]]
        assert names == [f"hook-{i:05d}" for i in range(5000)]
        assert {len(p["items"]) for p in pages} == {100}
        # the first page at its size; then 1,000 at a time (the provider's minimum is 5)
        assert [(q["$skip"], q["$top"]) for q in seen] == [
            ("0", "100"), ("100", "1000"), ("1100", "1000"), ("2100", "1000"),
            ("3100", "1000"), ("4100", "1000"),
        ]  # fmt: skip
        held: HeldPages | None = app[OPERATIONS].held
        assert held is not None and held.used >= 40 and len(held) <= MAX_HELD


async def test_a_held_page_is_not_served_after_a_write_or_when_old(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(300) as (_emulator, url, seen):
        config = _config({"orch": _uipath(url)})
        config["server"]["api_keys"].append({"name": "deploy", "scope": "write", "key": WRITE})
        config["server"]["list_read_ahead"] = 0.3
        client = await aiohttp_client(create_app(parse_config(config)))
        path = "/v1/accounts/orch/webhooks"
        first = await (await client.get(path, headers=READ)).json()
        second = await (await client.get(path, params={"cursor": first["next_cursor"]},
                                         headers=READ)).json()  # fmt: skip
        assert [q["$skip"] for q in seen] == ["0", "100"]  # 100..299 read and held
        resp = await client.patch(f"{path}/250", json={"name": "renamed-through-the-proxy"},
                                  headers={"Authorization": f"Bearer {WRITE}"})  # fmt: skip
        assert resp.status == 200, await resp.text()
        third = await (await client.get(path, params={"cursor": second["next_cursor"]},
                                        headers=READ)).json()  # fmt: skip
        assert [q["$skip"] for q in seen] == ["0", "100", "200"]  # read anew after the write
        assert "renamed-through-the-proxy" in [i["name"] for i in third["items"]]
        # an old held page is read anew too
        again = await (await client.get(path, params={"cursor": first["next_cursor"]},
                                        headers=READ)).json()  # fmt: skip
        await asyncio.sleep(0.4)
        await client.get(path, params={"cursor": again["next_cursor"]}, headers=READ)
        assert [q["$skip"] for q in seen][-2:] == ["100", "200"]


def _catalog_reads(harness: UiPathHarness) -> int:
    return sum(n for key, n in harness.emulator.traffic.requests.items() if "GetEventTypes" in key)


@pytest.mark.parametrize("state", [False, True], ids=["cache-files", "state-store"])
async def test_two_cli_runs_read_the_catalog_once(
    uipath: UiPathHarness, tmp_path: Path, state: bool
) -> None:
    config = tmp_path / "gateway.toml"
    text = "[accounts.orch]\n" + "".join(f'{k} = "{v}"\n' for k, v in uipath.account().items())
    if state:
        text += f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n'
    config.write_text(text)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    for name in ("first", "second"):
        code, _out, err = await cli_with(env, "create", "orch", "--config", str(config), "--name",
                                         name, "--url", "https://93.184.215.14/in",
                                         "--event", "JOB.completed")  # fmt: skip
        assert code == 0, err
    assert _catalog_reads(uipath) == 1
    assert {w["Name"] for w in uipath.emulator.webhooks.values()} == {"first", "second"}
    assert all(w["Events"] == [{"EventType": "job.completed"}]
               for w in uipath.emulator.webhooks.values())  # fmt: skip
    assert (tmp_path / "cache" / "webhook-gateway" / "catalogs").exists() != state


async def test_a_kept_catalog_ages_and_an_unknown_name_reads_it_again(
    uipath: UiPathHarness, tmp_path: Path
) -> None:
    cfg = {"accounts": {"orch": uipath.account()},
           "state": {"url": f"sqlite:///{tmp_path}/state.db", "catalog_max_age": 60}}  # fmt: skip
    async with Gateway(parse_config(cfg)) as gw:
        await gw.account("orch").event_types()
    async with Gateway(parse_config(cfg)) as gw:  # another run (or replica): the kept one
        await gw.account("orch").event_types()
        assert _catalog_reads(uipath) == 1
        store = gw.store
        assert store is not None
        kept = await store.catalog(gw.account("orch")._catalog_key)
        assert kept is not None
        # kept longer ago than catalog_max_age: read again
        await store.execute_one(  # type: ignore[attr-defined]
            "UPDATE event_catalogs SET read_at = read_at - 61"
        )
    async with Gateway(parse_config(cfg)) as gw:
        await gw.account("orch").event_types()
        assert _catalog_reads(uipath) == 2
        # a name the catalog lacks, read 30 s ago: not read again (at most once a minute)...
        orch, store = gw.account("orch"), gw.store
        assert store is not None
        orch._catalog_read_at -= 30
        with pytest.raises(InvalidRequest):
            await orch.canonical_events(["tenant.new.event"], "events")
        assert _catalog_reads(uipath) == 2
        # ...but once a minute has passed, it is, and a name the tenant has now is found
        orch._catalog_read_at -= 31
        await store.execute_one(  # type: ignore[attr-defined]
            "UPDATE event_catalogs SET read_at = read_at - 61"
        )
        CATALOG.append({"Name": "tenant.new.event", "Group": "Tenant"})
        try:
            spelled = await orch.canonical_events(["TENANT.new.event"], "events")
        finally:
            CATALOG.pop()
        assert spelled == {"tenant.new.event"}
        assert _catalog_reads(uipath) == 3, uipath.emulator.traffic.requests
