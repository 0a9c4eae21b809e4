"""One destination policy on every path (the library, the proxy's routes, plan/apply over HTTP,
the command line), with the real strict default, and hosts read as a WHATWG parser reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp.test_utils import TestClient

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.cli import main
from gateway.config import parse_config
from gateway.destinations import DestinationPolicy, canonical_host
from gateway.errors import ConfigError, InvalidRequest
from gateway.model import AlertEndpoint, FailureHandling
from gateway.proxy.server import create_app

pytestmark = pytest.mark.strict_destinations

PUBLIC = "https://93.184.216.34/hooks"  # a public address: no DNS needed
WRITE = {"Authorization": "Bearer write-key-Gz6Ny3Kt8Qv"}
WRITER = {"name": "deployer", "scope": "write", "key": "write-key-Gz6Ny3Kt8Qv"}
#: 169.254.169.254 in fullwidth digits and ideographic full stops
FULLWIDTH = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else "\u3002" for c in "169.254.169.254")
METADATA_SPELLINGS = [
    "http://169.254.169.254/latest",
    "https://169.254.169.254/latest",
    "https://%31%36%39.254.169.254/latest",
    "https://2852039166/latest",
    "https://0xa9fea9fe/latest",
    "https://0251.0376.0251.0376/latest",
    "https://169.254.43518/latest",
    "https://[::ffff:169.254.169.254]/latest",
    f"https://{FULLWIDTH}/latest",  # digits and dots as wide forms
]


def config(**top: Any) -> dict[str, Any]:
    return {
        "accounts": {"mem": {"provider": "memory", "event_types": ["a.one"]}},
        "server": {"api_keys": [WRITER]},
        "state": {"url": "sqlite:///:memory:"},
        **top,
    }


@pytest.mark.parametrize("url", METADATA_SPELLINGS)
async def test_the_library_refuses_every_spelling_of_the_metadata_address(url: str) -> None:
    # allow_unresolvable and allow_http must not let a spelling through
    cfg = config(destinations={"allow_unresolvable": True, "allow_http": True})
    async with Gateway(parse_config(cfg)) as gw:
        mem = gw.account("mem")
        with pytest.raises(InvalidRequest) as caught:
            await mem.create(WebhookSpec(name="meta", url=url, events={"a.one"}))
        assert caught.value.problems[0].path == "url"
        assert "refused" in caught.value.problems[0].message
        assert [w async for w in mem.list()] == []  # nothing was written


async def test_the_library_checks_changes_and_alert_endpoints_and_can_be_permissive() -> None:
    async with Gateway(parse_config(config())) as gw:
        mem = gw.account("mem")
        made = await mem.create(WebhookSpec(name="ok", url=PUBLIC, events={"a.one"}))
        with pytest.raises(InvalidRequest, match=r"url: refused by policy: .*loopback"):
            await mem.update(made.id, WebhookChange(url="https://127.0.0.1/x"))
        alert = FailureHandling(alert_endpoint=AlertEndpoint(url="https://10.0.0.8/alert"))
        with pytest.raises(InvalidRequest) as caught:
            await mem.update(made.id, WebhookChange(failure_handling=alert))
        assert caught.value.problems[0].path == "failure_handling.alert_endpoint.url"
        assert (await mem.get(made.id)).url == PUBLIC  # unchanged
    permissive = attrs.evolve(parse_config(config()), destinations=DestinationPolicy.permissive())
    async with Gateway(permissive) as gw:
        made = await gw.account("mem").create(
            WebhookSpec(name="local", url="http://127.0.0.1:9/x", events={"a.one"})
        )
        assert made.url == "http://127.0.0.1:9/x"


async def test_plan_and_apply_over_http_refuse_at_plan_with_the_key_path(
    aiohttp_client: Any,
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(parse_config(config())))
    manifest = {"accounts": {"mem": {"webhooks": {
        "ok": {"name": "ok", "url": PUBLIC, "events": ["a.one"]},
        "meta": {"name": "meta", "url": "https://169.254.169.254/latest", "events": ["a.one"]},
    }}}}  # fmt: skip
    resp = await client.post("/v1/plan", json={"manifest": manifest}, headers=WRITE)
    plan = await resp.json()
    (account,) = plan["accounts"]
    assert account["actions"] == []
    assert "accounts.mem.webhooks.meta.url: refused by policy" in account["error"]
    applied = await client.post("/v1/apply", json={"manifest": manifest}, headers=WRITE)
    body = await applied.json()
    assert body["report"]["applied"] == 0
    listed = await client.get("/v1/accounts/mem/webhooks", headers=WRITE)
    assert (await listed.json())["items"] == []


async def test_proxy_routes_refuse_through_the_same_check(aiohttp_client: Any) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(parse_config(config())))
    resp = await client.post(
        "/v1/accounts/mem/webhooks",
        json={"name": "m", "url": "https://2852039166/latest", "events": ["a.one"]},
        headers=WRITE,
    )
    assert resp.status == 400
    (error,) = (await resp.json())["errors"]
    assert error["path"] == "url" and "169.254.169.254" in error["message"]


def test_the_command_line_applies_the_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[accounts.mem]\nprovider = "memory"\nevent_types = ["job.completed"]\n'
                    '[server.destinations]\nallow_http = true\n')  # fmt: skip
    code = main(["create", "mem", "--config", str(path), "--name", "meta", "--url",
                 "http://169.254.169.254/latest", "--event", "job.completed"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 4
    assert "url: refused by policy: 169.254.169.254 is a cloud metadata address" in err


def test_destinations_is_read_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"destinations": {}, "server": {"destinations": {"allow_http": True}}})
    assert [p.path for p in caught.value.problems] == ["server.destinations"]
    legacy = parse_config({"server": {"destinations": {"allow_http": True}}}, server=False)
    assert legacy.destinations.allow_http  # read by every command, not only serve
    assert parse_config({}).destinations == DestinationPolicy()  # strict by default


@pytest.mark.parametrize(
    ("raw", "host", "refused"),
    [
        ("hooks.example.com", "hooks.example.com", False),
        ("EXAMPLE.com.", "example.com", False),
        ("xn--bcher-kva.example", "xn--bcher-kva.example", False),
        ("bücher.example", "xn--bcher-kva.example", False),
        ("\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\u3002com", "example.com", False),  # fullwidth
        ("%31%36%39.254.169.254", "169.254.169.254", True),
        ("a%2eb.com", "a.b.com", True),
        ("0x7f.1", "127.0.0.1", True),
        ("017700000001", "127.0.0.1", True),
        ("1.2.3.04", "1.2.3.4", True),
        ("1.2.3.4.5", "1.2.3.4.5", True),
        ("08.1.1.1", "08.1.1.1", True),
    ],
)
def test_hosts_read_as_a_whatwg_parser_reads_them(raw: str, host: str, refused: bool) -> None:
    read, problem = canonical_host(raw)
    assert read == host
    assert (problem is not None) is refused, problem


def test_refusals_name_the_rule_and_never_a_secret() -> None:
    async def check() -> list[Any]:
        policy = DestinationPolicy(allow_unresolvable=True)
        return await policy.problems("https://user:hunter2@%31%32%37.0.0.1/x", "url")

    import asyncio

    (problem,) = asyncio.run(check())
    assert "percent-encoded" in problem.message and "hunter2" not in json.dumps(str(problem))
