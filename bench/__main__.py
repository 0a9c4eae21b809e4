"""Run every benchmark: ``python -m bench`` (add ``--quick`` for a one-second smoke run each).

Each prints its figures (best and median over the rounds on both sides, the ratio, the target,
MET or NOT MET) and the peak RSS of every process it started; absolute times on a shared
machine mean little. Results with date and machine go into docs/performance.md. They run after
the README's demo install; the proxy and write-path benchmarks also need ``wrk``
(``apt-get install -y wrk``), the write path and its floor's parts PostgreSQL (``pip install -e
'.[postgres]'``, ``apt-get install -y postgresql``): without them those say so and are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import shutil
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _bench(name: str) -> Any:
    """The benchmark module ``name``, imported when it runs (some need optional packages)."""
    return importlib.import_module(f"bench.{name}")


#: What each benchmark needs beyond the demo install: (Python modules, commands, why).
NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "proxy_throughput": ((), ("wrk",), "apt-get install -y wrk"),
    "write_path": (
        ("asyncpg",),
        ("wrk",),
        "pip install -e '.[postgres]' and apt-get install -y wrk postgresql",
    ),
}
NEEDS["write_floor_parts"] = NEEDS["write_path"]
NEEDS["relay"] = NEEDS["write_path"]
NEEDS["provider_calls"] = (
    ("asyncpg",),
    (),
    "pip install -e '.[postgres]' and apt-get install -y postgresql",
)

FULL: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
    "proxy_throughput": lambda: _bench("proxy_throughput").run(
        seconds=10, connections=50, rounds=3
    ),
    "library_overhead": lambda: _bench("library_overhead").run(calls=2000, rounds=5),
    "paging": lambda: _bench("paging").run(webhooks=10_000, rounds=5),
    "proxy_paging": lambda: _bench("proxy_paging").run(webhooks=(1000, 5000), rounds=5),
    "fanout": lambda: _bench("fanout").run(accounts=30, latency=0.05, rounds=10),
    "token_storm": lambda: _bench("token_storm").run(calls=1000),
    "slow_clients": lambda: _bench("slow_clients").run(attackers=3000, seconds=10),
    "write_path": lambda: _bench("write_path").run(seconds=8, connections=50, rounds=4),
    "write_floor_parts": lambda: _bench("write_floor_parts").run(
        seconds=8, connections=50, rounds=3
    ),
    "plan_scale": lambda: _bench("plan_scale").run(accounts=30, webhooks=1000, latency=0.05),
    "relay": lambda: _bench("relay").run(seconds=8, connections=50, rounds=3),
    "provider_calls": lambda: _bench("provider_calls").run(),
}
QUICK: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
    "proxy_throughput": lambda: _bench("proxy_throughput").run(seconds=1, connections=10, rounds=1),
    "library_overhead": lambda: _bench("library_overhead").run(calls=50, rounds=1),
    "paging": lambda: _bench("paging").run(webhooks=500, rounds=1),
    "proxy_paging": lambda: _bench("proxy_paging").run(webhooks=(200,), rounds=1),
    "fanout": lambda: _bench("fanout").run(accounts=3, latency=0.01, rounds=2),
    "token_storm": lambda: _bench("token_storm").run(calls=20),
    "slow_clients": lambda: _bench("slow_clients").run(attackers=100, seconds=1),
    "write_path": lambda: _bench("write_path").run(seconds=1, connections=10, rounds=1),
    "write_floor_parts": lambda: _bench("write_floor_parts").run(
        seconds=1, connections=10, rounds=1
    ),
    "plan_scale": lambda: _bench("plan_scale").run(accounts=3, webhooks=50, latency=0.01),
    "relay": lambda: _bench("relay").run(
        seconds=1, connections=10, rounds=1, paced_seconds=1, burst_count=500
    ),
    "provider_calls": lambda: _bench("provider_calls").run(
        latency=0.01, rounds=1, rate=50, creates=40
    ),
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
        missing = _missing(name)
        if missing:
            print(f"\n== {name}: skipped, {missing}")
            continue
        asyncio.run(table[name]())


def _missing(name: str) -> str:
    """What ``name`` needs and this machine lacks ("" when nothing)."""
    modules, commands, how = NEEDS.get(name, ((), (), ""))
    lacking = [m for m in modules if importlib.util.find_spec(m) is None]
    lacking += [c for c in commands if shutil.which(c) is None]
    if name in ("write_path", "write_floor_parts", "relay", "provider_calls") and not lacking:
        from gateway.testing.postgres import server_available

        if not server_available():
            lacking.append("PostgreSQL's server binaries")
    return f"it needs {', '.join(lacking)} ({how})" if lacking else ""


if __name__ == "__main__":
    main()
