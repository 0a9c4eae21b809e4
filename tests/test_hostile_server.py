"""The remote command line against a broken or hostile ``--server`` (security round 3): it
stops paging (cursors that never end or repeat), reads no unbounded answer, prints the server's
text without obeying its control characters, and sends no key over plain http to another
machine unless told to."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from gateway.cli import main

ROW = {"id": "1", "account": "a", "provider": "memory", "name": "n", "url": "https://h.example/x",
       "enabled": True, "events": [], "all_events": False, "secret": None}  # fmt: skip


def _app() -> web.Application:
    count = {"n": 0}

    async def endless(request: web.Request) -> web.Response:
        count["n"] += 1
        return web.json_response({"items": [ROW], "next_cursor": f"c{count['n']}"})

    async def repeating(request: web.Request) -> web.Response:
        return web.json_response({"items": [ROW], "next_cursor": "same"})

    async def hostile_error(request: web.Request) -> web.Response:
        body = {"type": "about:blank", "title": "Not Found", "status": 404,
                "detail": "no \x1b]52;c;cHduZWQ=\x07 webhook \x1b[2J here"}  # fmt: skip
        return web.json_response(body, status=404, content_type="application/problem+json")

    app = web.Application()
    app.router.add_get("/v1/webhooks", endless)
    app.router.add_get("/v1/accounts/a/webhooks", repeating)
    app.router.add_get("/v1/accounts/a/webhooks/1", hostile_error)
    return app


@pytest.fixture
def server() -> Iterator[str]:
    """The hostile gateway, on a loop of its own (the command line runs its own loop)."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(_app())
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.run_until_complete(runner.cleanup())
    loop.close()


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_GATEWAY_TOKEN", "hostile-test-Qm4Zt8Wx2Lp")
    monkeypatch.delenv("WEBHOOK_GATEWAY_URL", raising=False)


def test_listing_stops_on_cursors_that_never_end(
    server: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.operations.listing.FOLLOW_PAGES", 40)
    code, _, err = run(capsys, "list", "--server", server)
    assert code == 5 and "goes on past 40 pages" in err
    code, _, err = run(capsys, "list", "a", "--server", server)
    assert code == 5 and "repeats an earlier one" in err


def test_a_servers_text_is_printed_not_obeyed(server: str, capsys: Any) -> None:
    code, out, err = run(capsys, "get", "a", "1", "--server", server)
    assert code == 3
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b]52;c;cHduZWQ=\\x07" in err


def test_plain_http_to_another_machine_needs_a_flag(capsys: Any) -> None:
    code, _, err = run(capsys, "list", "--server", "http://gateway.example.com")
    assert code == 2 and "in clear" in err and "--allow-http" in err
