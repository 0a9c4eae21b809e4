"""Many UiPath emulators in one process, each on its own port (for the fan-out benchmark).

    python bench/emulator_farm.py --count 30 --latency 0.05 --webhooks 5

Prints one line, ``farm: URL URL ...``, once every emulator listens.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT
from gateway.emulation import Faults, start
from gateway.lifecycle import tune_gc
from providers.uipath.emulator import UiPathEmulator


async def farm(count: int, latency: float, webhooks: int) -> None:
    urls = []
    for _ in range(count):
        emulator = UiPathEmulator(
            personal_tokens={PAT: ["OR.Webhooks"]}, faults=Faults(latency=latency)
        )
        for i in range(webhooks):
            emulator.add(Name=f"hook-{i}", Url=f"https://hooks.example.com/{i}")
        _runner, url = await start(emulator.app())
        urls.append(url)
    print("farm: " + " ".join(urls), flush=True)
    # As ``serve`` does: the farm's records (30 x 1,000 webhooks in plan_scale) out of the
    # collector's reach, else its full collections (tens of ms, at random) stall its answers
    # and show up as noise in whichever side of a comparison was running.
    tune_gc()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--webhooks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(farm(args.count, args.latency, args.webhooks))


if __name__ == "__main__":
    main()
