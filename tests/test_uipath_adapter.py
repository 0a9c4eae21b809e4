"""The UiPath adapter through a Gateway against the emulator: tokens, rules, concurrency, faults."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway import Gateway, WebhookChange, WebhookSpec
from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.errors import AuthenticationFailed, ConfigError, InvalidRequest, Unsupported
from gateway.model import FailureHandling
from gateway.service import Account
from providers.uipath.emulator import CATALOG
from providers.uipath.signature import SIGNATURE_HEADER, verify
from tests.conftest import Receiver, UiPathHarness

EVENTS = [e["Name"] for e in CATALOG]


def config(uipath: UiPathHarness, **settings: Any) -> dict[str, Any]:
    return {
        "accounts": {"orch": uipath.account(**settings)},
        "http": {"retry": {"max_attempts": 10, "backoff_base": 0.005, "backoff_max": 0.05}},
    }


@pytest.fixture
async def account(uipath: UiPathHarness) -> AsyncIterator[Account]:
    async with Gateway(parse_config(config(uipath))) as gw:
        yield gw.account("orch")


def spec(url: str, **kw: Any) -> WebhookSpec:
    return WebhookSpec(**{"name": "jobs", "url": url, "events": {"job.completed"}, **kw})


async def test_many_calls_share_one_token(uipath: UiPathHarness, account: Account) -> None:
    await asyncio.gather(*(account.event_types(refresh=True) for _ in range(100)))
    assert uipath.emulator.token_requests == 1


async def test_personal_access_token_and_folder(uipath: UiPathHarness) -> None:
    cfg = {"accounts": {"orch": {"provider": "uipath", "base_url": uipath.base_url,
                                 "token": "pat-s3cret", "folder_id": 12}}}  # fmt: skip
    async with Gateway(parse_config(cfg)) as gw:
        made = await gw.account("orch").create(spec("https://h.example.com/a"))
        assert made.name == "jobs"
    assert uipath.emulator.token_requests == 0


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"identity_url": None}, "accounts.orch.identity_url: required field missing"),
        ({"token": "t"}, "accounts.orch.token: give either token or"),
        ({"page_size": 1001}, "accounts.orch.page_size: must be from 1 to 1000"),
        ({"base_url": "orchestrator"}, "accounts.orch.base_url: must be an http(s) URL"),
        ({"folder": 3}, "accounts.orch.folder: unknown key"),
    ],
)
def test_settings_are_checked(
    uipath: UiPathHarness, settings: dict[str, Any], problem: str
) -> None:
    table = {k: v for k, v in uipath.account(**settings).items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        parse_config({"accounts": {"orch": table}})
    assert any(str(p).startswith(problem) for p in caught.value.problems), caught.value.problems


async def test_what_uipath_cannot_store_is_rejected_with_its_path(
    uipath: UiPathHarness, account: Account
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await account.create(
            spec(
                "https://h.example.com/a", headers={"X-A": "1"}, failure_handling=FailureHandling()
            )
        )
    assert [p.path for p in caught.value.problems] == ["failure_handling", "headers"]
    assert "uipath cannot store headers" in str(caught.value)
    made = await account.create(spec("https://h.example.com/a"))
    with pytest.raises(InvalidRequest, match="add_headers: uipath cannot store headers"):
        await account.update(made.id, WebhookChange(add_headers={"X-A": "1"}))
    with pytest.raises(Unsupported, match=r"uipath.*unsuspend"):
        await account.unsuspend(made.id)
    with pytest.raises(InvalidRequest, match="secret: must be at most 100 characters"):
        await account.update(made.id, WebhookChange(secret="x" * 101))
    # The Orchestrator swagger's WebhookDto: Name at most 128, Description at most 256.
    with pytest.raises(InvalidRequest) as long:
        await account.create(spec("https://h.example.com/b", name="n" * 129,
                                  description="d" * 257))  # fmt: skip
    assert [p.path for p in long.value.problems] == ["name", "description"]
    assert "must be at most 128 characters at UiPath Orchestrator (129 given)" in str(long.value)
    with pytest.raises(InvalidRequest, match="name: must be at most 128"):
        await account.update(made.id, WebhookChange(name="n" * 129))
    assert uipath.emulator.writes == 1  # nothing of it was sent


async def test_the_emulator_refuses_what_the_swagger_refuses(uipath: UiPathHarness) -> None:
    async with aiohttp.ClientSession() as http:
        for body, prop in (({"Name": "n" * 129}, "Name"), ({"Description": "d" * 257},
                                                              "Description")):  # fmt: skip
            sent = {"Name": "ok", "Url": "https://h.example.com/x", **body}
            async with http.post(
                f"{uipath.base_url}/odata/Webhooks",
                json=sent,
                headers={"Authorization": "Bearer pat-s3cret"},
            ) as resp:
                answer = await resp.json()
                assert resp.status == 400 and answer["errorCode"] == 1000
                assert f"maximum length of {128 if prop == 'Name' else 256}" in answer["message"]


async def test_unknown_events_name_close_matches(account: Account) -> None:
    with pytest.raises(
        InvalidRequest, match=r"unknown event 'job\.complete' \(did you mean job\.completed"
    ):
        await account.create(spec("https://h.example.com/a", events={"job.complete"}))


async def test_concurrent_updates_of_one_webhook_lose_nothing(
    uipath: UiPathHarness, account: Account
) -> None:
    made = await account.create(spec("https://h.example.com/a", events=set()))
    # The vendor's catalog has 28 events: 50 updates add them all, some twice, and rename.
    changes = [WebhookChange(add_events={EVENTS[i % len(EVENTS)]}) for i in range(50)]
    await asyncio.gather(*(account.update(made.id, c) for c in changes))
    final = await account.get(made.id)
    assert final.events == set(EVENTS)
    assert uipath.emulator.webhooks[int(made.id)]["Name"] == "jobs"


async def test_ping_delivers_a_signed_event(
    uipath: UiPathHarness, account: Account, receiver: Receiver
) -> None:
    made = await account.create(spec(receiver.url + "/hook", secret="ping-s3cret"))
    result = await account.ping(made.id)
    ((path, headers, body),) = receiver.received
    assert path == "/hook"
    assert verify(body, headers[SIGNATURE_HEADER], "ping-s3cret")
    assert not verify(body + b" ", headers[SIGNATURE_HEADER], "ping-s3cret")
    delivered = json.loads(body)
    assert (delivered["Type"], delivered["EventId"]) == ("ping", result.event_id)
    assert result.details["TenantId"] == 1

    receiver.status = 410
    with pytest.raises(InvalidRequest, match=r"ping request .* failed: HTTP 410"):
        await account.ping(made.id)


async def test_a_lost_create_answer_is_reconciled_not_resent(
    uipath: UiPathHarness, account: Account
) -> None:
    await account.event_types()  # warm the catalog and the token before faults start
    uipath.emulator.faults = Faults(drop_rate=1.0, methods=("POST",))
    made = await account.create(spec("https://h.example.com/lost"))
    assert [r["Name"] for r in uipath.emulator.webhooks.values()] == ["jobs"]
    assert made.id == "1" and made.url == "https://h.example.com/lost"
    assert uipath.emulator.faults.injected == 1  # the one POST was answered by nothing


async def test_mixed_load_under_429_and_503_ends_in_the_right_state(
    uipath: UiPathHarness, account: Account
) -> None:
    hooks = [
        await account.create(spec(f"https://h.example.com/{i}", name=f"h{i}", events=set()))
        for i in range(5)
    ]
    uipath.emulator.faults = Faults(
        error_rate=0.3, error_statuses=(429, 503), retry_after=0, seed=7
    )
    per_hook = 20
    updates = [
        account.update(wh.id, WebhookChange(add_events={EVENTS[j]}))
        for wh in hooks
        for j in range(per_hook)
    ]
    reads = [account.get(hooks[i % 5].id) for i in range(90)]
    lists = [_count(account) for _ in range(10)]
    results = await asyncio.gather(*updates, *reads, *lists)
    assert len(results) == 200
    # the faults really happened (fewer requests than changes: those waiting for one
    # webhook merge into one write, gateway.transport.merged_writes)
    assert uipath.emulator.faults.injected > 10
    uipath.emulator.faults = Faults()
    for wh in hooks:
        assert (await account.get(wh.id)).events == set(EVENTS[:per_hook])
    assert set(results[-10:]) == {5}


async def _count(account: Account) -> int:
    return len([wh async for wh in account.list()])


async def test_secrets_stay_out_of_logs_and_errors(
    uipath: UiPathHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad = config(uipath, client_secret="wrong-client-s3cret")
    async with Gateway(parse_config(bad)) as gw:
        with pytest.raises(AuthenticationFailed) as caught:
            await gw.account("orch").create(spec("https://h.example.com/a", secret="hook-s3cret"))
    text = caplog.text + str(caught.value) + repr(caught.value) + repr(gw.config)
    assert "invalid_client" in str(caught.value)
    for secret in ("wrong-client-s3cret", "hook-s3cret"):
        assert secret not in text
