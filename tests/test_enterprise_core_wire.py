"""Enterprise Core request shapes of document 004, recorded by a replay server.

Each test drives the adapter through the real transport and checks the request it sent against
the documented shape (paths, query parameters, body fields).
"""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from typing import Any

import hypothesis
import pytest

from gateway import WebhookChange, WebhookSpec
from gateway.errors import (
    Conflict,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from gateway.model import AlertEndpoint, FailureHandling, RetryStrategy
from gateway.service import Account
from providers.enterprise_core import wire
from tests.conftest import DATA, REPLAY_TENANT, Replay, replayed_core
from tests.wire_mutations import Change, agree, changes_of, mutated

TENANT = REPLAY_TENANT
BASE = f"/event/{TENANT}/webhooks"
W = "01HZX3K4Q5W6E7R8T9Y0V1J2P3"


def response(**overrides: Any) -> dict[str, Any]:
    return {
        "locator": W,
        "name": "policies",
        "enabled": True,
        "endpoint": {"url": "https://hooks.example.com/p", "headers": {"X-Team": ["ops"]}},
        "failureHandling": {
            "triggers": ["4xx", "5xx", "timeout"],
            "divert": False,
            "suspend": False,
        },
        "suspended": False,
        "suspendedAt": None,
        "eventTypes": ["policy.quote.issue"],
        **overrides,
    }


@pytest.fixture
async def account(replay: tuple[Replay, str]) -> AsyncIterator[Account]:
    async with replayed_core(replay[1], page_size=2) as account:
        yield account


async def test_list_sends_the_documented_query_and_pages(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/list")] = (200, {"listCompleted": True, "items": [response()]})
    found = [wh async for wh in account.list(name="policies", enabled=True, suspended=False,
                                             event="POLICY.Quote.issue")]  # fmt: skip
    (request,) = rep.requests
    assert request["query"] == {
        "offset": "0",
        "count": "2",
        "name": "policies",
        "enabled": "true",  # the documented filters, as asked; never the undefined `active`
        "suspended": "false",
        "eventTypes": "policy.quote.issue",
    }
    assert request["headers"]["Authorization"] == "Bearer ec-s3cret"
    assert [wh.id for wh in found] == [W]
    rep.requests.clear()
    [wh async for wh in account.list(enabled=True)]
    assert rep.requests[0]["query"] == {"offset": "0", "count": "2", "enabled": "true"}
    rep.requests.clear()
    [wh async for wh in account.list(enabled=False, suspended=True)]
    assert {k: v for k, v in rep.requests[0]["query"].items() if k in ("enabled", "suspended")} == {
        "enabled": "false",
        "suspended": "true",
    }


async def test_list_reads_a_bare_array_too(replay: tuple[Replay, str], account: Account) -> None:
    rep, _ = replay
    rep.routes[("GET", f"{BASE}/list")] = (200, [response()])  # shorter than a page: the end
    assert [wh.id async for wh in account.list()] == [W]
    assert len(rep.requests) == 1


async def test_create_sends_the_documented_body(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("POST", BASE)] = (200, response())
    spec = WebhookSpec(
        name="policies",
        url="https://hooks.example.com/p",
        events={"policy.quote.issue", "policy.quote.create"},
        headers={"X-Team": ("ops",), "X-Tags": ("a", "b")},
        secret="hmac-s3cret",
        failure_handling=FailureHandling(
            triggers={"5xx", "timeout"},
            retry_strategy=RetryStrategy(type="linear", interval=30, attempts=5),
            alert_endpoint=AlertEndpoint(
                url="https://alerts.example.com/in", headers={"X-Alert": "1"}, secret="alert-s3cret"
            ),
            divert=True,
        ),
    )
    await account.create(spec)
    (post,) = rep.sent("POST")
    assert post["path"] == BASE
    assert post["body"] == {
        "name": "policies",
        "enabled": True,
        "endpoint": {
            "url": "https://hooks.example.com/p",
            "headers": {"X-Team": ["ops"], "X-Tags": ["a", "b"]},
            "hmacEnabled": True,
            "secret": "hmac-s3cret",
        },
        "failureHandling": {
            "triggers": ["5xx", "timeout"],
            "retryStrategy": {"type": "linear", "interval": 30, "attempts": 5},
            "alertEndpoint": {
                "url": "https://alerts.example.com/in",
                "headers": {"X-Alert": ["1"]},
                "hmacEnabled": True,
                "secret": "alert-s3cret",
            },
            "divert": True,
            "suspend": False,
        },
        "eventTypes": ["policy.quote.create", "policy.quote.issue"],
    }


async def test_update_is_one_patch_with_add_and_remove(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("PATCH", f"{BASE}/{W}")] = (200, response(eventTypes=["policy.quote.issue"]))
    change = WebhookChange(
        add_events={"policy.quote.issue"},
        remove_events={"policy.quote.issue", "policy.quote.create"},
        add_headers={"X-New": "1"},
        remove_headers={"X-Team"},
        url="https://hooks.example.com/q",
        enabled=False,
        failure_handling=FailureHandling(triggers={"4xx", "503"}, suspend=True),
    )
    result = await account.update(W, change)
    assert [r["method"] for r in rep.requests] == ["PATCH"]  # never a read-modify-write
    assert rep.requests[0]["body"] == {
        "enabled": False,
        "endpoint": {
            "url": "https://hooks.example.com/q",
            "addHeaders": {"X-New": ["1"]},
            "removeHeaders": ["X-Team"],
        },
        "removeFailureHandling": True,
        "failureHandling": {
            "removeTriggers": ["5xx", "timeout"],
            "addTriggers": ["503"],
            "divert": False,
            "suspend": True,
        },
        "addEventTypes": ["policy.quote.issue"],
        "removeEventTypes": ["policy.quote.create", "policy.quote.issue"],
    }
    assert result.events == {"policy.quote.issue"}


async def test_clearing_failure_handling_and_secret(
    replay: tuple[Replay, str], account: Account
) -> None:
    rep, _ = replay
    rep.routes[("PATCH", f"{BASE}/{W}")] = (200, response())
    result = await account.update(W, WebhookChange(failure_handling=None, secret=None))
    assert rep.requests[0]["body"] == {
        "endpoint": {"hmacEnabled": False},
        "removeFailureHandling": True,
    }
    assert result.failure_handling is None  # the documented default reads back as None


async def test_unsuspend_and_delete_calls(replay: tuple[Replay, str], account: Account) -> None:
    rep, _ = replay
    rep.routes[("PATCH", f"{BASE}/{W}/unsuspend")] = (204, None)
    rep.routes[("DELETE", f"{BASE}/{W}")] = (204, None)
    await account.unsuspend(W)
    await account.delete(W)
    assert [(r["method"], r["path"], r["body"]) for r in rep.requests] == [
        ("PATCH", f"{BASE}/{W}/unsuspend", None),
        ("DELETE", f"{BASE}/{W}", None),
    ]


def test_suspension_fields_are_read() -> None:
    webhook = wire.webhook_from(response(suspended=True, suspendedAt="2026-03-01T10:00:00+00:00"))
    assert webhook.suspended is True
    assert webhook.suspended_at is not None and webhook.suspended_at.isoformat() == (
        "2026-03-01T10:00:00+00:00"
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidRequest),
        (404, NotFound),
        (409, Conflict),
        (403, PermissionDenied),
        (429, RateLimited),
    ],
)
async def test_errors_keep_the_provider_message(
    replay: tuple[Replay, str], account: Account, status: int, error: type[GatewayError]
) -> None:
    rep, _ = replay
    body = {"status": status, "error": "E", "message": "missing permission webhooks.read",
            "requestId": "req-9"}  # fmt: skip
    rep.routes[("GET", f"{BASE}/{W}")] = (status, body)
    with pytest.raises(error) as caught:
        await account.get(W)
    assert (caught.value.message, caught.value.trace_id, caught.value.status) == (
        "missing permission webhooks.read",
        "req-9",
        status,
    )


