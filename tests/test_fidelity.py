"""Provider fidelity: what the vendors' pages say, checked on the wire and against emulators
that follow those pages (not the adapters' guesses).

Expected requests and canned answers here are built from the documents: Socotra's Webhooks
API, Diverted Events API and Event Definitions pages (the shapes are quoted in
``docs/providers.md``), UiPath's Webhooks requests page (document 000, ``tests/data``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.codec import webhook_to_json
from gateway.config import parse_config
from gateway.errors import ConfigError, InvalidRequest, ProviderError
from gateway.proxy.server import create_app
from gateway.service import Account
from providers.enterprise_core.adapter import EnterpriseCoreProvider
from providers.enterprise_core.emulator import ALL_PERMISSIONS, EnterpriseCoreEmulator
from providers.orchestry.adapter import OrchestryProvider
from providers.uipath.emulator import SECRET_MASK, UiPathEmulator
from providers.uipath.signature import SIGNATURE_HEADER
from tests.conftest import (
    EC_TOKEN,
    REPLAY_TENANT,
    EnterpriseCoreHarness,
    Receiver,
    Replay,
    replayed_core,
)

TENANT = REPLAY_TENANT
BASE = f"/event/{TENANT}/webhooks"
W = "01HZX3K4Q5W6E7R8T9Y0V1J2P3"
E1, E2 = "01HZX3K4Q5W6E7R8T9Y0V1J2P4", "01HZX3K4Q5W6E7R8T9Y0V1J2P5"
CUSTOM = "custom.event.type.a"  # the custom event of Socotra's own configuration example


def ec_response(**endpoint: Any) -> dict[str, Any]:
    """A ``WebhookResponse`` with the current page's ``EndpointResponse`` fields."""
    return {
        "locator": W,
        "name": "policies",
        "enabled": True,
        "endpoint": {"url": "https://hooks.example.com/p", "headers": {}, **endpoint},
        "failureHandling": {"triggers": ["4xx", "5xx", "timeout"], "divert": False,
                            "suspend": False},
        "suspended": False,
        "suspendedAt": None,
        "eventTypes": ["policy.quote.issue", CUSTOM],
    }  # fmt: skip


@pytest.fixture
async def core(replay: tuple[Replay, str]) -> AsyncIterator[Account]:
    async with replayed_core(replay[1]) as account:
        yield account


# -- Enterprise Core: event names ----------------------------------------------------------------


async def test_documented_and_custom_names_go_out_exactly_as_written(
    replay: tuple[Replay, str], core: Account, caplog: pytest.LogCaptureFixture
) -> None:
    rep, _ = replay
    rep.routes[("POST", BASE)] = (200, ec_response())
    rep.routes[("PATCH", f"{BASE}/{W}")] = (200, ec_response())
    caplog.set_level(logging.WARNING)
    await core.create(
        WebhookSpec(name="policies", url="https://hooks.example.com/p",
                    events={"POLICY.Quote.Issue", CUSTOM})
    )  # fmt: skip
    (post,) = rep.sent("POST")
    # a known name in the catalog's spelling, a custom one exactly as written
    assert post["body"]["eventTypes"] == [CUSTOM, "policy.quote.issue"]
    assert CUSTOM in caplog.text and "passed on as written" in caplog.text
    await core.update(W, WebhookChange(add_events={"Custom.Event.B"}, remove_events={CUSTOM}))
    (patch,) = rep.sent("PATCH")
    assert patch["body"] == {"addEventTypes": ["Custom.Event.B"], "removeEventTypes": [CUSTOM]}


async def test_malformed_event_names_never_leave(replay: tuple[Replay, str], core: Account) -> None:
    rep, _ = replay
    for bad in ("custom event", "custom.event\n", "", "a\x00b"):
        with pytest.raises(InvalidRequest):
            await core.create(WebhookSpec(name="p", url="https://h.example.com", events={bad}))
    assert rep.requests == []


