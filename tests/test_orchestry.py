"""Orchestry through the gateway: MSAL tokens over TLS, the one-event rule, delivery, errors."""

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
from gateway.errors import AuthenticationFailed, InvalidRequest, Unsupported
from gateway.service import Account
from providers.orchestry import wire
from providers.orchestry.adapter import OrchestryProvider
from providers.orchestry.verification import verify
from tests.conftest import DATA, ORCHESTRY_CLIENT, OrchestryHarness, Receiver


@pytest.fixture
async def account(orchestry: OrchestryHarness) -> AsyncIterator[Account]:
    async with Gateway(parse_config({"accounts": {"orch": orchestry.account()}})) as gw:
        yield gw.account("orch")


def spec(url: str, **kw: Any) -> WebhookSpec:
    values: dict[str, Any] = {"name": "ws", "url": url, "events": {"provisioning.completed"}}
    return WebhookSpec(**(values | kw))


async def test_a_cold_cache_makes_one_token_request_per_account(
    orchestry: OrchestryHarness,
) -> None:
    second = orchestry.account(client_id="second-client", client_secret="second-s3cret")
    config = {"accounts": {"one": orchestry.account(), "two": second}}
    async with Gateway(parse_config(config)) as gw:
        one, two = gw.account("one"), gw.account("two")
        await asyncio.gather(*(_count(one) for _ in range(100)))
        assert orchestry.emulator.token_requests == 1
        await asyncio.gather(*(_count(two) for _ in range(10)))
        assert orchestry.emulator.token_requests == 2  # its own application, its own token


async def _count(account: Account) -> int:
    return len([wh async for wh in account.list()])


async def test_a_revoked_token_is_replaced_once(
    orchestry: OrchestryHarness, account: Account
) -> None:
    await _count(account)
    orchestry.emulator._issued.clear()  # the identity platform revoked every token
    await asyncio.gather(*(_count(account) for _ in range(20)))
    # One new token: the rejected one was dropped from MSAL's cache too, not handed out again.
    assert orchestry.emulator.token_requests == 2


async def test_wrong_client_secret_is_authentication_failed_without_the_secret(
    orchestry: OrchestryHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = {"accounts": {"orch": orchestry.account(client_secret="wrong-client-s3cret-42")}}
    async with Gateway(parse_config(config)) as gw:
        with pytest.raises(AuthenticationFailed) as caught:
            await gw.account("orch").create(spec("https://h.example.com/a"))
        provider = gw.account("orch").provider
        assert isinstance(provider, OrchestryProvider)
        provider_repr = repr(provider.tokens) + repr(gw.config)
    error = caught.value
    assert error.code == "invalid_client"
    assert "AADSTS7000215" in error.message
    assert error.provider == "orchestry" and error.account == "orch"
    for text in (str(error), repr(error), caplog.text, provider_repr):
        assert "wrong-client-s3cret-42" not in text
    assert orchestry.emulator.writes == 0


async def test_exactly_one_event_per_subscription(account: Account) -> None:
    for events in (set(), {"approval.approved", "approval.rejected"}):
        with pytest.raises(InvalidRequest, match="create one subscription per event"):
            await account.create(spec("https://h.example.com/a", events=events))


async def test_what_orchestry_lacks_is_unsupported(account: Account) -> None:
    made = await account.create(spec("https://h.example.com/a"))
    for call in (
        account.update(made.id, WebhookChange(name="x")),
        account.ping(made.id),
        account.unsuspend(made.id),
    ):
        with pytest.raises(Unsupported, match="orchestry"):
            await call
    with pytest.raises(InvalidRequest, match="orchestry cannot store enabled"):
        await account.create(spec("https://h.example.com/b", enabled=False))


async def test_event_types_are_the_five_documented(account: Account) -> None:
    titles = {t.description for t in await account.event_types()}
    page = (DATA / "orchestry" / "003_outgoing_webhooks.txt").read_text(encoding="utf-8")
    text = page.replace("\xa0", " ")  # the page has a no-break space in one title
    assert len(titles) == 5
    assert all(title in text for title in titles)


async def test_delivery_carries_the_secret_in_body_and_header(
    orchestry: OrchestryHarness, account: Account, receiver: Receiver
) -> None:
    await account.create(spec(receiver.url + "/ws", secret="delivery-s3cret"))
    await account.create(spec(receiver.url + "/other", name="other", events={"approval.requested"}))
    report = await orchestry.emulator.fire("provisioning.completed")
    assert [d["status"] for d in report["deliveries"]] == [200]
    ((path, headers, body),) = receiver.received
    payload = json.loads(body)
    assert path == "/ws"
    assert set(payload) == {
        "tenantId", "requestId", "templateId", "groupId", "sharePointUrl", "Secret"
    }  # fmt: skip
    assert payload["tenantId"] == orchestry.emulator.tenant_id
    assert headers[wire.SECRET_HEADER] == "delivery-s3cret"
    assert verify(body, headers, "delivery-s3cret")
    assert not verify(body, headers, "another-secret")
    forged = {**headers, wire.SECRET_HEADER: "guess"}
    assert not verify(body, forged, "delivery-s3cret")


def test_verify_needs_at_least_one_copy() -> None:
    assert not verify(b'{"tenantId": "t"}', {}, "s")
    assert not verify(b"not json", {wire.SECRET_HEADER: "s"}, "s")
    assert verify(b'{"Secret": "s"}', {}, "s")


async def test_validation_problems_come_back_by_field(orchestry: OrchestryHarness) -> None:
    # Straight to the API (the gateway would stop these before sending): problem details.
    token = await _token(orchestry)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{orchestry.base_url}/v1/provisioning/webhooks",
            json={"name": "", "event": "nope", "url": "ftp://x", "colour": 1},
            headers={"Authorization": f"Bearer {token}"},
            ssl=orchestry.emulator.client_ssl_context(),
        ) as resp,
    ):
        body = await resp.json(content_type=None)
        assert resp.status == 400
    assert set(body["errors"]) == {"name", "event", "url", "colour"}
    _code, message, trace = wire.read_error(400, body)
    assert message is not None and "event: Unknown event 'nope'" in message and trace


async def _token(orchestry: OrchestryHarness) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{orchestry.base_url}/{orchestry.emulator.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ORCHESTRY_CLIENT[0],
                "client_secret": ORCHESTRY_CLIENT[1],
                "scope": orchestry.emulator.scope,
            },
            ssl=orchestry.emulator.client_ssl_context(),
        ) as resp,
    ):
        token: str = (await resp.json())["access_token"]
        return token


async def test_msal_ignores_the_environment_ca_bundle(
    orchestry: OrchestryHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bogus))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(bogus))
    async with Gateway(parse_config({"accounts": {"orch": orchestry.account()}})) as gw:
        assert await _count(gw.account("orch")) == 0
