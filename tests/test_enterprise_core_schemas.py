"""Enterprise Core against Socotra's own OpenAPI schemas (tests/data/enterprise_core/
event_api_schemas.json, from the public copy of its Event API document).

Each request the adapter sends, through the real transport to a replay server, validates against
the vendor's request schema; each answer the emulator gives validates against the vendor's
response schema; a ``WebhookResponse`` in the vendor's shape reads back without error.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.codec import webhook_to_json
from gateway.config import parse_config
from gateway.errors import ProviderError
from gateway.model import AlertEndpoint, FailureHandling, RetryStrategy
from gateway.service import Account
from gateway.transport.answers import UnreadableRecord
from tests.conftest import (
    DATA,
    REPLAY_TENANT,
    EnterpriseCoreHarness,
    Receiver,
    Replay,
    replayed_core,
)

VENDOR = json.loads((DATA / "enterprise_core" / "event_api_schemas.json").read_text())
BASE = f"/event/{REPLAY_TENANT}/webhooks"
W = "01HZX3K4Q5W6E7R8T9Y0V1J2P3"
ALERT_SECRET = "alert-hmac-s3cret"
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _nullable(schema: Any) -> Any:
    """``schema`` with null allowed for every property: the document, generated from code, marks
    no property nullable, yet ``suspendedAt`` of a webhook never suspended has no value."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items()}
        if "properties" in out:
            out["properties"] = {
                name: {"anyOf": [prop, {"type": "null"}]}
                for name, prop in out["properties"].items()
            }
        return out
    if isinstance(schema, list):
        return [_nullable(v) for v in schema]
    return schema


ANSWERS = _nullable(VENDOR)


def conforms(instance: Any, schema: str, *, answer: bool = False) -> None:
    """``instance`` is a valid ``schema`` of the vendor's document (``$ref``s resolved in it);
    an ``answer`` (a response) may hold null where a value is absent."""
    document = ANSWERS if answer else VENDOR
    jsonschema.validate(instance, {"$ref": f"#/components/schemas/{schema}", **document})


def endpoint_response(url: str, **fields: Any) -> dict[str, Any]:
    """An ``EndpointResponse`` with its six required fields."""
    return {"url": url, "headers": {}, "secureSsl": True, "hmacEnabled": False, "secret": "",
            "tag": "", **fields}  # fmt: skip


def webhook_response(**overrides: Any) -> dict[str, Any]:
    """A ``WebhookResponse`` as the vendor documents it, with an alert endpoint object."""
    alert = endpoint_response(
        "https://alerts.example.com/in",
        headers={"X-Pager": ["ops"]},
        secureSsl=False,
        hmacEnabled=True,
        secret=ALERT_SECRET,
        tag="pager",
    )
    return {
        "locator": W,
        "name": "policies",
        "enabled": True,
        "endpoint": endpoint_response("https://hooks.example.com/p", tag="blue"),
        "failureHandling": {
            "alertEndpoint": alert,
            "triggers": ["5xx", "timeout"],
            "retryStrategy": {"type": "linear", "interval": 30, "attempts": 5},
            "divert": True,
            "suspend": False,
        },
        "suspended": False,
        "suspendedAt": "2026-11-20T10:00:00Z",
        "eventTypes": ["policy.quote.issue"],
        **overrides,
    }


@pytest.fixture
async def account(replay: tuple[Replay, str]) -> AsyncIterator[Account]:
    async with replayed_core(replay[1]) as account:
        yield account


def test_the_fixture_is_the_vendors_shape() -> None:
    conforms(webhook_response(), "WebhookResponse")
    failure = {**webhook_response()["failureHandling"], "alertEndpoint": "https://a.example"}
    with pytest.raises(jsonschema.ValidationError):  # a URL string is not an EndpointResponse
        conforms(webhook_response(failureHandling=failure), "WebhookResponse")


