"""Where the remote command line finds the gateway and its API key.

The server: ``--server URL``, else ``$WEBHOOK_GATEWAY_URL``. The key: ``$WEBHOOK_GATEWAY_TOKEN``,
else the credentials file ``$XDG_CONFIG_HOME/webhook-gateway/credentials.json`` (``~/.config``
when unset), written by ``webhook-gateway login`` with one key per server. The file is created
mode 0600 in a 0700 folder, and refused (not read) if its group or others may read it, as ssh
refuses a private key that others can read.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.cli.signin import browser_login, device_login, fresh_token, key_checked, sign_out
from gateway.errors import ConfigError, FieldProblem

__all__ = ["credentials_path", "login", "logout", "remote_of", "server_and_token"]


def credentials_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "webhook-gateway" / "credentials.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(problems=[FieldProblem(
            str(path), f"others may read it (mode {stat.filemode(info.st_mode)}): it holds API "
            f"keys; chmod 600 {path}, or log in again"
        )])  # fmt: skip
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(problems=[FieldProblem(str(path), f"cannot be read: {exc}")]) from None
    return data if isinstance(data, dict) else {}


def _normal(server: str, allow_http: bool = False) -> str:
    """``server`` as called; plain http only to this machine, unless ``allow_http`` or
    ``$WEBHOOK_GATEWAY_ALLOW_HTTP=1`` (the API key would cross the network in clear)."""
    allow_http = allow_http or os.environ.get("WEBHOOK_GATEWAY_ALLOW_HTTP", "") == "1"
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise ConfigError(problems=[FieldProblem("--server", f"{server!r} is not an http(s) URL")])
    host = (urlsplit(server).hostname or "").lower()
    if server.startswith("http://") and not allow_http and not _loopback(host):
        raise ConfigError(problems=[FieldProblem("--server", (
            f"http:// would send the API key to {host} in clear: use https, or pass "
            "--allow-http (or set WEBHOOK_GATEWAY_ALLOW_HTTP=1) on a network you trust"
        ))])  # fmt: skip
    return server


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_and_token(server: str | None, allow_http: bool = False) -> tuple[str, str] | None:
    """The gateway to call and its key (or a person's access token, renewed first if it has
    expired), or None for local mode (no server given)."""
    server = server or os.environ.get("WEBHOOK_GATEWAY_URL") or None
    if server is None:
        return None
    server = _normal(server, allow_http)
    token = os.environ.get("WEBHOOK_GATEWAY_TOKEN")
    if not token:
        entry = _read(credentials_path()).get("servers", {}).get(server, {})
        renewed = fresh_token(server, entry) if isinstance(entry, dict) else None
        if renewed is not None:
            _save(server, renewed)
            entry = renewed
        token = entry.get("token") if isinstance(entry, dict) else None
    if not token:
        raise ConfigError(problems=[FieldProblem(
            "--server", f"no API key for {server}: run webhook-gateway login --server {server}, "
            "or set WEBHOOK_GATEWAY_TOKEN"
        )])  # fmt: skip
    return server, token


def login(
    server: str | None,
    token: str | None = None,
    *,
    key: bool = False,
    announce: Callable[[str], None] | None = None,
    browser: bool = False,
    port: int = 0,
) -> Path:
    """Sign in to ``server``: with single sign-on (the device flow; ``browser``, or a provider
    without it: the code flow back to ``http://127.0.0.1:port/callback``) unless ``key`` or a
    ``token`` is given or the gateway has none; else ask for an API key (without echo), which
    the gateway must accept. What it gives is kept in the credentials file."""
    server = _normal(server or os.environ.get("WEBHOOK_GATEWAY_URL") or _ask("Gateway URL: "))
    entry = None
    if browser:
        entry = browser_login(server, announce or _say, port)
    elif not key and token is None:
        entry = device_login(server, announce or _say)
    if entry is None:
        if token is None:
            token = getpass.getpass(f"API key for {server} (not shown): ").strip()
        if not token:
            raise ConfigError(problems=[FieldProblem("API key", "empty: nothing was saved")])
        key_checked(server, token)  # a wrong key is never saved
        entry = {"token": token}
    return _save(server, entry)


def logout(server: str | None) -> bool:
    """End the sign-in at ``server`` and forget it here; whether there was one."""
    server = _normal(server or os.environ.get("WEBHOOK_GATEWAY_URL") or _ask("Gateway URL: "))
    path = credentials_path()
    data = _read(path)
    entry = data.get("servers", {}).pop(server, None)
    if not isinstance(entry, dict):
        return False
    sign_out(server, entry)
    _write(path, data)
    return True


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def _save(server: str, entry: dict[str, Any]) -> Path:
    path = credentials_path()
    data = _read(path)
    data.setdefault("servers", {})[server] = entry
    return _write(path, data)


def _write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise ConfigError(problems=[FieldProblem("--server", "give --server URL (no terminal)")])
    return input(prompt)


def remote_of(args: argparse.Namespace) -> tuple[str, str] | None:
    """``(server, token)`` when the command works through a gateway's HTTP API."""
    server = server_and_token(getattr(args, "server", None), getattr(args, "allow_http", False))
    if server is not None and getattr(args, "config_given", False):
        raise ConfigError(problems=[FieldProblem(
            "--config", "give --config (work locally, with the vendors' credentials) or "
            "--server (through a gateway's HTTP API), not both"
        )])  # fmt: skip
    return server
