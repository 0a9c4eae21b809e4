"""The relay's intake at its least work (performance round 4): a delivery the running sender
has room for is stored held and sent from memory (never taken again with ``hold_due`` or read
back); one it has no room for waits in the outbox and is sent after; while a flood is taken
in, forwarding gives way to it (never stopping); a flood counts the outbox once; a secret
spelled with JSON escapes is scrubbed all the same; event ids and times are what
``uuid.uuid5`` and ``datetime.isoformat`` would give."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from datetime import datetime
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.health import relay
from gateway.proxy.server import GATEWAY, create_app
from gateway.store import Relay
from providers.uipath.signature import SIGNATURE_HEADER, sign
from tests.conftest import Holding, Receiver, UiPathHarness
from tests.test_inbound import received

SECRET = "relay-intake-secret-2026"
SINK_SECRET = "whsec_" + base64.b64encode(b"i" * 32).decode()


def config(uipath: UiPathHarness, tmp_path: Any, url: str) -> Any:
    return parse_config({
        "accounts": {"orch": uipath.account()},
        "state": {"url": f"sqlite:///{tmp_path}/s.db"},
        "inbound": {"orch": {"secrets": [SECRET],
                             "destinations": [{"url": url, "secret": SINK_SECRET}]}},
    })  # fmt: skip


async def deliver(client: Any, payload: bytes) -> Any:
    return await client.post("/v1/inbound/orch", data=payload,
                             headers={SIGNATURE_HEADER: sign(payload, SECRET)})  # fmt: skip


def job(n: int) -> bytes:
    return f'{{"Type": "job.completed", "EventId": "e-{n}"}}'.encode()


def taken_by_hold_due(gw: Any, monkeypatch: pytest.MonkeyPatch) -> list[Relay]:
    """Every relay the store's ``hold_due`` hands out from now on (the real store's)."""
    taken: list[Relay] = []
    hold_due = gw.store.hold_due

    async def recorded(*args: Any) -> list[Relay]:
        found: list[Relay] = await hold_due(*args)
        taken.extend(found)
        return found

    monkeypatch.setattr(gw.store, "hold_due", recorded)
    return taken


async def test_a_delivery_the_sender_has_room_for_is_sent_without_being_taken_again(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{sink.url}/in")))
    gw = client.app[GATEWAY]
    taken = taken_by_hold_due(gw, monkeypatch)
    answers = await asyncio.gather(*(deliver(client, job(n)) for n in range(20)))
    assert [a.status for a in answers] == [202] * 20
    await received(sink, 20)
    assert taken == []  # stored held by this process, and sent from memory
    async with asyncio.timeout(5):
        while (await gw.store.relay_counts()) != {"forwarded": 20}:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_deliveries_beyond_the_senders_room_wait_in_the_outbox(
    uipath: UiPathHarness, holding: Holding, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """With room for 2 in flight, 2 of 6 deliveries are sent at once and the other 4 are
    stored due, taken by the sender's ``hold_due`` once there is room: all 6 arrive."""
    monkeypatch.setattr(relay, "IN_FLIGHT", 2)
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{holding.url}/in")))
    taken = taken_by_hold_due(client.app[GATEWAY], monkeypatch)
    for n in range(6):
        assert (await deliver(client, job(n))).status == 202
    async with asyncio.timeout(5):
        while len(holding.arrived) < 2:  # noqa: ASYNC110 - appended by the destination
            await asyncio.sleep(0.01)
    assert len(holding.arrived) == 2 and taken == []  # the rest wait, due, in the outbox
    holding.release.set()
    async with asyncio.timeout(10):
        while len(holding.arrived) < 6:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert len(taken) == 4


