"""The conformance suite against the UiPath emulator: real adapter, transport and token flow."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import Gateway
from gateway.config import parse_config
from gateway.service import Account
from gateway.testing import ConformanceSetup, ProviderConformance
from tests.conftest import Receiver, UiPathHarness

PAGE_SIZE = 3


class TestUiPathConformance(ProviderConformance):
    @pytest.fixture
    async def account(self, uipath: UiPathHarness) -> AsyncIterator[Account]:
        config = {"accounts": {"orch": uipath.account(page_size=PAGE_SIZE)}}
        async with Gateway(parse_config(config)) as gw:
            yield gw.account("orch")

    @pytest.fixture
    def setup(self, uipath: UiPathHarness, receiver: Receiver) -> ConformanceSetup:
        return ConformanceSetup(
            events=("job.completed", "job.faulted", "queue.created"),
            missing_id="999999",
            page_size=PAGE_SIZE,
            receiver=receiver.url,
            write_count=lambda: uipath.emulator.writes,
        )
