"""Custom events (UiPath's ``TriggerCustom``, the Orchestrator swagger): the library, the proxy
and the command line send one through the emulator, which delivers it, signed, to webhooks that
take custom events and answers its ``CustomEventDto``; providers without it say so."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import Gateway
from gateway.cli import main
from gateway.config import parse_config
from gateway.errors import Unsupported
from gateway.proxy.demo import demo
from gateway.proxy.server import create_app
from providers.uipath.adapter import CUSTOM_EVENT_FIELDS
from providers.uipath.signature import SIGNATURE_HEADER, verify
from tests.conftest import EnterpriseCoreHarness, Receiver, UiPathHarness

WRITE = "custom-write-Pz4Lk8Wq2Nv"


@pytest.fixture
async def running() -> Any:
    async with demo() as started:
        yield started


READ = "custom-read-Tm7Bx3Jc9Rs"
SECRET = "custom-event-signing-secret"


def config(uipath: UiPathHarness, core: EnterpriseCoreHarness, tmp_path: Path) -> Any:
    return parse_config({
        "accounts": {"orch": uipath.account(), "core": core.account()},
        "state": {"url": f"sqlite:///{tmp_path}/s.db"},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": WRITE},
                                {"name": "ci", "scope": "read", "key": READ}]},
        "destinations": {"allow_http": True, "allow_loopback": True},
    })  # fmt: skip


async def test_a_custom_event_reaches_the_receiver_signed(
    uipath: UiPathHarness, enterprise_core: EnterpriseCoreHarness, receiver: Receiver,
    aiohttp_client: Any, tmp_path: Path,
) -> None:  # fmt: skip
    client = await aiohttp_client(create_app(config(uipath, enterprise_core, tmp_path)))
    write, read = ({"Authorization": f"Bearer {k}"} for k in (WRITE, READ))
    made = await client.post("/v1/accounts/orch/webhooks", headers=write, json={
        "name": "all", "url": f"{receiver.url}/all", "all_events": True, "secret": SECRET,
    })  # fmt: skip
    assert made.status == 201, await made.text()
    answer = await client.post("/v1/accounts/orch/custom-events", headers=write,
                               json={"order": 42, "note": "end to end"})  # fmt: skip
    event = await answer.json()
    assert answer.status == 200, event
    assert list(event) == list(CUSTOM_EVENT_FIELDS)  # CustomEventDto's fields, no more
    assert event["Type"] == "custom" and event["EventData"] == {"order": 42, "note": "end to end"}
    ((path, headers, body),) = receiver.received
    assert path == "/all" and verify(body, headers[SIGNATURE_HEADER], SECRET)
    delivered = json.loads(body)
    assert delivered["EventId"] == event["EventId"] and delivered["EventData"]["order"] == 42
    refused = await client.post("/v1/accounts/orch/custom-events", headers=read, json={})
    assert refused.status == 403
    elsewhere = await client.post("/v1/accounts/core/custom-events", headers=write, json={})
    assert elsewhere.status == 422
    not_object = await client.post("/v1/accounts/orch/custom-events", headers=write, json=[1])
    assert not_object.status == 400
    audit = await (await client.get("/v1/audit?account=orch", headers=read)).json()
    entry = audit["items"][0]
    assert entry["operation"] == "trigger_custom" and entry["actor"] == "key:ops"
    assert entry["change"] == {"event_data": ["note", "order"]}  # keys, never the values


async def test_the_library_says_where_there_are_none(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    async with Gateway(parse_config({"accounts": {"core": enterprise_core.account()}})) as gw:
        with pytest.raises(Unsupported, match="trigger_custom"):
            await gw.account("core").trigger_custom({"a": 1})


async def test_the_command_line_sends_one(
    uipath: UiPathHarness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[accounts.orch]\nprovider = "uipath"\nbase_url = "{uipath.base_url}"\n'
        'token = "pat-s3cret"\n'
    )
    uipath.emulator.add(Name="all", Url="https://hooks.example.com/all",
                        SubscribeToAllEvents=True)  # fmt: skip
    # (in a thread: the emulator answers on this test's loop)
    code = await asyncio.to_thread(main, ["custom-event", "orch", "--data", '{"order": 7}',
                                          "--config", str(path), "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["EventData"] == {"order": 7}
    bad = ["custom-event", "orch", "--data", "{nope", "--config", str(path)]
    assert await asyncio.to_thread(main, bad) == 2  # a usage error


async def test_the_console_sends_one(running: Any) -> None:
    from tests.test_console import _csrf, login

    d = running
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, d.url, d.write_key)
        page = await (await http.get(f"{d.url}/console")).text()
        assert "Send a custom event" in page
        once = re.search(r'custom-event".*?name="once" value="([^"]+)"', page, re.S)
        assert once is not None
        sent = await http.post(f"{d.url}/console/accounts/uipath-demo/custom-event", data={
            "csrf": _csrf(page), "once": once.group(1), "data": '{"order": 9}'})  # fmt: skip
        text = await sent.text()
        assert sent.status == 200 and "Custom event sent" in text and "order" in text
