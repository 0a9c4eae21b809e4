"""The proxy's listening socket on loopback: slow clients are cut off, connection limits hold
and refuse with a problem, and malformed requests get problem+json 400s that repeat nothing
of the request (an oversized line may be an API key)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from gateway.config import parse_config
from gateway.logs import JsonFormatter
from gateway.proxy.connections import MAX_HEADERS, MAX_LINE_BYTES
from gateway.proxy.server import create_app, start_proxy
from tests.conftest import memory_config

KEY = "write-key-Gz6Ny3Kt8Qv"


@contextlib.asynccontextmanager
async def proxy(**server: Any) -> AsyncIterator[tuple[web.AppRunner, int]]:
    config = parse_config({
        **memory_config(),
        "server": {"port": 0, "api_keys": [{"name": "w", "scope": "write", "key": KEY}], **server},
    })  # fmt: skip
    runner = await start_proxy(create_app(config), config.server)
    try:
        yield runner, runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(
    port: int, raw: bytes, source: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw``, read the whole answer (the server closes), split it up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


async def healthz(port: int, source: str = "127.0.0.1") -> int:
    status, _, _ = await exchange(
        port, b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n", source
    )
    return status


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Any:
    """Everything logged, as the JSON log lines would show it (message, extras, exceptions)."""
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    return lambda: "\n".join(formatter.format(r) for r in caplog.records) + caplog.text


async def test_an_oversized_authorization_header_is_a_400_problem_and_never_logged(
    logged: Any,
) -> None:
    secret = "sk-live-" + "Zq9" * 3000
    async with proxy() as (_, port):
        raw = f"GET /v1/accounts HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {secret}\r\n\r\n"
        status, headers, body = await exchange(port, raw.encode())
    problem = orjson.loads(body)
    assert status == 400 and headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == 400 and str(MAX_LINE_BYTES) in problem["detail"]
    assert "Zq9" not in body.decode() and "Zq9" not in logged()
    assert "refused an unparseable request" in logged()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: gw\r\n\r\n", f"{MAX_LINE_BYTES} bytes"),
        (
            b"GET /healthz HTTP/1.1\r\n"
            + b"".join(b"X-H%d: 1\r\n" % i for i in range(MAX_HEADERS + 20))
            + b"\r\n",
            f"more than {MAX_HEADERS} header fields",
        ),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, "not HTTP/1.x"),
        (b"GET /healthz HTTP/1.1\r\nHost: gw\r\nBad Header: x\r\n\r\n", "Invalid header token"),
    ],
    ids=["long-request-line", "too-many-headers", "tls-to-plain-port", "bad-header-name"],
)
async def test_malformed_requests_get_problem_400s(raw: bytes, fragment: str, logged: Any) -> None:
    async with proxy() as (_, port):
        status, headers, body = await exchange(port, raw)
    assert status == 400 and headers["content-type"].startswith("application/problem+json")
    assert fragment in orjson.loads(body)["detail"]
    assert "aaaaaaaa" not in logged() and "Traceback" not in logged()


async def test_a_head_that_never_completes_is_cut_off_while_others_are_served() -> None:
    async with proxy(request_head_timeout=1.0) as (_, port):
        silent = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")

        async def dribble() -> None:
            for i in range(100):
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow-%d: 1\r\n" % i)

        dribbling = asyncio.create_task(dribble())
        assert await healthz(port) == 200  # served while the slow head is pending
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
        assert await asyncio.wait_for(silent[0].read(), 5) == b""
        elapsed = time.monotonic() - started
        dribbling.cancel()
    assert 0.9 <= elapsed < 3.0


async def test_slowloris_from_one_address_does_not_keep_others_out() -> None:
    """200 slow connections from 127.0.0.2 against a limit of 20 per client and 60 in all:
    the attacker holds 20, the rest are refused at once, and 127.0.0.1 is served throughout."""
    async with proxy(
        max_connections=60, max_connections_per_client=20, request_head_timeout=2.0
    ) as (runner, port):
        attackers = []
        for _ in range(200):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=("127.0.0.2", 0)
            )
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-A: ")
            attackers.append((reader, writer))
        await asyncio.sleep(0.1)
        assert runner.server is not None and len(runner.server.connections) <= 20
        served = [await healthz(port) for _ in range(20)]
        answers = []
        for reader, _ in attackers:  # a 503 at once, or closed: at once or after 2 s
            with contextlib.suppress(ConnectionResetError):
                answers.append(await asyncio.wait_for(reader.read(), 5))
        for _, writer in attackers:
            writer.close()
    assert served == [200] * 20
    assert all(a == b"" or a.startswith(b"HTTP/1.1 503") for a in answers)
    # Refusals linger (to deliver their answer) at most as many as max_connections at once.
    assert sum(a.startswith(b"HTTP/1.1 503") for a in answers) >= 60


async def test_beyond_max_connections_a_connection_gets_a_503_problem_at_once() -> None:
    async with proxy(max_connections=10, request_head_timeout=1.0) as (_, port):
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        status, headers, body = await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert time.monotonic() - started < 0.5
        assert status == 503 and headers["retry-after"] == "1"
        assert "max_connections" in orjson.loads(body)["detail"]
        for reader, _ in idle:  # the idle ones are cut off after the head timeout ...
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert await healthz(port) == 200  # ... and the slots are free again
        for _, writer in idle:
            writer.close()


async def test_a_body_that_does_not_arrive_in_time_is_a_408() -> None:
    async with proxy(request_body_timeout=0.5) as (_, port):
        raw = (
            "POST /v1/accounts/mem/webhooks HTTP/1.1\r\nHost: gw\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            'Content-Length: 200\r\n\r\n{"name":'
        )
        started = time.monotonic()
        status, _, body = await exchange(port, raw.encode())
    assert status == 408 and "did not arrive within 0.5 seconds" in orjson.loads(body)["detail"]
    assert time.monotonic() - started < 5  # the answer at 0.5 s, the close after lingering


def test_the_edge_holds_on_uvloop_too() -> None:
    """``serve`` runs on uvloop when installed, whose transports are not asyncio's classes."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> None:
        async with proxy(max_connections=2, request_head_timeout=1.0) as (_, port):
            assert await healthz(port) == 200
            raw = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"k" * 9000 + b"\r\n\r\n"
            assert (await exchange(port, raw))[0] == 400
            idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.05)
            assert (await exchange(port, b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"))[0] == 503
            for _, writer in idle:
                writer.close()

    uvloop.run(main())
