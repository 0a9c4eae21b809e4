"""Small things a person notices in the console (issue 41, point 6): one readable time form,
a transition's before state, "Not found" for a missing webhook, the ETag kept out of sight,
and the favicon served (no 401 for it in the log)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from gateway.config import parse_config
from gateway.proxy.console.base import readable_time
from gateway.proxy.server import create_app
from tests.test_console import login

KEY = "ops-key-Tz5Lq8Wm3Vx"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def test_times_read_one_way() -> None:
    assert readable_time("2026-12-07T18:22:30.814570+00:00") == "2026-12-07 18:22:30 UTC"
    assert readable_time("2026-12-07T19:22:30+01:00") == "2026-12-07 18:22:30 UTC"
    assert readable_time(None) == "-" and readable_time("not a time") == "not a time"


async def test_pages_say_what_a_person_needs(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    config = parse_config({
        "accounts": {"mem": {"provider": "memory", "event_types": ["a.one"]}},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": KEY}]},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    auth = {"Authorization": f"Bearer {KEY}"}
    made = await client.post("/v1/accounts/mem/webhooks", headers=auth, json={
        "name": "hook", "url": "https://93.184.216.34/h", "events": ["a.one"]})  # fmt: skip
    webhook_id = (await made.json())["id"]
    icon = await client.get("/favicon.ico", allow_redirects=False)
    assert icon.status == 301 and icon.headers["Location"] == "/console/static/favicon.svg"
    svg = await client.get("/console/static/favicon.svg")
    assert svg.status == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    base = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await login(http, base, KEY)).status == 303
        page = await (await http.get(f"{base}/console/webhooks/mem/{webhook_id}")).text()
        assert 'rel="icon"' in page and "ETag <code>" not in page
        assert 'name="etag" value="' in page  # kept for the stale-page check, out of sight
        missing = await http.get(f"{base}/console/webhooks/mem/999999")
        text = await missing.text()
        assert missing.status == 404 and "<title>Not found" in text and "<h1>Not found" in text
        health = await (await http.get(f"{base}/console/health")).text()
        assert "What the states mean" in health
        assert "Next: fix the receiver, then unsuspend." in health
        audit = await (await http.get(f"{base}/console/audit")).text()
        shown = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', audit)
        assert shown and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", shown.group(2))


async def test_a_search_finds_by_name_url_or_event_and_the_audit_shows_the_change(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    config = parse_config({
        "accounts": {"mem": {"provider": "memory", "event_types": ["a.one", "b.two"],
                             "page_size": 1}},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": KEY}]},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    auth = {"Authorization": f"Bearer {KEY}"}
    for name, url, event in (("orders", "https://93.184.216.34/o", "a.one"),
                             ("billing", "https://93.184.216.34/ledger", "b.two"),
                             ("misc", "https://93.184.216.34/m", "a.one")):  # fmt: skip
        made = await client.post("/v1/accounts/mem/webhooks", headers=auth,
                                 json={"name": name, "url": url, "events": [event]})  # fmt: skip
        assert made.status == 201
    base = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await login(http, base, KEY)).status == 303

        async def found(q: str) -> list[str]:
            page = await (await http.get(f"{base}/console/webhooks", params={"q": q})).text()
            return re.findall(r'<tr data-name="([^"]+)"', page)

        assert await found("LEDGER") == ["billing"]  # by URL, any case, across pages
        assert sorted(await found("a.one")) == ["misc", "orders"]  # by event
        assert await found("ord") == ["orders"]  # by name
        audit = await (await http.get(f"{base}/console/audit")).text()
        assert "what changed" in audit and "93.184.216.34/ledger" in audit


def test_every_state_says_what_it_means_and_what_to_do() -> None:
    """The health states, one line each with the next step (issue 41, point 2): the same text
    in ``health --help``, the console's legend and the docs."""
    import subprocess
    import sys

    from gateway.health.meanings import MEANINGS

    states = [state for state, _, _ in MEANINGS]
    assert states == ["active", "disabled", "suspended", "diverting", "drift", "deleted"]
    shown = subprocess.run([sys.executable, "-m", "gateway.cli", "health", "--help"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    docs = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    for state, meaning, todo in MEANINGS:
        assert f"  {state}: {meaning}; next: {todo}\n" in shown
        assert f"| `{state}` |" in docs
