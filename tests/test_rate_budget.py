"""Rate limits as a budget (issue 43, point 4), against the UiPath emulator's rate-limit model:
a 429 pauses the account for every replica until its Retry-After; a configured ``rate_limit``
is never exceeded; no write is lost while it may wait."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.emulation import RateLimit
from gateway.errors import RateLimited
from gateway.transport.budget import RateBudget
from tests.conftest import UiPathHarness


def _config(uipath: UiPathHarness, state: str | None, **account: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"accounts": {"orch": {**uipath.account(), **account}}}
    if state is not None:
        cfg["state"] = {"url": state}
    return cfg


def _spec(i: int) -> WebhookSpec:
    return WebhookSpec(name=f"hook-{i:03d}", url=f"https://93.184.215.14/in/{i}",
                       events={"job.completed"})  # fmt: skip


async def _create_all(gw: Gateway, numbers: range, concurrency: int = 4) -> None:
    """Create one webhook per number, ``concurrency`` at a time (as ``apply`` writes)."""
    account, gate = gw.account("orch"), asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await account.create(_spec(i))

    await asyncio.gather(*(one(i) for i in numbers))


async def test_two_replicas_share_what_a_429_teaches_and_lose_no_create(
    uipath: UiPathHarness, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = parse_config(_config(uipath, postgres_url))
    async with Gateway(cfg) as one, Gateway(cfg) as two:
        for gw in (one, two):
            await gw.account("orch").event_types()  # (the catalog is not what this counts)
        uipath.emulator.traffic.limit = RateLimit(requests=10, window=1.0)
        with caplog.at_level(logging.WARNING, logger="gateway.transport"):
            await asyncio.gather(_create_all(one, range(30)), _create_all(two, range(30, 60)))
    print("LIMITED", uipath.emulator.traffic.limited)
    assert len(uipath.emulator.webhooks) == 60  # every create made, once
    assert sorted(w["Name"] for w in uipath.emulator.webhooks.values()) == [
        f"hook-{i:03d}" for i in range(60)
    ]
    # 60 creates at 10 a second: six windows. After the first 429 of a window both replicas
    # wait for its end (one learns it from the store) and then send what a window took, so a
    # window costs a few 429s, not one for every create sent into it (without the budget
    # each create was sent up to 4 times, 429 after 429, and some were lost).
    assert uipath.emulator.traffic.limited <= 25, uipath.emulator.traffic.limited
    assert any("limiting this account's requests" in r.getMessage() for r in caplog.records)


async def test_a_configured_rate_limit_is_never_met(uipath: UiPathHarness, tmp_path: Path) -> None:
    cfg = parse_config(_config(uipath, f"sqlite:///{tmp_path}/state.db", rate_limit="10/1"))
    async with Gateway(cfg) as gw:
        await gw.account("orch").event_types()
        uipath.emulator.traffic.limit = RateLimit(requests=11, window=1.0)
        await _create_all(gw, range(25))
    assert len(uipath.emulator.webhooks) == 25
    assert uipath.emulator.traffic.limited == 0


def test_a_rate_limit_is_checked_with_its_path(uipath: UiPathHarness) -> None:
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_config(_config(uipath, None, rate_limit="fast"))
    assert "accounts.orch.rate_limit: must be requests/seconds" in str(caught.value)


async def test_a_run_of_429s_pauses_the_account_and_a_lone_one_delays_its_request() -> None:
    now = [1000.0]
    budget = RateBudget("orch", clock=lambda: now[0])
    assert await budget.refused(2.0) == 2.0  # a passing refusal: its request alone waits
    budget.accepted()
    assert await budget.refused(2.0) == 2.0 and await budget.refused(2.0) == 2.0
    assert budget.paused_until == 0.0
    assert await budget.refused(2.0) == 0.0  # the third in a row: the budget is spent
    assert budget.paused_until == 1002.0
    with pytest.raises(RateLimited):  # more than the call may wait: refused without sending
        await budget.admit(limit=1.0)
    # what the pause taught: the one request taken since the window began, in 2 s windows
    assert budget.learned is not None and budget.learned.requests == 1
    now[0] = 1002.0
    assert await budget.admit(limit=5.0) == 0.0  # the first of the next window goes at once
