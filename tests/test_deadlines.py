"""Deadlines the proxy keeps whoever the caller is: a body trickled on any route is 408 and its
connection closed, unauthenticated routes cannot take the capacity keyed clients need, and a
write together with the look that reconciles it ends within the total deadline."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.emulation import Faults
from gateway.errors import OutcomeUnknown
from tests.conftest import UiPathHarness, proxy_port

KEY = "deadline-write-key-Gz6Ny3Kt8Qv"
SINK = {"url": "http://127.0.0.1:9/in", "secret": "whsec_" + base64.b64encode(b"k" * 32).decode()}


@pytest.fixture
async def proxy(uipath: UiPathHarness, tmp_path: Any) -> AsyncIterator[int]:
    config = parse_config({
        "accounts": {"orch": uipath.account()},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": KEY}],
                   "request_body_timeout": 0.5, "max_unauthenticated": 2},
        "inbound": {"orch": {"secrets": ["relay-secret-0123456"], "destinations": [SINK]}},
    })  # fmt: skip
    async with proxy_port(config) as port:
        yield port


async def trickle(port: int, head: bytes) -> tuple[bytes, float]:
    """Send ``head`` promising 1,000 bytes, then a byte every 0.2 s; the answer and when the
    connection ended."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"Content-Length: 1000\r\nHost: gw\r\n\r\n")
    started = time.monotonic()

    async def drip() -> None:
        for _ in range(100):
            await asyncio.sleep(0.2)
            writer.write(b" ")
            await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.monotonic() - started


@pytest.mark.parametrize(
    "head",
    [
        b"POST /v1/inbound/orch HTTP/1.1\r\n",
        b"POST /v1/accounts/orch/webhooks HTTP/1.1\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nIdempotency-Key: k-1\r\nContent-Type: application/json\r\n",
        b"POST /v1/apply HTTP/1.1\r\nAuthorization: Bearer "
        + KEY.encode()
        + b"\r\nContent-Type: application/json\r\n",
    ],
    ids=["inbound", "idempotent-create", "apply"],
)
async def test_a_trickled_body_is_408_on_every_route(proxy: int, head: bytes) -> None:
    answer, took = await trickle(proxy, head)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < 3.0  # the body deadline (0.5 s), not the trickle's 20 s: the connection is freed


async def test_unauthenticated_requests_cannot_take_the_keyed_clients_capacity(
    proxy: int,
) -> None:
    held = [asyncio.create_task(trickle(proxy, b"POST /v1/inbound/orch HTTP/1.1\r\n"))
            for _ in range(2)]  # fmt: skip
    await asyncio.sleep(0.1)  # both are in flight, reading their bodies
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
    writer.write(b"POST /v1/inbound/orch HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n{}")
    refused = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert refused.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in refused
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy)
    writer.write(b"GET /v1/accounts HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
                 b"Authorization: Bearer " + KEY.encode() + b"\r\n\r\n")  # fmt: skip
    keyed = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert keyed.startswith(b"HTTP/1.1 200")  # a keyed client is served meanwhile
    for task in held:
        answer, _ = await task
        assert answer.startswith(b"HTTP/1.1 408")


async def test_a_write_and_its_reconciliation_end_within_the_total_deadline(
    uipath: UiPathHarness,
) -> None:
    """Every answer of the provider takes 0.9 s and is lost: the create (0.9 s) and the look
    that would reconcile it (another 0.9 s) share the 1 s deadline: the outcome is unknown
    after 1 s, not after 1.8 s."""
    http = {"total_timeout": 1.0, "retry": {"max_attempts": 1}}
    config = parse_config({"accounts": {"orch": uipath.account()}, "http": http})
    async with Gateway(config) as gw:
        await gw.account("orch").event_types()  # the token and the catalog, before the clock
        uipath.emulator.faults = Faults(latency=0.9, drop_rate=1.0)
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            await gw.account("orch").create(
                WebhookSpec(
                    name="slow", url="https://hooks.example.com/s", events={"job.completed"}
                )
            )
        took = time.monotonic() - started
    assert took < 1.4, took  # without the shared deadline: 1.8 s
