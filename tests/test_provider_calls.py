"""Provider calls at the API's minimum (issue 43, point 3), counted at the emulators: a UiPath
change of scalars is one PATCH; event changes read, then write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import Gateway, WebhookChange
from gateway.config import parse_config
from gateway.service import Account
from tests.conftest import UiPathHarness


@pytest.fixture
async def orch(uipath: UiPathHarness) -> AsyncIterator[Account]:
    async with Gateway(parse_config({"accounts": {"orch": uipath.account()}})) as gw:
        yield gw.account("orch")


def _api(harness: UiPathHarness) -> dict[str, int]:
    """The OData requests the emulator got (the token's left out), by method."""
    counted: dict[str, int] = {}
    for key, n in harness.emulator.traffic.requests.items():
        method, route = key.split(" ", 1)
        if route.startswith("/odata"):
            counted[method] = counted.get(method, 0) + n
    return counted


@pytest.mark.parametrize(
    "change",
    [
        {"enabled": False},
        {"name": "renamed", "description": None},
        {"secret": "a-new-secret-of-enough-length", "allow_insecure_ssl": True},
        {"all_events": True},
    ],
)
async def test_a_scalar_uipath_update_is_one_patch(
    uipath: UiPathHarness, orch: Account, change: dict[str, Any]
) -> None:
    record = uipath.emulator.add(Events=[{"EventType": "job.completed"}], Description="d")
    before = dict(record)
    uipath.emulator.traffic.reset()
    updated = await orch.update(str(record["Id"]), WebhookChange(**change))
    assert _api(uipath) == {"PATCH": 1}
    stored = uipath.emulator.webhooks[record["Id"]]
    expected = {"enabled": "Enabled", "name": "Name", "description": "Description",
                "allow_insecure_ssl": "AllowInsecureSsl", "all_events": "SubscribeToAllEvents"}  # fmt: skip
    for field, value in change.items():
        if field in expected:
            assert stored[expected[field]] == value
            assert getattr(updated, field) == value
    if "secret" in change:
        assert stored["Secret"] == change["secret"]
    untouched = {"Url", "Events"} | {p for f, p in expected.items() if f not in change}
    assert {k: stored[k] for k in untouched} == {k: before[k] for k in untouched}


async def test_an_event_change_reads_then_writes(uipath: UiPathHarness, orch: Account) -> None:
    record = uipath.emulator.add(Events=[{"EventType": "job.completed"}])
    await orch.event_types()  # (the catalog, read once, is not what this counts)
    uipath.emulator.traffic.reset()
    updated = await orch.update(
        str(record["Id"]), WebhookChange(add_events={"job.faulted"}, enabled=False)
    )
    assert _api(uipath) == {"GET": 1, "PATCH": 1}
    assert updated.events == {"job.completed", "job.faulted"} and not updated.enabled