async def test_a_webhook_with_an_alert_endpoint_object_reads(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/{W}")] = (200, webhook_response())
    rep.routes[("GET", f"{BASE}/list")] = (200, {"listCompleted": True,
                                                 "items": [webhook_response()]})  # fmt: skip
    got = await account.get(W)
    alert = got.failure_handling.alert_endpoint if got.failure_handling else None
    assert alert == AlertEndpoint(
        url="https://alerts.example.com/in",
        headers={"X-Pager": "ops"},
        allow_insecure_ssl=True,
        secret=ALERT_SECRET,
        tag="pager",
    )
    assert alert.secret_state == "set"
    listed = [w async for w in account.list()]
    assert [w.id for w in listed] == [W]  # no unreadable record
    shown = json.dumps(webhook_to_json(got))
    assert ALERT_SECRET not in shown and ALERT_SECRET not in repr(got)
    assert webhook_to_json(got)["failure_handling"]["alert_endpoint"] == {
        "url": "https://alerts.example.com/in",
        "headers": {"X-Pager": ["ops"]},
        "allow_insecure_ssl": True,
        "secret": "***",
        "secret_state": "set",
        "tag": "pager",
    }


@pytest.mark.parametrize(
    ("where", "field"),
    [("endpoint", "url"), ("endpoint", "headers"), ("alertEndpoint", "url")],
)
async def test_an_endpoint_missing_a_required_field_is_a_provider_error(
    replay: tuple[Replay, str], account: Account, where: str, field: str
) -> None:
    rep, _ = replay
    body = webhook_response()
    holder = body if where == "endpoint" else body["failureHandling"]
    del holder[where][field]
    rep.routes[("GET", f"{BASE}/{W}")] = (200, body)
    rep.routes[("GET", f"{BASE}/list")] = (200, {"listCompleted": True, "items": [body]})
    with pytest.raises(ProviderError, match=rf"{where}: {field} is missing"):
        await account.get(W)
    listing = account.list()
    assert [w async for w in listing] == []  # the list goes on without it, and says why
    (record,) = listing.unreadable
    assert isinstance(record, UnreadableRecord) and f"{field} is missing" in record.problem


async def test_an_endpoint_field_of_the_wrong_type_names_its_path(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    body = webhook_response()
    body["failureHandling"]["alertEndpoint"]["secureSsl"] = "yes"
    rep.routes[("GET", f"{BASE}/{W}")] = (200, body)
    with pytest.raises(ProviderError, match=r"alertEndpoint: secureSsl must be a boolean"):
        await account.get(W)


def alert_spec() -> WebhookSpec:
    return WebhookSpec(
        name="policies",
        url="https://hooks.example.com/p",
        events={"policy.quote.issue"},
        failure_handling=FailureHandling(
            triggers={"5xx"},
            retry_strategy=RetryStrategy(type="linear", interval=30, attempts=5),
            alert_endpoint=AlertEndpoint(
                url="https://alerts.example.com/in",
                headers={"X-Pager": "ops"},
                allow_insecure_ssl=True,
                secret=ALERT_SECRET,
                tag="pager",
            ),
            divert=True,
        ),
    )


async def test_create_sends_endpoint_objects_the_vendor_schema_accepts(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("POST", BASE)] = (200, webhook_response())
    await account.create(alert_spec())
    (post,) = rep.sent("POST")
    conforms(post["body"], "CreateWebhookRequest")
    assert post["body"]["failureHandling"]["alertEndpoint"] == {
        "url": "https://alerts.example.com/in",
        "headers": {"X-Pager": ["ops"]},
        "secureSsl": False,
        "hmacEnabled": True,
        "secret": ALERT_SECRET,
        "tag": "pager",
    }


async def test_update_sends_an_update_endpoint_request(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("PATCH", f"{BASE}/{W}")] = (200, webhook_response())
    await account.update(W, WebhookChange(failure_handling=alert_spec().failure_handling))
    (patch,) = rep.sent("PATCH")
    alert = patch["body"]["failureHandling"]["alertEndpoint"]
    conforms(alert, "UpdateEndpointRequest")
    assert alert["url"] == "https://alerts.example.com/in"
    assert alert["addHeaders"] == {"X-Pager": ["ops"]} and alert["removeHeaders"] == []
    assert patch["body"]["removeFailureHandling"] is True


async def test_list_sends_only_documented_filters(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/list")] = (200, {"listCompleted": True, "items": []})
    [w async for w in account.list(enabled=True, suspended=False)]
    documented = {
        p["name"]
        for p in VENDOR["paths"]["/event/{tenantLocator}/webhooks/list"]["get"]["parameters"]
    }
    (request,) = rep.requests
    assert set(request["query"]) <= documented
    assert "active" not in request["query"]  # documented, but not what it means


# -- the emulator answers in the vendor's shapes -----------------------------------------------


async def test_the_emulator_answers_endpoint_responses(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver
) -> None:
    config = {"accounts": {"core": enterprise_core.account()}}
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("core")
        alert = AlertEndpoint(url=f"{receiver.url}/alert", secret=ALERT_SECRET,
                              headers={"X-Pager": "ops"})  # fmt: skip
        made = await account.create(
            WebhookSpec(
                name="answers",
                url=f"{receiver.url}/hook",
                events={"policy.quote.issue"},
                failure_handling=FailureHandling(triggers={"timeout"}, alert_endpoint=alert),
            )
        )  # fmt: skip
        assert made.failure_handling is not None
        read = made.failure_handling.alert_endpoint
        assert read is not None and read.url == alert.url and read.secret_state == "set"
        stored = enterprise_core.emulator.webhooks[made.id]
        answered = enterprise_core.emulator.shown(stored)
        conforms(answered, "WebhookResponse", answer=True)
        conforms(answered["endpoint"], "EndpointResponse")  # every field, none null
        conforms(answered["failureHandling"]["alertEndpoint"], "EndpointResponse")
        changed = await account.update(made.id, WebhookChange(enabled=False))
        assert changed.failure_handling == made.failure_handling


async def test_the_emulator_refuses_a_bare_alert_endpoint_url(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    emulator = enterprise_core.emulator
    body = {
        "name": "bare",
        "enabled": True,
        "endpoint": {"url": "https://hooks.example.com/p", "headers": {}},
        "failureHandling": {"alertEndpoint": "https://alerts.example.com/in"},
        "eventTypes": ["policy.quote.issue"],
    }
    headers = {"Authorization": f"Bearer {enterprise_core.account()['token']}"}
    url = f"{enterprise_core.base_url}/event/{emulator.tenant_locator}/webhooks"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        assert resp.status == 400
        assert (
            "failureHandling.alertEndpoint: must be an endpoint object"
            in (await resp.json())["message"]
        )
    assert emulator.webhooks == {}


async def test_the_emulator_alerts_the_alert_endpoint_and_its_events_have_documented_ids(
    enterprise_core: EnterpriseCoreHarness, receiver: Receiver
) -> None:
    config = {"accounts": {"core": enterprise_core.account()}}
    async with Gateway(parse_config(config)) as gw:
        account = gw.account("core")
        receiver.status = 500
        alert = AlertEndpoint(url=f"{receiver.url}/alert", headers={"X-Pager": "ops"},
                              secret=ALERT_SECRET)  # fmt: skip
        await account.create(
            WebhookSpec(name="fails", url=f"{receiver.url}/hook", events={"policy.quote.issue"},
                        failure_handling=FailureHandling(alert_endpoint=alert))
        )  # fmt: skip
        await enterprise_core.emulator.fire("policy.quote.issue", {"quote": {"locator": "Q1"}})
    paths = [path for path, _, _ in receiver.received]
    assert paths == ["/hook", "/alert"]
    _, _, hook_body = receiver.received[0]
    delivered = json.loads(hook_body)
    conforms(delivered, "EventResponse")
    assert ULID.match(delivered["locator"]) and ULID.match(delivered["requestId"])
    assert UUID.match(delivered["userLocator"])
    _, alert_headers, _ = receiver.received[1]
    assert alert_headers["X-Pager"] == "ops" and "X-Hmac-Sha256" in alert_headers


def test_the_strict_emulators_required_lists_are_the_openapis() -> None:
    """providers/enterprise_core/shapes.py's REQUIRED is the OpenAPI's, schema by schema."""
    from providers.enterprise_core.shapes import REQUIRED

    document = json.loads((Path(__file__).parent / "data" / "enterprise_core" /
                           "event_api_schemas.json").read_text())  # fmt: skip
    schemas = document["components"]["schemas"]
    assert {n: tuple(schemas[n]["required"]) for n in REQUIRED} == REQUIRED
