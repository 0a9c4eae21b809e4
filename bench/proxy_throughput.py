"""Proxy throughput: wrk, 50 connections, reading webhooks through the gateway.

Four targets are loaded in turn with the same ``wrk`` settings (its own process; Debian package
``wrk``): the UiPath emulator directly (``GET /odata/Webhooks(n)``), a minimal pass-through
aiohttp proxy in front of it (bench/passthrough.py, run as ``serve`` runs: uvloop when
installed, the same GC settings), the gateway as configured by default
(``GET /v1/accounts/orch/webhooks/n``), and the gateway with ``batch_reads = 0``, where every
read of a different webhook is a provider request of its own. Each runs in its own process.

The headline reads 1,000 webhooks in turn, so that no two reads in flight are of the same
webhook. Targets: throughput >= 1.2x the pass-through's, p99 <= 1.0x. There the gateway sends
concurrent reads of different webhooks as batches (gateway/transport/collapse.py; UiPath's
``$filter=Id eq 4 or Id eq 7 ...``): what it shares is printed (``gateway_shared_reads_total``
against the reads served), and the ``batch_reads = 0`` row shows the gateway's own cost with
nothing shared. A second scenario reads one webhook from every connection, where reads of the
same webhook share one provider request; it is reported beside the first, for information.

    python bench/proxy_throughput.py [--seconds 10] [--connections 50] [--rounds 3]
"""

from __future__ import annotations

import asyncio
import re
import shutil
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
    process,
    report,
    uipath_emulator,
    wrk_main,
)

API_KEY = "bench-api-key-0123456789"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


SPREAD = 1000  # webhooks read in turn in the second scenario

# wrk's two threads walk the ids from different starting points, one request after another, so
# requests that are in flight together never read the same webhook.
SPREAD_SCRIPT = """
local n, i = {n}, 0
function setup(thread) thread:set("offset", i * {half}); i = i + 1 end
function init(args) counter = offset end
function request()
  counter = counter + 1
  return wrk.format(nil, string.format("{path}", counter % n + 1))
end
"""


async def wrk(
    url: str, seconds: int, connections: int, header: str, script: str | None = None
) -> tuple[float, float]:
    """(requests per second, p99 latency in seconds) of one wrk run."""
    extra = ["-s", script] if script else []
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not (rps and p99) or non2xx:
        raise RuntimeError(f"wrk against {url} failed:\n{out}")
    return float(rps.group(1)), float(p99.group(1)) * UNITS[p99.group(2)]


