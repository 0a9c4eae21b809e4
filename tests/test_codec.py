"""The JSON form of the model: strict reading with key paths, write-only secrets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.codec import change_from_json, ping_to_json, spec_from_json, webhook_to_json
from gateway.errors import InvalidRequest
from gateway.model import (
    UNSET,
    FailureHandling,
    PingResult,
    RetryStrategy,
    Secret,
    Webhook,
    WebhookChange,
    WebhookSpec,
)

URL = "https://hooks.example.com/in"


def test_spec_reads_every_field() -> None:
    spec = spec_from_json(
        {
            "name": "n",
            "url": URL,
            "events": ["a.b", "c.d"],
            "enabled": False,
            "secret": "s3cr3t-value",
            "description": "d",
            "headers": {"X-One": "1", "X-Many": ["2", "3"]},
            "allow_insecure_ssl": True,
            "failure_handling": {
                "triggers": ["5xx", "408"],
                "retry_strategy": {"type": "linear", "interval": 5, "attempts": 4},
                "divert": True,
            },
        }
    )
    assert spec == WebhookSpec(
        name="n",
        url=URL,
        events={"a.b", "c.d"},
        enabled=False,
        secret=Secret("s3cr3t-value"),
        description="d",
        headers={"X-One": ("1",), "X-Many": ("2", "3")},
        allow_insecure_ssl=True,
        failure_handling=FailureHandling(
            triggers={"5xx", "408"},
            retry_strategy=RetryStrategy(type="linear", interval=5, attempts=4),
            divert=True,
        ),
    )


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({"url": URL}, ["name: required field missing"]),
        (
            {"name": 5, "url": URL, "events": "a.b", "enabled": "true", "colour": "red"},
            [
                "name: must be a string, not a number",
                "events: must be an array of strings, not a string",
                "enabled: must be true or false, not a string",
                "colour: unknown key",
            ],
        ),
        (
            {"name": "n", "url": URL, "events": ["a", 3]},
            ["events[1]: must be a string, not a number"],
        ),
        ({"name": "n", "url": "ftp://x"}, ["url: must be an absolute http:// or https:// URL"]),
        (
            {"name": "n", "url": URL, "headers": {"X-A": 5}},
            ["headers.X-A: must be a string or an array of strings, not a number"],
        ),
        (
            {"name": "n", "url": URL, "failure_handling": {"retry_strategy": {"type": "cubic"}}},
            ["failure_handling.retry_strategy.type: must be one of linear, exponential"],
        ),
        (
            {"name": "n", "url": URL, "failure_handling": {"retry_strategy": {"attempts": 11}}},
            ["failure_handling.retry_strategy.attempts: must be from 1 to 10"],
        ),
        (
            {"name": "n", "url": URL, "failure_handling": {"retry_strategy": {"attempts": True}}},
            ["failure_handling.retry_strategy.attempts: must be an integer, not a boolean"],
        ),
        ([], ["the body must be a JSON object, not an array"]),
    ],
)
def test_bad_specs_name_every_problem_with_its_path(body: Any, problems: list[str]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        spec_from_json(body)
    assert [str(p) for p in caught.value.problems] == problems


def test_change_absent_keys_stay_unset_and_null_clears() -> None:
    change = change_from_json(
        {"enabled": False, "secret": None, "description": None, "add_events": ["x.y"]}
    )
    assert change == WebhookChange(enabled=False, secret=None, description=None, add_events={"x.y"})
    assert change.name is UNSET and change.failure_handling is UNSET
    assert change_from_json({"failure_handling": None}).failure_handling is None


def test_change_rejects_wrong_types_and_unknown_keys() -> None:
    with pytest.raises(InvalidRequest) as caught:
        change_from_json({"enabled": "no", "events": ["a"], "add_headers": {"Bad Name": "v"}})
    assert [str(p) for p in caught.value.problems] == [
        "enabled: must be true or false, not a string",
        "events: unknown key; did you mean 'all_events'?",
    ]
    with pytest.raises(InvalidRequest) as caught:
        change_from_json({"enabld": True})
    assert [str(p) for p in caught.value.problems] == [
        "enabld: unknown key; did you mean 'enabled'?"
    ]
    with pytest.raises(InvalidRequest) as caught:
        change_from_json({"add_headers": {"Bad Name": "v"}})
    assert caught.value.problems[0].path == "add_headers.Bad Name"


def test_webhook_json_never_carries_the_secret() -> None:
    webhook = Webhook(
        id="7",
        name="n",
        url=URL,
        events={"b", "a"},
        secret=Secret("s3cr3t-value"),
        headers={"X": ("1",)},
        suspended=True,
        suspended_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        failure_handling=FailureHandling(),
    )
    body = webhook_to_json(webhook)
    assert "s3cr3t-value" not in json.dumps(body)
    assert body["secret"] == "***"
    assert body["events"] == ["a", "b"]
    assert body["suspended_at"] == "2026-01-02T03:04:05+00:00"
    assert body["failure_handling"]["triggers"] == ["4xx", "5xx", "timeout"]
    assert webhook_to_json(Webhook(id="8", name="n", url=URL))["secret"] is None


def test_ping_json() -> None:
    result = PingResult(event_id="e1", timestamp=datetime(2026, 1, 1, tzinfo=UTC), details={"a": 1})
    assert ping_to_json(result) == {
        "event_id": "e1",
        "event_type": "ping",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "details": {"a": 1},
    }
