"""The conformance suite against the Orchestry emulator, through real MSAL and real TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import Gateway
from gateway.config import parse_config
from gateway.service import Account
from gateway.testing import ConformanceSetup, ProviderConformance
from tests.conftest import OrchestryHarness, Receiver


class TestOrchestryConformance(ProviderConformance):
    @pytest.fixture
    async def account(self, orchestry: OrchestryHarness) -> AsyncIterator[Account]:
        async with Gateway(parse_config({"accounts": {"orch": orchestry.account()}})) as gw:
            yield gw.account("orch")

    @pytest.fixture
    def setup(self, orchestry: OrchestryHarness, receiver: Receiver) -> ConformanceSetup:
        return ConformanceSetup(
            events=("provisioning.requested", "approval.approved", "approval.rejected"),
            missing_id="00000000-0000-0000-0000-000000000000",
            page_size=1,  # the assumed list has no pages: one answer holds every webhook
            receiver=receiver.url,
            write_count=lambda: orchestry.emulator.writes,
        )