def spread_script(directory: str, name: str, path: str) -> str:
    """A wrk script reading ``path % id`` for ids 1..SPREAD in turn."""
    script = Path(directory) / f"{name}.lua"
    script.write_text(SPREAD_SCRIPT.format(n=SPREAD, half=SPREAD // 2, path=path))
    return str(script)


Result = tuple[float, float]  # (requests per second, p99 seconds)


async def run(seconds: int, connections: int, rounds: int) -> tuple[float, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    auth = f"Authorization: Bearer {PAT}"
    gateway_auth = f"Authorization: Bearer {API_KEY}"
    results: dict[tuple[str, str], list[Result]] = {}
    shared: list[float] = []
    used: dict[str, tuple[float, ...]] = {}  # spread: CPU seconds a read (proxy, emulator)
    with tempfile.TemporaryDirectory() as tmp:
        async with uipath_emulator("--webhooks", str(SPREAD)) as upstream:
            config = gateway_config(tmp, upstream, key=API_KEY, scope="read")
            unbatched = gateway_config(tmp, upstream, key=API_KEY, scope="read",
                                       name="unbatched", account="batch_reads = 0")  # fmt: skip
            async with (
                process("bench/passthrough.py", "--upstream", upstream) as passthrough,
                gateway_process(config) as gateway,
                gateway_process(unbatched) as gateway_unbatched,
            ):
                odata, ours = "/odata/Webhooks(%d)", "/v1/accounts/orch/webhooks/%d"
                bases = {
                    "direct": (upstream, odata, auth),
                    "passthrough": (passthrough, odata, auth),
                    "gateway": (gateway, ours, gateway_auth),
                    "gateway batch_reads=0": (gateway_unbatched, ours, gateway_auth),
                }
                runs: list[tuple[str, str, str, str, str | None]] = []
                for name, (base, path, header) in bases.items():
                    if name != "gateway batch_reads=0":
                        runs.append(("same", name, base + path % 1, header, None))
                    spread = spread_script(tmp, name.replace(" ", "_"), path)
                    runs.append(("spread", name, base + path % 1, header, spread))
                for _, _, url, header, script in runs:  # warm up: connections, token, caches
                    await wrk(url, 1, connections, header, script)
                for _ in range(rounds):  # interleaved, so drift hits all alike
                    for scenario, name, url, header, script in runs:
                        headline = scenario == "spread" and name == "gateway"
                        if headline:
                            before = await shared_reads(gateway)
                        meter = CpuMeter(bases[name][0], upstream)
                        result = await wrk(url, seconds, connections, header, script)
                        results.setdefault((scenario, name), []).append(result)
                        if scenario == "spread" and name != "direct":
                            used[name] = meter.per(result[0] * seconds)
                        if headline:
                            after = await shared_reads(gateway)
                            shared.append((after[0] - before[0]) / (after[1] - before[1]))
    best = {key: (max(r[0] for r in rs), min(r[1] for r in rs)) for key, rs in results.items()}

    def ratios(scenario: str, name: str = "gateway") -> tuple[float, float]:
        gateway, passthrough = best[(scenario, name)], best[(scenario, "passthrough")]
        return gateway[0] / passthrough[0], gateway[1] / passthrough[1]

    throughput, latency = ratios("same")
    spread_throughput, spread_latency = ratios("spread")
    own_throughput, own_latency = ratios("spread", "gateway batch_reads=0")
    rows = [
        (f"{scenario} {name}", f"{rps:,.0f} req/s, p99 {p99 * 1000:.1f} ms")
        for (scenario, name), (rps, p99) in best.items()
    ]
    relay = best[("spread", "passthrough")][0] / best[("spread", "direct")][0]
    rows += [
        ("spread: pass-through vs direct", f"{relay:.2f}x"),
        ("spread: reads the gateway shared (batches)",
         f"{min(shared):.0%}-{max(shared):.0%} of reads ({1 - max(shared):.2f}-"
         f"{1 - min(shared):.2f} provider requests a read)"),
        ("spread: p99 gateway / pass-through", f"{spread_latency:.2f} (target <= 1.0)"),
        ("spread, batch_reads = 0 (own cost): gateway / pass-through",
         f"{own_throughput:.2f}x throughput, {own_latency:.2f}x p99 (for information)"),
        ("same webhook (reads shared): gateway / pass-through",
         f"{throughput:.2f}x throughput, {latency:.2f}x p99 (for information)"),
    ]  # fmt: skip
    rows += [
        (f"spread: CPU a read, {name}",
         f"proxy {proxy * 1e6:,.0f} us, emulator {emulator * 1e6:,.0f} us")
        for name, (proxy, emulator) in used.items()
    ]  # fmt: skip
    gw, pt = results[("spread", "gateway")], results[("spread", "passthrough")]
    figures = [
        Figure("spread reads: gateway / pass-through throughput", [r[0] for r in pt],
               [r[0] for r in gw], 1.2, higher=True, unit="req/s"),
        Figure("spread reads: gateway / pass-through p99", [r[1] for r in pt],
               [r[1] for r in gw], 1.0, unit="ms", scale=1000),
    ]  # fmt: skip
    report(
        f"proxy throughput: wrk -c{connections} {seconds}s x{rounds}, best run each ({machine()})",
        rows,
        figures,
    )
    return spread_throughput, spread_latency


SERVED = r'^gateway_requests_total\{.*route="/v1/accounts/\{account\}/webhooks/\{id\}".*\} (\S+)$'


async def shared_reads(gateway: str) -> tuple[float, float]:
    """``(reads shared, webhook reads served)`` so far, from the gateway's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gateway}/metrics", headers={"Authorization": f"Bearer {API_KEY}"}) as resp,
    ):
        text = await resp.text()
    shared = sum(
        float(v) for v in re.findall(r"^gateway_shared_reads_total\{.*\} (\S+)$", text, re.M)
    )
    served = sum(float(v) for v in re.findall(SERVED, text, re.M))
    return shared, served


def main(argv: list[str] | None = None) -> None:
    wrk_main(__doc__, run, argv, seconds=10, rounds=3)


if __name__ == "__main__":
    main()