# -- the field names themselves come from document 004 ------------------------------------------

_TYPE = (
    r"string\[\]|string|boolean|locator|datetime|map<[^>]*>"
    r"|[A-Z][A-Za-z]*?(?:Request|Response)"
)


def documented_fields(type_name: str) -> set[str]:
    """The fields document 004 lists for ``type_name`` (its tables print them run together)."""
    text = (DATA / "enterprise_core" / "004_webhooks_api.txt").read_text()
    line = text.split(f"\n{type_name}\n", 1)[1].splitlines()[0]
    tokens = line.removeprefix("¶required").split(" ")
    fields = {tokens[0]}
    for token in tokens[1:]:
        match = re.fullmatch(rf"(?:{_TYPE})([a-z][A-Za-z]*)", token)
        if match:
            fields.add(match.group(1))
    return fields


def test_documented_fields_parse() -> None:
    assert documented_fields("CreateWebhookRequest") == {
        "name", "enabled", "endpoint", "failureHandling", "eventTypes"
    }  # fmt: skip
    assert documented_fields("UpdateEndpointRequest") == {"url", "addHeaders", "removeHeaders"}


def test_bodies_use_only_documented_fields() -> None:
    spec = WebhookSpec(
        name="n",
        url="https://h.example.com",
        events={"policy.quote.issue"},
        headers={"X": "1"},
        failure_handling=FailureHandling(divert=True),
    )
    body = wire.create_body(spec)
    assert set(body) <= documented_fields("CreateWebhookRequest")
    assert set(body["endpoint"]) <= documented_fields("CreateEndpointRequest")
    change = WebhookChange(name="m", enabled=False, url="https://h.example.com/2",
                           add_events={"a.b"}, remove_events={"c.d"}, add_headers={"X": "2"},
                           remove_headers={"Y"}, failure_handling=FailureHandling())  # fmt: skip
    patch = wire.patch_body(change)
    assert set(patch) <= documented_fields("UpdateWebhookRequest")
    assert set(patch["endpoint"]) <= documented_fields("UpdateEndpointRequest")
    read = response()
    assert set(read) <= documented_fields("WebhookResponse")
    assert set(read["endpoint"]) <= documented_fields("EndpointResponse")


