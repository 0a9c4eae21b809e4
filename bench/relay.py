"""The inbound relay: intake against its floor, end-to-end latency at paced rates, and how fast
a backlog drains, with SQLite and with PostgreSQL.

- **Intake**: ``wrk`` (50 connections) posts signed UiPath deliveries, each with an event id of
  its own (read from a file of pre-signed requests: wrk cannot compute an HMAC), to
  ``POST /v1/inbound/orch`` of the gateway and of the floor (bench/relay_floor.py: verify the
  same HMAC, insert into SQLite, answer 202). The gateway also forwards what it takes to a
  destination on loopback meanwhile, as it does in production. Rounds alternate the two; a
  figure is the median of the rounds' own ratios; each round starts once the gateway has
  forwarded all it took before (so neither side's round carries the other's leftover work).
  Target: >= 0.5x of the floor's deliveries a second.
- **End to end**: deliveries at a paced rate (200, 500 and 1,000 a second, for ``--paced``
  seconds) from this process; the destination (a process of its own, answering 200 at once)
  measures each event's latency from its acceptance (the CloudEvent's ``time``, set when the
  gateway took the delivery) to its arrival. Target at 1,000/s: p99 <= 1 s, and every event
  arrives.
- **Drain**: a burst of deliveries as fast as they are taken, then the time until the
  destination has them all: the backlog left when the burst ends and the rate it drains at.

    python bench/relay.py [--seconds 8] [--connections 50] [--rounds 3] [--paced 10]
                          [--rates 200,500,1000] [--burst 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, gateway_process, machine, postgres_database, process, report
from bench.passthrough import serve_baseline
from gateway.lifecycle import run_fast

SECRET = "relay-bench-hook-secret-5yXq"  # noqa: S105 - the bench's own
SINK_SECRET = "whsec_" + base64.b64encode(b"relay-bench-destination-secret!!").decode()
READ_KEY = "relay-bench-read-key-8Hq2"
READ = {"Authorization": f"Bearer {READ_KEY}"}
INTAKE_TARGET = 0.5
P99_TARGET = 1.0
RATES = (200, 500, 1000)
SCRIPT = """
local lines, i, n = {}, 0, 0
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    if n % 2 == tid then lines[#lines + 1] = line end
  end
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  i = i % #lines + 1
  local tab = string.find(lines[i], "\\t")
  wrk.headers["X-UiPath-Signature"] = string.sub(lines[i], 1, tab - 1)
  return wrk.format("POST", nil, nil, string.sub(lines[i], tab + 1))
end
"""


def delivery(run: str, n: int) -> bytes:
    """A UiPath delivery (the fields "About webhooks" lists) with an event id of its own."""
    return orjson.dumps({
        "Type": "job.completed", "EventId": f"{run}-{n}", "TenantId": 1, "UserId": 2,
        "Timestamp": "2026-12-07T10:00:00.0000000Z", "Job": {"Id": n, "State": "Successful"},
    })  # fmt: skip


def signed(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def requests_file(directory: str, run: str, count: int) -> tuple[str, str]:
    """A wrk script and its file of ``count`` signed deliveries (one ``signature<TAB>body``
    a line)."""
    data = Path(directory) / f"{run}.txt"
    with data.open("wb") as out:
        for n in range(count):
            body = delivery(run, n)
            out.write(signed(body).encode() + b"\t" + body + b"\n")
    script = Path(directory) / "deliveries.lua"
    script.write_text(SCRIPT)
    return str(script), str(data)


# -- the destination -------------------------------------------------------------------------


def sink_app() -> web.Application:
    """Takes forwarded events (200 at once); ``GET /stats`` says how many came and each one's
    latency from acceptance; ``POST /reset`` forgets them."""
    seen: dict[str, float] = {}

    async def take(request: web.Request) -> web.Response:
        event = orjson.loads(await request.read())
        accepted = datetime.fromisoformat(event["time"]).timestamp()
        seen.setdefault(event["id"], time.time() - accepted)
        return web.Response(status=200)

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"count": len(seen), "latencies": list(seen.values())})

    async def reset(_request: web.Request) -> web.Response:
        seen.clear()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/in", take)
    app.router.add_get("/stats", stats)
    app.router.add_post("/reset", reset)
    return app


async def sink_stats(session: aiohttp.ClientSession, sink: str) -> dict[str, Any]:
    async with session.get(f"{sink}/stats") as answer:
        found: dict[str, Any] = await answer.json()
        return found


def gateway_toml(directory: str, name: str, state_url: str, sink: str) -> str:
    path = Path(directory) / f"{name}.toml"
    path.write_text(f"""
[accounts.orch]
provider = "uipath"
base_url = "http://127.0.0.1:9"
token = "not-used-the-relay-calls-no-provider"

[server]
port = 0
[[server.api_keys]]
name = "bench"
scope = "read"
key = "{READ_KEY}"

[state]
url = "{state_url}"
pool_size = 40

[inbound.orch]
secrets = ["{SECRET}"]
destinations = [{{ url = "{sink}/in", secret = "{SINK_SECRET}" }}]
""")
    return str(path)


# -- the runs --------------------------------------------------------------------------------


async def wait_for(session: aiohttp.ClientSession, sink: str, count: int, limit: float) -> float:
    """Seconds until the destination has ``count`` events (at most ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if (await sink_stats(session, sink))["count"] >= count:
            break
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def paced(session: aiohttp.ClientSession, url: str, run: str, rate: int,
                seconds: float) -> int:  # fmt: skip
    """Send ``rate`` deliveries a second for ``seconds`` (each at its time, not waiting for the
    ones before); how many were answered 202."""
    total, started, accepted = int(rate * seconds), time.monotonic(), 0
    bodies = [delivery(run, n) for n in range(total)]

    async def one(body: bytes) -> None:
        nonlocal accepted
        headers = {"Content-Type": "application/json", "X-UiPath-Signature": signed(body)}
        for _attempt in (1, 2):  # (a kept-alive connection the server closed: sent again)
            try:
                async with session.post(url, data=body, headers=headers) as answer:
                    accepted += answer.status == 202
                return
            except aiohttp.ClientConnectionError:
                continue  # (twice: not accepted, counted as such)

    tasks = []
    for n, body in enumerate(bodies):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(body)))
    await asyncio.gather(*tasks)
    return accepted


