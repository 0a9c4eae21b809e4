"""The HTTP proxy: routes, API keys, problem answers, paging, fan-out, policy, metrics."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.lifecycle import GC_THRESHOLDS, tune_gc
from gateway.proxy.server import GATEWAY, create_app
from tests.conftest import UiPathHarness

WRITE = {"Authorization": "Bearer write-key-Gz6Ny3Kt8Qv"}
READ = {"Authorization": "Bearer read-key-4567"}
PUBLIC = "https://93.184.216.34/hooks"  # a public address: no DNS needed, passes the policy

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def config(accounts: dict[str, Any] | None = None, **server: Any) -> dict[str, Any]:
    return {
        "accounts": accounts
        or {"mem": {"provider": "memory", "page_size": 2, "event_types": ["a.one", "a.two"]}},
        "server": {
            "api_keys": [
                {"name": "deployer", "scope": "write", "key": "write-key-Gz6Ny3Kt8Qv"},
                {
                    "name": "dashboard",
                    "scope": "read",
                    "key_sha256": hashlib.sha256(b"read-key-4567").hexdigest(),
                },
            ],
            **server,
        },
    }


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(parse_config(config())))


async def create(client: TestClient[Any, Any], **body: Any) -> dict[str, Any]:
    resp = await client.post(
        "/v1/accounts/mem/webhooks",
        json={"name": "n", "url": PUBLIC, "events": ["a.one"], **body},
        headers=WRITE,
    )
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_health_needs_no_key_and_everything_else_does(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/v1/accounts")
    assert resp.status == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    body = await resp.json()
    assert body["detail"] == "send Authorization: Bearer <api key>"
    assert body["request_id"] == resp.headers["X-Request-Id"]
    for bad in ("Bearer nope", "Basic abc", "Bearer "):
        resp = await client.get("/v1/accounts", headers={"Authorization": bad})
        assert resp.status == 401, bad
    assert (await client.get("/metrics")).status == 401


async def test_read_keys_read_and_write_keys_write(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/v1/accounts", headers=READ)).status == 200
    resp = await client.post("/v1/accounts/mem/webhooks", json={}, headers=READ)
    assert resp.status == 403
    assert "'dashboard' may only read" in (await resp.json())["detail"]


async def test_crud_round_trip(client: TestClient[Any, Any]) -> None:
    made = await create(client, secret="s3cret-value", headers={"X-A": "1"})
    assert made["secret"] == "***" and made["headers"] == {"X-A": ["1"]}
    resp = await client.get(f"/v1/accounts/mem/webhooks/{made['id']}", headers=READ)
    assert await resp.json() == {**made, "headers": {"X-A": ["***"]}}  # values: not to read keys
    resp = await client.patch(
        f"/v1/accounts/mem/webhooks/{made['id']}",
        json={"add_events": ["A.TWO", "a.one"], "remove_events": ["a.one"], "enabled": False},
        headers=WRITE,
    )
    changed = await resp.json()
    assert (changed["events"], changed["enabled"]) == (["a.one", "a.two"], False)
    ping = await client.post(f"/v1/accounts/mem/webhooks/{made['id']}/ping", headers=WRITE)
    assert ping.status == 200 and (await ping.json())["event_id"]
    resp = await client.delete(f"/v1/accounts/mem/webhooks/{made['id']}", headers=WRITE)
    assert resp.status == 204
    resp = await client.get(f"/v1/accounts/mem/webhooks/{made['id']}", headers=READ)
    assert resp.status == 404
    assert (await resp.json())["detail"].startswith("webhook 1 not found")


async def test_location_header(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/v1/accounts/mem/webhooks", json={"name": "n", "url": PUBLIC}, headers=WRITE
    )
    assert resp.headers["Location"] == f"/v1/accounts/mem/webhooks/{(await resp.json())['id']}"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (b"{not json", [""]),
        (b"[]", [""]),
        (b'{"name": 5, "url": "x", "colour": 1}', ["name", "colour", "url"]),
        (b'{"name": "n", "url": "ftp://x"}', ["url"]),
        (b'{"name": "n", "url": "https://93.184.216.34/", "events": ["nope"]}', ["events"]),
    ],
)
async def test_bad_bodies_are_400_with_paths(
    client: TestClient[Any, Any], body: bytes, errors: list[str]
) -> None:
    resp = await client.post(
        "/v1/accounts/mem/webhooks",
        data=body,
        headers={**WRITE, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    problem = await resp.json()
    assert [e["path"] for e in problem["errors"]] == errors
    assert problem["title"] == "Bad Request"


async def test_big_bodies_unknown_routes_and_methods(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(parse_config(config(max_body_bytes=1024))))
    resp = await client.post("/v1/accounts/mem/webhooks", data=b"x" * 2048, headers=WRITE)
    assert resp.status == 413
    assert (await resp.json())["detail"] == "the request body is larger than 1024 bytes"
    resp = await client.get("/v2/nothing", headers=READ)
    assert (resp.status, (await resp.json())["title"]) == (404, "Not Found")
    resp = await client.put("/v1/accounts", headers=WRITE)
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    resp = await client.get("/v1/accounts/nope/webhooks", headers=READ)
    assert resp.status == 404 and "configured: mem" in (await resp.json())["detail"]


async def test_pages_with_an_opaque_cursor(client: TestClient[Any, Any]) -> None:
    ids = [(await create(client, name=f"n{i}"))["id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/v1/accounts/mem/webhooks", params=params, headers=READ)
        page = await resp.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids, 3)
    resp = await client.get(
        "/v1/accounts/mem/webhooks",
        params={"limit": "2", "cursor": cursor or _second_cursor(ids), "enabled": "true"},
        headers=READ,
    )
    assert resp.status == 400
    for params in ({"limit": "0"}, {"enabled": "yes"}, {"colour": "red"}, {"cursor": "%%%"}):
        resp = await client.get("/v1/accounts/mem/webhooks", params=params, headers=READ)
        assert resp.status == 400, params


def _second_cursor(ids: list[str]) -> str:
    import base64
    import json

    raw = json.dumps({"o": 2, "q": "not-this-query"}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_fan_out_reports_failing_accounts_beside_results(
    aiohttp_client: ClientFactory, uipath: UiPathHarness
) -> None:
    accounts = {
        "mem": {"provider": "memory", "event_types": ["a.one"]},
        "orch": uipath.account(),
        "down": {"provider": "uipath", "base_url": "http://127.0.0.1:9", "token": "t"},
    }
    cfg = {**config(accounts), "http": {"retry": {"max_attempts": 1}}}
    client = await aiohttp_client(create_app(parse_config(cfg)))
    await create(client)
    uipath.emulator.add(Name="from-uipath", Url="https://h.example.com/u")
    resp = await client.get("/v1/webhooks", headers=READ)
    body = await resp.json()
    assert resp.status == 200
    assert sorted(item["account"] for item in body["items"]) == ["mem", "orch"]
    (error,) = body["errors"]
    assert (error["account"], error["status"], error["error"]) == (
        "down",
        503,
        "ProviderUnavailable",
    )
    resp = await client.get("/v1/webhooks", params={"event": "job.completed"}, headers=READ)
    assert [i["account"] for i in (await resp.json())["items"]] == []


async def test_provider_errors_become_problems(
    aiohttp_client: ClientFactory, uipath: UiPathHarness
) -> None:
    # (a 429's Retry-After beyond what a call may wait for the budget: answered at once)
    retry = {"max_elapsed": 0.5, "rate_wait": 0.5}
    cfg = {**config({"orch": uipath.account()}), "http": {"retry": retry}}
    client = await aiohttp_client(create_app(parse_config(cfg)))
    await client.get("/v1/accounts/orch/event-types", headers=READ)  # warm token and catalog
    resp = await client.post("/v1/accounts/orch/webhooks/1/unsuspend", headers=WRITE)
    problem = await resp.json()
    assert (resp.status, problem["provider"]) == (422, "uipath")
    resp = await client.get("/v1/accounts/orch/webhooks/999", headers=READ)
    problem = await resp.json()
    assert (resp.status, problem["code"], problem["provider_status"]) == (404, 1002, 404)
    assert problem["trace_id"]
    uipath.emulator.faults = Faults(error_rate=1.0, error_statuses=(429,), retry_after=7)
    resp = await client.get("/v1/accounts/orch/webhooks/1", headers=READ)
    problem = await resp.json()
    assert (resp.status, resp.headers["Retry-After"]) == (429, "7")
    assert (problem["provider_status"], problem["account"]) == (429, "orch")
    # one 429 among answers taken is a passing refusal: the account is not paused for it
    uipath.emulator.faults = Faults()
    sent = uipath.emulator.traffic.total
    resp = await client.get("/v1/accounts/orch/webhooks/999", headers=READ)
    assert resp.status == 404 and uipath.emulator.traffic.total == sent + 1


@pytest.mark.parametrize(
    ("url", "server", "refusal"),
    [
        ("http://93.184.216.34/x", {}, "only https:// destinations are allowed"),
        ("https://127.0.0.1/x", {}, "127.0.0.1 is a loopback address"),
        ("https://10.1.2.3/x", {}, "10.1.2.3 is a private address"),
        ("https://169.254.169.254/latest", {}, "169.254.169.254 is a cloud metadata address"),
        ("https://[::1]/x", {}, "::1 is a loopback address"),
        ("https://93.184.216.34/x", {"allowed_hosts": ["*.example.com"]}, "not in the allowed"),
        ("https://no-such-host.invalid/x", {}, "no-such-host.invalid does not resolve"),
    ],
)
async def test_destination_policy(
    aiohttp_client: ClientFactory, url: str, server: dict[str, Any], refusal: str
) -> None:
    cfg = config(destinations=server)
    client = await aiohttp_client(create_app(parse_config(cfg)))
    resp = await client.post(
        "/v1/accounts/mem/webhooks", json={"name": "n", "url": url}, headers=WRITE
    )
    problem = await resp.json()
    assert resp.status == 400, problem
    assert problem["errors"][0]["path"] == "url"
    assert refusal in problem["errors"][0]["message"]


@pytest.mark.strict_destinations
async def test_policy_applies_to_changes_and_alert_endpoints(client: TestClient[Any, Any]) -> None:
    made = await create(client)
    resp = await client.patch(
        f"/v1/accounts/mem/webhooks/{made['id']}",
        json={"failure_handling": {"alert_endpoint": {"url": "https://127.0.0.1/alert"}}},
        headers=WRITE,
    )
    problem = await resp.json()
    assert problem["errors"][0]["path"] == "failure_handling.alert_endpoint.url"
    assert "refused by policy" in problem["errors"][0]["message"]
    bare = await client.patch(
        f"/v1/accounts/mem/webhooks/{made['id']}",
        json={"failure_handling": {"alert_endpoint": "https://alerts.example.com/in"}},
        headers=WRITE,
    )
    assert bare.status == 400
    (error,) = (await bare.json())["errors"]
    assert error["path"] == "failure_handling.alert_endpoint"
    assert "endpoint object with a url" in error["message"]


async def test_the_demo_policy_allows_loopback(aiohttp_client: ClientFactory) -> None:
    cfg = config(destinations={"allow_http": True, "allow_loopback": True})
    client = await aiohttp_client(create_app(parse_config(cfg)))
    resp = await client.post(
        "/v1/accounts/mem/webhooks",
        json={"name": "n", "url": "http://127.0.0.1:8000/in"},
        headers=WRITE,
    )
    assert resp.status == 201


async def test_metrics_and_request_ids(client: TestClient[Any, Any]) -> None:
    await create(client)
    resp = await client.get("/v1/accounts/mem/webhooks", headers={**READ, "X-Request-Id": "abc-1"})
    assert resp.headers["X-Request-Id"] == "abc-1"
    text = await (await client.get("/metrics", headers=READ)).text()
    assert (
        'gateway_requests_total{account="mem",method="POST",provider="memory",'
        'route="/v1/accounts/{account}/webhooks",status="201"} 1.0'
    ) in text
    assert 'gateway_provider_call_duration_seconds_count{account="mem",operation="create"' in text
    assert 'gateway_token_fetches_total{account="mem",provider="memory"} 0.0' in text


async def test_metrics_count_shared_reads(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await create(client)
    account = client.app[GATEWAY].account("mem")
    instant = account.provider.get

    async def remote_get(id: str) -> Any:  # a provider answers after a while, not at once
        await asyncio.sleep(0.01)
        return await instant(id)

    monkeypatch.setattr(account.provider, "get", remote_get)
    # From idle: the first read goes alone, the second opens a group, the third joins it.
    await asyncio.gather(*(account.get(made["id"]) for _ in range(3)))
    text = await (await client.get("/metrics", headers=READ)).text()
    assert 'gateway_shared_reads_total{account="mem",provider="memory"} 1.0' in text


async def test_openapi_is_served(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/openapi.json", headers=READ)
    assert (await resp.json())["openapi"] == "3.1.0"


def test_tune_gc_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # modules, classes, config: out of the collector's way
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


async def test_an_alert_endpoint_is_an_object_whose_secret_is_write_only(
    client: TestClient[Any, Any],
) -> None:
    alert = {"url": PUBLIC, "headers": {"X-Pager": "ops"}, "secret": "alert-s3cret-value",
             "tag": "pager"}  # fmt: skip
    made = await create(client, failure_handling={"divert": True, "alert_endpoint": alert})
    shown = made["failure_handling"]["alert_endpoint"]
    assert shown == {"url": PUBLIC, "headers": {"X-Pager": ["ops"]}, "allow_insecure_ssl": False,
                     "secret": "***", "secret_state": "set", "tag": "pager"}  # fmt: skip
    read = await client.get(f"/v1/accounts/mem/webhooks/{made['id']}", headers=WRITE)
    assert "alert-s3cret-value" not in await read.text()
    resp = await client.patch(
        f"/v1/accounts/mem/webhooks/{made['id']}",
        json={"failure_handling": {"alert_endpoint": {"url": PUBLIC, "secret_state": "unset"}}},
        headers=WRITE,
    )
    assert resp.status == 400  # secret_state is read-only: the secret's presence says it
    (error,) = (await resp.json())["errors"]
    assert error["path"] == "failure_handling.alert_endpoint.secret_state"


async def test_credentials_in_urls_are_for_write_keys_only(aiohttp_client: ClientFactory) -> None:
    cfg = config()
    cfg["state"] = {"url": "sqlite:///:memory:"}
    client = await aiohttp_client(create_app(parse_config(cfg)))
    url = "https://robot:hunter2@93.184.216.34/in?team=ops&token=t0ken-value&Api_Key=k3y"
    alert = {"url": "https://93.184.216.34/alert?sig=s1gnature"}
    made = await create(client, url=url, failure_handling={"alert_endpoint": alert})
    assert made["url"] == url  # the write key that wrote it
    gw = client.app[GATEWAY]
    assert (await gw.account("mem").get(made["id"])).url == url  # the provider has the real one
    masked = "https://***@93.184.216.34/in?team=ops&token=***&Api_Key=***"
    for path in (f"/v1/accounts/mem/webhooks/{made['id']}", "/v1/accounts/mem/webhooks",
                 "/v1/webhooks"):  # fmt: skip
        text = await (await client.get(path, headers=READ)).text()
        for secret in ("hunter2", "t0ken-value", "k3y", "s1gnature"):
            assert secret not in text, (path, secret)
        assert masked in text and "alert?sig=***" in text
    audit = await (await client.get("/v1/audit", headers=READ)).text()
    assert "hunter2" not in audit and "t0ken-value" not in audit and masked in audit
