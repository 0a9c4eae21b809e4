"""Grants reload without a restart (issue 40, point 4): ``webhook-gateway serve`` reads the
config file again on SIGHUP; the new grants hold from the next request, a config with a problem
changes nothing."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from tests.oidc_provider import free_port
from tests.serving import serve

KEY = "svc-key-Lq8Vz3Tm6Wp1"
HOOK = {"name": "svc", "url": "https://93.184.216.34/hooks", "events": ["a.one"]}


def config(port: int, can: str) -> str:
    return (
        '[accounts.billing]\nprovider = "memory"\nevent_types = ["a.one"]\n'
        f"[server]\nport = {port}\n"
        f'[[server.api_keys]]\nname = "svc"\nscope = "read"\nkey = "{KEY}"\n'
        f'[[access.grants]]\nwho = "key:svc"\ncan = [{can}]\naccounts = ["billing"]\n'
    )


async def test_sighup_reads_the_grants_again(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "gateway.toml"
    path.write_text(config(port, '"read"'))
    process = await serve(path)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {KEY}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            url = f"{base}/v1/accounts/billing/webhooks"
            assert (await http.post(url, json=HOOK)).status == 403
            path.write_text(config(port, '"read", "write"'))
            process.send_signal(signal.SIGHUP)
            for _ in range(50):  # the signal is handled between requests
                made = await http.post(url, json=HOOK)
                if made.status != 403:
                    break
                await asyncio.sleep(0.1)
            assert made.status == 201, await made.text()
            path.write_text(config(port, '"fly"'))  # a problem: the grants stay
            process.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.5)
            who = await (await http.get(f"{base}/v1/whoami")).json()
            assert who["can"] == ["read", "write"]
    finally:
        process.terminate()
        await process.wait()
