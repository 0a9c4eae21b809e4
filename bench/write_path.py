"""Write path: PATCHes that add and remove an event, through the gateway with a state store,
against the pass-through forwarding the same change as one OData PATCH.

The UiPath emulator holds 1,000 webhooks. ``wrk`` (50 connections, two threads, each walking
its own 500 ids in turn, so no two PATCHes in flight touch one webhook) alternately adds and
removes ``job.stopped``, starting each run from webhooks without it (``reset``), so that every
PATCH changes its webhook:

- pass-through (bench/passthrough.py, run as ``serve`` runs): ``PATCH /odata/Webhooks(n)``
  with the whole new ``Events`` collection, which the caller had to know;
- least read-modify-write (bench/rmw_proxy.py): the same ``add_events``/``remove_events`` PATCH
  through the least a proxy must do to not lose updates (a per-id lock, the batched read, one
  PATCH), with none of the gateway's checks, model, audit, metrics or logs: how much of the gap
  to the pass-through is the read-modify-write itself;
- gateway, SQLite store: ``PATCH /v1/accounts/orch/webhooks/n`` with ``add_events`` or
  ``remove_events``; the gateway takes the webhook's update lock, reads it (concurrent
  updates' reads go as batches, gateway/transport/collapse.py), PATCHes the change and writes
  an audit entry (committed in groups with the entries of concurrent writes);
- gateway, PostgreSQL store (a throw-away server, ``gateway.testing.postgres``): the same, the
  lock being a PostgreSQL advisory lock held on a pooled connection (``pool_size = 40``: one
  connection per write in flight; at the default 20, writes queue for connections and p99
  grows).

Targets, against the least read-modify-write (the floor of any proxy that does not lose
updates; the pass-through's figures are printed for information): throughput >= 0.95x with
SQLite, >= 0.90x with PostgreSQL, p99 <= 1.3x with each. Each round runs the floor between the
two gateways (their order swapped every round), and a figure is the median of the rounds' own
ratios (gateway round / the floor round next to it): on a shared machine a slow spell of tens
of seconds would otherwise decide a ratio of medians. The gateway needs
the current events before it PATCHes (an add/remove model on a provider that only replaces the
collection, without losing updates): about 1.1 provider requests per PATCH with batched reads,
where the pass-through makes one. The CPU a PATCH of the proxy, the emulator and the rest of
the machine (wrk, PostgreSQL, the kernel) is printed for each side, with how busy the cores
were: on a small machine, the emulator (whose PATCH checks the name against every webhook) is
the pass-through's bottleneck. Where the floor's run keeps the cores busy, the machine is what
limits throughput, and a gateway at a target's share of the floor's throughput may spend no
more of the machine a PATCH than the floor's whole-machine CPU a PATCH / the target: the
"CPU budget" lines print what that leaves the gateway's own process (the floor's
whole-machine CPU / the target, less the emulator's CPU a PATCH in the floor's run and the
rest's in the gateway's run, PostgreSQL's server among it) beside what it used.

    python bench/write_path.py [--seconds 8] [--connections 50] [--rounds 4]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PAT,
    CpuMeter,
    Figure,
    gateway_config,
    gateway_process,
    machine,
    postgres_database,
    process,
    report,
    uipath_emulator,
    wrk_main,
)
from bench.proxy_throughput import wrk

API_KEY = "bench-write-key-Gz6Ny3Kt8Qv"
#: The floor targets: throughput and p99 against the least read-modify-write proxy.
TARGETS = {"gateway + SQLite": (0.95, 1.3), "gateway + PostgreSQL": (0.90, 1.3)}
WEBHOOKS = 1000
SCRIPT = """
local half, i = {half}, 0
function setup(thread) thread:set("offset", i * half); i = i + 1 end
function init(args) counter = -1; wrk.headers["Content-Type"] = "application/json" end
function request()
  counter = counter + 1
  local id = offset + counter % half + 1
  local body = (math.floor(counter / half) % 2 == 0) and [[{add}]] or [[{remove}]]
  return wrk.format("PATCH", string.format("{path}", id), nil, body)
