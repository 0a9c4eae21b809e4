"""The conformance suite against the in-memory reference provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway import Gateway
from gateway.config import parse_config
from gateway.service import Account
from gateway.testing import ConformanceSetup, ProviderConformance
from tests.conftest import memory_config

PAGE_SIZE = 3


async def _suspend(account: Account, id: str) -> None:
    await account.ex_suspend(id)


class TestMemoryConformance(ProviderConformance):
    @pytest.fixture
    async def account(self) -> AsyncIterator[Account]:
        async with Gateway(parse_config(memory_config(page_size=PAGE_SIZE))) as gw:
            yield gw.account("mem")

    @pytest.fixture
    def setup(self) -> ConformanceSetup:
        return ConformanceSetup(
            events=("order.created", "order.shipped", "invoice.paid"),
            missing_id="424242",
            page_size=PAGE_SIZE,
            suspend=_suspend,
        )
