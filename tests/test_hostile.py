"""Hostile input is a 4xx, never a 500 or 503, and problem details carry no internals: raw
requests (bytes no HTTP client library would send) against the proxy over a real socket, with
UiPath's and Orchestry's emulators behind it and a real PostgreSQL store."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.config import parse_config
from tests.conftest import OrchestryHarness, UiPathHarness, proxy_port

KEY = "hostile-write-key-Gz6Ny3Kt8Qv"
AUTH = f"Authorization: Bearer {KEY}\r\n".encode()
SECRET = "inbound-hostile-secret-01"


async def send(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any] | None]:
    """One raw HTTP/1.1 request; the status and the JSON body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    length = f"Content-Length: {len(body)}\r\n".encode() if body else b""
    writer.write(head + length + b"Host: gw\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    status = int(raw.split(b" ", 2)[1])
    payload = raw.partition(b"\r\n\r\n")[2]
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, None


@pytest.fixture
async def proxy(
    uipath: UiPathHarness, orchestry: OrchestryHarness, postgres_url: str
) -> AsyncIterator[int]:
    sink = {
        "url": "http://127.0.0.1:9/in",
        "secret": "whsec_" + base64.b64encode(b"k" * 32).decode(),
    }
    config = parse_config({
        "accounts": {"orch": uipath.account(), "orc": orchestry.account()},
        "state": {"url": postgres_url},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": KEY}]},
        "inbound": {"orch": {"secrets": [SECRET], "destinations": [sink]},
                    "orc": {"secrets": [SECRET], "destinations": [sink]}},
    })  # fmt: skip
    async with proxy_port(config) as port:
        yield port


def _cursor(value: Any) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")


BOMB = gzip.compress(b"[" + b" " * 60_000_000 + b"]")
DEEP = b"[" * 30_000 + b"]" * 30_000

CASES = [
    ("a non-UTF-8 Authorization header",
     b"GET /v1/accounts HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\xfd\r\n", b"", 401),
    ("a body labelled gzip that is not gzip",
     b"POST /v1/accounts/orch/webhooks HTTP/1.1\r\n" + AUTH
     + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n", b"not gzip", 400),
    ("a compression bomb",
     b"POST /v1/accounts/orch/webhooks HTTP/1.1\r\n" + AUTH
     + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n", BOMB, 413),
    ("30,000-deep JSON",
     b"POST /v1/accounts/orch/webhooks HTTP/1.1\r\n" + AUTH
     + b"Content-Type: application/json\r\n", DEEP, 400),
    ("30,000-deep JSON in an Orchestry delivery",
     b"POST /v1/inbound/orc HTTP/1.1\r\nX-Orchestry-Secret: " + SECRET.encode() + b"\r\n"
     + b"Content-Type: application/json\r\n", DEEP, 401),
    ("a lone surrogate in an Orchestry delivery",
     b"POST /v1/inbound/orc HTTP/1.1\r\nContent-Type: application/json\r\n",
     b'{"Secret": "\\ud800", "requestId": "r1"}', 401),
    ("a non-UTF-8 provider signature header",
     b"POST /v1/inbound/orch HTTP/1.1\r\nX-UiPath-Signature: \xff\xfe\xfd\r\n", b"{}", 401),
    ("a cursor that decodes to nested JSON",
     b"GET /v1/accounts/orch/webhooks?cursor=" + _cursor({"o": [[[[[1]]]]]}) + b" HTTP/1.1\r\n"
     + AUTH, b"", 400),
    ("a cursor holding a 30-digit number",
     b"GET /v1/accounts/orch/webhooks?cursor=" + _cursor({"o": 10**29}) + b" HTTP/1.1\r\n"
     + AUTH, b"", 400),
    ("a NUL byte in a query value that would reach PostgreSQL",
     b"GET /v1/audit?account=orch%00x HTTP/1.1\r\n" + AUTH, b"", 400),
    ("a NUL byte in a filter",
     b"GET /v1/accounts/orch/webhooks?name=a%00b HTTP/1.1\r\n" + AUTH, b"", 400),
]  # fmt: skip


@pytest.mark.parametrize(("what", "head", "body", "status"), CASES, ids=[c[0] for c in CASES])
async def test_hostile_input_is_a_4xx(
    proxy: int, what: str, head: bytes, body: bytes, status: int
) -> None:
    answer, problem = await send(proxy, head, body)
    assert answer == status, (what, problem)
    assert problem is not None and problem["status"] == status
    shown = json.dumps(problem)
    for internal in ("Traceback", tempfile.gettempdir(), "site-packages", ".py", "asyncpg"):
        assert internal not in shown, (what, internal, shown)


QUERIES = [b"na%1Fme=a", b"name=a%1Fb", b"cursor=" + b"A" * 200 + b"%7F%00"]


@pytest.mark.parametrize("query", QUERIES)
async def test_a_control_character_anywhere_in_a_query_is_named(proxy: int, query: bytes) -> None:
    head = b"GET /v1/accounts/orch/webhooks?" + query + b" HTTP/1.1\r\n" + AUTH
    answer, problem = await send(proxy, head, b"")
    assert answer == 400 and problem is not None
    assert "holds a control character" in json.dumps(problem["errors"])


def test_store_failures_reach_callers_without_paths_or_driver_messages(tmp_path: Any) -> None:
    from gateway.store.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "state.db"))
    error = store._failed(sqlite3.OperationalError(f"disk I/O error in {tmp_path}/state.db"))
    assert str(tmp_path) not in str(error) and "disk I/O" not in str(error)
    assert "SQLite state store failed (OperationalError)" in str(error)
