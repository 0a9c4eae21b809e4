"""The inbound relay: the UiPath emulator delivers to the proxy's ``/v1/inbound/orch``; a
delivery signed with the current or the previous secret is forwarded to a loopback destination
as a CloudEvent signed per Standard Webhooks; a tampered one is 401, counted, not forwarded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.proxy.server import GATEWAY, create_app
from providers.uipath.signature import SIGNATURE_HEADER, sign
from tests.conftest import EnterpriseCoreHarness, Receiver, UiPathHarness

NEW, OLD = "inbound-new-secret-2026", "inbound-old-secret-2025"
SINK_KEY = b"s" * 32


async def test_the_relay_forwards_verified_deliveries_only(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any
) -> None:
    config = parse_config({
        "accounts": {"orch": uipath.account()},
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
        resp = await client.post("/v1/inbound/core", data=payload,
                                 headers={HMAC_HEADER: hmac_sign(payload, secret)})  # fmt: skip
        assert resp.status == 202 and (await resp.json())["secret"] == index
    wrong = await client.post("/v1/inbound/core", data=payload,
                              headers={HMAC_HEADER: hmac_sign(payload, "other")})  # fmt: skip
    assert wrong.status == 401 and len(sink.received) == 2
