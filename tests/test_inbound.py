"""The inbound relay: the UiPath emulator delivers to the proxy's ``/v1/inbound/orch``; a
delivery signed with the current or the previous secret is forwarded to a loopback destination
as a CloudEvent signed per Standard Webhooks; a tampered one is 401, counted, not forwarded."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.health.relay import EVENT_IDS, forward_due
from gateway.proxy.server import GATEWAY, create_app
from providers.uipath.signature import SIGNATURE_HEADER, sign
from tests.conftest import EnterpriseCoreHarness, OrchestryHarness, Receiver, UiPathHarness

NEW, OLD = "inbound-new-secret-2026", "inbound-old-secret-2025"
SINK_KEY = b"s" * 32


async def received(sink: Receiver, count: int, within: float = 5.0) -> None:
    """Wait until ``sink`` has ``count`` deliveries (the relay forwards after it answers)."""
    async with asyncio.timeout(within):
        while len(sink.received) < count:  # noqa: ASYNC110 - a list another task appends to
            await asyncio.sleep(0.01)


async def test_the_relay_forwards_verified_deliveries_only(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    config = parse_config({
        "accounts": {"orch": uipath.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": "inbound-test-key-0123"}]},
        "inbound": {"orch": {
            "secrets": [NEW, OLD],
            "destinations": [{"url": f"{sink.url}/in",
                              "secret": "whsec_" + base64.b64encode(SINK_KEY).decode()}],
        }},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    gw = client.app[GATEWAY]
    inbound_url = str(client.make_url("/v1/inbound/orch"))
    await gw.account("orch").create(
        WebhookSpec(name="relayed", url=inbound_url, events={"job.completed"}, secret=OLD)
    )
    report = await uipath.emulator.fire("job.completed")
    assert [d.get("status") for d in report["deliveries"]] == [202], report
    await received(sink, 1)

    (_, headers, body) = sink.received[-1]
    event = json.loads(body)
    assert event["type"] == "com.webhook-gateway.delivery.uipath"
    assert event["source"] == "webhook-gateway/orch" and event["data"]["Type"] == "job.completed"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(SINK_KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"

    payload = b'{"Type": "job.completed", "forged": true}'
    forged = await client.post("/v1/inbound/orch", data=payload,
                               headers={SIGNATURE_HEADER: sign(payload, "guessed")})  # fmt: skip
    assert forged.status == 401
    signed_ok = await client.post("/v1/inbound/orch", data=payload,
                                  headers={SIGNATURE_HEADER: sign(payload, NEW)})  # fmt: skip
    assert signed_ok.status == 202 and (await signed_ok.json())["secret"] == 0
    await received(sink, 2)
    await asyncio.sleep(0.1)
    assert len(sink.received) == 2  # the forged one was not forwarded
    metrics = await (await client.get("/metrics", headers={
        "Authorization": "Bearer inbound-test-key-0123"})).text()  # fmt: skip
    assert 'gateway_inbound_refused_total{account="orch"} 1.0' in metrics
    assert (await client.post("/v1/inbound/nowhere", data=b"{}")).status == 404


async def test_the_relay_follows_a_rotation(
    enterprise_core: EnterpriseCoreHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    """With ``webhook``, the relay verifies with the secrets ``rotate`` keeps: after a rotation
    both the new and (during the grace period) the previous secret are accepted."""
    from cryptography.fernet import Fernet

    from gateway.health.rotation import rotate_secret
    from providers.enterprise_core.signature import HMAC_HEADER
    from providers.enterprise_core.signature import sign as hmac_sign

    state = {"url": f"sqlite:///{tmp_path}/state.db", "secrets_key": Fernet.generate_key().decode()}
    async with Gateway(parse_config({"accounts": {"core": enterprise_core.account()}})) as setup:
        made_id = (await setup.account("core").create(WebhookSpec(
            name="relayed", url="https://hooks.example.com/r", events={"policy.quote.issue"},
            secret=OLD,
        ))).id  # fmt: skip
    config = parse_config({
        "accounts": {"core": enterprise_core.account()},
        "state": state,
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": "inbound-test-key-0123"}]},
        "inbound": {"core": {
            "webhook": made_id,
            "destinations": [{"url": f"{sink.url}/in",
                              "secret": "whsec_" + base64.b64encode(SINK_KEY).decode()}],
        }},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    gw = client.app[GATEWAY]
    payload = b'{"type": "policy.quote.issue"}'
    before = await client.post("/v1/inbound/core", data=payload,
                               headers={HMAC_HEADER: hmac_sign(payload, OLD)})  # fmt: skip
    assert before.status == 503  # nothing kept yet: no secret to verify with
    rotated = await rotate_secret(gw, "core", made_id, new=NEW, grace=3600)
    assert rotated.previous_valid_until is not None
    for secret, index in ((NEW, 0), (OLD, 1)):
        event = f'{{"type": "policy.quote.issue", "locator": "e-{index}"}}'.encode()
        resp = await client.post("/v1/inbound/core", data=event,
                                 headers={HMAC_HEADER: hmac_sign(event, secret)})  # fmt: skip
        assert resp.status == 202 and (await resp.json())["secret"] == index
    wrong = await client.post("/v1/inbound/core", data=payload,
                              headers={HMAC_HEADER: hmac_sign(payload, "other")})  # fmt: skip
    await received(sink, 2)
    assert wrong.status == 401 and len(sink.received) == 2


def relay_config(account: str, table: dict[str, Any], sink: Receiver, state: str,
                 **inbound: Any) -> Any:  # fmt: skip
    return parse_config({
        "accounts": {account: table},
        "state": {"url": state},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": "inbound-test-key-0123"}]},
        "inbound": {account: {
            "destinations": [{"url": f"{sink.url}/in",
                              "secret": "whsec_" + base64.b64encode(SINK_KEY).decode()}],
            **inbound,
        }},
    })  # fmt: skip


async def test_the_providers_secret_is_never_forwarded(
    orchestry: OrchestryHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    """Orchestry repeats its secret in the body's ``Secret`` and a header: neither reaches
    the destination, which gets the gateway's own signature instead."""
    config = relay_config("orc", orchestry.account(), sink, f"sqlite:///{tmp_path}/s.db",
                          secrets=[NEW])  # fmt: skip
    client = await aiohttp_client(create_app(config))
    url = str(client.make_url("/v1/inbound/orc"))
    await client.app[GATEWAY].account("orc").create(WebhookSpec(
        name="relayed", url=url, events={"provisioning.completed"}, secret=NEW))  # fmt: skip
    extra = {"note": f"also the secret: {NEW}", "copy": NEW}
    report = await orchestry.emulator.fire("provisioning.completed", extra)
    assert [d.get("status") for d in report["deliveries"]] == [202], report
    await received(sink, 1)
    (_, headers, body) = sink.received[0]
    assert NEW.encode() not in body and NEW not in json.dumps(headers)
    data = json.loads(body)["data"]
    assert "Secret" not in data and data["copy"] == "***" and "requestId" in data
    assert data["note"] == "also the secret: ***"
    assert headers["webhook-signature"].startswith("v1,")


