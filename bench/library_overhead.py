"""Library overhead: ``account.get`` against a bare aiohttp request + ``json.loads``.

Both make the same sequential GETs of one webhook against the UiPath emulator (its own
process), alternating rounds so that drift of the machine hits both alike. Target: <= 1.10x.

    python bench/library_overhead.py [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, Figure, best_of, machine, median, report, uipath_emulator
from gateway import Gateway
from gateway.config import parse_config

TARGET = 1.10


async def run(calls: int, rounds: int) -> float:
    async with uipath_emulator("--webhooks", "1") as url:
        config = {"accounts": {"orch": {"provider": "uipath", "base_url": url, "token": PAT}}}
        async with Gateway(parse_config(config)) as gw, aiohttp.ClientSession() as session:
            account = gw.account("orch")
            headers = {"Authorization": f"Bearer {PAT}"}

            async def library() -> None:
                for _ in range(calls):
                    await account.get("1")

            async def bare() -> None:
                for _ in range(calls):
                    async with session.get(f"{url}/odata/Webhooks(1)", headers=headers) as resp:
                        json.loads(await resp.read())

            await library()  # warm both paths: connections, caches
            await bare()
            lib_times, bare_times = [], []
            for _ in range(rounds):
                bare_times.append(await best_of(1, bare))
                lib_times.append(await best_of(1, library))
    figure = Figure(f"{calls} sequential account.get / bare aiohttp + json.loads",
                    bare_times, lib_times, TARGET)  # fmt: skip
    lib = median(lib_times)
    report(
        f"library overhead: {calls} sequential account.get ({machine()})",
        [("account.get calls a second (median)", f"{calls / lib:,.0f}")],
        [figure],
    )
    return figure.ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
