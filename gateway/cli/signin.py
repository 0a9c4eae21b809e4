"""``webhook-gateway login`` and ``logout``: a person signs in to a gateway from the command line.

Where the gateway has single sign-on, ``login`` is the device authorization grant (RFC 8628)
through the gateway (``gateway.proxy.device``): it prints the provider's URL and a code, the
person approves in any browser, and the gateway's tokens for them (an hour's access token, a
refresh token that renews it) go into the credentials file (mode 0600). ``login --key`` (and a
gateway without single sign-on) keeps an API key instead, once the gateway said it is valid
(``GET /v1/whoami``); a wrong key is never saved. The remote command line renews an access token
that has expired before it calls (``fresh_token``). ``logout`` ends the sign-in at the gateway
and forgets it here.

Written on the standard library's ``urllib``: a few synchronous calls before any command runs,
where an event loop would add nothing.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Callable
from typing import Any

from gateway.errors import ConfigError, FieldProblem, NotAuthenticated

__all__ = ["browser_login", "call", "device_login", "fresh_token", "key_checked", "sign_out"]

Announce = Callable[[str], None]


def call(server: str, method: str, path: str, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:  # fmt: skip
    """``(status, JSON)`` of one request to the gateway."""
    data = json.dumps(body).encode() if body is not None else None
    url = server + path  # server: an http(s) URL (credentials._normal)
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30,  # noqa: S310 - an http(s) URL, checked
                                    context=ssl.create_default_context()) as response:  # fmt: skip
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ConfigError(problems=[FieldProblem("--server", f"{server} cannot be reached: "
                                                 f"{exc}")]) from None  # fmt: skip
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def key_checked(server: str, key: str) -> dict[str, Any]:
    """Who the gateway takes ``key`` for; ``NotAuthenticated`` if it refuses it."""
    status, who = call(server, "GET", "/v1/whoami", token=key)
    if status != 200 or not isinstance(who, dict):
        raise NotAuthenticated(f"{server} refused the key (status {status}): nothing was saved")
    return who


def device_login(server: str, announce: Announce, sleep: Callable[[float], None] = time.sleep
                 ) -> dict[str, Any] | None:  # fmt: skip
    """The credentials entry of a device sign-in, or None where the gateway has no single
    sign-on (then an API key is the way in). A provider without the device flow: the code
    flow with a loopback redirect instead (``browser_login``)."""
    status, started = call(server, "POST", "/v1/login/device")
    if status == 501 and isinstance(started, dict) and str(started.get("type", "")).endswith(
            "#errors-unsupported"):  # fmt: skip
        return browser_login(server, announce)
    if status == 501:
        return None
    if status != 200 or not isinstance(started, dict):
        detail = started.get("detail") if isinstance(started, dict) else None
        raise NotAuthenticated(f"{server} could not start a sign-in: {detail or status}")
    target = started.get("verification_uri_complete") or started["verification_uri"]
    announce(f"Open {target}\nand confirm the code {started['user_code']}; waiting...")
    interval = float(started.get("interval", 5))
    deadline = time.monotonic() + float(started.get("expires_in", 600))
    while time.monotonic() < deadline:
        sleep(interval)
        status, found = call(server, "POST", "/v1/login/token",
                             {"device_code": started["device_code"]})  # fmt: skip
        if status == 200 and isinstance(found, dict) and "access_token" in found:
            return _entry(found)
        error = found.get("error") if isinstance(found, dict) else None
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            detail = found.get("detail") if isinstance(found, dict) else None
            raise NotAuthenticated(f"the sign-in was refused: {detail or error or status}")
    raise NotAuthenticated("the sign-in was not confirmed in time: webhook-gateway login again")


def _entry(tokens: dict[str, Any]) -> dict[str, Any]:
    return {"token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
            "expires_at": time.time() + float(tokens.get("expires_in", 3600)),
            "person": tokens.get("person")}  # fmt: skip


def fresh_token(server: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """``entry`` renewed if its access token expires within a minute (None: it need not be)."""
    if "refresh_token" not in entry or float(entry.get("expires_at", 0)) - 60 > time.time():
        return None
    status, found = call(server, "POST", "/v1/login/refresh",
                         {"refresh_token": entry["refresh_token"]})  # fmt: skip
    if status != 200 or not isinstance(found, dict):
        raise NotAuthenticated(f"the sign-in at {server} ended: webhook-gateway login "
                               f"--server {server}")  # fmt: skip
    return _entry(found)


def sign_out(server: str, entry: dict[str, Any]) -> None:
    """End a person's sign-in at the gateway (a key stays valid: revoke it with keys)."""
    token = entry.get("token", "")
    if token.startswith("wgu_"):
        call(server, "DELETE", "/v1/login", token=token)


def browser_login(server: str, announce: Announce, port: int = 0,
                  timeout: float = 600.0) -> dict[str, Any]:  # fmt: skip
    """The code flow with PKCE, sent back to a one-shot listener on this machine
    (``http://127.0.0.1:PORT/callback``, RFC 8252): the gateway starts it and exchanges the
    code; this process only carries the code from the browser to the gateway."""
    got: dict[str, str] = {}
    done = threading.Event()

    class Callback(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if urllib.parse.urlsplit(self.path).path != "/callback" or done.is_set():
                self.send_error(404)
                return
            got.update(query)
            done.set()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"Signed in to webhook-gateway: you may close this window.\n")

        def log_message(self, *_args: Any) -> None:  # quiet
            return

    listener = http.server.HTTPServer(("127.0.0.1", port), Callback)
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        redirect = f"http://127.0.0.1:{listener.server_address[1]}/callback"
        status, started = call(server, "POST", "/v1/login/browser", {"redirect_uri": redirect})
        if status != 200 or not isinstance(started, dict):
            detail = started.get("detail") if isinstance(started, dict) else None
            raise NotAuthenticated(f"{server} could not start a sign-in: {detail or status}")
        announce(f"Open {started['authorization_url']}\nto sign in; waiting...")
        with contextlib.suppress(Exception):  # a browser here, if there is one
            webbrowser.open(started["authorization_url"])
        if not done.wait(timeout):
            raise NotAuthenticated("the sign-in was not finished in time: login again")
    finally:
        listener.shutdown()
        listener.server_close()
    if "error" in got:
        raise NotAuthenticated(f"the identity provider refused: {got['error']}")
    answer = {"handle": started["handle"], "code": got.get("code", ""),
              "state": got.get("state", "")}  # fmt: skip
    status, found = call(server, "POST", "/v1/login/code", answer)
    if status != 200 or not isinstance(found, dict) or "access_token" not in found:
        detail = found.get("detail") if isinstance(found, dict) else None
        raise NotAuthenticated(f"the sign-in was refused: {detail or status}")
    return _entry(found)