async def test_event_types_setting_makes_the_list_strict(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    emulator = enterprise_core.emulator
    table = enterprise_core.account(event_types=["policy.quote.issue", CUSTOM])
    async with Gateway(parse_config({"accounts": {"core": table}})) as gw:
        account = gw.account("core")
        writes = emulator.writes
        with pytest.raises(InvalidRequest, match=r"unknown event 'custom\.event\.type\.b'"):
            await account.create(WebhookSpec(name="p", url="https://h.example.com",
                                             events={"custom.event.type.b"}))  # fmt: skip
        assert emulator.writes == writes
        assert {t.name for t in await account.event_types()} == {"policy.quote.issue", CUSTOM}


async def test_custom_events_reach_a_tenant_that_defines_them(receiver: Receiver) -> None:
    emulator = EnterpriseCoreEmulator(tokens={EC_TOKEN: ALL_PERMISSIONS}, custom_events=[CUSTOM])
    server = TestServer(emulator.app())
    await server.start_server()
    table = {"provider": "enterprise_core", "base_url": str(server.make_url("")).rstrip("/"),
             "tenant_locator": emulator.tenant_locator, "token": EC_TOKEN}  # fmt: skip
    try:
        async with Gateway(parse_config({"accounts": {"core": table}})) as gw:
            account = gw.account("core")
            made = await account.create(
                WebhookSpec(name="c", url=receiver.url, events={CUSTOM, "policy.quote.issue"})
            )
            assert made.events == {CUSTOM, "policy.quote.issue"}
            report = await emulator.fire(CUSTOM, {"x": 1})
            assert report["deliveries"][0]["status"] == 200
            # a name the tenant does not define: the provider's own 400, as a 422-class error
            with pytest.raises(InvalidRequest) as caught:
                await account.update(made.id, WebhookChange(add_events={"custom.unknown"}))
            assert caught.value.status == 400
    finally:
        await server.close()


# -- Enterprise Core: endpoint fields --------------------------------------------------------------


async def test_secret_and_tag_as_documented(replay: tuple[Replay, str], core: Account) -> None:
    rep, _ = replay
    rep.routes[("POST", BASE)] = (200, ec_response(hmacEnabled=True, secureSsl=True, tag="blue"))
    made = await core.create(
        WebhookSpec(name="policies", url="https://hooks.example.com/p", events={CUSTOM},
                    secret="hmac-s3cret", extras={"tag": "blue"})
    )  # fmt: skip
    endpoint = rep.sent("POST")[0]["body"]["endpoint"]
    assert endpoint == {"url": "https://hooks.example.com/p", "headers": {},
                        "hmacEnabled": True, "secret": "hmac-s3cret", "tag": "blue"}  # fmt: skip
    # hmacEnabled without the secret: set, never "no secret"
    assert made.secret is None and made.secret_state == "set"
    assert webhook_to_json(made)["secret"] == "***"
    assert made.extras == {"tag": "blue"}
    rep.routes[("PATCH", f"{BASE}/{W}")] = (200, ec_response(tag="green", secret="x"))
    changed = await core.update(W, WebhookChange(extras={"tag": "green"}))
    assert rep.sent("PATCH")[0]["body"] == {"endpoint": {"tag": "green"}}
    assert changed.extras == {"tag": "green"} and changed.secret_state == "set"


async def test_tag_and_secret_round_trip_through_the_emulator(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    config = {"accounts": {"core": enterprise_core.account()}}
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("core")
        made = await account.create(
            WebhookSpec(name="t", url="https://h.example.com/t", events={"policy.quote.issue"},
                        secret="s3cret-tag", extras={"tag": "blue"})
        )  # fmt: skip
        got = await account.get(made.id)
        assert got.extras == {"tag": "blue"} and got.secret_state == "set"
        enterprise_core.emulator.return_secrets = False  # older releases: hmacEnabled only
        assert (await account.get(made.id)).secret_state == "set"
        cleared = await account.update(made.id, WebhookChange(secret=None))
        assert cleared.secret_state == "unset"
        with pytest.raises(InvalidRequest, match=r"cannot store extras\.colour"):
            await account.update(made.id, WebhookChange(extras={"colour": "red"}))


# -- Enterprise Core: diverted events --------------------------------------------------------------


def diverted(locator: str, **overrides: Any) -> dict[str, Any]:
    """A ``DivertedEventResponse``: its five documented, required properties."""
    return {
        "eventLocator": locator,
        "requestLocator": "01HZX3K4Q5W6E7R8T9Y0V1J2Q0",
        "failureMessage": "HTTP 500",
        "failureTimestamp": "2026-11-20T10:00:00.123Z",
        "failureTrigger": "5xx",
        **overrides,
    }


async def test_diverted_events_in_the_documented_shape(
    replay: tuple[Replay, str], core: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/{W}/diverted")] = (200, [diverted(E1), diverted(E2)])
    rep.routes[("POST", f"{BASE}/{W}/diverted/{E1}/resend")] = (200, {"eventLocator": E1})
    found = [e async for e in core.ex_list_diverted(W)]
    assert [(e.id, e.failure_trigger, e.failure_message) for e in found] == [
        (E1, "5xx", "HTTP 500"), (E2, "5xx", "HTTP 500")]  # fmt: skip
    assert found[0].failure_timestamp is not None and found[0].failure_timestamp.year == 2026
    assert await core.ex_resend_diverted(W, E1) == {"eventLocator": E1}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        (diverted(E1, requestLocator=None), "requestLocator is missing"),
        (diverted(E1, failureTrigger=5), "failureTrigger must be a string"),
        ({"locator": E1, "event": {}, "divertedAt": "x"}, "eventLocator is missing"),
        ("nope", "must be a JSON object"),
    ],
)
async def test_a_diverted_event_of_another_shape_is_a_provider_error(
    replay: tuple[Replay, str], core: Account, item: Any, fragment: str
) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/{W}/diverted")] = (200, [item])
    with pytest.raises(ProviderError, match=fragment) as caught:
        [e async for e in core.ex_list_diverted(W)]
    assert (caught.value.provider, caught.value.account) == ("enterprise_core", "core")


async def test_diverted_events_through_the_proxy(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver, aiohttp_client: Any
) -> None:
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": "write-key-Gz6Ny3Kt8Qv"}],
                   "destinations": {"allow_http": True, "allow_loopback": True}},
    })  # fmt: skip
    client: TestClient[Any, Any] = await aiohttp_client(create_app(config))
    auth = {"Authorization": "Bearer write-key-Gz6Ny3Kt8Qv"}
    resp = await client.post("/v1/accounts/core/webhooks", headers=auth, json={
        "name": "d", "url": receiver.url, "events": ["policy.quote.issue"],
        "failure_handling": {"triggers": ["5xx"], "divert": True}})  # fmt: skip
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    receiver.status = 500
    report = await enterprise_core.emulator.fire("policy.quote.issue")
    event = report["event"]["locator"]
    route = f"/v1/accounts/core/webhooks/{made['id']}/diverted-events"
    resp = await client.get(route, headers=auth)
    (item,) = (await resp.json())["items"]
    assert item["id"] == event and item["failure_trigger"] == "5xx"
    receiver.status = 200
    resp = await client.post(f"{route}/{event}/resend", headers=auth)
    assert resp.status == 200 and (await resp.json())["result"]["eventLocator"] == event
    assert (await (await client.get(route, headers=auth)).json())["items"] == []


