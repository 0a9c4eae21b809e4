"""Plan at scale: a manifest of 30 accounts x 1,000 webhooks against UiPath emulators that add
50 ms to every answer (bench/emulator_farm.py, its own process).

Baseline: listing every webhook of every account through the library, with the plan's account
concurrency (8), in the same run. Measured: ``make_plan`` of a manifest that names every
webhook, each with one changed event (so every webhook is compared and planned as an update).
Target: <= 1.5x the baseline. Both sides run with the garbage-collector settings the command line
and ``serve`` use (``gateway.lifecycle.tune_gc``). Also printed: the plan's peak memory
(tracemalloc) against the listing's.

    python bench/plan_scale.py [--accounts 30] [--webhooks 1000] [--latency 0.05] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, Figure, machine, process, report
from gateway import Gateway
from gateway.config import parse_config
from gateway.lifecycle import tune_gc
from gateway.plan import make_plan, parse_manifest

CONCURRENCY = 8
TARGET = 1.5


def manifest(accounts: list[str], webhooks: int) -> dict[str, Any]:
    """Every farm webhook (``hook-i`` at ``https://hooks.example.com/i``), one event changed."""
    return {
        "accounts": {
            name: {
                "webhooks": {
                    f"hook-{i}": {
                        "name": f"hook-{i}",
                        "url": f"https://hooks.example.com/{i}",
                        "events": ["job.completed"],
                    }
                    for i in range(webhooks)
                }
            }
            for name in accounts
        }
    }


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def peak_memory(work: Callable[[], Awaitable[Any]]) -> int:
    """Peak traced bytes of ``work`` (a run of its own: tracing slows it down)."""
    tracemalloc.start()
    await work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


async def run(accounts: int, webhooks: int, latency: float, rounds: int = 5) -> float:
    ready = r"farm: (.+)$"
    async with process("bench/emulator_farm.py", "--count", str(accounts), "--latency",
                       str(latency), "--webhooks", str(webhooks), ready=ready) as farm:  # fmt: skip
        urls = farm.split()
        with tempfile.TemporaryDirectory() as tmp:
            names = [f"uipath-{i:02d}" for i in range(accounts)]
            config = parse_config({
                "accounts": {n: {"provider": "uipath", "base_url": u, "token": PAT}
                             for n, u in zip(names, urls, strict=True)},
                "state": {"url": f"sqlite:///{tmp}/state.db"},
                # the farm's webhooks point at hooks.example.com, which does not resolve offline
                "destinations": {"allow_unresolvable": True},
            })  # fmt: skip
            desired = parse_manifest(manifest(names, webhooks), config)
            async with Gateway(config) as gw:
                gate = asyncio.Semaphore(CONCURRENCY)

                async def list_all() -> None:
                    async def one(name: str) -> int:
                        async with gate:
                            return sum([1 async for _ in gw.account(name).list()])

                    counts = await asyncio.gather(*(one(n) for n in names))
                    assert sum(counts) == accounts * webhooks

                async def plan() -> None:
                    made = await make_plan(gw, desired, adopt=True, concurrency=CONCURRENCY)
                    assert not made.failed and made.changes == accounts * webhooks

                await list_all()  # warm: tokens, catalogs, connections
                await plan()
                tune_gc()  # as webhook-gateway plan does (and serve), for both sides
                times = [(await timed(list_all), await timed(plan)) for _ in range(rounds)]
                base_mem, ours_mem = await peak_memory(list_all), await peak_memory(plan)
    figure = Figure("plan them all (one change each) / list every webhook",
                    [t[0] for t in times], [t[1] for t in times], TARGET)  # fmt: skip
    rows = [
        (
            "peak traced memory, list / plan",
            f"{base_mem / 2**20:.1f} / {ours_mem / 2**20:.1f} MiB",
        ),
        ("machine", machine()),
    ]
    report(
        f"plan at scale: {accounts} accounts x {webhooks} webhooks, +{latency * 1000:.0f} ms",
        rows,
        [figure],
    )
    return figure.ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.accounts, args.webhooks, args.latency, args.rounds))


if __name__ == "__main__":
    main()
