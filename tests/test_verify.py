"""``gateway.health.verify`` against real deliveries: each emulator delivers to a loopback
receiver, and the delivery verifies with the right secret among several, and with no other."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.errors import Unsupported
from gateway.health.verify import verify
from gateway.model import FailureHandling
from tests.conftest import EnterpriseCoreHarness, OrchestryHarness, Receiver, UiPathHarness

NEW, OLD = "the-new-secret-2026", "the-old-secret-2025"


async def delivered(
    account: dict[str, Any], spec: WebhookSpec, fire: Any, receiver: Receiver
) -> tuple[dict[str, str], bytes]:
    async with Gateway(parse_config({"accounts": {"a": account}})) as gw:
        await gw.account("a").create(spec)
    await fire()
    (_, headers, body) = receiver.received[-1]
    return headers, body


def check(kind: str, headers: dict[str, str], body: bytes, *, signs_body: bool = True) -> None:
    result = verify(kind, headers, body, [NEW, OLD])
    assert (result.ok, result.matched) == (True, 1)  # the old one, still in its grace period
    assert verify(kind, headers, body, [OLD]).matched == 0
    refused = verify(kind, headers, body, [NEW])
    assert not refused.ok and "no secret of the 1 given" in (refused.reason or "")
    tampered = body.replace(b"}", b', "x": 1}', 1)
    # An HMAC covers the body; Orchestry only repeats the secret, so it cannot tell.
    assert verify(kind, headers, tampered, [OLD]).ok is not signs_body


async def test_uipath(uipath: UiPathHarness, receiver: Receiver) -> None:
    spec = WebhookSpec(name="v", url=f"{receiver.url}/u", events={"job.completed"}, secret=OLD)
    headers, body = await delivered(
        uipath.account(), spec, lambda: uipath.emulator.fire("job.completed"), receiver
    )
    check("uipath", headers, body)


async def test_enterprise_core(enterprise_core: EnterpriseCoreHarness, receiver: Receiver) -> None:
    spec = WebhookSpec(name="v", url=f"{receiver.url}/c", events={"policy.quote.issue"},
                       secret=OLD, failure_handling=FailureHandling())  # fmt: skip
    headers, body = await delivered(
        enterprise_core.account(), spec,
        lambda: enterprise_core.emulator.fire("policy.quote.issue"), receiver,
    )  # fmt: skip
    check("enterprise_core", headers, body)


async def test_orchestry(orchestry: OrchestryHarness, receiver: Receiver) -> None:
    spec = WebhookSpec(name="v", url=f"{receiver.url}/o", events={"approval.requested"},
                       secret=OLD)  # fmt: skip
    headers, body = await delivered(
        orchestry.account(), spec, lambda: orchestry.emulator.fire("approval.requested"), receiver
    )
    check("orchestry", headers, body, signs_body=False)


def test_a_provider_that_does_not_sign_says_so() -> None:
    with pytest.raises(Unsupported, match="does not sign"):
        verify("memory", {}, b"{}", [NEW])
