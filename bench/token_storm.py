"""Token storm: 1,000 concurrent calls on an account with no cached token.

Exactly one token request must reach the identity provider, for UiPath client credentials and
for Orchestry through MSAL (over TLS, against the emulator's identity platform). The ratio is
token requests made / the one expected; the wall times of the cold and then warm storm are shown
for scale.

    python bench/token_storm.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, machine, process, report
from gateway import Gateway
from gateway.config import parse_config


async def token_requests(url: str, tls: ssl.SSLContext | None = None) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/_emulator/state", ssl=tls or True) as resp,
    ):
        count: int = (await resp.json())["token_requests"]
        return count


async def storm(account_config: dict[str, Any], calls: int) -> tuple[float, float]:
    async with Gateway(parse_config({"accounts": {"acct": account_config}})) as gw:
        account = gw.account("acct")

        async def call() -> None:
            async for _ in account.list():
                pass

        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(calls)))
        cold = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(call() for _ in range(calls)))
        return cold, time.perf_counter() - started


async def run(calls: int) -> float:
    rows: list[tuple[str, str]] = []
    made = []
    async with process(
        "-m", "providers.uipath.emulator", "--port", "0", "--webhooks", "3",
        ready=r"emulator on (http://[\d.:]+)",
    ) as url:  # fmt: skip
        cold, warm = await storm(
            {
                "provider": "uipath",
                "base_url": url,
                "identity_url": f"{url}/identity_",
                "client_id": "gateway-demo",
                "client_secret": "demo-client-secret",
            },
            calls,
        )
        made.append(await token_requests(url))
        rows.append(("UiPath client credentials", f"{made[-1]} token request(s); "
                     f"cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms"))  # fmt: skip
    ready = r"Orchestry emulator on (.*)$"
    async with process("-m", "providers.orchestry.emulator", "--port", "0", ready=ready) as line:
        found = re.match(r"(\S+) \(authority (\S+), scope (\S+), CA file (\S+)\)", line)
        assert found, line
        url, authority, scope, ca = found.groups()
        cold, warm = await storm(
            {
                "provider": "orchestry",
                "base_url": url,
                "tenant_id": authority.rsplit("/", 1)[1],
                "client_id": "orchestry-demo-client",
                "client_secret": "orchestry-demo-secret",
                "scope": scope,
                "authority": authority,
                "ca_bundle": ca,
            },
            calls,
        )
        made.append(await token_requests(url, ssl.create_default_context(cafile=ca)))
        rows.append(("Orchestry through MSAL", f"{made[-1]} token request(s); "
                     f"cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms"))  # fmt: skip
    figures = [
        Figure(
            f"{name}: token requests for {calls} concurrent calls / the one needed",
            [1],
            [count],
            1.0,
            unit="requests",
        )
        for name, count in zip(("UiPath", "Orchestry"), made, strict=True)
    ]
    report(f"token storm: {calls} concurrent calls, cold token cache ({machine()})", rows,
           figures)  # fmt: skip
    return max(made) / 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.calls))


if __name__ == "__main__":
    main()
