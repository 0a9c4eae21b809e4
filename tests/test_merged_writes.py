"""Changes waiting for one webhook merge into one write (issue 43, point 2), against the UiPath
emulator with 50 ms a request: every change applied and answered, each audited on its own."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway import Gateway, WebhookChange
from gateway.codec import etag_of
from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.errors import InvalidRequest, PreconditionFailed, ProviderUnavailable
from gateway.store import AuditQuery
from providers.uipath.emulator import CATALOG
from tests.conftest import UiPathHarness

EVENTS = sorted(e["Name"] for e in CATALOG)


@pytest.fixture
async def gw(uipath: UiPathHarness, tmp_path: Path) -> AsyncIterator[Gateway]:
    cfg = {"accounts": {"orch": uipath.account()},
           "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
           "http": {"retry": {"max_attempts": 1}}}  # fmt: skip
    async with Gateway(parse_config(cfg)) as gateway:
        await gateway.account("orch").event_types()  # (the catalog is not what is counted)
        yield gateway


def _seeded(uipath: UiPathHarness) -> str:
    """A webhook with the first event, straight at the emulator; its id."""
    return str(uipath.emulator.add(Events=[{"EventType": EVENTS[0]}])["Id"])


def _stored(uipath: UiPathHarness, id: str) -> set[str]:
    """The events the emulator holds for webhook ``id``."""
    return {e["EventType"] for e in uipath.emulator.webhooks[int(id)]["Events"]}


def _odata(uipath: UiPathHarness) -> int:
    return sum(n for key, n in uipath.emulator.traffic.requests.items() if " /odata" in key)


async def test_twenty_changes_to_one_webhook_are_one_read_and_one_write(
    uipath: UiPathHarness, gw: Gateway
) -> None:
    id = _seeded(uipath)
    uipath.emulator.faults = Faults(latency=0.05)
    uipath.emulator.traffic.reset()
    account = gw.account("orch")
    added = EVENTS[1:21]
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(account.update(id, WebhookChange(add_events={e})) for e in added)
    )
    took = time.perf_counter() - started
    assert set(EVENTS[:21]) == _stored(uipath, id)
    for event, answer in zip(added, answers, strict=True):
        assert event in answer.events  # each hears the webhook as written, its change in it
    assert _odata(uipath) <= 6, uipath.emulator.traffic.requests
    assert took < 2.0  # (the 40 requests of one change at a time took 2.07 s; bench has the ratio)
    entries = await gw.store.audit(AuditQuery(account="orch", webhook_id=id))  # type: ignore[union-attr]
    assert sorted(e.change["add_events"][0] for e in entries) == sorted(added)
    assert {e.outcome for e in entries} == {"ok"}


async def test_an_invalid_change_fails_alone(uipath: UiPathHarness, gw: Gateway) -> None:
    id = _seeded(uipath)
    uipath.emulator.faults = Faults(latency=0.02)
    account = gw.account("orch")
    good = [account.update(id, WebhookChange(add_events={e})) for e in EVENTS[1:4]]
    bad = account.update(id, WebhookChange(add_events={"no.such.event"}))
    outcomes = await asyncio.gather(*good, bad, return_exceptions=True)
    assert isinstance(outcomes[-1], InvalidRequest)
    assert "add_events" in str(outcomes[-1])
    assert all(not isinstance(o, BaseException) for o in outcomes[:-1]), outcomes
    stored = _stored(uipath, id)
    assert stored == set(EVENTS[:4])


async def test_a_provider_error_fails_every_merged_caller(
    uipath: UiPathHarness, gw: Gateway
) -> None:
    id = _seeded(uipath)
    account = gw.account("orch")
    uipath.emulator.faults = Faults(latency=0.05)
    first = asyncio.ensure_future(account.update(id, WebhookChange(add_events={EVENTS[1]})))
    await asyncio.sleep(0.01)  # the first holds the lock and reads; the rest wait, then merge
    # every PATCH fails from now on (503, which the read back shows did not apply)
    uipath.emulator.faults = Faults(latency=0.05, error_rate=1.0, error_statuses=(503,),
                                    methods=("PATCH",))  # fmt: skip
    rest = [account.update(id, WebhookChange(add_events={e})) for e in EVENTS[2:6]]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert all(isinstance(o, ProviderUnavailable) for o in outcomes), outcomes
    assert len({builtins.id(o) for o in outcomes}) == len(outcomes)  # each its own error
    entries = await gw.store.audit(AuditQuery(account="orch", webhook_id=id))  # type: ignore[union-attr]
    assert len(entries) == 5 and {e.outcome for e in entries} == {"ProviderUnavailable"}


async def test_if_match_merges_only_against_the_state_it_meets(
    uipath: UiPathHarness, gw: Gateway
) -> None:
    id = _seeded(uipath)
    account = gw.account("orch")
    before = await account.get(id)
    uipath.emulator.faults = Faults(latency=0.05)
    first = WebhookChange(add_events={EVENTS[1]})
    # matches the state after ``first``: merges; matches the state read before: refused, as
    # the webhook will have changed under it
    after_first = etag_of(first.apply(before))
    outcomes = await asyncio.gather(
        account.update(id, first),
        account.update(id, WebhookChange(add_events={EVENTS[2]}), if_match=[after_first]),
        account.update(id, WebhookChange(add_events={EVENTS[3]}), if_match=[etag_of(before)]),
        return_exceptions=True,
    )
    assert not isinstance(outcomes[0], BaseException) and not isinstance(outcomes[1], BaseException)
    assert isinstance(outcomes[2], PreconditionFailed), outcomes
    stored = _stored(uipath, id)
    assert stored == set(EVENTS[:3])


async def test_a_cancelled_caller_leaves_the_others_answered(
    uipath: UiPathHarness, gw: Gateway
) -> None:
    id = _seeded(uipath)
    account = gw.account("orch")
    uipath.emulator.faults = Faults(latency=0.05)
    first = asyncio.ensure_future(account.update(id, WebhookChange(add_events={EVENTS[1]})))
    await asyncio.sleep(0.01)
    others = [asyncio.ensure_future(account.update(id, WebhookChange(add_events={e})))
              for e in EVENTS[2:5]]  # fmt: skip
    await asyncio.sleep(0.01)
    first.cancel()  # the writer of the first round goes; the others still get written
    answers = await asyncio.gather(*others)
    assert {EVENTS[2], EVENTS[3], EVENTS[4]} <= answers[-1].events
    stored = _stored(uipath, id)
    assert {EVENTS[2], EVENTS[3], EVENTS[4]} <= stored
