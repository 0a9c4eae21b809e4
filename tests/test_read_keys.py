"""What a read key may not read (security round 3): header values (``Authorization``,
``X-Api-Key``) are masked in every answer, names kept; a plan made with a read key compares no
secret, URL credential or header value, so it cannot test guesses; plans are audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.proxy.server import create_app
from tests.conftest import EnterpriseCoreHarness

WRITE = "rk-write-Vb7Qx2Lm9Zt4Hs"
READ = "rk-read-Nc3Wp8Kf5Rj6Dy"
BEARER = "Bearer dest-token-s3cret"
SECRET = "whsec-read-keys-s3cret-0001"
URL = "https://alice:pa55word@hooks.example.com/in?token=t0ken-s3cret"


@pytest.fixture
async def client(enterprise_core: EnterpriseCoreHarness, aiohttp_client: Any,
                 tmp_path: Path) -> Any:  # fmt: skip
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {
            "api_keys": [{"name": "ops", "scope": "write", "key": WRITE},
                         {"name": "ci", "scope": "read", "key": READ}],
            "destinations": {"allowed_hosts": ["hooks.example.com"],
                             "allow_unresolvable": True},
        },
    })  # fmt: skip
    return await aiohttp_client(create_app(config))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_read_keys_see_header_names_never_values(client: Any) -> None:
    spec = {"name": "h", "url": URL, "events": ["policy.quote.issue"], "secret": SECRET,
            "headers": {"Authorization": BEARER, "X-Api-Key": "k3y-s3cret"}}  # fmt: skip
    made = await client.post("/v1/accounts/core/webhooks", json=spec, headers=auth(WRITE))
    assert made.status == 201, await made.text()
    where = made.headers["Location"]
    for path in (where, "/v1/accounts/core/webhooks", "/v1/webhooks"):
        text = await (await client.get(path, headers=auth(READ))).text()
        assert "Authorization" in text and "X-Api-Key" in text
        for secret in (BEARER, "k3y-s3cret", "pa55word", "t0ken-s3cret"):
            assert secret not in text, (path, secret)
    exported = await (await client.get("/v1/export", headers=auth(READ))).text()
    assert "Authorization" in exported and BEARER not in exported and "k3y-s3cret" not in exported
    mine = await (await client.get(where, headers=auth(WRITE))).json()
    assert mine["headers"]["Authorization"] == [BEARER]  # a write key may see them


def manifest(secret: str, url: str, header: str) -> dict[str, Any]:
    webhook = {"name": "h", "url": url, "events": ["policy.quote.issue"], "secret": secret,
               "headers": {"Authorization": header, "X-Api-Key": "k3y-s3cret"}}  # fmt: skip
    return {"accounts": {"core": {"webhooks": {"h": webhook}}}}


async def test_a_read_keys_plan_cannot_test_guesses(client: Any) -> None:
    applied = await client.post("/v1/apply", headers=auth(WRITE),
                                json={"manifest": manifest(SECRET, URL, BEARER)})  # fmt: skip
    assert applied.status == 200, await applied.text()
    plans = []
    for secret, url, header in [
        (SECRET, URL, BEARER),  # every guess right
        ("wrong-guess-0001", URL.replace("pa55word", "guess"), "Bearer guess"),  # every wrong
    ]:
        answer = await client.post("/v1/plan", headers=auth(READ),
                                   json={"manifest": manifest(secret, url, header)})  # fmt: skip
        assert answer.status == 200, await answer.text()
        plans.append(await answer.json())
    right, wrong = plans
    assert right["accounts"][0]["actions"] == wrong["accounts"][0]["actions"]
    assert right["changes"] == wrong["changes"] == 0
    assert any("not compared" in n for n in right["accounts"][0]["notes"])
    # A write key's plan compares them: the wrong guesses are changes there.
    full = await client.post("/v1/plan", headers=auth(WRITE), json={
        "manifest": manifest("wrong-guess-0001", URL.replace("pa55word", "guess"), "Bearer x")
    })  # fmt: skip
    assert (await full.json())["changes"] == 1
    audit = await (await client.get("/v1/audit?actor=key:ci", headers=auth(READ))).json()
    assert [e["operation"] for e in audit["items"]] == ["plan", "plan"]
    assert all(e["change"]["credentials_compared"] is False for e in audit["items"])
