"""The relay forwards concurrently, a bound per destination, so one hanging receiver delays only
itself; each hold is computed when its relay is taken; a full outbox answers the provider 503
with ``Retry-After`` (security round 3)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.health import relay
from gateway.health.events import deliver_event
from gateway.health.relay import forward_due
from gateway.proxy.server import GATEWAY, create_app
from gateway.store import Relay
from providers.uipath.signature import SIGNATURE_HEADER, sign
from tests.conftest import Holding, Receiver, UiPathHarness

SECRET = "relay-forwarding-secret-2026"
SINK_SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()
EVENT = b'{"specversion": "1.0", "id": "x", "source": "s", "type": "t", "data": {}}'


@pytest.fixture
def hanging(holding: Holding) -> str:
    """A destination that takes every request and never answers (while the test runs)."""
    return holding.url


def config(uipath: UiPathHarness, tmp_path: Any, *urls: str, **state: Any) -> Any:
    return parse_config({
        "accounts": {"orch": uipath.account()},
        "state": {"url": f"sqlite:///{tmp_path}/s.db", **state},
        "inbound": {"orch": {"secrets": [SECRET], "destinations": [
            {"url": url, "secret": SINK_SECRET} for url in urls
        ]}},
    })  # fmt: skip


async def deliver(client: Any, n: int) -> Any:
    payload = f'{{"Type": "job.completed", "EventId": "e-{n}"}}'.encode()
    return await client.post("/v1/inbound/orch", data=payload,
                             headers={SIGNATURE_HEADER: sign(payload, SECRET)})  # fmt: skip


async def test_a_hanging_destination_delays_only_itself(
    uipath: UiPathHarness, sink: Receiver, hanging: str, aiohttp_client: Any, tmp_path: Any
) -> None:
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{hanging}/h",
                                                    f"{sink.url}/ok")))  # fmt: skip
    started = time.monotonic()
    for n in range(6):
        assert (await deliver(client, n)).status == 202
    async with asyncio.timeout(5):
        while len(sink.received) < 6:  # noqa: ASYNC110 - appended by the receiver
            await asyncio.sleep(0.02)
    assert time.monotonic() - started < 5  # not behind the hanging one's 30 s attempts


async def test_each_hold_is_computed_when_its_relay_is_taken(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Relays are held in batches (``hold_due``); one that waits its destination's turn for
    more than half its hold is held anew, for ``HOLD`` from then, before it is sent, so
    another replica does not forward it too."""
    app = create_app(config(uipath, tmp_path, f"{sink.url}/ok"))
    client = await aiohttp_client(app)
    gw = app[GATEWAY]
    assert gw.store is not None
    held: list[float] = []
    hold = gw.store.hold_relay

    async def recorded(r: Relay, until: float) -> bool:
        held.append(until - time.time())
        return await hold(r, until)

    monkeypatch.setattr(gw.store, "hold_relay", recorded)
    monkeypatch.setattr(relay, "PER_DESTINATION", 1)  # one after another: the pass is long
    monkeypatch.setattr(relay, "HOLD", 1.6)  # the third waits (1.2 s) more than half of it
    slow_send = deliver_event

    async def slow(*args: Any, **kwargs: Any) -> bool:
        await asyncio.sleep(0.6)
        return await slow_send(*args, **kwargs)

    monkeypatch.setattr(relay, "deliver_event", slow)
    for n in range(3):
        await gw.store.enqueue_relays(
            [Relay(event_id=f"e{n}", destination=f"{sink.url}/ok", account="orch",
                   event=EVENT)], time.time(), time.time() + 60)  # fmt: skip
    assert await forward_due(gw) == 3
    assert len(held) >= 1 and min(held) > relay.HOLD - 0.1  # a full hold from its new taking
    assert (await gw.store.relay_counts()).get("forwarded") == 3
    del client


async def test_a_full_outbox_asks_the_provider_to_retry(
    uipath: UiPathHarness, hanging: str, aiohttp_client: Any, tmp_path: Any
) -> None:
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{hanging}/h",
                                                    relay_outbox_limit=2)))  # fmt: skip
    answers = []
    for n in range(4):
        answers.append(await deliver(client, n))
        await asyncio.sleep(1.1)  # the outbox is counted at most once a second
    assert [a.status for a in answers[:2]] == [202, 202]
    full = answers[-1]
    assert full.status == 503 and full.headers["Retry-After"] == "60"
    assert relay.relay_counts(client.app[GATEWAY])["full"] >= 1


async def test_stopping_hands_the_relays_being_sent_back(
    uipath: UiPathHarness, hanging: str, tmp_path: Any
) -> None:
    """A replica that stops while a forward hangs hands its relay back, due now, instead of
    holding it for ``HOLD`` (another replica takes it at once); issue 42, point 3."""
    from gateway import Gateway

    async with Gateway(config(uipath, tmp_path, f"{hanging}/h")) as gw:
        assert gw.store is not None
        await gw.store.enqueue_relays(
            [Relay(event_id="e0", destination=f"{hanging}/h", account="orch", event=EVENT)],
            time.time(), time.time() + 600,
        )  # fmt: skip
        task = asyncio.create_task(relay.relay_forever(gw, idle=0.05))
        store = gw.store

        async def taken() -> bool:  # held: not due now, due within a hold
            later = await store.due_relays(time.time() + relay.HOLD - 1, 10)
            return bool(later) and not await store.due_relays(time.time(), 10)

        async with asyncio.timeout(5):
            while not await taken():  # noqa: ASYNC110 - the store says, not an event
                await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        (due,) = await gw.store.due_relays(time.time() + 0.5, 10)  # handed back, not held
        assert (due.event_id, due.attempts) == ("e0", 0)


async def test_stopping_hands_back_the_relays_waiting_their_turn_too(
    uipath: UiPathHarness, hanging: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relays held for this process that wait for their destination's turn when it stops (one
    is being sent, the rest wait) are all handed back, due now: none waits out its hold."""
    from gateway import Gateway

    monkeypatch.setattr(relay, "PER_DESTINATION", 1)
    async with Gateway(config(uipath, tmp_path, f"{hanging}/h")) as gw:
        assert gw.store is not None
        await gw.store.enqueue_many([
            ([Relay(event_id=f"e{n}", destination=f"{hanging}/h", account="orch",
                    event=EVENT)], time.time(), time.time() + 600)
            for n in range(3)
        ])  # fmt: skip
        task = asyncio.create_task(relay.relay_forever(gw, idle=0.05))
        async with asyncio.timeout(5):
            while await gw.store.due_relays(time.time(), 10):  # noqa: ASYNC110 - until all held
                await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        due = await gw.store.due_relays(time.time() + 0.5, 10)
        assert sorted(r.event_id for r in due) == ["e0", "e1", "e2"]
