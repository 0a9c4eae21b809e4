"""Leftovers of the second red team (security round 3): an audit cursor too large for the
store is a 400, not a 500; a SQLite path whose folder cannot be made is one line and exit 5; a
body labelled gzip that is not is a 400 with no unhandled traceback in the log."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.config import parse_config
from gateway.proxy.server import create_app
from tests.conftest import proxy_port

KEY = "leftover-key-Tb6Wq2Zr8Lm"
AUTH = {"Authorization": f"Bearer {KEY}"}


def config(tmp_path: Path) -> Any:
    return parse_config({
        "accounts": {"m": {"provider": "memory"}},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "w", "scope": "write", "key": KEY}]},
    })  # fmt: skip


async def test_an_audit_cursor_too_large_is_refused(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(config(tmp_path)))
    cursor = base64.urlsafe_b64encode(b"audit:" + b"9" * 30).decode().rstrip("=")
    resp = await client.get(f"/v1/audit?cursor={cursor}", headers=AUTH)
    assert resp.status == 400
    assert (await resp.json())["errors"][0]["path"] == "cursor"


def test_a_sqlite_path_under_a_file_is_one_line_and_exit_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("not a folder")
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[accounts.m]\nprovider = "memory"\n[server]\nport = 0\n[[server.api_keys]]\n'
        f'name = "w"\nscope = "write"\nkey = "{KEY}"\n'
        f'[state]\nurl = "sqlite:///{tmp_path}/file/state.db"\nconnect_timeout = 0\n'
    )
    code = main(["serve", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 5, err
    assert "Traceback" not in err and "cannot open the state file" in err


async def test_a_body_that_is_not_the_gzip_it_says_logs_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"not gzip"
    async with proxy_port(config(tmp_path)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/accounts/m/webhooks HTTP/1.1\r\nHost: x\r\n"
                     + f"Authorization: Bearer {KEY}\r\n".encode()
                     + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)  # fmt: skip
        await writer.drain()
        with caplog.at_level(logging.ERROR):
            answer = await reader.read(100)
            await asyncio.sleep(0.2)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
