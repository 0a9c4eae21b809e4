"""Fan-out: ``GET /v1/webhooks`` over 30 accounts whose emulators each add 50 ms of latency.

Baseline: the same request to a gateway configured with one of those accounts. The accounts are
queried concurrently, so the wall time should stay close to one account's. Target: <= 2x.

    python bench/fanout.py [--accounts 30] [--latency 0.05] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, Figure, gateway_process, machine, median, process, report

KEY = "bench-fanout-key-0123456789"
TARGET = 2.0


def config(urls: list[str], path: Path) -> str:
    lines = []
    for i, url in enumerate(urls):
        lines += [f"[accounts.uipath-{i:02d}]", 'provider = "uipath"', f'base_url = "{url}"',
                  f'token = "{PAT}"', ""]  # fmt: skip
    lines += ["[server]", "port = 0", "[[server.api_keys]]", 'name = "bench"', 'scope = "read"',
              f'key = "{KEY}"']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return str(path)


async def timed(session: aiohttp.ClientSession, url: str, accounts: int) -> float:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {KEY}"}
    async with session.get(f"{url}/v1/webhooks?limit=1000", headers=headers) as r:
        body = await r.json()
    elapsed = time.perf_counter() - started
    if r.status != 200 or body["errors"] or len({i["account"] for i in body["items"]}) != accounts:
        raise RuntimeError(f"unexpected answer: {r.status} {str(body)[:300]}")
    return elapsed


async def run(accounts: int, latency: float, rounds: int) -> float:
    ready = r"farm: (.+)$"
    async with process("bench/emulator_farm.py", "--count", str(accounts), "--latency",
                       str(latency), ready=ready) as farm:  # fmt: skip
        urls = farm.split()
        with tempfile.TemporaryDirectory() as tmp:
            many = config(urls, Path(tmp) / "many.toml")
            one = config(urls[:1], Path(tmp) / "one.toml")
            async with (
                gateway_process(many) as gw_many,
                gateway_process(one) as gw_one,
                aiohttp.ClientSession() as session,
            ):
                await timed(session, gw_many, accounts)  # warm: connections to every emulator
                await timed(session, gw_one, 1)
                many_times, one_times = [], []
                for _ in range(rounds):
                    one_times.append(await timed(session, gw_one, 1))
                    many_times.append(await timed(session, gw_many, accounts))
    figure = Figure(f"GET /v1/webhooks: {accounts} accounts / one account", one_times,
                    many_times, TARGET, unit="ms", scale=1000)  # fmt: skip
    report(
        f"fan-out: GET /v1/webhooks, {accounts} accounts, {latency * 1000:.0f} ms latency each "
        f"({machine()})",
        [("sequential would be about", f"{median(one_times) * accounts * 1000:.0f} ms")],
        [figure],
    )
    return figure.ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    asyncio.run(run(args.accounts, args.latency, args.rounds))


if __name__ == "__main__":
    main()
