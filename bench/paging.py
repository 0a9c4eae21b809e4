"""Paging: listing 10,000 UiPath webhooks (pages of 1,000) with ``account.list``.

Baseline: fetching the same pages raw (same query, ``json.loads``, nothing else). Target: <= 1.2x.
Memory: the peak traced allocation while streaming 2,000 and 10,000 webhooks, which must not
grow with the count (only one page is held at a time).

    python bench/paging.py [--webhooks 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import tracemalloc
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, Figure, machine, median, report, uipath_emulator
from gateway import Gateway
from gateway.config import parse_config

TARGET = 1.2
PAGE = 1000


def _config(url: str) -> dict[str, object]:
    return {"accounts": {"orch": {"provider": "uipath", "base_url": url, "token": PAT}}}


async def _stream_peak(url: str) -> tuple[int, int]:
    """(webhooks seen, peak traced bytes) while streaming the whole list."""
    async with Gateway(parse_config(_config(url))) as gw:
        account = gw.account("orch")
        tracemalloc.start()
        seen = 0
        async for _ in account.list():
            seen += 1
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return seen, peak


async def run(webhooks: int, rounds: int) -> float:
    small = max(1, webhooks // 5)
    async with uipath_emulator("--webhooks", str(webhooks)) as url:
        async with Gateway(parse_config(_config(url))) as gw, aiohttp.ClientSession() as session:
            account = gw.account("orch")
            headers = {"Authorization": f"Bearer {PAT}"}

            async def library() -> int:
                return sum([1 async for _ in account.list()])

            async def raw() -> int:
                total, skip = 0, 0
                while True:
                    params = {"$top": str(PAGE), "$skip": str(skip), "$count": "true",
                              "$orderby": "Id"}  # fmt: skip
                    async with session.get(
                        f"{url}/odata/Webhooks", params=params, headers=headers
                    ) as resp:
                        page = json.loads(await resp.read())["value"]
                    total += len(page)
                    skip += len(page)
                    if len(page) < PAGE:
                        return total

            assert await library() == await raw() == webhooks
            lib_times, raw_times = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                await raw()
                raw_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                await library()
                lib_times.append(time.perf_counter() - started)
        big_seen, big_peak = await _stream_peak(url)
    async with uipath_emulator("--webhooks", str(small)) as url:
        small_seen, small_peak = await _stream_peak(url)
    growth = Figure("memory: peak streaming all / a fifth", [small_peak], [big_peak], 1.2,
                    unit="MB", scale=1e-6)  # fmt: skip
    speed = Figure("time to list them all: account.list / raw pages", raw_times, lib_times, TARGET)
    report(
        f"paging: list {webhooks:,} UiPath webhooks, pages of {PAGE} ({machine()})",
        [
            ("webhooks a second (median)", f"{webhooks / median(lib_times):,.0f}"),
            ("streamed for the memory figure", f"{small_seen:,} and {big_seen:,} webhooks"),
        ],
        [speed, growth],
    )
    return speed.ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    asyncio.run(run(args.webhooks, args.rounds))


if __name__ == "__main__":
    main()
