"""Run every benchmark: ``python -m bench`` (add ``--quick`` for a one-second smoke run each).

Each prints its figures and a ratio against a baseline measured in the same run; absolute times
on a shared machine mean little. Results with date and machine go into docs/performance.md.
The proxy and write-path benchmarks need ``wrk`` (``apt-get install -y wrk``), the write path
also PostgreSQL's server binaries (``apt-get install -y postgresql``); the rest need nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    fanout,
    library_overhead,
    paging,
    plan_scale,
    proxy_throughput,
    slow_clients,
    token_storm,
    write_path,
)

FULL: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
    "proxy_throughput": lambda: proxy_throughput.run(seconds=10, connections=50, rounds=3),
    "library_overhead": lambda: library_overhead.run(calls=2000, rounds=5),
    "paging": lambda: paging.run(webhooks=10_000, rounds=5),
    "fanout": lambda: fanout.run(accounts=30, latency=0.05, rounds=10),
    "token_storm": lambda: token_storm.run(calls=1000),
    "slow_clients": lambda: slow_clients.run(attackers=3000, seconds=10),
    "write_path": lambda: write_path.run(seconds=10, connections=50, rounds=2),
    "plan_scale": lambda: plan_scale.run(accounts=30, webhooks=1000, latency=0.05),
}
QUICK: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
    "proxy_throughput": lambda: proxy_throughput.run(seconds=1, connections=10, rounds=1),
    "library_overhead": lambda: library_overhead.run(calls=50, rounds=1),
    "paging": lambda: paging.run(webhooks=500, rounds=1),
    "fanout": lambda: fanout.run(accounts=3, latency=0.01, rounds=2),
    "token_storm": lambda: token_storm.run(calls=20),
    "slow_clients": lambda: slow_clients.run(attackers=100, seconds=1),
    "write_path": lambda: write_path.run(seconds=1, connections=10, rounds=1),
    "plan_scale": lambda: plan_scale.run(accounts=3, webhooks=50, latency=0.01),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[*FULL, []], help="default: all")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args(argv)
    table = QUICK if args.quick else FULL
    if args.quick:
        print("quick smoke run: the sizes are too small for the ratios to mean anything")
    for name in args.names or list(table):
        if name == "proxy_throughput" and shutil.which("wrk") is None:
            print("\n== proxy throughput: skipped, wrk is not installed (apt-get install -y wrk)")
            continue
        asyncio.run(table[name]())


if __name__ == "__main__":
    main()
