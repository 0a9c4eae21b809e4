"""Single sign-on against a real, certified OpenID Provider (issue 40, points 1 and 7).

The npm package ``oidc-provider`` runs on loopback with two people in two groups (ana:
``billing``, bob: ``claims``); the gateway's grants give each group one account. Ana signs in
through the console in headless Chromium and sees only her team's account; Bob signs in over
plain HTTP (the provider's forms posted by hand) and sees only his. A tampered ID token, a wrong
``nonce``, a wrong ``aud``, a replayed authorization code and a callback that did not start
here are refused.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import Gateway
from gateway.config import OidcConfig, parse_config
from gateway.errors import NotAuthenticated
from gateway.model import Secret
from gateway.operations import Operations, Principal
from gateway.proxy.oidc import OidcClient, Pending
from gateway.proxy.server import create_app
from tests.oidc_provider import free_port, oidc_provider
from tests.test_console import CHROMEDRIVER, _browser

CLIENT_ID, CLIENT_SECRET = "webhook-gateway", "client-secret-Tq7Mz3Lk9Wp2"
URL = "https://93.184.216.34/hooks"


@attrs.frozen
class Setup:
    base: str
    issuer: str
    config: Any
    cli_port: int = 0


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    idp_port, gw_port, cli_port = free_port(), free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    base = f"http://127.0.0.1:{gw_port}"
    config = parse_config({
        "accounts": {
            "billing": {"provider": "memory", "event_types": ["a.one"]},
            "claims": {"provider": "memory", "event_types": ["a.one"]},
        },
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": "ops-key-Wm4Zt8Qp2Lx"}],
                   "public_url": base},
        "auth": {"oidc": {"issuer": issuer, "client_id": CLIENT_ID,
                          "client_secret": CLIENT_SECRET, "title": "Example SSO",
                          "scopes": ["openid", "email", "profile", "groups"]}},
        "access": {"grants": [
            {"who": "group:billing", "can": ["read", "write"], "accounts": ["billing"]},
            {"who": "group:claims", "can": ["read", "write"], "accounts": ["claims"]},
        ]},
    })  # fmt: skip
    async with Gateway(config) as gw:
        root = Operations(gw)
        for account in ("billing", "claims"):
            hook = {"name": f"{account}-hook", "url": URL, "events": ["a.one"]}
            await root.create(Principal.local(), account, hook)
        server = TestServer(create_app(config, gateway=gw), port=gw_port)
        await server.start_server()
        callbacks = [f"{base}/console/sso/callback", f"{base}/test/callback",
                     f"http://127.0.0.1:{cli_port}/callback"]  # fmt: skip
        async with oidc_provider(idp_port, CLIENT_ID, CLIENT_SECRET, callbacks):
            yield Setup(base, issuer, config, cli_port)
        await server.close()


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _at_provider(http: aiohttp.ClientSession, url: str, login: str, stop: str) -> str:
    """Go through the provider's development login and consent pages as ``login``; the URL
    it sends the browser back to (starting with ``stop``), not followed."""
    method, data = "GET", None
    for _ in range(20):
        async with http.request(method, url, data=data, allow_redirects=False) as resp:
            if resp.status in (302, 303):
                url, method, data = urljoin(url, resp.headers["Location"]), "GET", None
                if url.startswith(stop):
                    return url
                continue
            page = await resp.text()
            assert resp.status == 200, page
        action = re.search(r'<form[^>]*action="([^"]+)"', page)
        assert action, page
        url, method = urljoin(url, action.group(1)), "POST"
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        data = {**fields, "login": login, "password": "any"} if 'name="login"' in page else fields
    raise AssertionError("the provider never sent the browser back")


async def test_a_person_signs_in_in_a_real_browser_and_sees_their_teams_account(
    setup: Setup,
) -> None:
    if not await asyncio.to_thread(Path(CHROMEDRIVER).exists):
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def run() -> str:
        driver = _browser()
        try:
            driver.get(f"{setup.base}/console/login")
            driver.find_element(By.ID, "sso").click()
            WebDriverWait(driver, 20).until(lambda b: b.find_elements(By.NAME, "login"))
            driver.find_element(By.NAME, "login").send_keys("ana")
            driver.find_element(By.NAME, "password").send_keys("any")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, 20).until(
                lambda b: (
                    b.current_url.startswith(setup.base)
                    or b.find_elements(By.CSS_SELECTOR, "button[type=submit]")
                )
            )
            if not driver.current_url.startswith(setup.base):  # the consent page
                driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            WebDriverWait(driver, 20).until(lambda b: b.current_url == f"{setup.base}/console")
            driver.get(f"{setup.base}/console/webhooks")
            return str(driver.find_element(By.TAG_NAME, "main").text)
        finally:
            driver.quit()

    text = await asyncio.to_thread(run)
    assert "billing-hook" in text and "claims-hook" not in text


async def test_a_person_over_http_sees_only_their_teams_account_and_a_code_works_once(
    setup: Setup,
) -> None:
    async with _session() as http:
        start = await http.get(f"{setup.base}/console/sso/start", allow_redirects=False)
        assert start.status == 303 and start.headers["Location"].startswith(setup.issuer)
        back = await _at_provider(http, start.headers["Location"], "bob",
                                  f"{setup.base}/console/sso/callback")  # fmt: skip
        done = await http.get(back, allow_redirects=False)
        assert done.status == 303 and done.headers["Location"] == "/console"
        page = await (await http.get(f"{setup.base}/console/webhooks")).text()
        assert "claims-hook" in page and "billing-hook" not in page
        assert ">billing<" not in page  # not even in the filters' account list
        overview = await (await http.get(f"{setup.base}/console")).text()
        assert "claims" in overview and "billing" not in overview
        # the same callback again (a replayed code): refused, no second session
        again = await http.get(back, allow_redirects=False)
        assert again.status == 401
    async with _session() as other:  # a callback this browser did not start
        refused = await other.get(back, allow_redirects=False)
        assert refused.status == 401 and "did not start here" in await refused.text()


async def test_id_tokens_are_checked(setup: Setup) -> None:
    client = OidcClient(setup.config.auth.oidc)
    redirect = f"{setup.base}/test/callback"
    async with _session() as http:
        url, pending = await client.start(redirect)
        back = await _at_provider(http, url, "ana", redirect)
    code = re.search(r"code=([^&]+)", back)
    assert code
    token = await client.exchange(code.group(1), pending, redirect)
    person = await client.verify(token, pending.nonce)
    assert (person.subject, person.email, person.groups) == ("ana", "ana@example.com",
                                                             ("billing",))  # fmt: skip
    with pytest.raises(NotAuthenticated):  # a wrong nonce: another sign-in's token
        await client.verify(token, "another-nonce")
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload[:-4]}{'AAAA' if payload[-4:] != 'AAAA' else 'BBBB'}.{signature}"
    with pytest.raises(NotAuthenticated):
        await client.verify(tampered, pending.nonce)
    other_client = OidcClient(attrs.evolve(setup.config.auth.oidc, client_id="someone-else"))
    with pytest.raises(NotAuthenticated, match="aud"):  # issued for another client
        await other_client.verify(token, pending.nonce)
    with pytest.raises(NotAuthenticated, match="refused"):  # a code is good once
        await client.exchange(code.group(1), pending, redirect)
    unsigned = f"{head}.{payload}."
    with pytest.raises(NotAuthenticated):
        await client.verify(unsigned, pending.nonce)


def test_the_pending_cookie_is_signed_and_short_lived() -> None:
    pending = Pending(state="s", nonce="n", verifier="v", started=1000.0)
    sealed = pending.seal(b"k" * 32)
    assert Pending.unseal(sealed, b"k" * 32, now=1100.0) == pending
    assert Pending.unseal(sealed, b"x" * 32, now=1100.0) is None  # another key
    assert Pending.unseal(sealed, b"k" * 32, now=1000.0 + 601) is None  # expired
    assert Pending.unseal(sealed[:-1] + "0", b"k" * 32, now=1100.0) is None


def test_sso_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="https"):
        OidcConfig(issuer="http://idp.example.com", client_id="x", client_secret=Secret("y"))
    with pytest.raises(ValueError, match="openid"):
        OidcConfig(issuer="https://idp.example.com", client_id="x", client_secret=Secret("y"),
                   scopes=("email",))  # fmt: skip


async def test_the_key_login_can_be_turned_off(setup: Setup) -> None:
    console = attrs.evolve(setup.config.console, api_key_login=False)
    app: web.Application = create_app(attrs.evolve(setup.config, console=console))
    server = TestServer(app)
    await server.start_server()
    try:
        async with _session() as http:
            base = str(server.make_url("")).rstrip("/")
            page = await (await http.get(f"{base}/console/login")).text()
            assert 'id="sso"' in page and 'name="api_key"' not in page
            token = re.search(r'name="login_csrf" value="([^"]+)"', page)
            form = {"api_key": "ops-key-Wm4Zt8Qp2Lx", "login_csrf": token.group(1) if token else ""}
            refused = await http.post(f"{base}/console/login", data=form, allow_redirects=False)
            assert refused.status == 403
    finally:
        await server.close()


async def _approve_device(url: str, login: str) -> None:
    """What the person does in a browser: confirm the code, sign in, consent."""
    async with _session() as http:
        method, data = "GET", None
        for _ in range(20):
            async with http.request(method, url, data=data, allow_redirects=True) as resp:
                page = await resp.text()
                url = str(resp.url)
            assert resp.status == 200, page
            action = re.search(r'<form[^>]*action="([^"]+)"', page)
            if action is None:  # the provider's "you may close this window"
                assert "Success" in page or "success" in page, page
                return
            url, method = urljoin(url, action.group(1)), "POST"
            fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
            if 'name="login"' in page:
                fields |= {"login": login, "password": "any"}
            data = fields
        raise AssertionError("the device sign-in never finished")


async def test_the_command_line_signs_in_with_the_device_flow(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.cli.credentials import login, logout, server_and_token

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("WEBHOOK_GATEWAY_TOKEN", raising=False)
    shown: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def announce(text: str) -> None:
        loop.call_soon_threadsafe(shown.put_nowait, text)

    signing_in = asyncio.create_task(asyncio.to_thread(login, setup.base, announce=announce))
    text = await asyncio.wait_for(shown.get(), 30)
    url = re.search(r"Open (\S+)", text)
    assert url and "code" in text
    await _approve_device(url.group(1), "bob")
    await asyncio.wait_for(signing_in, 60)

    _, token = server_and_token(setup.base) or ("", "")
    assert token.startswith("wgu_")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        who = await (await http.get(f"{setup.base}/v1/whoami")).json()
        assert who["actor"] == "user:bob@example.com" and who["groups"] == ["claims"]
        listed = await (await http.get(f"{setup.base}/v1/webhooks")).json()
        assert [i["name"] for i in listed["items"]] == ["claims-hook"]
        assert (await http.get(f"{setup.base}/v1/accounts/billing/webhooks")).status == 404
    # an expired access token is renewed with the refresh token before the next command
    path = tmp_path / "webhook-gateway" / "credentials.json"
    data = json.loads(path.read_text())
    data["servers"][setup.base]["expires_at"] = 0
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    found = await asyncio.to_thread(server_and_token, setup.base)
    renewed = found[1] if found else ""
    assert renewed.startswith("wgu_") and renewed != token
    assert await asyncio.to_thread(logout, setup.base)
    async with aiohttp.ClientSession() as http:
        ended = await http.get(f"{setup.base}/v1/whoami",
                               headers={"Authorization": f"Bearer {renewed}"})  # fmt: skip
        assert ended.status == 401


async def test_the_command_line_signs_in_in_a_browser_on_this_machine(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code flow back to a loopback listener (a provider without the device flow)."""
    from gateway.cli.credentials import login, server_and_token

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("WEBHOOK_GATEWAY_TOKEN", raising=False)
    monkeypatch.setattr("webbrowser.open", lambda _url: False)  # the test is the browser
    shown: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def announce(text: str) -> None:
        loop.call_soon_threadsafe(shown.put_nowait, text)

    signing_in = asyncio.create_task(asyncio.to_thread(
        login, setup.base, browser=True, port=setup.cli_port, announce=announce))  # fmt: skip
    text = await asyncio.wait_for(shown.get(), 30)
    url = re.search(r"Open (\S+)", text)
    assert url
    loopback = f"http://127.0.0.1:{setup.cli_port}/callback"
    async with _session() as http:
        back = await _at_provider(http, url.group(1), "ana", loopback)
        delivered = await http.get(back)
        assert delivered.status == 200 and "you may close" in await delivered.text()
    await asyncio.wait_for(signing_in, 60)
    found = server_and_token(setup.base)
    assert found and found[1].startswith("wgu_")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {found[1]}"}) as http:
        who = await (await http.get(f"{setup.base}/v1/whoami")).json()
    assert who["actor"] == "user:ana@example.com" and who["groups"] == ["billing"]
