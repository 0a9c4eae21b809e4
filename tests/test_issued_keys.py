"""Keys issued at run time (issue 40, point 3): ``POST /v1/keys`` makes one for a service
(shown once, kept as a digest), ``GET /v1/keys`` lists them, ``DELETE /v1/keys/{id}`` revokes
one at once on every replica, its console sessions included; an expired key is refused.

Two replicas share a real PostgreSQL server; the command line does the same through SQLite.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from gateway import Gateway
from gateway.cli import main
from gateway.config import parse_config
from gateway.proxy.server import create_app
from gateway.store import IssuedKey
from tests.test_console import _csrf, login

ADMIN = {"Authorization": "Bearer admin-key-Hv7Qz2Lm9Tx"}
PUBLIC = "https://93.184.216.34/hooks"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def config(state_url: str) -> dict[str, Any]:
    return {
        "accounts": {
            "billing": {"provider": "memory", "event_types": ["a.one"]},
            "claims": {"provider": "memory", "event_types": ["a.one"]},
        },
        "server": {
            "api_keys": [
                {"name": "admin", "scope": "write", "key": "admin-key-Hv7Qz2Lm9Tx"},
            ]
        },
        "state": {"url": state_url},
        "access": {
            "grants": [
                {"who": "group:billing", "can": ["read", "write"], "accounts": ["billing"]},
            ]
        },
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_issued_on_one_replica_works_and_dies_on_the_other(
    postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    a = await aiohttp_client(create_app(parse_config(config(postgres_url))))
    b = await aiohttp_client(create_app(parse_config(config(postgres_url))))
    made = await a.post("/v1/keys", headers=ADMIN, json={
        "name": "billing-svc", "team": "billing", "expires_in_days": 30,
        "grants": [{"can": ["delete"], "accounts": ["billing"], "webhooks": ["svc-*"]}],
    })  # fmt: skip
    assert made.status == 201, await made.text()
    assert made.headers["Cache-Control"] == "no-store"
    issued = await made.json()
    key, key_id = issued["key"], issued["id"]
    assert key.startswith("wgk_") and len(key) > 40

    # the other replica knows it at once: the team's grants and its own
    svc = bearer(key)
    hook = await b.post("/v1/accounts/billing/webhooks", headers=svc,
                        json={"name": "svc-hook", "url": PUBLIC, "events": ["a.one"]})  # fmt: skip
    assert hook.status == 201, await hook.text()
    assert (await b.get("/v1/accounts/claims/webhooks", headers=svc)).status == 404
    assert (await b.get("/metrics", headers=svc)).status == 403  # every account's figures
    who = await (await b.get("/v1/whoami", headers=svc)).json()
    assert who["actor"] == "key:billing-svc" and who["groups"] == ["billing"]
    assert who["can"] == ["read", "write", "delete"]

    listed = (await (await b.get("/v1/keys", headers=ADMIN)).json())["items"]
    (entry,) = listed
    assert entry["name"] == "billing-svc" and entry["team"] == "billing"
    assert entry["last_used"] is not None and entry["created_by"] == "key:admin"
    text = json.dumps(listed)
    assert key not in text and hashlib.sha256(key.encode()).hexdigest() not in text
    assert (await b.get("/v1/keys", headers=svc)).status == 403  # admin only

    # a console session opened with it on replica b
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        base = str(b.make_url("")).rstrip("/")
        assert (await login(http, base, key)).status == 303
        assert (await http.get(f"{base}/console", allow_redirects=False)).status == 200

        revoked = await a.delete(f"/v1/keys/{key_id}", headers=ADMIN)
        assert revoked.status == 204
        # refused at once on the other replica, and its session ends there
        assert (await b.get("/v1/accounts/billing/webhooks", headers=svc)).status == 401
        page = await http.get(f"{base}/console", allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/console/login"
    assert (await a.delete(f"/v1/keys/{key_id}", headers=ADMIN)).status == 404

    audit = (await (await a.get("/v1/audit", headers=ADMIN)).json())["items"]
    operations = {e["operation"] for e in audit}
    assert {"issue key", "revoke key"} <= operations
    assert key not in json.dumps(audit)


async def test_an_expired_key_is_refused(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    parsed = parse_config(config(f"sqlite:///{tmp_path}/state.db"))
    async with Gateway(parsed) as gw:
        assert gw.store is not None
        now = time.time()
        for name, until in (("old", now - 1), ("fresh", now + 3600)):
            value = f"wgk_{name}-Rk3Vn8Qp5Zw2Lx7Mt4"
            await gw.store.issue_key(IssuedKey(
                id=f"key_{name}", name=name, digest=hashlib.sha256(value.encode()).hexdigest(),
                team="billing", created_at=now, created_by="test", expires_at=until,
            ))  # fmt: skip
        client = await aiohttp_client(create_app(parsed, gateway=gw))
        old = await client.get("/v1/accounts", headers=bearer("wgk_old-Rk3Vn8Qp5Zw2Lx7Mt4"))
        assert old.status == 401
        fresh = await client.get("/v1/accounts", headers=bearer("wgk_fresh-Rk3Vn8Qp5Zw2Lx7Mt4"))
        assert fresh.status == 200
        assert [a["name"] for a in (await fresh.json())["items"]] == ["billing"]


async def test_a_key_request_gets_every_problem_at_once(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(parse_config(config(f"sqlite:///{tmp_path}/state.db")))
    )
    bad = await client.post("/v1/keys", headers=ADMIN, json={
        "name": "", "colour": "red", "expires_in_days": 0,
        "grants": [{"can": ["fly"], "accounts": ["nope"]}, "x"],
    })  # fmt: skip
    assert bad.status == 400
    paths = {e["path"] for e in (await bad.json())["errors"]}
    assert paths == {"name", "colour", "expires_in_days", "grants[0].can", "grants[0].accounts",
                     "grants[1]"}  # fmt: skip
    nothing = await client.post("/v1/keys", headers=ADMIN, json={"name": "idle"})
    assert nothing.status == 400 and "give grants, a team, or both" in await nothing.text()
    body = {"name": "dup", "team": "billing"}
    assert (await client.post("/v1/keys", headers=ADMIN, json=body)).status == 201
    assert (await client.post("/v1/keys", headers=ADMIN, json=body)).status == 409
    bootstrap = {"name": "admin", "team": "billing"}
    assert (await client.post("/v1/keys", headers=ADMIN, json=bootstrap)).status == 400


def test_the_command_line_issues_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[accounts.billing]\nprovider = "memory"\n[state]\nurl = "sqlite:///{tmp_path}/state.db"\n'
    )
    args = ["--config", str(path)]
    code = main(["keys", "create", "ci", "--grant", "write,delete@billing:ci-*",
                 "--expires-in-days", "7", "--json", *args])  # fmt: skip
    made = json.loads(capsys.readouterr().out)
    assert code == 0 and made["key"].startswith("wgk_")
    assert made["grants"] == [{"can": ["write", "delete"], "accounts": ["billing"],
                               "webhooks": ["ci-*"]}]  # fmt: skip
    assert main(["keys", "list", "--json", *args]) == 0
    listed = json.loads(capsys.readouterr().out)["items"]
    assert [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]
    assert main(["keys", "revoke", made["id"], *args]) == 0
    assert main(["keys", "list", "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out)["items"] == []
    assert main(["keys", "revoke", made["id"], *args]) == 3  # not found


async def test_the_console_issues_lists_and_revokes_keys(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(parse_config(config(f"sqlite:///{tmp_path}/state.db")))
    )
    base = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await login(http, base, "admin-key-Hv7Qz2Lm9Tx")).status == 303
        page = await (await http.get(f"{base}/console/keys")).text()
        assert "None issued." in page and 'href="/console/keys"' in page
        form = {"csrf": _csrf(page), "once": _once(page), "name": "console-svc", "team": "billing",
                "grants": "delete@billing:svc-*", "expires_in_days": "7"}  # fmt: skip
        shown = await (await http.post(f"{base}/console/keys", data=form)).text()
        key = re.search(r'<code id="new-key">([^<]+)</code>', shown)
        assert key and key.group(1).startswith("wgk_")
        who = await client.get("/v1/whoami", headers=bearer(key.group(1)))
        assert (await who.json())["can"] == ["read", "write", "delete"]
        page = await (await http.get(f"{base}/console/keys")).text()
        assert "console-svc" in page and key.group(1) not in page
        action = re.search(r'action="(/console/keys/[^"]+/revoke)"', page)
        assert action
        done = await http.post(f"{base}{action.group(1)}",
                               data={"csrf": _csrf(page), "once": _once(page)})  # fmt: skip
        assert "revoked" in await done.text()
        refused = await client.get("/v1/whoami", headers=bearer(key.group(1)))
        assert refused.status == 401
        audit = await (await http.get(f"{base}/console/audit")).text()
        # names and the grant that allowed it, a link to the actor's other writes
        assert '<a href="?actor=key%3Aadmin">admin</a>' in audit
        assert "(bootstrap key admin (write))" in audit and "issue key" in audit


def _once(page: str) -> str:
    found = re.search(r'name="once" value="([^"]+)"', page)
    assert found
    return found.group(1)
