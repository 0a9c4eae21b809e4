"""Console sessions and logins against attacks (security round 3): a session lives only as long
as its key, by value; the rotated secret is never kept for a second sending of the form; login
forms carry a token of their own and come from the console's own pages; wrong keys are
throttled per client address; cookies are Secure and HSTS is sent behind a trusted TLS proxy;
idle time counts from real use."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import ApiKey, parse_config
from gateway.model import Secret
from gateway.proxy.console.sessions import Sessions
from gateway.proxy.demo import Demo, demo
from gateway.proxy.keys import ApiKeys
from gateway.proxy.server import create_app
from tests.test_console import _csrf, login

WRITE = "console-write-Jq8Zr3Lv6Tn2Wx"
READ = "console-read-Hp5Mc9Kd2Bs7Yf"


def config(tmp_path: Path, *keys: tuple[str, str, str], **server: Any) -> Any:
    return parse_config({
        "accounts": {"m": {"provider": "memory"}},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": n, "scope": s, "key": k} for n, s, k in keys],
                   **server},
    })  # fmt: skip


@pytest.fixture
async def running() -> AsyncIterator[Demo]:
    async with demo() as started:
        yield started


async def test_a_session_ends_with_its_key_and_takes_its_scope_from_it(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    first = await aiohttp_client(create_app(config(tmp_path, ("ci-bot", "write", WRITE))))
    assert (await login(first.session, str(first.make_url("")).rstrip("/"), WRITE)).status == 303
    cookies = {c.key: c.value for c in first.session.cookie_jar}
    await first.close()

    # Same name, downgraded to read: the session may only read now (its key, by value, is
    # the same).
    downgraded = await aiohttp_client(create_app(config(tmp_path, ("ci-bot", "read", WRITE))))
    page = await downgraded.get("/console", cookies=cookies)
    assert page.status == 200
    refused = await downgraded.post(
        "/console/webhooks/m/1/update",
        cookies=cookies,
        data={"csrf": _csrf(await page.text()), "op": "disable"},
    )
    assert refused.status == 403 and "may only read" in await refused.text()
    await downgraded.close()

    # The name kept, the key replaced: the old session opens nothing.
    replaced = await aiohttp_client(create_app(config(tmp_path, ("ci-bot", "write", READ))))
    gone = await replaced.get("/console", cookies=cookies, allow_redirects=False)
    assert gone.status == 303 and gone.headers["Location"] == "/console/login"
    await replaced.close()


async def test_the_rotated_secret_is_never_stored_nor_shown_twice(running: Demo) -> None:
    d = running
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, d.url, d.write_key)
        page = await (await http.get(f"{d.url}/console/webhooks/uipath-demo/1")).text()
        rotate_form = page[page.index("/rotate") :]
        once = re.search(r'name="once" value="([^"]+)"', rotate_form)
        assert once is not None
        form = {"csrf": _csrf(page), "once": once.group(1), "grace_hours": "1"}
        url = f"{d.url}/console/webhooks/uipath-demo/1/rotate"
        shown = await (await http.post(url, data=form)).text()
        secret = re.search(r'<code id="new-secret">([^<]+)</code>', shown)
        assert secret is not None, "the new secret is on the answer page once"
        again = await http.post(url, data=form)
        text = await again.text()
        assert again.status == 409 and "ran" in text and secret.group(1) not in text
    assert d.config.state is not None
    db = sqlite3.connect(d.config.state.url.removeprefix("sqlite:///"))
    try:
        rows = db.execute("SELECT * FROM idempotency").fetchall()
    finally:
        db.close()
    assert rows and secret.group(1) not in repr(rows)


async def test_a_login_needs_its_form_token_and_a_same_site_form(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(config(tmp_path, ("ops", "write", WRITE))))
    # A cross-site page posting the attacker's key: refused, whatever the key.
    forged = await client.post("/console/login", data={"api_key": WRITE},
                               allow_redirects=False)  # fmt: skip
    assert (forged.status == 403 and "Set-Cookie" not in forged.headers) or (
        "wg_console" not in forged.headers.get("Set-Cookie", "")
    )
    page = await (await client.get("/console/login")).text()
    token = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert token is not None
    for foreign in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        sent = await client.post("/console/login", headers=foreign, allow_redirects=False,
                                 data={"api_key": WRITE, "login_csrf": token[1]})  # fmt: skip
        assert sent.status == 403, foreign
    base = str(client.make_url("")).rstrip("/")
    assert (await login(client.session, base, WRITE)).status == 303
    first = {c.key: c.value for c in client.session.cookie_jar}["wg_console"]
    assert (await login(client.session, base, WRITE)).status == 303  # a second login
    async with aiohttp.ClientSession(cookies={"wg_console": first}) as old:
        ended = await old.get(f"{base}/console", allow_redirects=False)
        assert ended.status == 303  # the old session ended at the new login


async def test_wrong_keys_are_throttled_per_address(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(
        create_app(config(tmp_path, ("ops", "write", WRITE), max_failed_keys_per_minute=5))
    )
    wrong = {"Authorization": "Bearer not-the-key-0123456789"}
    statuses = [(await client.get("/v1/accounts", headers=wrong)).status for _ in range(5)]
    assert statuses == [401] * 5
    blocked = await client.get("/v1/accounts", headers={"Authorization": f"Bearer {WRITE}"})
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) >= 1
    page = await (await client.get("/console/login")).text()
    token = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert token is not None
    at_login = await client.post("/console/login", data={"api_key": WRITE, "login_csrf": token[1]},
                                 allow_redirects=False)  # fmt: skip
    assert at_login.status == 429 and "Retry-After" in at_login.headers


@pytest.mark.parametrize("trusted", [True, False])
async def test_cookies_are_secure_behind_a_trusted_tls_proxy(
    aiohttp_client: Any, tmp_path: Path, trusted: bool
) -> None:
    proxies = ["127.0.0.1", "::1"] if trusted else []
    client = await aiohttp_client(create_app(config(tmp_path, ("ops", "write", WRITE),
                                                    trusted_proxies=proxies)))  # fmt: skip
    https = {"X-Forwarded-Proto": "https"}
    form = await client.get("/console/login", headers=https)
    token = re.search(r'name="login_csrf" value="([^"]+)"', await form.text())
    assert token is not None
    # (this client speaks plain http to the test server, so it would not send a Secure
    # cookie back: as the browser behind the TLS proxy does, it is sent here by hand)
    cookie = f"wg_login={token[1]}"
    answer = await client.post("/console/login", headers={**https, "Cookie": cookie},
                               allow_redirects=False,
                               data={"api_key": WRITE, "login_csrf": token[1]})  # fmt: skip
    assert answer.status == 303
    cookie = next(v for v in answer.headers.getall("Set-Cookie") if "wg_console=" in v)
    assert ("Secure" in cookie) is trusted
    assert ("Strict-Transport-Security" in answer.headers) is trusted


async def test_a_public_https_url_makes_cookies_secure(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(config(
        tmp_path, ("ops", "write", WRITE), public_url="https://gateway.example.com"
    )))  # fmt: skip
    answer = await client.get("/console/login")
    assert "Secure" in answer.headers["Set-Cookie"]
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_idle_time_counts_from_real_use(monkeypatch: Any) -> None:
    """``idle_minutes = 1``, used every 50 s: never logged out (its last use is 50 s old)."""
    now = [1000.0]
    monkeypatch.setattr("gateway.proxy.console.sessions.time.time", lambda: now[0])
    keys = ApiKeys([ApiKey(name="ops", scope="write", key=Secret(WRITE))])
    key = await keys.identify(WRITE)
    assert key is not None
    sessions = Sessions(None, idle_minutes=1)
    session_id, _ = await sessions.start(key)
    for _ in range(5):
        now[0] += 50
        assert await sessions.find(session_id) is not None
    now[0] += 61
    assert await sessions.find(session_id) is None


async def test_slow_login_bodies_do_not_take_the_deliveries_budget(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(config(tmp_path, ("ops", "write", WRITE),
                                                    max_unauthenticated=2)))  # fmt: skip
    host, port = client.server.host, client.server.port
    stalled = []
    for _ in range(3):  # more than the budget: logins that never finish their bodies
        _, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"POST /console/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\napi_key="
        )
        await writer.drain()
        stalled.append(writer)
    await asyncio.sleep(0.2)
    delivery = await client.post("/v1/inbound/m", data=b"{}")
    assert delivery.status != 503  # its own budget: not taken by the logins
    health = await client.get("/healthz")
    assert health.status == 200
    for writer in stalled:
        writer.close()