async def test_a_delivery_stored_as_the_sender_stops_is_handed_back_due(
    uipath: UiPathHarness, holding: Holding, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Stored held for a sender that stopped while it was being stored, it would wait out its
    hold with nobody sending it: it is handed back, due now, for another replica."""
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{holding.url}/in")))
    gw = client.app[GATEWAY]
    forwarder, intake = relay._forwarders[gw], relay._writers_of(gw).intake
    write = intake._write

    async def stopping(items: Any) -> Any:
        forwarder.running = False  # (stopping, as serve's shutdown cancels the sender)
        return await write(items)

    monkeypatch.setattr(intake, "_write", stopping)
    assert (await deliver(client, job(1))).status == 202
    (due,) = await gw.store.due_relays(time.time() + 1, 10)
    assert due.state == "queued" and holding.arrived == []


async def test_while_a_flood_is_taken_in_forwards_give_way_but_never_stop(
    uipath: UiPathHarness, holding: Holding, aiohttp_client: Any, tmp_path: Any
) -> None:
    """While ``BUSY_INTAKE`` deliveries are being taken in, a destination gets ``TRICKLE``
    forwards at a time (the rest wait their turn); once the flood is in, all go at once."""
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{holding.url}/in")))
    forwarder = relay._forwarders[client.app[GATEWAY]]
    with contextlib.ExitStack() as flood:  # deliveries being taken in, as a flood's are
        for _ in range(relay.BUSY_INTAKE):
            flood.enter_context(forwarder.taking_in())
        for n in range(6):
            assert (await deliver(client, job(n))).status == 202
        await asyncio.sleep(0.3)
        assert len(holding.arrived) == relay.TRICKLE  # (the destination answers none yet)
    async with asyncio.timeout(5):
        while len(holding.arrived) < 6:  # noqa: ASYNC110 - appended by the destination
            await asyncio.sleep(0.01)
    holding.release.set()


async def test_a_destinations_turn_ends_with_the_sending_not_the_recording(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """One forward at a time to the destination, and the store slow to record outcomes: the
    next relay goes as soon as the one before was answered, not once it is recorded."""
    monkeypatch.setattr(relay, "PER_DESTINATION", 1)
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{sink.url}/in")))
    settle = relay._writers_of(client.app[GATEWAY]).settle
    record, recording = settle._write, asyncio.Event()

    async def slow(items: Any) -> Any:
        await recording.wait()
        return await record(items)

    monkeypatch.setattr(settle, "_write", slow)
    try:
        for n in range(3):
            assert (await deliver(client, job(n))).status == 202
        await received(sink, 3)  # (none of them recorded yet)
    finally:
        recording.set()


async def test_a_flood_of_deliveries_counts_the_outbox_once(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{sink.url}/in")))
    store = client.app[GATEWAY].store
    counted = 0
    count = store.queued_relays

    async def counting() -> int:
        nonlocal counted
        counted += 1
        found: int = await count()
        return found

    monkeypatch.setattr(store, "queued_relays", counting)
    answers = await asyncio.gather(*(deliver(client, job(n)) for n in range(30)))
    assert [a.status for a in answers] == [202] * 30
    assert counted == 1  # within a second, every delivery waits for the one count


async def test_a_secret_spelled_with_json_escapes_is_scrubbed_all_the_same(
    uipath: UiPathHarness, sink: Receiver, aiohttp_client: Any, tmp_path: Any
) -> None:
    """The relay skips its walk of a delivery whose bytes hold no secret, but only when the
    JSON has no escape: ``\\u0073`` is an ``s``, so the secret is in the parsed text."""
    client = await aiohttp_client(create_app(config(uipath, tmp_path, f"{sink.url}/in")))
    escaped = SECRET.replace("s", "\\u0073")
    plain = b'{"Type": "job.completed", "EventId": "plain", "Note": "nothing secret"}'
    spelled = ('{"Type": "job.completed", "EventId": "escaped", "Note": "' + escaped
               + '", "Url": "https:\\/\\/example.com"}').encode()  # fmt: skip
    assert SECRET.encode() not in spelled
    for payload in (plain, spelled):
        assert (await deliver(client, payload)).status == 202
    await received(sink, 2)
    notes = {json.loads(body)["data"]["EventId"]: json.loads(body)["data"]
             for _, _, body in sink.received}  # fmt: skip
    assert notes["escaped"]["Note"] == "***" and notes["escaped"]["Url"] == "https://example.com"
    assert notes["plain"]["Note"] == "nothing secret"


def test_event_ids_and_times_are_what_the_standard_library_would_give() -> None:
    for name in ("orch/e-1", "orch/sub/42", "o/sha256:" + "ab" * 32, "é/ü", ""):
        assert relay._uuid5(name) == str(uuid.uuid5(relay.EVENT_IDS, name))
    before = datetime.now().astimezone()
    stamp = relay._now_rfc3339()
    parsed = datetime.fromisoformat(stamp)
    assert stamp.endswith("+00:00") and len(stamp) == len("2026-12-08T02:14:12.988626+00:00")
    assert 0 <= (parsed - before).total_seconds() < 5