end
"""
ODATA_ADD = (
    '{"Events": [{"EventType": "job.completed"}, {"EventType": "job.faulted"}, '
    '{"EventType": "job.stopped"}]}'
)
ODATA_REMOVE = '{"Events": [{"EventType": "job.completed"}, {"EventType": "job.faulted"}]}'


def script(directory: str, name: str, path: str, add: str, remove: str) -> str:
    file = Path(directory) / f"{name}.lua"
    file.write_text(SCRIPT.format(half=WEBHOOKS // 2, path=path, add=add, remove=remove))
    return str(file)


def store_config(directory: str, upstream: str, state_url: str, name: str) -> str:
    """The gateway's config with a write key and a state store (40 PostgreSQL connections)."""
    extra = f'\n[state]\nurl = "{state_url}"\npool_size = 40\n'
    return gateway_config(directory, upstream, key=API_KEY, scope="write", name=name, extra=extra)


async def reset(upstream: str) -> None:
    """Every webhook without ``job.stopped``, straight at the emulator: each run then starts
    from the same state, and every PATCH of it changes the webhook (adding what is there, or
    removing what is not, is a no-op the gateway does not send: runs starting from whatever
    the last one left measured 0.7x to 1.05x of the floor by luck)."""
    headers = {"Authorization": f"Bearer {PAT}", "Content-Type": "application/json"}
    gate = asyncio.Semaphore(50)
    async with aiohttp.ClientSession() as session:

        async def one(id: int) -> None:
            url = f"{upstream}/odata/Webhooks({id})"
            async with gate, session.patch(url, data=ODATA_REMOVE, headers=headers) as answer:
                if answer.status >= 300:
                    raise RuntimeError(f"reset of webhook {id}: {answer.status}")

        await asyncio.gather(*(one(i) for i in range(1, WEBHOOKS + 1)))


