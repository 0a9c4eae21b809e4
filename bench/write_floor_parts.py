"""What the write path's guarantees cost on their own: the least read-modify-write proxy
(bench/rmw_proxy.py, the floor of ``bench/write_path.py``) against itself with, added one at a
time, the least of what the gateway must do beyond it.

- ``+ audit (SQLite)``: an audit row a write in a SQLite file, the rows of one loop turn
  committed together, the answer after the commit (what ``[state] audit`` guarantees: every
  accepted write is audited);
- ``+ audit, key, access log``: that, the caller's API key checked and a JSON access-log line;
- ``+ PostgreSQL lock and audit``: the update lock a PostgreSQL advisory lock (replicas lose no
  update) and the audit row in PostgreSQL, in two round trips a write.

No gateway code runs here: each variant is a few lines of plain aiohttp, sqlite3 and asyncpg,
so a ratio below the write path's targets (0.95 with SQLite, 0.90 with PostgreSQL) is a ceiling
for any proxy on this machine that keeps those guarantees, not a cost of the gateway's design.
The workload is ``bench/write_path.py``'s (wrk, 50 connections, every PATCH a real change),
the variants interleaved with the floor round by round, each figure the median of the rounds'
own ratios.

    python bench/write_floor_parts.py [--seconds 8] [--rounds 3]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PAT,
    CpuMeter,
    Figure,
    machine,
    postgres_database,
    process,
    report,
    uipath_emulator,
    wrk_main,
)
from bench.proxy_throughput import wrk
from bench.write_path import TARGETS, WEBHOOKS, reset, script

KEY = "bench-floor-key-Xc5Wd9Fm2Lr"
FLOOR = "least read-modify-write"
ADD, REMOVE = '{"add_events": ["job.stopped"]}', '{"remove_events": ["job.stopped"]}'


async def run(seconds: int, connections: int, rounds: int) -> float:
    """Run the rounds and print the report; the lowest variant / floor ratio."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    results: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            uipath_emulator("--webhooks", str(WEBHOOKS)) as upstream,
            postgres_database("bench") as pg_url,
        ):
            base = ("bench/rmw_proxy.py", "--upstream", upstream, "--token", PAT)
            variants = {
                FLOOR: base,
                "+ audit (SQLite)": (*base, "--audit", f"sqlite:///{tmp}/audit.db"),
                "+ audit, key, access log": (*base, "--audit", f"sqlite:///{tmp}/audit2.db",
                                             "--key", KEY, "--access-log", f"{tmp}/access.log"),
                "+ PostgreSQL lock and audit": (*base, "--audit", pg_url),
            }  # fmt: skip
            lua = script(tmp, "ours", "/v1/accounts/orch/webhooks/%d", ADD, REMOVE)
            header = f"Authorization: Bearer {KEY}"
            async with (
                process(*variants[FLOOR]) as floor,
                process(*variants["+ audit (SQLite)"]) as audited,
                process(*variants["+ audit, key, access log"]) as guarded,
                process(*variants["+ PostgreSQL lock and audit"]) as locked,
            ):
                urls = dict(zip(variants, (floor, audited, guarded, locked), strict=True))
                for url in urls.values():  # warm up
                    await reset(upstream)
                    await wrk(url + "/", 1, connections, header, lua)
                for i in range(rounds):
                    # the floor between the others, their order turned each round
                    others = [n for n in variants if n != FLOOR]
                    others = others[i % 3 :] + others[: i % 3]
                    for name in [others[0], FLOOR, *others[1:]]:
                        await reset(upstream)
                        meter = CpuMeter(urls[name])
                        rps, _ = await wrk(urls[name] + "/", seconds, connections, header, lua)
                        results.setdefault(name, []).append(rps)
                        cpu[name] = meter.per(rps * seconds)[0]
    rows = [(name, f"{max(r):,.0f} PATCH/s best, CPU {cpu[name] * 1e6:,.0f} us a PATCH (last "
                   "round)") for name, r in results.items()]  # fmt: skip
    figures = [
        Figure(f"floor {name} / floor, throughput", results[FLOOR], results[name],
               TARGETS["gateway + PostgreSQL" if "PostgreSQL" in name else "gateway + SQLite"][0],
               higher=True, unit="PATCH/s", paired=True)
        for name in results if name != FLOOR
    ]  # fmt: skip
    report(
        f"the write path's guarantees alone: wrk -c{connections} {seconds}s x{rounds} "
        f"({machine()}); the targets shown are bench/write_path.py's",
        rows,
        figures,
    )
    return min(f.ratio for f in figures)


def main(argv: list[str] | None = None) -> None:
    wrk_main(__doc__, run, argv, seconds=8, rounds=3)


if __name__ == "__main__":
    main()
