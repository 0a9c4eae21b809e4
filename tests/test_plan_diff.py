"""``diff`` on its own: what differs, in a stable order, and the change that applies it (the
events' field change is made when it is read, from the change itself)."""

from __future__ import annotations

from gateway.model import Secret, Webhook, WebhookSpec
from gateway.plan.diff import FieldChange, diff
from providers.uipath.adapter import UiPathProvider

CAPABILITIES = UiPathProvider.capabilities


def webhook(**fields: object) -> Webhook:
    base = {"id": "7", "name": "orders", "url": "https://hooks.example.com/o",
            "events": frozenset({"job.faulted", "job.stopped"}), "provider": "uipath",
            "account": "orch"}  # fmt: skip
    return Webhook(**{**base, **fields})  # type: ignore[arg-type]


def test_each_field_that_differs_in_order_and_the_change_that_applies_them() -> None:
    actual = webhook(secret=Secret("old-s3cret"), secret_state="set")
    spec = WebhookSpec(name="orders-2", url="https://hooks.example.com/o",
                       events=frozenset({"job.faulted", "job.completed"}),
                       secret=Secret("new-s3cret"))  # fmt: skip
    found = diff(spec, actual, CAPABILITIES, secret_fingerprint=None, applied_fingerprint=None)
    assert [f.field for f in found.fields] == ["name", "events", "secret"]
    assert found.fields[1] == FieldChange("events", {"-": ["job.stopped"]},
                                          {"+": ["job.completed"]})  # fmt: skip
    assert not found.empty and found.sets("name") and not found.sets("url", "failure_handling")
    change = found.change
    assert (change.name, change.add_events, change.remove_events) == (
        "orders-2", frozenset({"job.completed"}), frozenset({"job.stopped"}))  # fmt: skip
    assert change.secret == Secret("new-s3cret")
    assert change.apply(actual).events == spec.events


def test_only_the_events_differ() -> None:
    spec = WebhookSpec(name="orders", url="https://hooks.example.com/o",
                       events=frozenset({"job.faulted"}))  # fmt: skip
    found = diff(spec, webhook(), CAPABILITIES, secret_fingerprint=None, applied_fingerprint=None)
    assert found.fields == (FieldChange("events", {"-": ["job.stopped"]}, {"+": []}),)
    assert found.change.remove_events == frozenset({"job.stopped"})


def test_an_equal_webhook_is_no_change() -> None:
    spec = WebhookSpec(name="orders", url="https://hooks.example.com/o",
                       events=frozenset({"job.faulted", "job.stopped"}))  # fmt: skip
    found = diff(spec, webhook(), CAPABILITIES, secret_fingerprint=None, applied_fingerprint=None)
    assert found.empty and found.fields == () and not found.sets("name", "url")
