"""UiPath wire format, row by row against the examples of the vendor's page (document 000).

A replay server answers each documented request with the documented response and records what
the adapter sent, so the adapter runs through the real transport (auth and retry middlewares).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import hypothesis
import pytest

from gateway import Gateway, WebhookChange
from gateway.config import parse_config
from gateway.errors import (
    AuthenticationFailed,
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
)
from gateway.model import ListFilter, Secret, Webhook
from gateway.service import Account
from providers.uipath import wire
from tests.conftest import DATA, Replay
from tests.wire_mutations import Change, agree, changes_of, mutated


def seed_examples() -> list[Any]:
    """The JSON examples of document 000 in order, each once (the page prints each twice)."""
    text = (DATA / "uipath" / "000_odata_webhooks_requests.txt").read_text()
    decoder = json.JSONDecoder()
    found: list[Any] = []
    pos = text.find("{")
    while pos != -1:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:  # "{OrchestratorURL}" in a request line
            pos = text.find("{", pos + 1)
            continue
        if not found or found[-1] != value:
            found.append(value)
        pos = text.find("{", end)
    return found


LIST_RESPONSE, GET_RESPONSE, EVENT_TYPES, PUT_REQUEST, PUT_RESPONSE, PING_RESPONSE = seed_examples()
DOC_URL = "http://documentation.azurewebsites.net/webhook/documentation"


@pytest.fixture
async def account(replay: tuple[Replay, str]) -> AsyncIterator[Account]:
    _, base = replay
    config = {
        "accounts": {
            "orch": {"provider": "uipath", "base_url": base, "token": "pat-s3cret", "folder_id": 7}
        },
        "http": {"retry": {"max_attempts": 1}},
    }
    async with Gateway(parse_config(config)) as gw:
        yield gw.account("orch")


EVENT_TYPES_PATH = "/odata/Webhooks/UiPath.Server.Configuration.OData.GetEventTypes()"


async def test_list_by_url_sends_the_documented_filter(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", "/odata/Webhooks")] = (200, LIST_RESPONSE)
    found = [wh async for wh in account.list(url=DOC_URL)]
    (request,) = rep.requests
    assert request["query"]["$filter"] == f"Url eq '{DOC_URL}'"
    assert request["query"]["$count"] == "true"
    assert (request["query"]["$top"], request["query"]["$skip"]) == ("1000", "0")
    assert request["headers"]["Authorization"] == "Bearer pat-s3cret"
    assert request["headers"]["X-UIPATH-OrganizationUnitId"] == "7"
    assert found == [
        Webhook(
            id="4",
            name="",
            url=DOC_URL,
            enabled=True,
            secret=Secret("1234567890"),
            events={
                "job.started",
                "process.created",
                "process.deleted",
                "process.updated",
                "queue.created",
            },
            provider="uipath",
            account="orch",
        )
    ]


def test_filter_expression_escapes_quotes_and_joins_with_and() -> None:
    flt = ListFilter(url="https://h.example.com/a'b", name="O'Brien", enabled=False, event="x")
    assert wire.filter_expression(flt) == (
        "Url eq 'https://h.example.com/a''b' and Name eq 'O''Brien' and Enabled eq false"
    )
    assert wire.filter_expression(ListFilter(event="job.completed")) is None


async def test_get_by_id_parses_the_documented_record(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", "/odata/Webhooks(10)")] = (200, GET_RESPONSE)
    assert await account.get("10") == Webhook(
        id="10",
        name="",
        url="https://orchestrator.uipath.com",
        enabled=False,
        secret=Secret("1234567890"),
        all_events=True,
        provider="uipath",
        account="orch",
    )


async def test_update_patches_only_what_changes(
    replay: tuple[Replay, str], account: Account
) -> None:
    """Document 000's update example, sent as a PATCH of the properties that change.

    The page's PUT example sets Url, Enabled, Secret, AllowInsecureSsl and Events on the
    record its GET example shows; as a PATCH, only those that differ from that record go,
    plus SubscribeToAllEvents (true before, false after, as the page's response shows).
    """
    rep, _ = replay
    rep.routes[("GET", "/odata/Webhooks(10)")] = (200, GET_RESPONSE)
    rep.routes[("GET", EVENT_TYPES_PATH)] = (200, EVENT_TYPES)
    rep.routes[("PATCH", "/odata/Webhooks(10)")] = (200, PUT_RESPONSE)
    change = WebhookChange(
        url="https://orchestrator.uipath.com/reference",
        enabled=False,
        secret="This is a new secret.",
        allow_insecure_ssl=True,
        all_events=False,
        add_events={"Process.Created", "queue.created", "ROBOT.deleted"},
    )
    updated = await account.update("10", change)
    assert rep.sent("PUT") == []
    (patch,) = rep.sent("PATCH")
    documented = {k: v for k, v in PUT_REQUEST.items() if GET_RESPONSE.get(k) != v}
    assert patch["body"] == {**documented, "SubscribeToAllEvents": False}
    assert "Enabled" not in patch["body"]  # false before and after: not sent
    assert patch["headers"]["Prefer"] == "return=representation"
    assert updated == wire.webhook_from(PUT_RESPONSE, account="orch")
    assert updated.events == {"process.created", "queue.created", "robot.deleted"}
    assert updated.all_events is False


async def test_update_never_sends_a_secret_it_read(
    replay: tuple[Replay, str], account: Account
) -> None:
    """Some tenants mask the secret in answers: writing back what was read would replace the
    real secret with the mask. Only a change that sets the secret sends one."""
    rep, _ = replay
    masked = {**GET_RESPONSE, "Secret": "********"}
    rep.routes[("GET", "/odata/Webhooks(10)")] = (200, masked)
    rep.routes[("GET", EVENT_TYPES_PATH)] = (200, EVENT_TYPES)
    rep.routes[("PATCH", "/odata/Webhooks(10)")] = (204, None)
    got = await account.update("10", WebhookChange(url="https://orchestrator.uipath.com/x"))
    (patch,) = rep.sent("PATCH")
    assert patch["body"] == {"Url": "https://orchestrator.uipath.com/x"}
    # 204: the record is read back; a mask reads as "set" without a value
    assert [r["method"] for r in rep.requests[-2:]] == ["PATCH", "GET"]
    assert got.secret is None and got.secret_state == "set"
    rep.requests.clear()
    await account.update("10", WebhookChange(secret=None))
    assert rep.sent("PATCH")[0]["body"] == {"Secret": None}


async def test_ping_returns_the_documented_event(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    path = "/odata/Webhooks(11)/UiPath.Server.Configuration.OData.Ping"
    rep.routes[("POST", path)] = (200, PING_RESPONSE)
    result = await account.ping("11")
    assert (result.event_id, result.event_type) == ("c3319a2d83c44b2f989bdd7eba1f0297", "ping")
    assert result.timestamp == datetime(2018, 11, 19, 14, 32, 47, 602477, tzinfo=UTC)
    assert result.details == {"TenantId": 57, "OrganizationUnitId": None, "UserId": 583}
    assert rep.sent("POST")[0]["path"] == path


async def test_event_types_parse_the_documented_catalog(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", EVENT_TYPES_PATH)] = (200, EVENT_TYPES)
    types = await account.event_types()
    assert len(types) == 21
    assert {(t.name, t.group) for t in types} >= {
        ("queueItem.transactionAbandoned", "queueItem"),
        ("schedule.failed", "schedule"),
        ("robot.status", "robot"),
    }


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"message": "Webhook does not exist.", "errorCode": 1002}, NotFound),
        (400, {"message": "gone", "errorCode": 1002}, NotFound),  # the code decides
        (404, None, NotFound),
        (409, {"message": "The name 'a' is already used.", "errorCode": 1001}, Conflict),
        (400, {"message": "Url: required", "errorCode": 1000}, InvalidRequest),
        (400, {"message": "bad"}, InvalidRequest),
        (401, {"message": "You are not authenticated!", "errorCode": 0}, AuthenticationFailed),
        (403, {"message": "You are not authorized!", "errorCode": 0}, PermissionDenied),
        (429, {"message": "Too many requests", "errorCode": 0}, RateLimited),
        (500, {"message": "boom", "errorCode": 0}, ProviderUnavailable),
        (503, None, ProviderUnavailable),
    ],
)
async def test_errors_map_onto_the_shared_tree(
    replay: tuple[Replay, str],
    account: Account,
    status: int,
    body: Any,
    error: type[GatewayError],
) -> None:
    rep, _ = replay
    if body is not None:
        body = {**body, "traceId": "trace-123"}
    rep.routes[("GET", "/odata/Webhooks(5)")] = (status, body)
    with pytest.raises(error) as caught:
        await account.get("5")
    exc = caught.value
    assert (exc.provider, exc.account, exc.status) == ("uipath", "orch", status)
    if body is not None:
        assert (exc.message, exc.code, exc.trace_id) == (
            body["message"],
            body.get("errorCode"),
            "trace-123",
        )


async def test_ids_that_are_not_int64_are_not_found_without_a_request(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    for bad in ("abc", "-1", "0", "1e3", str(2**63)):
        with pytest.raises(NotFound, match="positive integers"):
            await account.get(bad)
    assert rep.requests == []


_GOOD: dict[str, Any] = {
    "Id": 7, "Key": "0d4c5a6e", "Name": "orders", "Description": "to the orders team",
    "Url": "https://hooks.example.com/in", "Enabled": True, "Secret": "s3cret-value",
    "SubscribeToAllEvents": False, "AllowInsecureSsl": False,
    "Events": [{"EventType": "job.completed"}, {"EventType": "job.faulted"}],
}  # fmt: skip
_PATHS: list[tuple[Any, ...]] = [
    *((k,) for k in _GOOD), ("Events", 0), ("Events", 1, "EventType"),
]  # fmt: skip


@hypothesis.given(changes=changes_of(_PATHS))
@hypothesis.settings(max_examples=400, deadline=None)
def test_the_one_pass_reading_agrees_with_the_field_by_field_one(changes: list[Change]) -> None:
    agree((wire._read_plainly, wire._read_checked), mutated(_GOOD, changes))


def test_a_plain_record_takes_the_one_pass() -> None:
    webhook = wire._read_plainly(dict(_GOOD), "orch")  # no _Unsure
    assert webhook == wire._read_checked(dict(_GOOD), "orch")
    assert webhook.events == {"job.completed", "job.faulted"} and webhook.id == "7"