async def run(seconds: int, connections: int, rounds: int) -> float:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    results: dict[str, list[tuple[float, float]]] = {}
    #: CPU seconds a PATCH in each round: (proxy, emulator, whole machine), and how busy the
    #: machine's cores were (0 to 1)
    used: dict[str, list[tuple[float, float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            uipath_emulator("--webhooks", str(WEBHOOKS)) as upstream,
            postgres_database("bench") as pg_url,
        ):
            sqlite_config = store_config(tmp, upstream, f"sqlite:///{tmp}/state.db", "sqlite")
            pg_config = store_config(tmp, upstream, pg_url, "postgresql")
            async with (
                process("bench/passthrough.py", "--upstream", upstream) as passthrough,
                process("bench/rmw_proxy.py", "--upstream", upstream, "--token", PAT) as least,
                gateway_process(sqlite_config) as gw_sqlite,
                gateway_process(pg_config) as gw_pg,
            ):
                ours = "/v1/accounts/orch/webhooks/%d"
                add, remove = (
                    '{"add_events": ["job.stopped"]}',
                    '{"remove_events": ["job.stopped"]}',
                )
                targets = {
                    "pass-through": (passthrough, f"Authorization: Bearer {PAT}",
                                     script(tmp, "odata", "/odata/Webhooks(%d)", ODATA_ADD,
                                            ODATA_REMOVE)),
                    "least read-modify-write": (least, f"Authorization: Bearer {API_KEY}",
                                                script(tmp, "ours", ours, add, remove)),
                    "gateway + SQLite": (gw_sqlite, f"Authorization: Bearer {API_KEY}",
                                         script(tmp, "ours", ours, add, remove)),
                    "gateway + PostgreSQL": (gw_pg, f"Authorization: Bearer {API_KEY}",
                                             script(tmp, "ours", ours, add, remove)),
                }  # fmt: skip
                for base, header, lua in targets.values():  # warm up
                    await reset(upstream)
                    await wrk(base + "/", 1, connections, header, lua)
                for i in range(rounds):
                    # The floor between the two gateways, their order swapped each round: each
                    # gateway round runs next to the floor round it is compared with.
                    gateways = ["gateway + SQLite", "gateway + PostgreSQL"][:: 1 - 2 * (i % 2)]
                    order = [gateways[0], "least read-modify-write", gateways[1], "pass-through"]
                    for name in order:
                        base, header, lua = targets[name]
                        await reset(upstream)
                        meter = CpuMeter(base, upstream)
                        result = await wrk(base + "/", seconds, connections, header, lua)
                        results.setdefault(name, []).append(result)
                        patches = result[0] * seconds
                        proxy_cpu, emulator_cpu = meter.per(patches)
                        used.setdefault(name, []).append(
                            (proxy_cpu, emulator_cpu, meter.machine_per(patches), meter.busy())
                        )
    best = {name: (max(r[0] for r in rs), min(r[1] for r in rs)) for name, rs in results.items()}
    base_rps, base_p99 = best["pass-through"]
    rows = [
        (name, f"{rps:,.0f} PATCH/s, p99 {p99 * 1000:.1f} ms") for name, (rps, p99) in best.items()
    ]
    ratios = {}
    least_rps, least_p99 = best["least read-modify-write"]
    for name in ("least read-modify-write", "gateway + SQLite", "gateway + PostgreSQL"):
        rps, p99 = best[name]
        if name != "least read-modify-write":
            ratios[name] = (rps / base_rps, p99 / base_p99)
        rows.append((f"{name} / pass-through", f"{rps / base_rps:.2f}x throughput, "
                                                f"{p99 / base_p99:.2f}x p99"))  # fmt: skip
    for name in ("gateway + SQLite", "gateway + PostgreSQL"):
        rps, p99 = best[name]
        versus = f"{rps / least_rps:.2f}x throughput, {p99 / least_p99:.2f}x p99"
        rows.append((f"{name} / least read-modify-write", versus))
    cpu = {name: [statistics.median(r[i] for r in rs) for i in range(4)]
           for name, rs in used.items()}  # fmt: skip
    #: What the machine did a PATCH beyond the proxy and the emulator (wrk, PostgreSQL, ...).
    rests = {name: max(0.0, whole - proxy - emulator)
             for name, (proxy, emulator, whole, _) in cpu.items()}  # fmt: skip
    for name, (proxy, emulator, _, busy) in cpu.items():
        rest = rests[name]
        rows.append((f"CPU a PATCH, {name}", f"proxy {proxy * 1e6:,.0f} us, emulator "
                     f"{emulator * 1e6:,.0f} us, the rest {rest * 1e6:,.0f} us (wrk, "
                     f"PostgreSQL, the kernel); cores {busy:.0%} busy"))  # fmt: skip
    # The machine is the limit when the floor's run keeps its cores busy: a gateway at the
    # target's share of the floor's throughput must then spend no more of the machine a PATCH
    # than the floor's whole-machine CPU / the target.
    # (The emulator is taken as cheap a PATCH as in the floor's run, where it is busiest.)
    floor_proxy, floor_emulator, floor_whole, floor_busy = cpu["least read-modify-write"]
    for name, (rps_target, _) in TARGETS.items():
        proxy = cpu[name][0]
        allowed = floor_whole / rps_target - floor_emulator - rests[name]
        rows.append((f"CPU budget a PATCH at the target, {name}",
                     f"the floor's whole machine {floor_whole * 1e6:,.0f} us / {rps_target:g}, "
                     f"less the floor's emulator and this run's rest: the gateway may use "
                     f"{allowed * 1e6:,.0f} us (the floor uses {floor_proxy * 1e6:,.0f}), it "
                     f"used {proxy * 1e6:,.0f}; the floor's run kept the cores "
                     f"{floor_busy:.0%} busy"))  # fmt: skip
    floor = results["least read-modify-write"]
    figures = []
    for name, (rps_target, p99_target) in TARGETS.items():
        figures.append(Figure(f"{name} / least read-modify-write, throughput",
                              [r[0] for r in floor], [r[0] for r in results[name]], rps_target,
                              higher=True, unit="PATCH/s", paired=True))  # fmt: skip
        figures.append(Figure(f"{name} / least read-modify-write, p99",
                              [r[1] for r in floor], [r[1] for r in results[name]], p99_target,
                              unit="ms", scale=1000, paired=True))  # fmt: skip
    worst = min(f.ratio for f in figures if f.higher)
    report(
        f"write path: wrk -c{connections} {seconds}s x{rounds}, PATCH add/remove ({machine()})",
        rows,
        figures,
    )
    return worst


def main(argv: list[str] | None = None) -> None:
    wrk_main(__doc__, run, argv, seconds=8, rounds=4)


if __name__ == "__main__":
    main()
