"""The facade: Gateway.from_config, account clients and the rules they apply for every provider."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import (
    Gateway,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    WebhookChange,
    WebhookSpec,
)
from gateway.config import parse_config
from gateway.model import EventType, Webhook
from gateway.provider import Capabilities
from gateway.registry import Registry
from providers.memory import MemoryProvider

EVENTS = tuple(f"thing.e{i:02d}" for i in range(60))


async def test_from_config_drives_the_memory_provider(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[accounts.mem]\nprovider = "memory"\npage_size = 2\n')
    async with Gateway.from_config(path) as gw:
        (info,) = gw.accounts()
        assert (info.name, info.provider) == ("mem", "memory")
        assert "unsuspend" in info.capabilities.operations
        acct = gw.account("mem")
        wh = await acct.create(
            WebhookSpec(name="n", url="https://hooks.example/a", events={"Order.Created"})
        )
        assert wh.events == {"order.created"} and wh.account == "mem" and wh.provider == "memory"
        wh = await acct.update(
            wh.id, WebhookChange(add_events={"order.shipped"}, remove_events={"order.created"})
        )
        assert wh.events == {"order.shipped"}
        assert [w.id async for w in acct.list(enabled=True, event="order.shipped")] == [wh.id]
        assert (await acct.ping(wh.id)).event_id
        await acct.delete(wh.id)
        assert [w async for w in acct.list()] == []


async def test_unknown_account_lists_the_configured_ones(memory_gateway: Gateway) -> None:
    with pytest.raises(NotFound, match=r"no account named 'nope' \(configured: mem\)"):
        memory_gateway.account("nope")


async def test_unknown_event_names_close_matches_and_valid_ones(memory_gateway: Gateway) -> None:
    acct = memory_gateway.account("mem")
    with pytest.raises(InvalidRequest) as caught:
        await acct.create(WebhookSpec(name="n", url="https://h.example", events={"order.create"}))
    message = caught.value.problems[0].message
    assert "did you mean order.created" in message
    assert "the 6 valid names are listed by GET /v1/accounts/mem/event-types" in message
    with pytest.raises(InvalidRequest, match="unknown event"):
        [w async for w in acct.list(event="order.teleported")]


async def test_empty_id_is_rejected_before_the_provider(memory_gateway: Gateway) -> None:
    with pytest.raises(InvalidRequest, match="id: must be a non-empty string"):
        await memory_gateway.account("mem").get("")
    with pytest.raises(InvalidRequest, match="id: must not begin or end with white space"):
        await memory_gateway.account("mem").get(" ")


class CountingProvider(MemoryProvider):
    """Counts catalog fetches, and replaces whole records with a pause between read and write."""

    kind = "counting"
    title = "Counting"
    capabilities = Capabilities(
        fields=frozenset({"enabled", "secret", "description"}), atomic_update=False
    )
    catalog_fetches = 0

    async def event_types(self) -> list[EventType]:
        type(self).catalog_fetches += 1
        return [EventType(name=e) for e in EVENTS]

    async def update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        current = self._lookup(id)
        await asyncio.sleep(0.001)  # a remote read-then-PUT leaves this gap
        self._hooks[id] = change.apply(current)
        return self._hooks[id]


@pytest.fixture
async def counting() -> AsyncIterator[Gateway]:
    registry = Registry()
    registry.add(CountingProvider)
    config = parse_config({"accounts": {"c": {"provider": "counting"}}}, registry=registry)
    async with Gateway(config, registry=registry) as gw:
        yield gw


async def test_concurrent_replace_updates_are_serialized(counting: Gateway) -> None:
    acct = counting.account("c")
    wh = await acct.create(WebhookSpec(name="n", url="https://h.example"))
    await asyncio.gather(*(acct.update(wh.id, WebhookChange(add_events={e})) for e in EVENTS[:50]))
    assert (await acct.get(wh.id)).events == set(EVENTS[:50])


async def test_event_catalog_is_fetched_once_and_refreshable(counting: Gateway) -> None:
    CountingProvider.catalog_fetches = 0
    acct = counting.account("c")
    await asyncio.gather(
        *(
            acct.create(WebhookSpec(name=f"n{i}", url="https://h.example", events={EVENTS[i]}))
            for i in range(10)
        )
    )
    assert CountingProvider.catalog_fetches == 1
    await acct.event_types(refresh=True)
    assert CountingProvider.catalog_fetches == 2


async def test_unstorable_settings_are_rejected_not_dropped(counting: Gateway) -> None:
    acct = counting.account("c")
    with pytest.raises(InvalidRequest) as caught:
        await acct.create(
            WebhookSpec(name="n", url="https://h.example", headers={"X-A": "1"}, all_events=True)
        )
    assert [p.path for p in caught.value.problems] == ["all_events", "headers"]
    assert "counting cannot store headers" in str(caught.value)
    wh = await acct.create(WebhookSpec(name="n", url="https://h.example"))
    with pytest.raises(InvalidRequest, match=r"add_headers: counting cannot store headers"):
        await acct.update(wh.id, WebhookChange(add_headers={"X-A": "1"}))
    assert [w async for w in acct.list()] == [wh]


class LosingProvider(MemoryProvider):
    """Stores the webhook, then loses the answer (or loses the request, per ``store``)."""

    kind = "losing"
    title = "Losing"
    store = True

    async def create(self, spec: WebhookSpec) -> Webhook:
        if self.store:
            await super().create(spec)
        raise OutcomeUnknown("POST /webhooks failed: ServerDisconnectedError", provider=self.kind)


async def test_a_create_whose_answer_was_lost_is_reconciled_by_lookup() -> None:
    registry = Registry()
    registry.add(LosingProvider)
    config = parse_config({"accounts": {"l": {"provider": "losing"}}}, registry=registry)
    async with Gateway(config, registry=registry) as gw:
        acct = gw.account("l")
        spec = WebhookSpec(name="n", url="https://h.example", events={"order.created"})
        found = await acct.create(spec)
        assert found.name == "n"
        assert found.events == {"order.created"}
        assert [w.id async for w in acct.list()] == [found.id]  # sent once, not twice

        LosingProvider.store = False
        try:
            with pytest.raises(OutcomeUnknown, match="safe to try again"):
                await acct.create(WebhookSpec(name="m", url="https://h.example"))
        finally:
            LosingProvider.store = True


async def test_provider_extras_are_reachable_from_the_account(memory_gateway: Gateway) -> None:
    acct = memory_gateway.account("mem")
    wh = await acct.create(WebhookSpec(name="n", url="https://h.example"))
    await acct.ex_suspend(wh.id)
    assert (await acct.get(wh.id)).suspended
    with pytest.raises(AttributeError):
        acct.no_such_thing  # noqa: B018


async def test_secrets_stay_out_of_logs_and_errors(
    memory_gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "whsec-known-value-123"
    acct = memory_gateway.account("mem")
    wh = await acct.create(WebhookSpec(name="n", url="https://h.example", secret=secret))
    logging.getLogger("test").info("created %r with %s", wh, wh.secret)
    try:
        await acct.create(WebhookSpec(name="n", url="https://h.example", secret=secret))
    except Exception as exc:  # duplicate name: Conflict
        logging.getLogger("test").exception("failed: %s", exc)
        texts = [str(exc), repr(exc)]
    for text in [caplog.text, repr(wh), *texts]:
        assert secret not in text
