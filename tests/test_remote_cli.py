"""The command line as a client of the proxy (``--server``), and the conventions of both modes:
one JSON envelope, quiet closed pipes, "did you mean", confirmation of destructive commands.
Against the demo's real proxy and emulators, through ``python -m gateway.cli`` processes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.cli.credentials import credentials_path, login, server_and_token
from gateway.errors import ConfigError, NotAuthenticated
from gateway.proxy.demo import demo
from tests.test_plan import cli


@pytest.fixture
async def running(tmp_path: Path) -> Any:
    async with demo() as started:
        base = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK_GATEWAY_")}
        yield started, {**base, **started.environment()}


def remote(env: dict[str, str], key: str) -> dict[str, str]:
    """The environment of an operator with only the gateway's URL and an API key."""
    out = {k: v for k, v in env.items() if k != "WEBHOOK_GATEWAY_CONFIG"}
    return {**out, "WEBHOOK_GATEWAY_URL": env["GW"], "WEBHOOK_GATEWAY_TOKEN": env[key]}


async def _api(env: dict[str, str], path: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(
        env["GW"] + path, headers={"Authorization": f"Bearer {env['READ_KEY']}"}
    ) as resp:  # fmt: skip
        return await resp.json()


async def test_a_read_key_lists_and_is_refused_a_write(running: Any, tmp_path: Path) -> None:
    _, env = running
    reader = remote(env, "READ_KEY")
    code, out, err = await cli(reader, tmp_path, "list", "--json")
    assert code == 0, err
    listed = json.loads(out)
    api = await _api(env, "/v1/webhooks?limit=1000")
    assert listed == {"items": api["items"], "errors": api["errors"], "next_cursor": None}
    code, out, err = await cli(reader, tmp_path, "list", "uipath-demo", "--json")
    one = json.loads(out)
    assert set(one) == {"items", "errors", "next_cursor"}
    assert one["items"] == [w for w in api["items"] if w["account"] == "uipath-demo"]
    code, out, _ = await cli(reader, tmp_path, "list", "uipath-demo")
    assert out.splitlines()[0].split()[:3] == ["ID", "NAME", "ENABLED"] and out.endswith("\n")
    assert "True" not in out and "None" not in out

    create = ["create", "uipath-demo", "--name", "x", "--url", "https://hooks.example.com/x",
              "--event", "job.completed"]  # fmt: skip
    code, out, err = await cli(reader, tmp_path, *create)
    assert code == 4, out + err
    assert "may only read" in err


async def test_a_write_key_goes_through_the_proxys_rules(running: Any, tmp_path: Path) -> None:
    _, env = running
    writer = remote(env, "KEY")
    create = ["create", "uipath-demo", "--name", "meta", "--url", "http://169.254.169.254/latest",
              "--event", "job.completed"]  # fmt: skip
    code, out, err = await cli(writer, tmp_path, *create)
    assert code == 4, out + err
    assert "169.254.169.254" in err or "metadata" in err or "link-local" in err
    code, out, err = await cli(writer, tmp_path, "create", "uipath-demo", "--name", "remote-made",
                               "--url", f"{env['GW']}/never-called", "--event", "job.completed",
                               "--json")  # fmt: skip
    assert code == 0, out + err
    made = json.loads(out)
    code, out, err = await cli(writer, tmp_path, "audit", "--account", "uipath-demo", "--json")
    assert code == 0, err
    page = json.loads(out)
    assert set(page) == {"items", "errors", "next_cursor"}
    newest = page["items"][0]
    assert (newest["operation"], newest["webhook_id"], newest["actor"]) == (
        "create", made["id"], "key:demo-write"
    )  # fmt: skip

    # Destructive commands ask; outside a terminal, without --yes: exit 2, nothing deleted.
    code, _, err = await cli(writer, tmp_path, "delete", "uipath-demo", made["id"])
    assert code == 2 and "--yes" in err
    code, out, _ = await cli(writer, tmp_path, "get", "uipath-demo", made["id"], "--json")
    assert code == 0 and json.loads(out)["name"] == "remote-made"
    code, _, err = await cli(writer, tmp_path, "delete", "uipath-demo", made["id"], "--yes")
    assert code == 0, err
    code, _, _ = await cli(writer, tmp_path, "get", "uipath-demo", made["id"])
    assert code == 3


async def test_plan_through_the_proxy_matches_the_local_plan(running: Any, tmp_path: Path) -> None:
    _, env = running
    code, exported, err = await cli(env, tmp_path, "export", "--account", "core-demo")
    assert code == 0, err
    manifest = tmp_path / "webhooks.toml"
    manifest.write_text(exported.replace('"policy.quote.issue"]', '"policy.quote.issue", '
                                         '"policy.status.update"]', 1))  # fmt: skip
    local = await cli(env, tmp_path, "plan", str(manifest), "--adopt")
    far = await cli(remote(env, "KEY"), tmp_path, "plan", str(manifest), "--adopt")
    assert far[0] == local[0] == 2, far
    assert far[1] == local[1]
    # A read key's plan finds the same, and says it compared no credentials.
    read = await cli(remote(env, "READ_KEY"), tmp_path, "plan", str(manifest), "--adopt")
    assert read[0] == 2 and "header values are not compared" in read[1]
    code, _, err = await cli(remote(env, "READ_KEY"), tmp_path, "apply", str(manifest),
                             "--adopt", "--yes")  # fmt: skip
    assert code == 4 and "may only read" in err


async def test_config_and_server_are_exclusive_and_typos_are_named(
    running: Any, tmp_path: Path
) -> None:
    _, env = running
    code, _, err = await cli(remote(env, "READ_KEY"), tmp_path, "list", "--config",
                             env["WEBHOOK_GATEWAY_CONFIG"])  # fmt: skip
    assert code == 2 and "not both" in err
    code, _, err = await cli(env, tmp_path, "lst")
    assert code == 2 and "did you mean 'list'?" in err
    code, _, err = await cli(env, tmp_path, "list", "--enabeld", "true")
    assert code == 2 and "did you mean '--enabled'?" in err
    code, _, err = await cli(env, tmp_path, "list", "--enab", "true")  # no prefix matching
    assert code == 2 and "unrecognized arguments" in err
    code, _, err = await cli(env, tmp_path, "list", "uipath-dmo")
    assert code == 3 and "did you mean 'uipath-demo'?" in err
    code, _, err = await cli(remote(env, "READ_KEY"), tmp_path, "get", "uipath-dmo", "1")
    assert code == 3 and "did you mean 'uipath-demo'?" in err
    # --config before the command, as after it; check-config takes it like every command.
    code, out, err = await cli(env, tmp_path, "--config", env["WEBHOOK_GATEWAY_CONFIG"],
                               "accounts")  # fmt: skip
    assert code == 0 and "uipath-demo" in out, err
    code, out, err = await cli(env, tmp_path, "check-config", "--config",
                               env["WEBHOOK_GATEWAY_CONFIG"])  # fmt: skip
    assert code == 0 and ": ok" in out, err


async def test_a_closed_pipe_ends_quietly(running: Any, tmp_path: Path) -> None:
    """As ``... | head -c 0``: the reader is gone before the first write."""
    _, env = running
    for argv in (["audit", "--json"], ["--print-completion", "zsh"], ["accounts"]):
        read_end, write_end = os.pipe()
        os.close(read_end)  # nobody will read: every write fails with EPIPE
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.cli", *argv, cwd=tmp_path, env=env,
                stdout=write_end, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
        finally:
            os.close(write_end)
        _, err = await proc.communicate()
        assert proc.returncode in (0, 141), (argv, err)
        assert b"Traceback" not in err and b"BrokenPipe" not in err, (argv, err)


async def test_the_credentials_file_is_private_and_holds_only_keys_the_gateway_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("WEBHOOK_GATEWAY_TOKEN", raising=False)

    async def whoami(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer demo-key-0123456789":
            return web.json_response({"detail": "the API key is not valid"}, status=401)
        return web.json_response({"actor": "key:demo"})

    app = web.Application()
    app.router.add_get("/v1/whoami", whoami)
    server = TestServer(app)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        with pytest.raises(NotAuthenticated, match="refused the key"):  # never saved
            await asyncio.to_thread(login, url + "/", token="wrong-key-0123456789")
        assert not credentials_path().exists()
        path = await asyncio.to_thread(login, url + "/", token="demo-key-0123456789")
    finally:
        await server.close()
    assert path == credentials_path() == tmp_path / "webhook-gateway" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server_and_token(url) == (url, "demo-key-0123456789")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="others may read it"):
        server_and_token(url)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="webhook-gateway login --server https://other:1"):
        server_and_token("https://other:1")
    monkeypatch.setenv("WEBHOOK_GATEWAY_TOKEN", "from-the-environment")
    assert server_and_token("https://other:1") == ("https://other:1", "from-the-environment")