async def burst(session: aiohttp.ClientSession, url: str, run: str, count: int) -> float:
    """``count`` deliveries as fast as they are taken (50 at a time); seconds it took."""
    gate, started = asyncio.Semaphore(50), time.monotonic()

    async def one(n: int) -> None:
        body = delivery(run, n)
        headers = {"Content-Type": "application/json", "X-UiPath-Signature": signed(body)}
        async with gate:
            for attempt in (1, 2):  # (a kept-alive connection the server closed: sent again)
                try:
                    async with session.post(url, data=body, headers=headers) as answer:
                        if answer.status != 202:
                            raise RuntimeError(f"a delivery was answered {answer.status}")
                    return
                except aiohttp.ClientConnectionError:
                    if attempt == 2:
                        raise

    await asyncio.gather(*(one(n) for n in range(count)))
    return time.monotonic() - started


async def end_to_end(gateway: str, sink: str, store: str, seconds: float, count: int,
                     rates: tuple[int, ...] = RATES) -> list[tuple[str, str]]:  # fmt: skip
    rows = []
    url = f"{gateway}/v1/inbound/orch"
    # (fewer than the gateway's connections for unkeyed routes, [server] max_unauthenticated:
    # 256 by default; beyond them it turns connections away, as it should)
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        for rate in rates:
            await session.post(f"{sink}/reset")
            run = f"{store}-paced-{rate}-{uuid.uuid4().hex[:6]}"
            accepted = await paced(session, url, run, rate, seconds)
            await wait_for(session, sink, accepted, 60)
            found = await sink_stats(session, sink)
            lat = sorted(found["latencies"])
            p50, p99 = statistics.median(lat), lat[int(len(lat) * 0.99) - 1]
            met = "" if rate != 1000 else (
                f" (target p99 <= {P99_TARGET:g} s and all arrived: "
                f"{'MET' if p99 <= P99_TARGET and found['count'] == accepted else 'NOT MET'})"
            )  # fmt: skip
            rows.append((f"{store}, {rate}/s for {seconds:g} s",
                         f"{accepted} accepted, {found['count']} arrived; from acceptance to "
                         f"the destination p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
                         f"{met}"))  # fmt: skip
        await session.post(f"{sink}/reset")
        run = f"{store}-burst-{uuid.uuid4().hex[:6]}"
        took = await burst(session, url, run, count)
        left = count - (await sink_stats(session, sink))["count"]
        drained = await wait_for(session, sink, count, 300)
        speed = left / drained if drained > 0 else float("inf")
        rows.append((f"{store}, a burst of {count:,}",
                     f"taken in {took:.1f} s ({count / took:,.0f}/s); {left:,} queued at its end, "
                     f"drained in {drained:.1f} s ({speed:,.0f}/s)"))  # fmt: skip
    return rows


