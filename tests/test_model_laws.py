"""The laws of ``WebhookChange.apply``, pinned with hypothesis."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from gateway.model import UNSET, Webhook, WebhookChange

EVENTS = st.sampled_from(
    ["job.started", "job.completed", "job.faulted", "queue.created", "robot.deleted"]
)
HEADER_NAMES = st.sampled_from(["X-A", "X-B", "X-Env", "Authorization"])
HEADER_VALUES = st.lists(st.text("abcxyz012", min_size=1, max_size=4), min_size=1, max_size=3).map(
    tuple
)
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4)
NAMES = st.text("abcdefgh-", min_size=1, max_size=8).filter(lambda s: s.strip())
URLS = st.sampled_from(["https://a.example/hook", "http://b.example:8080/x", "https://c.example"])


@st.composite
def webhooks(draw: st.DrawFn) -> Webhook:
    return Webhook(
        id=str(draw(st.integers(1, 10_000))),
        name=draw(NAMES),
        url=draw(URLS),
        enabled=draw(st.booleans()),
        events=draw(st.frozensets(EVENTS)),
        all_events=draw(st.booleans()),
        description=draw(st.none() | NAMES),
        headers=draw(HEADERS),
        secret=draw(st.none() | NAMES),
    )


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(UNSET) | strategy


@st.composite
def add_remove_changes(draw: st.DrawFn) -> WebhookChange:
    return WebhookChange(
        add_events=draw(st.frozensets(EVENTS)),
        remove_events=draw(st.frozensets(EVENTS)),
        add_headers=draw(HEADERS),
        remove_headers=draw(st.frozensets(HEADER_NAMES)),
    )


@st.composite
def changes(draw: st.DrawFn) -> WebhookChange:
    base = draw(add_remove_changes())
    return attrs.evolve(
        base,
        name=draw(maybe(NAMES)),
        url=draw(maybe(URLS)),
        enabled=draw(maybe(st.booleans())),
        description=draw(maybe(st.none() | NAMES)),
        secret=draw(maybe(st.none() | NAMES)),
    )


@given(webhooks())
def test_an_empty_change_is_the_identity(wh: Webhook) -> None:
    assert WebhookChange().apply(wh) == wh


@given(changes(), webhooks())
def test_apply_is_deterministic_and_pure(change: WebhookChange, wh: Webhook) -> None:
    before = attrs.evolve(wh)
    assert change.apply(wh) == change.apply(wh)
    assert wh == before


@given(changes(), webhooks())
def test_add_wins_over_remove_for_events(change: WebhookChange, wh: Webhook) -> None:
    after = change.apply(wh)
    assert change.add_events <= after.events
    assert not (change.remove_events - change.add_events) & after.events
    untouched = wh.events - change.remove_events - change.add_events
    assert untouched <= after.events
    assert after.events <= wh.events | change.add_events


@given(changes(), webhooks())
def test_add_wins_over_remove_for_headers(change: WebhookChange, wh: Webhook) -> None:
    after = change.apply(wh)
    for name, values in change.add_headers.items():
        assert after.headers[name] == values
    for name in change.remove_headers - set(change.add_headers):
        assert name not in after.headers
    for name, values in wh.headers.items():
        if name not in change.remove_headers and name not in change.add_headers:
            assert after.headers[name] == values


@given(add_remove_changes(), webhooks())
def test_pure_add_remove_changes_are_idempotent(change: WebhookChange, wh: Webhook) -> None:
    once = change.apply(wh)
    assert change.apply(once) == once


@given(changes(), webhooks())
def test_unset_scalars_keep_their_value(change: WebhookChange, wh: Webhook) -> None:
    after = change.apply(wh)
    for field in ("name", "url", "enabled", "description", "secret", "all_events"):
        if getattr(change, field) is UNSET:
            assert getattr(after, field) == getattr(wh, field)
        else:
            assert getattr(after, field) == getattr(change, field)
    assert (after.id, after.provider, after.account) == (wh.id, wh.provider, wh.account)


@given(changes(), changes(), changes(), webhooks())
def test_then_is_one_change_doing_both_in_order(
    first: WebhookChange, second: WebhookChange, third: WebhookChange, wh: Webhook
) -> None:
    """What merges the changes waiting for one webhook into one write."""
    assert first.then(second).apply(wh) == second.apply(first.apply(wh))
    assert first.then(second).then(third).apply(wh) == third.apply(second.apply(first.apply(wh)))
    assert WebhookChange().then(first).apply(wh) == first.apply(wh)
