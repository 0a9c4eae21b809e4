"""Hostile input and misbehaving providers: no 500, no account broken by a write, no lost update
under any id spelling, no dot segment reaching a provider path, unknown outcomes reconciled."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
)
from gateway.model import Secret, Webhook
from gateway.proxy.server import create_app
from tests.conftest import UiPathHarness

WRITE = {"Authorization": "Bearer write-key-Gz6Ny3Kt8Qv"}
KEYS = [{"name": "w", "scope": "write", "key": "write-key-Gz6Ny3Kt8Qv"}]
RECORD = {"Id": 1, "Name": "ok", "Url": "https://h.example.com/1", "Enabled": True,
          "Events": [{"EventType": "job.completed"}]}  # fmt: skip


def uipath_proxy_config(base_url: str, **http: Any) -> Any:
    return parse_config({
        "accounts": {"orch": {"provider": "uipath", "base_url": base_url, "token": "pat"}},
        "server": {"api_keys": KEYS},
        "http": {"retry": {"max_attempts": 1}, **http},
    })  # fmt: skip


async def canned(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    return server


def answer(body: bytes, status: int = 200) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type="application/json")

    return handle


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "Url is missing"),  # an empty 200 where a record belongs (null)
        (b"null", "must be a JSON object, got null"),
        (b"[1, 2]", "must be a JSON object, got an array"),
        (b'{"Url": "https://h.example.com"}', "Id is missing"),
        (json.dumps({**RECORD, "Events": "job.completed"}).encode(), "Events must be an array"),
        (json.dumps({**RECORD, "Events": [{"EventType": 5}]}).encode(), "EventType must be"),
        (b"<html>502 Bad Gateway</html>", "invalid JSON"),
        (b'{"Id": 1, "Url": "https://h.exa', "invalid JSON"),
    ],
)
async def test_an_unreadable_answer_is_a_503_naming_the_provider(
    aiohttp_client: Any, body: bytes, fragment: str
) -> None:
    server = await canned(answer(body))
    try:
        client: TestClient[Any, Any] = await aiohttp_client(
            create_app(uipath_proxy_config(str(server.make_url("")).rstrip("/")))
        )
        resp = await client.get("/v1/accounts/orch/webhooks/1", headers=WRITE)
        problem = await resp.json()
        assert resp.status == 503, problem
        assert problem["provider"] == "uipath" and problem["account"] == "orch"
        assert problem["type"].endswith("#errors-provider-answer-unreadable")
        if body:
            assert fragment in problem["detail"]
        assert "127.0.0.1" not in problem["detail"]  # the provider's address stays in the log
    finally:
        await server.close()


async def test_a_cut_off_answer_is_a_503(aiohttp_client: Any) -> None:
    async def cut(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "1000",
                                           "Content-Type": "application/json"})  # fmt: skip
        await resp.prepare(request)
        await resp.write(b'{"Id": 1, "Na')
        assert request.transport is not None
        request.transport.close()
        return resp

    server = await canned(cut)
    try:
        client = await aiohttp_client(create_app(uipath_proxy_config(str(server.make_url("")))))
        resp = await client.get("/v1/accounts/orch/webhooks/1", headers=WRITE)
        assert resp.status == 503 and "cut off" in (await resp.json())["detail"]
    finally:
        await server.close()


async def test_one_unreadable_record_does_not_break_the_list(aiohttp_client: Any) -> None:
    records = [RECORD, {**RECORD, "Id": 2, "Name": "bad\ud800"[:3], "Events": "x"},
               {**RECORD, "Id": 3}]  # fmt: skip
    page = json.dumps({"value": records, "@odata.count": 3}).encode()
    server = await canned(answer(page))
    try:
        client = await aiohttp_client(create_app(uipath_proxy_config(str(server.make_url("")))))
        resp = await client.get("/v1/accounts/orch/webhooks", headers=WRITE)
        body = await resp.json()
        assert resp.status == 200
        assert [w["id"] for w in body["items"]] == ["1", "3"]
        (error,) = body["errors"]
        assert error["id"] == "2" and "Events must be an array" in error["detail"]
        metrics = await (await client.get("/metrics", headers=WRITE)).text()
        assert 'gateway_unreadable_records_total{account="orch",provider="uipath"} 1.0' in metrics
    finally:
        await server.close()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "\\ud800", "url": "https://93.184.216.34/h"}',
        b'{"name": "a\\u0000b", "url": "https://93.184.216.34/h"}',
        b'{"name": "n", "url": "https://93.184.216.34/h", "headers": {"X-A": "v\\u0007"}}',
        b'{"name": "n", "url": "https://93.184.216.34/h", "failure_handling": '
        b'{"retry_strategy": {"interval": ' + b"9" * 4000 + b"}}}",
        b'{"name": "n", "url": "https://93.184.216.34/h", "failure_handling": '
        b'{"retry_strategy": {"interval": 99999999999}}}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
async def test_what_could_not_be_read_back_is_refused(aiohttp_client: Any, raw: bytes) -> None:
    config = parse_config({"accounts": {"mem": {"provider": "memory"}},
                           "server": {"api_keys": KEYS}})  # fmt: skip
    client = await aiohttp_client(create_app(config))
    resp = await client.post(
        "/v1/accounts/mem/webhooks", data=raw,
        headers={**WRITE, "Content-Type": "application/json"},
    )  # fmt: skip
    assert resp.status == 400, await resp.text()
    assert resp.content_type == "application/problem+json"
    listed = await client.get("/v1/accounts/mem/webhooks", headers=WRITE)
    assert listed.status == 200 and (await listed.json())["items"] == []


async def test_unknown_event_floods_get_a_small_answer(aiohttp_client: Any) -> None:
    config = parse_config({"accounts": {"mem": {"provider": "memory"}},
                           "server": {"api_keys": KEYS, "max_body_bytes": 1 << 20}})  # fmt: skip
    client = await aiohttp_client(create_app(config))
    events = [f"no.such.event.{i}" for i in range(200)]
    resp = await client.post("/v1/accounts/mem/webhooks", headers=WRITE, json={
        "name": "n", "url": "https://93.184.216.34/h", "events": events})  # fmt: skip
    text = await resp.text()
    assert resp.status == 400 and len(text) < 2000, len(text)
    assert "and 195 more" in text and "event-types" in text
    resp = await client.post("/v1/accounts/mem/webhooks", headers=WRITE, json={
        "name": "n", "url": "https://93.184.216.34/h",
        "events": [f"e.{i}" for i in range(300)]})  # fmt: skip
    assert resp.status == 400 and "at most 256" in await resp.text()


async def test_every_spelling_of_an_id_takes_one_lock(uipath: UiPathHarness) -> None:
    config = {"accounts": {"orch": uipath.account()}}
    events = [e["Name"] for e in (await _catalog(uipath))][:21]
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("orch")
        made = await account.create(WebhookSpec(name="ids", url="https://h.example.com/i"))
        spellings = [made.id, f"0{made.id}", f"00{made.id}"]
        await asyncio.gather(*(
            account.update(spellings[i % 3], WebhookChange(add_events={event}))
            for i, event in enumerate(events)
        ))  # fmt: skip
        assert (await account.get(f"000{made.id}")).events == set(events)


async def _catalog(uipath: UiPathHarness) -> list[dict[str, Any]]:
    from providers.uipath.emulator import CATALOG

    return CATALOG


@pytest.mark.parametrize("bad", [".", "..", "a/../b", " 1", "1\n", "\x00"])
async def test_ids_never_become_other_paths(bad: str) -> None:
    seen: list[str] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response(RECORD)

    server = await canned(record)
    config = {"accounts": {"orch": {"provider": "uipath", "base_url": str(server.make_url("")),
                                    "token": "pat"}}}  # fmt: skip
    try:
        async with Gateway(parse_config(config)) as gw:
            with pytest.raises((InvalidRequest, NotFound)):
                await gw.account("orch").delete(bad)
        assert seen == []
    finally:
        await server.close()


async def test_orchestry_ids_are_one_encoded_segment() -> None:
    from gateway.transport.http import Transport
    from providers.orchestry.adapter import OrchestryProvider, OrchestrySettings

    settings = OrchestrySettings(
        tenant_id="t", client_id="c", client_secret=Secret("s"), scope="api://o/.default"
    )
    provider = OrchestryProvider("o", settings, Transport())
    assert provider._id("a/b") == "a%2Fb"
    assert provider._id("%2E%2E") == "%252E%252E"
    for bad in (".", ".."):
        with pytest.raises(InvalidRequest):
            provider._id(bad)


async def test_a_dribbling_provider_hits_the_total_deadline() -> None:
    async def dribble(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b" ")
            await asyncio.sleep(0.1)
        return resp

    server = await canned(dribble)
    config = {"accounts": {"orch": {"provider": "uipath", "base_url": str(server.make_url("")),
                                    "token": "pat"}},
              "http": {"read_timeout": 0.5, "total_timeout": 1.0}}  # fmt: skip
    try:
        async with Gateway(parse_config(config)) as gw:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded, match="total deadline of 1 s"):
                await gw.account("orch").get("1")
            assert time.monotonic() - started < 3
    finally:
        await server.close()


async def test_an_update_whose_answer_is_unreadable_is_confirmed_by_reading_back(
    uipath: UiPathHarness,
) -> None:
    """The PATCH is applied but its answer is garbage: the update reads the webhook back,
    sees the change and succeeds (instead of reporting a failure that did not happen)."""
    config = {
        "accounts": {
            "orch": uipath.account(
                token="pat-s3cret", identity_url=None, client_id=None, client_secret=None
            )
        }
    }
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("orch")
        made = await account.create(WebhookSpec(name="u", url="https://h.example.com/u"))
        original = uipath.emulator._patch

        async def garbled(request: web.Request, key: int) -> web.Response:
            await original(request, key)
            return web.Response(body=b'{"Id": ', content_type="application/json")

        uipath.emulator._patch = garbled  # type: ignore[method-assign]
        got = await account.update(made.id, WebhookChange(add_events={"job.faulted"}))
        assert got.events == {"job.faulted"}
        # a change that did not happen is not confirmed: the error stands
        uipath.emulator._patch = lambda request, key: answer(b"{", 200)(request)  # type: ignore
        with pytest.raises(ProviderError):
            await account.update(made.id, WebhookChange(add_events={"job.stopped"}))


async def test_writes_whose_every_answer_is_lost_are_settled_by_reading_back(
    uipath: UiPathHarness,
) -> None:
    """Every PATCH and DELETE is applied, then its connection is dropped, retries included:
    the account reads back and reports what happened (it was a ProviderUnavailable with no
    status, taken for "nothing sent", in a fault run 5 of 257 renames)."""
    config = {"accounts": {"orch": uipath.account()}, "http": {"retry": {"backoff_base": 0.01}}}
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("orch")
        made = await account.create(WebhookSpec(name="lost", url="https://h.example.com/l"))
        uipath.emulator.faults = Faults(drop_rate=1.0, methods=("PATCH", "DELETE"))
        assert (await account.update(made.id, WebhookChange(name="renamed"))).name == "renamed"
        await account.delete(made.id)
        uipath.emulator.faults = Faults()
        with pytest.raises(NotFound):
            await account.get(made.id)


async def test_concurrent_updates_under_faults_are_never_reported_wrongly(
    uipath: UiPathHarness,
) -> None:
    """100 concurrent add-event updates of 100 webhooks while 30% of GETs and PATCHes (the
    batched reads included) are dropped and 30% answered 503 or 429: each update reported ok
    shows, each reported failed does not (only an unknown outcome may go either way)."""
    for i in range(100):
        uipath.emulator.add(Name=f"w{i}", Url=f"https://h.example.com/{i}",
                            Events=[{"EventType": "job.started"}])  # fmt: skip
    config = {
        "accounts": {"orch": uipath.account()},
        "http": {"read_timeout": 0.5, "retry": {"max_attempts": 3, "backoff_base": 0.01}},
    }
    outcomes: dict[int, str] = {}
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("orch")
        await account.event_types()
        faults = Faults(drop_rate=0.3, error_rate=0.3, methods=("GET", "PATCH"), seed=4)
        uipath.emulator.faults = faults

        async def add(i: int) -> None:
            try:
                await account.update(str(i), WebhookChange(add_events={"job.completed"}))
                outcomes[i] = "ok"
            except OutcomeUnknown:
                outcomes[i] = "unknown"
            except GatewayError as exc:
                outcomes[i] = type(exc).__name__

        await asyncio.gather(*(add(i) for i in range(1, 101)))
        uipath.emulator.faults = Faults()
    wrong = []
    for i, outcome in outcomes.items():
        applied = {"EventType": "job.completed"} in uipath.emulator.webhooks[i]["Events"]
        if (outcome == "ok") is not applied and outcome != "unknown":
            wrong.append((i, outcome, applied))
    assert wrong == []
    assert faults.injected >= 20 and "ok" in outcomes.values()  # faults struck; most recover


async def test_no_plain_secret_in_adapter_frames_or_copies(uipath: UiPathHarness) -> None:
    config = {"accounts": {"orch": uipath.account(base_url="http://127.0.0.1:9")}}
    secret = "frame-s3cret-value"
    async with Gateway(parse_config(config)) as gw:
        with pytest.raises(ProviderUnavailable) as caught:
            await gw.account("orch").create(
                WebhookSpec(name="s", url="https://h.example.com/s", secret=secret)
            )
    for frame, _ in traceback.walk_tb(caught.value.__traceback__):
        if frame.f_code.co_filename.endswith(("adapter.py", "wire.py", "service.py")):
            assert secret not in repr(frame.f_locals), frame.f_code.co_name
    wh = Webhook(id="1", name="n", url="https://h.example.com", secret=secret)
    assert copy.deepcopy(wh) == wh and secret not in repr(copy.deepcopy(wh))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://[2002:a9fe:a9fe::]/", "a cloud metadata address, 169.254.169.254"),  # 6to4
        ("https://[2002:7f00:1::]/", "a loopback address, 127.0.0.1"),  # 6to4
        ("https://[64:ff9b::a9fe:a9fe]/", "a cloud metadata address"),  # NAT64
        ("https://[::127.0.0.1]/", "a loopback address"),  # IPv4-compatible
        ("https://[::ffff:10.0.0.1]/", "a private address"),  # IPv4-mapped
        ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "192.0.2.45"),  # Teredo client
    ],
)
async def test_ipv6_forms_are_judged_by_the_ipv4_they_embed(url: str, reason: str) -> None:
    from gateway.destinations import DestinationPolicy

    (problem,) = await DestinationPolicy().problems(url, "url")
    assert reason in problem.message
    assert await DestinationPolicy().problems("https://[2002:5db8:d822::]/", "url") == []