async def run(seconds: int, connections: int, rounds: int, paced_seconds: float = 10.0,
              burst_count: int = 20_000, rates: tuple[int, ...] = RATES) -> float:  # fmt: skip
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    rows: list[tuple[str, str]] = []
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            postgres_database("relay") as pg,
            process(__file__, "--sink", ready=r"relay sink on (http://[\d.:]+)") as sink,
            process("bench/relay_floor.py", "--secret", SECRET, "--state", f"{tmp}/floor.db",
                    ready=r"relay floor on (http://[\d.:]+)") as floor,
        ):  # fmt: skip
            stores = {"SQLite": f"sqlite:///{tmp}/state.db", "PostgreSQL": pg}
            for store, state in stores.items():
                config = gateway_toml(tmp, store.lower(), state, sink)
                async with gateway_process(config) as gateway:
                    measured, base = [], []
                    for i in range(rounds + 1):  # (the first pair warms up)
                        pair = []
                        for name, url in (("floor", floor), ("gateway", gateway))[
                            :: 1 - 2 * (i % 2)
                        ]:
                            script, data = requests_file(tmp, f"{name}-{store}-{i}", seconds * 4000)
                            await drained(gateway)  # (no forwarding left over from a round)
                            rps = await wrk_posts(f"{url}/v1/inbound/orch", seconds,
                                                  connections, script, data)  # fmt: skip
                            pair.append((name, rps))
                        if i:
                            found = dict(pair)
                            measured.append(found["gateway"])
                            base.append(found["floor"])
                    figures.append(Figure(f"intake, {store}: deliveries/s / the floor's", base,
                                          measured, INTAKE_TARGET, higher=True, unit="/s",
                                          paired=True))  # fmt: skip
                    await drained(gateway)  # what the intake runs queued, before the paced runs
                    rows += await end_to_end(gateway, sink, store, paced_seconds, burst_count,
                                             rates)  # fmt: skip
    report(f"relay: wrk -c{connections} {seconds}s x{rounds}, paced {paced_seconds:g} s "
           f"({machine()})", rows, figures)  # fmt: skip
    return min(f.ratio for f in figures)


async def drained(gateway: str, limit: float = 600) -> None:
    """Wait until ``gateway`` has forwarded (or given up) every relay it queued."""
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            async with session.get(f"{gateway}/metrics", headers=READ) as answer:
                if _outstanding(await answer.text()) <= 0:
                    return
            await asyncio.sleep(0.2)


def _outstanding(metrics: str) -> float:
    """Relays this gateway queued and has not forwarded or given up yet (its counters)."""
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("gateway_relays_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    return counts.get("queued", 0) - counts.get("forwarded", 0) - counts.get("failed", 0)


async def wrk_posts(url: str, seconds: int, connections: int, script: str, data: str) -> float:
    """Deliveries a second ``wrk`` had answered 202 (its script posts the lines of ``data``)."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script, url, "--", data,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps or "Non-2xx" in out:
        raise RuntimeError(f"wrk against {url} failed:\n{out}")
    return float(rps.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink", action="store_true", help="run the destination alone")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paced", type=float, default=10.0, help="seconds of each paced run")
    parser.add_argument("--burst", type=int, default=20_000, help="deliveries in the burst")
    parser.add_argument("--rates", default=",".join(map(str, RATES)),
                        help="the paced runs' deliveries a second, comma-separated")  # fmt: skip
    args = parser.parse_args(argv)
    rates = tuple(int(r) for r in args.rates.split(","))
    if args.sink:
        with contextlib.suppress(KeyboardInterrupt):
            run_fast(serve_baseline(sink_app(), "relay sink", args.port))
        return
    asyncio.run(run(args.seconds, args.connections, args.rounds, args.paced, args.burst, rates))


if __name__ == "__main__":
    main()