# -- UiPath: masked secrets ------------------------------------------------------------------------


async def test_an_update_against_a_masking_tenant_keeps_the_real_secret(
    receiver: Receiver,
) -> None:
    emulator = UiPathEmulator(personal_tokens={"pat": ["OR.Webhooks"]}, mask_secrets=True)
    server = TestServer(emulator.app())
    await server.start_server()
    table = {"provider": "uipath", "base_url": str(server.make_url("")).rstrip("/"),
             "token": "pat"}  # fmt: skip
    try:
        async with Gateway(parse_config({"accounts": {"orch": table}})) as gw:
            account = gw.account("orch")
            made = await account.create(
                WebhookSpec(name="m", url=receiver.url, events={"job.completed"},
                            secret="the-real-s3cret")
            )  # fmt: skip
            assert made.secret is None and made.secret_state == "set"  # masked, still "set"
            updated = await account.update(
                made.id, WebhookChange(add_events={"job.faulted"}, description="d")
            )
            assert updated.events == {"job.completed", "job.faulted"}
            stored = emulator.webhooks[int(made.id)]
            assert stored["Secret"] == "the-real-s3cret" != SECRET_MASK
            await account.ping(made.id)
            _, headers, body = receiver.received[-1]
            digest = hmac.new(b"the-real-s3cret", body, hashlib.sha256).digest()
            assert headers[SIGNATURE_HEADER] == base64.b64encode(digest).decode()
            assert json.loads(body)["Name"] == "m"  # every payload carries the webhook's Name
            await account.update(made.id, WebhookChange(secret="a-new-s3cret"))
            assert emulator.webhooks[int(made.id)]["Secret"] == "a-new-s3cret"
    finally:
        await server.close()


# -- Orchestry -------------------------------------------------------------------------------------


def test_orchestry_scope_must_be_a_client_credentials_scope() -> None:
    table = {"provider": "orchestry", "tenant_id": "t", "client_id": "c", "client_secret": "s",
             "scope": "api://orchestry-api/Webhooks.Write"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"accounts.o.scope: must end in /\.default"):
        parse_config({"accounts": {"o": table}})


def test_docs_urls_point_at_the_vendor_pages() -> None:
    assert EnterpriseCoreProvider.docs_url == (
        "https://docs.socotra.com/api/configuration-and-development/webhooks/"
    )
    assert OrchestryProvider.docs_url == (
        "https://success.orchestry.com/knowledge/"
        "how-to-register-outgoing-custom-webhooks-in-orchestry"
    )
