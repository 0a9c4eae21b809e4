"""The embedded demo, started as a user starts it (a subprocess) and driven over HTTP."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest

from gateway.emulation import Faults
from tests.conftest import Receiver


@attrs.define
class RunningDemo:
    url: str
    write_key: str
    read_key: str
    receiver: str
    process: asyncio.subprocess.Process

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.write_key}"}


async def start_process(*args: str, until: str) -> tuple[Any, list[str]]:
    """Start ``python -m gateway.cli ARGS``; read its stdout up to a line containing ``until``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(60):
        while not any(until in line for line in lines):
            line = (await process.stdout.readline()).decode()
            if not line:
                assert process.stderr is not None
                err = (await process.stderr.read()).decode()
                raise AssertionError(f"exited early: {''.join(lines)}\n{err}")
            lines.append(line)
    return process, lines


async def stop_process(process: Any) -> int:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        code: int = await process.wait()
    return code


@pytest.fixture
async def demo() -> AsyncIterator[RunningDemo]:
    process, lines = await start_process("serve", "--demo", "--port", "0", until="Ctrl-C")
    text = "".join(lines)

    def find(pattern: str) -> str:
        match = re.search(pattern, text)
        assert match, text
        return match.group(1)

    yield RunningDemo(
        url=find(r"demo on (http://\S+)"),
        write_key=find(r"API key \(write\): (\S+)"),
        read_key=find(r"API key \(read\):\s+(\S+)"),
        receiver=find(r"deliveries go to (http://\S+)"),
        process=process,
    )
    assert await stop_process(process) == 0


async def test_the_demo_end_to_end(demo: RunningDemo) -> None:
    async with aiohttp.ClientSession(headers=demo.headers()) as http:
        async with http.get(f"{demo.url}/v1/webhooks") as resp:
            body = await resp.json()
        assert resp.status == 200 and body["errors"] == []
        assert {i["account"] for i in body["items"]} == {
            "uipath-demo",
            "orchestry-demo",
            "core-demo",
        }
        assert len(body["items"]) == 8  # 3 UiPath, 2 Orchestry, 3 Enterprise Core

        hooks = f"{demo.url}/v1/accounts/uipath-demo/webhooks"
        spec = {"name": "e2e", "url": f"{demo.receiver}/e2e", "events": ["Job.Started"],
                "secret": "e2e-secret-value"}  # fmt: skip
        async with http.post(hooks, json=spec) as resp:
            made = await resp.json()
            assert resp.status == 201, made
            assert resp.headers["Location"] == f"/v1/accounts/uipath-demo/webhooks/{made['id']}"
        assert made["secret"] == "***" and made["events"] == ["job.started"]

        change = {"add_events": ["job.completed", "job.started"], "remove_events": ["job.started"]}
        async with http.patch(f"{hooks}/{made['id']}", json=change) as resp:
            updated = await resp.json()
        assert updated["events"] == ["job.completed", "job.started"]

        async with http.post(f"{hooks}/{made['id']}/ping") as resp:
            ping = await resp.json()
        assert resp.status == 200 and ping["event_type"] == "ping"

        async with http.get(f"{hooks}/{made['id']}", headers=demo.headers(demo.read_key)) as resp:
            assert (await resp.json())["name"] == "e2e"
        async with http.delete(f"{hooks}/{made['id']}") as resp:
            assert resp.status == 204
        async with http.get(f"{hooks}/{made['id']}") as resp:
            assert resp.status == 404

        async with http.get(
            f"{demo.url}/v1/accounts", headers={"Authorization": "Bearer x"}
        ) as resp:
            assert resp.status == 401
        async with http.post(hooks, json={"name": "n", "url": "not a url"}) as resp:
            problem = await resp.json()
        assert resp.status == 400 and problem["errors"][0]["path"] == "url"
        async with http.get(f"{demo.url}/metrics") as resp:
            assert "gateway_token_fetches_total" in await resp.text()


async def test_serve_finishes_in_flight_requests_on_sigterm(tmp_path: Any, uipath: Any) -> None:
    """A request in flight when SIGTERM arrives still gets its answer."""
    uipath.emulator.faults = Faults(latency=1.5, methods=("GET",))
    table = uipath.account(token="pat-s3cret")
    table.pop("identity_url"), table.pop("client_id"), table.pop("client_secret")
    config = tmp_path / "gateway.toml"
    lines = ["[accounts.orch]"] + [f'{k} = "{v}"' for k, v in table.items()]
    lines += ["[server]", "port = 0", "[[server.api_keys]]", 'name = "ops"', 'scope = "read"',
              'key = "read-key-for-sigterm"']  # fmt: skip
    config.write_text("\n".join(lines) + "\n")
    process, out = await start_process("serve", "--config", str(config), until="webhook-gateway on")
    url = re.search(r"on (http://\S+)", "".join(out))
    assert url
    async with aiohttp.ClientSession() as http:
        slow = asyncio.ensure_future(
            http.get(
                f"{url.group(1)}/v1/accounts/orch/webhooks",
                headers={"Authorization": "Bearer read-key-for-sigterm"},
            )
        )
        await asyncio.sleep(0.5)  # the request is now waiting on the emulator
        process.send_signal(signal.SIGTERM)
        resp = await slow
        assert resp.status == 200
        assert (await resp.json())["items"] == []
    # One SIGTERM is enough: the process stops by itself (a second one, sent while the
    # interpreter exits and its handlers are gone, would kill it).
    async with asyncio.timeout(30):
        assert await process.wait() == 0


async def test_emulate_runs_one_emulator(receiver: Receiver) -> None:
    process, lines = await start_process(
        "emulate", "enterprise_core", "--port", "0", until="Enterprise Core emulator on"
    )
    assert "tenant" in "".join(lines)
    assert await stop_process(process) == 0
