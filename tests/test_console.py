"""The operations console against the demo's emulators: its headers, sessions and CSRF over
HTTP, and what a person sees and does in a real browser (Debian's headless Chromium, driven by
Selenium). Set ``WEBHOOK_GATEWAY_SCREENSHOT=docs/console.png`` to refresh the README's picture."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.config import parse_config
from gateway.proxy.demo import Demo, demo
from gateway.proxy.server import create_app

HOSTILE = "<img src=x onerror=alert(1)>"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
async def running() -> AsyncIterator[Demo]:
    async with demo() as started:
        yield started


def _session() -> aiohttp.ClientSession:
    # The demo listens on 127.0.0.1: a browser keeps its cookies; aiohttp does when told to.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _login(http: aiohttp.ClientSession, d: Demo, key: str) -> aiohttp.ClientResponse:
    return await login(http, d.url, key)


async def login(http: aiohttp.ClientSession, base: str, key: str) -> aiohttp.ClientResponse:
    """Log in as a browser does: the login page first (its form's token and cookie), then
    the form."""
    page = await (await http.get(f"{base}/console/login")).text()
    token = re.search(r'name="login_csrf" value="([^"]+)"', page)
    assert token, "no login token on the login page"
    form = {"api_key": key, "login_csrf": token.group(1)}
    return await http.post(f"{base}/console/login", data=form, allow_redirects=False)


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def test_sessions_headers_and_csrf(running: Demo) -> None:
    d = running
    async with _session() as http:
        refused = await _login(http, d, "not-a-key")
        assert refused.status == 401
        resp = await _login(http, d, d.write_key)
        assert resp.status == 303
        cookie = resp.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain http here; behind https it is Secure
        page = await http.get(f"{d.url}/console/webhooks/uipath-demo/1")
        text = await page.text()
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in text and " style=" not in text and "onclick" not in text

        # A form without the session's CSRF token changes nothing.
        form = {"op": "disable"}
        resp = await http.post(f"{d.url}/console/webhooks/uipath-demo/1/update", data=form)
        assert resp.status == 403 and "CSRF" in await resp.text()
        api = await http.get(f"{d.url}/v1/accounts/uipath-demo/webhooks/1",
                             headers={"Authorization": f"Bearer {d.read_key}"})  # fmt: skip
        assert (await api.json())["enabled"] is True

        # Logout ends the session on the server: the old cookie opens nothing.
        jar = {c.key: c.value for c in http.cookie_jar}
        await http.post(f"{d.url}/console/logout", data={"csrf": _csrf(text)})
        async with aiohttp.ClientSession(cookies=jar) as again:
            after = await again.get(f"{d.url}/console", allow_redirects=False)
            assert after.status == 303 and after.headers["Location"] == "/console/login"


async def test_a_read_key_sees_no_write_control_and_cannot_write(running: Demo) -> None:
    d = running
    async with _session() as http:
        await _login(http, d, d.read_key)
        page = await (await http.get(f"{d.url}/console/webhooks/uipath-demo/1")).text()
        assert "/update" not in page and "Rotate secret" not in page and "Delete" not in page
        resp = await http.post(f"{d.url}/console/webhooks/uipath-demo/1/update",
                               data={"csrf": _csrf(page), "op": "disable"})  # fmt: skip
        assert resp.status == 403 and "may only read" in await resp.text()


async def test_a_form_sent_twice_writes_once(running: Demo) -> None:
    d = running
    async with _session() as http:
        await _login(http, d, d.write_key)
        page = await (await http.get(f"{d.url}/console/webhooks/uipath-demo/1")).text()
        once = re.search(r'name="once" value="([^"]+)"', page)
        assert once is not None
        form = {"csrf": _csrf(page), "once": once.group(1), "op": "add_event",
                "event": "job.stopped"}  # fmt: skip
        answers = [await http.post(f"{d.url}/console/webhooks/uipath-demo/1/update", data=form,
                                   allow_redirects=False) for _ in range(2)]  # fmt: skip
        assert [a.status for a in answers] == [303, 303]
        assert answers[0].headers["Location"] == answers[1].headers["Location"]
        audit = await http.get(f"{d.url}/v1/audit?account=uipath-demo&actor=key:demo-write",
                               headers={"Authorization": f"Bearer {d.read_key}"})  # fmt: skip
        updates = [e for e in (await audit.json())["items"] if e["operation"] == "update"]
        assert len(updates) == 1


async def test_a_plan_is_shown_and_applied_exactly(running: Demo) -> None:
    d = running
    manifest = (
        '[accounts.uipath-demo.webhooks.console-made]\nname = "console-made"\n'
        f'url = "{d.url}/never-called"\nevents = ["job.completed"]\n'
    )
    async with _session() as http:
        await _login(http, d, d.write_key)
        form_page = await (await http.get(f"{d.url}/console/plan")).text()
        shown = await http.post(f"{d.url}/console/plan",
                                data={"csrf": _csrf(form_page), "manifest": manifest})  # fmt: skip
        text = await shown.text()
        assert shown.status == 200, text
        assert "+ create console-made" in text and "Plan: 1 to create" in text
        found = re.search(r'name="fingerprint" value="([^"]+)"', text)
        once = re.search(r'name="once" value="([^"]+)"', text)
        assert found and once
        stale = {"csrf": _csrf(text), "manifest": manifest, "fingerprint": "0" * 32,
                 "once": once.group(1) + "x"}  # fmt: skip
        refused = await http.post(f"{d.url}/console/apply", data=stale)
        assert refused.status == 409 and "nothing was applied" in await refused.text()
        exact = {**stale, "fingerprint": found.group(1), "once": once.group(1)}
        applied = await http.post(f"{d.url}/console/apply", data=exact)
        assert applied.status == 200 and "Applied 1 of 1" in await applied.text()
        listed = await http.get(f"{d.url}/v1/accounts/uipath-demo/webhooks?name=console-made",
                                headers={"Authorization": f"Bearer {d.read_key}"})  # fmt: skip
        assert len((await listed.json())["items"]) == 1


async def test_the_console_can_be_turned_off(aiohttp_client: Any) -> None:
    key = {"name": "k", "scope": "read", "key": "read-key-Hb4Tn8sPq3Jy"}
    data = {"accounts": {"mem": {"provider": "memory"}}, "console": {"enabled": False},
            "server": {"api_keys": [key]}}  # fmt: skip
    client = await aiohttp_client(create_app(parse_config(data)))
    assert (await client.get("/console")).status == 404
    assert (await client.get("/console/login")).status == 404


# -- in a real browser ---------------------------------------------------------------------


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900"):  # fmt: skip
        options.add_argument(flag)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium") or ""
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMEDRIVER).exists():
        pytest.skip("needs Debian's chromium and chromium-driver (.ci/run installs them)")
    driver = _browser()
    try:
        yield driver
    finally:
        driver.quit()


def _log_in(driver: Any, d: Demo, key: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{d.url}/console/login")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda b: b.current_url.endswith("/console"))


def _submitted(driver: Any, button: Any, then: str) -> None:
    """Click ``button`` and wait for the page it leads to (its URL ending with ``then``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element("tag name", "html")
    button.click()
    WebDriverWait(driver, 20).until(
        lambda b: (
            b.current_url.split("?")[0].endswith(then)
            and b.find_element("tag name", "html") != old
            and b.execute_script("return document.readyState") == "complete"  # parsed whole
        )
    )


def _row_state(driver: Any, name: str) -> str:
    from selenium.webdriver.common.by import By

    row = driver.find_element(By.CSS_SELECTOR, f'#webhooks tr[data-name="{name}"]')
    return str(row.find_element(By.CSS_SELECTOR, ".badge").text)


async def test_in_a_browser(running: Demo, browser: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = running
    # A hostile name at the provider: shown as text, no script runs.
    async with aiohttp.ClientSession() as http:
        made = await http.post(
            f"{d.url}/v1/accounts/uipath-demo/webhooks",
            json={"name": HOSTILE, "url": f"{d.url}/never-called", "events": ["job.completed"]},
            headers={"Authorization": f"Bearer {d.write_key}"},
        )
        assert made.status == 201, await made.text()

    def read_key_view() -> None:
        _log_in(browser, d, d.read_key)
        assert "Overview" in browser.title
        browser.save_screenshot(str(tmp_path / "console-overview.png"))
        if os.environ.get("WEBHOOK_GATEWAY_SCREENSHOT"):
            browser.save_screenshot(os.environ["WEBHOOK_GATEWAY_SCREENSHOT"])
        browser.get(f"{d.url}/console/webhooks")
        assert _row_state(browser, "robots-to-legacy") == "disabled"
        assert _row_state(browser, "quotes-to-legacy") == "suspended"
        assert HOSTILE in browser.find_element(By.ID, "webhooks").text  # as text
        assert not browser.find_elements(By.CSS_SELECTOR, "#webhooks img")
        try:
            browser.switch_to.alert.dismiss()
            raise AssertionError("a script ran: the hostile name was not escaped")
        except NoAlertPresentException:
            pass
        browser.find_element(By.LINK_TEXT, "jobs-to-ops").click()
        assert not browser.find_elements(By.CSS_SELECTOR, "form[action$='/update']")
        assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Rotate secret']")
        _submitted(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Log out']"),
                   "/console/login")  # fmt: skip

    def write_key_actions() -> None:
        _log_in(browser, d, d.write_key)
        browser.get(f"{d.url}/console/webhooks/uipath-demo/1")
        Select(browser.find_element(By.ID, "add-event")).select_by_visible_text("job.stopped")
        _submitted(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Add']"),
                   "/console/webhooks/uipath-demo/1")  # fmt: skip
        assert "add event: done" in browser.find_element(By.CSS_SELECTOR, ".note").text
        browser.get(f"{d.url}/console/webhooks/core-demo/01J0Z8Y5W9K6X3M2N4P7Q1R8S7")
        resend = browser.find_element(By.XPATH, "//button[normalize-space()='Resend']")
        event = resend.get_attribute("data-event")
        _submitted(browser, resend, "/console/webhooks/core-demo/01J0Z8Y5W9K6X3M2N4P7Q1R8S7")
        assert f"diverted event {event}: resend done" in browser.find_element(
            By.CSS_SELECTOR, ".note").text  # fmt: skip

    await asyncio.to_thread(read_key_view)
    await asyncio.to_thread(write_key_actions)
    assert (tmp_path / "console-overview.png").stat().st_size > 10_000
    async with aiohttp.ClientSession() as http:
        got = await http.get(f"{d.url}/v1/accounts/uipath-demo/webhooks/1",
                             headers={"Authorization": f"Bearer {d.read_key}"})  # fmt: skip
        assert "job.stopped" in (await got.json())["events"]  # at the emulator, through the API
        audit = await http.get(f"{d.url}/v1/audit?account=uipath-demo&actor=key:demo-write",
                               headers={"Authorization": f"Bearer {d.read_key}"})  # fmt: skip
        operations = [e["operation"] for e in (await audit.json())["items"]]
        assert "update" in operations  # the console's write, under the key's name


async def test_a_plan_form_whose_body_comes_late_is_read_whole(running: Demo) -> None:
    """The plan upload is a multipart form; one whose body arrives after the request's head
    (a busy machine, a slow network) was read by the body deadline's guard first, which left
    the form's parser nothing: a 500. It is parsed whole now, and a broken one is a 400."""
    d = running
    async with _session() as http:
        await _login(http, d, d.write_key)
        page = await (await http.get(f"{d.url}/console/plan")).text()
        boundary = "----late-form-boundary-7Qz"
        manifest = "accounts: {}\n"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n"
                f"{_csrf(page)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
                f"name=\"manifest\"\r\n\r\n{manifest}\r\n--{boundary}--\r\n").encode()  # fmt: skip

        async def late() -> AsyncIterator[bytes]:
            yield body[:40]
            await asyncio.sleep(0.3)  # the rest after the middleware has begun
            yield body[40:]

        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Content-Length": str(len(body))}  # fmt: skip
        resp = await http.post(f"{d.url}/console/plan", data=late(), headers=headers)
        assert resp.status < 500, await resp.text()
        assert "csrf" not in (await resp.text()).lower() or resp.status != 403
        broken = await http.post(
            f"{d.url}/console/plan",
            data=late_broken(),
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert broken.status == 400


async def late_broken() -> AsyncIterator[bytes]:
    yield b"not a multipart body at all"
    await asyncio.sleep(0.3)
    yield b" and still not"