async def test_a_replayed_delivery_is_acknowledged_and_not_forwarded_twice(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    config = relay_config("orch", uipath.account(), sink, f"sqlite:///{tmp_path}/s.db",
                          secrets=[NEW])  # fmt: skip
    client = await aiohttp_client(create_app(config))
    payload = b'{"Type": "job.completed", "EventId": "e-2026-12-01-0001"}'
    signed = {SIGNATURE_HEADER: sign(payload, NEW)}
    first = await client.post("/v1/inbound/orch", data=payload, headers=signed)
    again = await client.post("/v1/inbound/orch", data=payload, headers=signed)
    assert first.status == again.status == 202
    event_id = (await first.json())["queued"]
    assert (await again.json()) == {"replayed": event_id, "secret": 0}
    assert event_id == str(uuid.uuid5(EVENT_IDS, "orch/e-2026-12-01-0001"))  # derived
    # Without an id of the provider's, the verified body's digest tells a replay.
    bare = b'{"Type": "job.completed"}'
    answers = [
        await client.post(
            "/v1/inbound/orch", data=bare, headers={SIGNATURE_HEADER: sign(bare, NEW)}
        )
        for _ in range(2)
    ]
    assert [next(iter(await a.json())) for a in answers] == ["queued", "replayed"]
    await received(sink, 2)
    await asyncio.sleep(0.2)
    assert len(sink.received) == 2
    assert event_id in {json.loads(body)["id"] for _, _, body in sink.received}
    metrics = await (await client.get("/metrics", headers={
        "Authorization": "Bearer inbound-test-key-0123"})).text()  # fmt: skip
    assert 'gateway_relays_total{outcome="replayed"} 2.0' in metrics
    assert 'gateway_relays_total{outcome="forwarded"} 2.0' in metrics


async def test_the_relay_answers_at_once_and_forwards_after_even_across_a_restart(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    """A destination that is slow, then down, never makes the provider wait: the delivery is
    acknowledged once stored; it is forwarded when the destination is back, by a new process
    reading the same store."""
    state = f"sqlite:///{tmp_path}/s.db"
    config = relay_config("orch", uipath.account(), sink, state, secrets=[NEW])
    sink.status = 503  # down
    first = await aiohttp_client(create_app(config))
    payload = b'{"Type": "job.completed", "EventId": "e-restart"}'
    started = time.monotonic()
    resp = await first.post("/v1/inbound/orch", data=payload,
                            headers={SIGNATURE_HEADER: sign(payload, NEW)})  # fmt: skip
    assert resp.status == 202 and time.monotonic() - started < 1.0
    await received(sink, 1)  # tried, refused: queued again with backoff
    await first.close()  # the process stops with the delivery still in the outbox
    sink.status = 200
    second = await aiohttp_client(create_app(config))
    gw = second.app[GATEWAY]
    assert gw.store is not None
    (due,) = await gw.store.due_relays(time.time() + 10, 10)
    assert due.attempts == 1
    forwarded = await forward_due(gw, now=time.time() + 10)
    assert forwarded == 1 and sink.received[-1][0] == "/in"
    assert await gw.store.relay_counts() == {"forwarded": 1}


async def test_the_outbox_on_postgresql_holds_each_relay_for_one_sender(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, postgres_url: str
) -> None:
    """Two replicas share one PostgreSQL outbox: a replay sent to the other replica is not
    forwarded again, and a relay one sender holds is not taken by the other."""
    config = relay_config("orch", uipath.account(), sink, postgres_url, secrets=[NEW])
    one = await aiohttp_client(create_app(config))
    two = await aiohttp_client(create_app(config))
    payload = b'{"Type": "job.completed", "EventId": "e-pg-1"}'
    signed = {SIGNATURE_HEADER: sign(payload, NEW)}
    first = await one.post("/v1/inbound/orch", data=payload, headers=signed)
    again = await two.post("/v1/inbound/orch", data=payload, headers=signed)
    assert "queued" in await first.json() and "replayed" in await again.json()
    await received(sink, 1)
    await asyncio.sleep(0.3)
    assert len(sink.received) == 1
    store = one.app[GATEWAY].store
    assert store is not None and await store.relay_counts() == {"forwarded": 1}


async def test_orchestry_deliveries_that_share_a_request_are_all_forwarded(
    orchestry: OrchestryHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    """Seed 003: ``requestId`` is the request's, and its "requested" and "completed"
    deliveries carry the same one. Each subscription posts to its own inbound path: both are
    forwarded, each naming its subscription (``subject``), and a replay of either is not."""
    config = relay_config("orc", orchestry.account(), sink, f"sqlite:///{tmp_path}/s.db",
                          secrets=[NEW])  # fmt: skip
    client = await aiohttp_client(create_app(config))
    account = client.app[GATEWAY].account("orc")
    for event in ("provisioning.requested", "provisioning.completed"):
        url = str(client.make_url(f"/v1/inbound/orc/{event}"))
        await account.create(WebhookSpec(name=event, url=url, events={event}, secret=NEW))
    request = {"requestId": "0b7d3c1e-5f0a-4a39-9c55-1d2e3f4a5b6c"}
    for event in ("provisioning.requested", "provisioning.completed"):
        report = await orchestry.emulator.fire(event, request)
        assert [d.get("status") for d in report["deliveries"]] == [202], report
    await received(sink, 2)
    events = [json.loads(body) for _, _, body in sink.received]
    assert sorted(e["subject"] for e in events) == ["provisioning.completed",
                                                    "provisioning.requested"]  # fmt: skip
    assert len({e["id"] for e in events}) == 2
    # The provider delivering one of them again (same subscription, same request): a replay,
    # acknowledged and not forwarded.
    body = json.dumps({"tenantId": orchestry.emulator.tenant_id, **request, "Secret": NEW})
    again = await client.post("/v1/inbound/orc/provisioning.completed", data=body,
                              headers={"x-orchestry-secret": NEW})  # fmt: skip
    assert again.status == 202 and "replayed" in await again.json()
    await asyncio.sleep(0.2)
    assert len(sink.received) == 2
