"""Enterprise Core through the gateway against its emulator: semantics, permissions, lifecycle."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.config import parse_config
from gateway.errors import NotFound, PermissionDenied
from gateway.model import AlertEndpoint, FailureHandling, RetryStrategy
from gateway.service import Account
from providers.enterprise_core.emulator import HMAC_HEADER, EnterpriseCoreEmulator
from tests.conftest import EnterpriseCoreHarness, Receiver


@pytest.fixture
async def account(enterprise_core: EnterpriseCoreHarness) -> AsyncIterator[Account]:
    config = {"accounts": {"core": enterprise_core.account(page_size=2)}}
    async with Gateway(parse_config(config)) as gw:
        yield gw.account("core")


def spec(url: str, **kw: Any) -> WebhookSpec:
    values: dict[str, Any] = {"name": "policies", "url": url, "events": {"policy.quote.issue"}}
    return WebhookSpec(**(values | kw))


async def test_an_item_in_both_add_and_remove_stays(account: Account) -> None:
    made = await account.create(
        spec("https://h.example.com/a", events={"policy.quote.issue", "policy.quote.create"},
             headers={"X-A": "1", "X-B": "2"},
             failure_handling=FailureHandling(triggers={"5xx", "timeout"}, divert=True))
    )  # fmt: skip
    change = WebhookChange(
        add_events={"policy.quote.issue"},
        remove_events={"policy.quote.issue", "policy.quote.create"},
        add_headers={"X-A": "new"},
        remove_headers={"X-A", "X-B"},
    )
    updated = await account.update(made.id, change)
    assert updated == change.apply(made)
    assert updated.events == {"policy.quote.issue"}
    assert dict(updated.headers) == {"X-A": ("new",)}


async def test_remove_failure_handling_restores_the_default(
    account: Account, enterprise_core: EnterpriseCoreHarness
) -> None:
    alert = AlertEndpoint(url="https://alerts.example.com/x")
    fh = FailureHandling(retry_strategy=RetryStrategy(attempts=7), suspend=True,
                         alert_endpoint=alert)  # fmt: skip
    made = await account.create(spec("https://h.example.com/a", failure_handling=fh))
    assert made.failure_handling == fh
    cleared = await account.update(made.id, WebhookChange(failure_handling=None))
    assert cleared.failure_handling is None
    stored = enterprise_core.emulator.webhooks[made.id]["failureHandling"]
    assert stored == {"triggers": ["4xx", "5xx", "timeout"], "divert": False, "suspend": False}


async def test_list_filters_and_pages(
    account: Account, enterprise_core: EnterpriseCoreHarness
) -> None:
    a = await account.create(spec("https://h.example.com/a", name="a"))
    b = await account.create(spec("https://h.example.com/b", name="b", enabled=False))
    c = await account.create(
        spec("https://h.example.com/c", name="c", events={"policy.quote.create"})
    )
    enterprise_core.emulator.webhooks[c.id]["suspended"] = True

    async def ids(**filters: Any) -> set[str]:
        return {wh.id async for wh in account.list(**filters)}

    assert await ids() == {a.id, b.id, c.id}  # 3 webhooks over pages of 2
    assert await ids(enabled=True, suspended=False) == {a.id}
    assert await ids(suspended=True) == {c.id}
    assert await ids(event="policy.quote.create") == {c.id}
    assert await ids(enabled=False) == {b.id}


async def test_older_bare_array_lists_are_read(enterprise_core: EnterpriseCoreHarness) -> None:
    enterprise_core.emulator.legacy_list = True
    config = {"accounts": {"core": enterprise_core.account(page_size=2)}}
    async with Gateway(parse_config(config)) as gw:
        acct = gw.account("core")
        made = {(await acct.create(spec(f"https://h.example.com/{i}", name=f"n{i}"))).id
                for i in range(5)}  # fmt: skip
        assert {wh.id async for wh in acct.list()} == made


async def test_permissions_and_locators(enterprise_core: EnterpriseCoreHarness) -> None:
    reader = {"accounts": {"core": enterprise_core.account(token="ec-reader")}}
    async with Gateway(parse_config(reader)) as gw:
        acct = gw.account("core")
        with pytest.raises(PermissionDenied, match=r"missing permission webhooks\.write"):
            await acct.create(spec("https://h.example.com/a"))
        with pytest.raises(NotFound):
            await acct.get("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        with pytest.raises(NotFound, match="ULIDs"):
            await acct.get("not-a-ulid")
    base = enterprise_core.base_url
    async with aiohttp.ClientSession() as http:
        url = f"{base}/event/{enterprise_core.emulator.tenant_locator}/webhooks/list"
        async with http.get(url) as resp:
            assert resp.status == 401
        other = f"{base}/event/00000000-0000-0000-0000-000000000000/webhooks/list"
        async with http.get(other, headers={"Authorization": "Bearer ec-reader"}) as resp:
            assert resp.status == 404


async def test_lifecycle_suspend_divert_unsuspend_resend(
    account: Account, enterprise_core: EnterpriseCoreHarness, receiver: Receiver
) -> None:
    emulator: EnterpriseCoreEmulator = enterprise_core.emulator
    fh = FailureHandling(
        triggers={"5xx", "timeout"},
        retry_strategy=RetryStrategy(type="exponential", interval=1, attempts=3),
        divert=True,
        suspend=True,
    )
    made = await account.create(
        spec(receiver.url + "/in", failure_handling=fh, secret="hmac-s3cret",
             headers={"X-Team": "ops"})
    )  # fmt: skip
    receiver.status = 500
    report = await emulator.fire("policy.quote.issue", {"policyLocator": "P1"})
    assert report["deliveries"][0]["attempts"] == 3
    assert len(receiver.received) == 3

    suspended = await account.get(made.id)
    assert suspended.suspended is True and suspended.suspended_at is not None
    assert made.id in {wh.id async for wh in account.list(suspended=True)}
    (diverted,) = [d async for d in account.ex_list_diverted(made.id)]
    event = report["event"]
    assert diverted.id == event["locator"]
    assert diverted.failure_trigger == "5xx" and diverted.failure_message == "HTTP 500"
    assert diverted.failure_timestamp is not None and diverted.request_locator
    assert (await account.ex_get_diverted(made.id, diverted.id)) == diverted

    # Suspended: nothing is delivered.
    await emulator.fire("policy.quote.issue")
    assert len(receiver.received) == 3

    receiver.status = 200
    await account.unsuspend(made.id)
    restored = await account.get(made.id)
    assert restored.suspended is False and restored.suspended_at is None
    await emulator.fire("policy.quote.issue")
    assert len(receiver.received) == 4

    assert await account.ex_resend_diverted(made.id, diverted.id) == {
        "eventLocator": diverted.id,
        "resent": True,
    }
    _, headers, body = receiver.received[-1]
    assert json.loads(body) == event
    assert headers["X-Team"] == "ops"
    expected = base64.b64encode(hmac.new(b"hmac-s3cret", body, hashlib.sha256).digest()).decode()
    assert headers[HMAC_HEADER] == expected
    assert [d async for d in account.ex_list_diverted(made.id)] == []
    with pytest.raises(NotFound):
        await account.ex_get_diverted(made.id, diverted.id)


async def test_statuses_outside_the_triggers_are_not_failures(
    account: Account, enterprise_core: EnterpriseCoreHarness, receiver: Receiver
) -> None:
    fh = FailureHandling(triggers={"503"}, suspend=True, divert=True)
    made = await account.create(spec(receiver.url, failure_handling=fh))
    receiver.status = 500
    await enterprise_core.emulator.fire("policy.quote.issue")
    assert (await account.get(made.id)).suspended is False
    receiver.status = 503
    await enterprise_core.emulator.fire("policy.quote.issue")
    assert (await account.get(made.id)).suspended is True
    (diverted,) = [d async for d in account.ex_list_diverted(made.id)]
    assert diverted.failure_trigger == "503"
    await account.ex_delete_diverted(made.id, diverted.id)
    assert [d async for d in account.ex_list_diverted(made.id)] == []


@pytest.mark.parametrize("trigger", ["200", "302", "1xx"])
async def test_the_emulator_takes_only_error_triggers(
    enterprise_core: EnterpriseCoreHarness, trigger: str
) -> None:
    """Socotra's webhooks guide: "specific 400- or 500-level HTTP codes, or all in those levels
    (4xx, 5xx)", and timeout."""
    body = {"name": "t", "endpoint": {"url": "https://h.example.com/t"},
            "eventTypes": ["policy.quote.issue"],
            "failureHandling": {"triggers": ["5xx", trigger]}}  # fmt: skip
    url = f"{enterprise_core.base_url}/event/{enterprise_core.emulator.tenant_locator}/webhooks"
    async with aiohttp.ClientSession() as http, http.post(
        url, json=body, headers={"Authorization": "Bearer ec-token-s3cret"}
    ) as resp:  # fmt: skip
        assert resp.status == 400
        assert "failureHandling.triggers" in await resp.text()
