"""No error text carries credentials (security round 3): a provider's error that quotes the
webhook's URL (UiPath's failed ping) or a value the write sent reaches the caller, the log and
the audit log with ``user:password@``, ``?token=`` and the known secrets masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.errors import GatewayError, ProviderUnavailable
from gateway.masking import scrub
from gateway.model import WebhookSpec
from gateway.service import Gateway
from gateway.store import AuditQuery
from tests.conftest import UiPathHarness

URL = "http://alice:pa55word@127.0.0.1:9/hook?token=t0ken-s3cret&site=eu"


def test_scrub_masks_every_url_and_known_secret() -> None:
    text = f"POST {URL} failed; then 'https://bob:hunter22@x.example/y' and whsec-known-1"
    shown = scrub(text, ["whsec-known-1"])
    assert shown == ("POST http://***@127.0.0.1:9/hook?token=***&site=eu failed; then "
                     "'https://***@x.example/y' and ***")  # fmt: skip
    assert "pa55word" not in str(ProviderUnavailable(f"the ping to {URL} failed"))


async def test_a_failed_ping_quoting_the_url_keeps_its_credentials_out(
    uipath: UiPathHarness, tmp_path: Path
) -> None:
    config = parse_config({
        "accounts": {"orch": uipath.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "destinations": {"allow_http": True, "allow_loopback": True},
    })  # fmt: skip
    async with Gateway(config) as gw:
        account = gw.account("orch")
        made = await account.create(WebhookSpec(name="p", url=URL, events=["job.completed"],
                                                secret="whsec-ping-s3cret"))  # fmt: skip
        with pytest.raises(GatewayError) as failed:
            await account.ping(made.id)
        assert gw.store is not None
        entries = await gw.store.audit(AuditQuery(account="orch"))
    text = f"{failed.value} {failed.value!r} " + " ".join(str(e.detail) for e in entries)
    assert "ping request to http://***@127.0.0.1:9/hook?token=***" in text
    for secret in ("pa55word", "t0ken-s3cret", "whsec-ping-s3cret"):
        assert secret not in text
