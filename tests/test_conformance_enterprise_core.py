"""The conformance suite against the Enterprise Core emulator, through the real adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import Gateway, WebhookChange
from gateway.config import parse_config
from gateway.model import FailureHandling
from gateway.service import Account
from gateway.testing import ConformanceSetup, ProviderConformance
from tests.conftest import EnterpriseCoreHarness, Receiver

PAGE_SIZE = 3


class TestEnterpriseCoreConformance(ProviderConformance):
    @pytest.fixture
    async def account(self, enterprise_core: EnterpriseCoreHarness) -> AsyncIterator[Account]:
        config = {"accounts": {"core": enterprise_core.account(page_size=PAGE_SIZE)}}
        async with Gateway(parse_config(config)) as gw:
            yield gw.account("core")

    @pytest.fixture
    def setup(self, enterprise_core: EnterpriseCoreHarness, receiver: Receiver) -> ConformanceSetup:
        async def suspend(account: Account, id: str) -> None:
            # Suspension as the provider does it: a failed delivery with `suspend` on.
            receiver.status = 500
            await account.update(id, WebhookChange(failure_handling=FailureHandling(suspend=True)))
            report = await enterprise_core.emulator.fire(min((await account.get(id)).events))
            assert report["deliveries"][0]["suspended"] is True
            receiver.status = 200

        return ConformanceSetup(
            events=("policy.quote.issue", "policy.quote.create", "policy.cancellation.issue"),
            missing_id="01ARZ3NDEKTSV4RRFFQ69G5FAV",
            page_size=PAGE_SIZE,
            receiver=receiver.url,
            suspend=suspend,
            write_count=lambda: enterprise_core.emulator.writes,
        )


class TestEnterpriseCoreConformanceUnderStrictBodies(TestEnterpriseCoreConformance):
    """The same suite against an emulator that refuses any create or update body lacking a
    field Socotra's OpenAPI lists as required, through an account with ``complete_updates``."""

    @pytest.fixture
    async def account(self, enterprise_core: EnterpriseCoreHarness) -> AsyncIterator[Account]:
        enterprise_core.emulator.strict_bodies = True
        settings = enterprise_core.account(page_size=PAGE_SIZE, complete_updates=True)
        async with Gateway(parse_config({"accounts": {"core": settings}})) as gw:
            yield gw.account("core")


async def test_the_strict_emulator_refuses_a_sparse_update(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    """Without complete_updates the sparse PATCH is refused by the strict reading: the
    strict mode is not a no-op."""
    from gateway import WebhookSpec
    from gateway.errors import InvalidRequest

    enterprise_core.emulator.strict_bodies = True
    config = {"accounts": {"core": enterprise_core.account(complete_updates=True)}}
    sparse = {"accounts": {"core": enterprise_core.account()}}
    async with Gateway(parse_config(config)) as gw, Gateway(parse_config(sparse)) as plain:
        made = await gw.account("core").create(WebhookSpec(
            name="s", url="https://h.example.com/s", events={"policy.quote.issue"}))  # fmt: skip
        with pytest.raises(InvalidRequest, match="required"):
            await plain.account("core").update(made.id, WebhookChange(enabled=False))
        done = await gw.account("core").update(made.id, WebhookChange(enabled=False))
        assert done.enabled is False and done.name == "s"