_GOOD: dict[str, Any] = {
    "locator": "01M8T6K0WRGKFQAQEK1FP9KBRW", "name": "orders", "enabled": True,
    "endpoint": {"url": "https://hooks.example.com/in", "headers": {"X-Team": ["a", "b"]},
                 "secureSsl": True, "hmacEnabled": True, "tag": "blue", "secret": ""},
    "failureHandling": {"alertEndpoint": None, "retryStrategy": {"type": "linear",
                        "interval": 5, "attempts": 2}, "triggers": ["5xx"], "divert": True,
                        "suspend": False},
    "suspended": False, "suspendedAt": None, "eventTypes": ["policy.account.create"],
}  # fmt: skip
_PATHS: list[tuple[Any, ...]] = [
    *((k,) for k in _GOOD), *(("endpoint", k) for k in _GOOD["endpoint"]),
    ("endpoint", "headers", "X-Team"), ("failureHandling", "triggers"), ("eventTypes", 0),
]  # fmt: skip


@hypothesis.given(changes=changes_of(_PATHS))
@hypothesis.settings(max_examples=400, deadline=None)
def test_the_one_pass_reading_agrees_with_the_field_by_field_one(changes: list[Change]) -> None:
    wire.webhook_from(copy.deepcopy(_GOOD), account="acct")  # its failure handling now known
    agree((wire._read_plainly, wire._read_checked), mutated(_GOOD, changes))


def test_a_plain_record_takes_the_one_pass_and_reads_as_documented() -> None:
    record = copy.deepcopy(_GOOD)
    wire.webhook_from(record, account="core")  # its failure handling is now known
    webhook = wire._read_plainly(record, "core")  # no _Unsure: the fast pass reads it
    assert webhook == wire._read_checked(record, "core")
    assert webhook.secret_state == "set" and webhook.extras == {"tag": "blue"}
