"""Proxy throughput: wrk, 50 connections, on one webhook through the gateway.

Three targets are loaded in turn with the same ``wrk`` settings (its own process; Debian package
``wrk``): the UiPath emulator directly (``GET /odata/Webhooks(1)``), a minimal pass-through
aiohttp proxy in front of it (bench/passthrough.py), and the gateway
(``GET /v1/accounts/orch/webhooks/1``). Each runs in its own process. Targets: the gateway's
throughput >= 0.9x the pass-through's, its p99 latency <= 1.5x the pass-through's.

    python bench/proxy_throughput.py [--seconds 10] [--connections 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, machine, process, report, uipath_emulator

API_KEY = "bench-api-key-0123456789"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


async def wrk(url: str, seconds: int, connections: int, header: str) -> tuple[float, float]:
    """(requests per second, p99 latency in seconds) of one wrk run."""
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out = (await proc.communicate())[0].decode()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not (rps and p99) or non2xx:
        raise RuntimeError(f"wrk against {url} failed:\n{out}")
    return float(rps.group(1)), float(p99.group(1)) * UNITS[p99.group(2)]


def gateway_config(upstream: str, directory: str) -> str:
    path = Path(directory) / "gateway.toml"
    path.write_text(
        f"""
[accounts.orch]
provider = "uipath"
base_url = "{upstream}"
token = "{PAT}"

[server]
port = 0
[[server.api_keys]]
name = "bench"
scope = "read"
key = "{API_KEY}"
"""
    )
    return str(path)


async def run(seconds: int, connections: int, rounds: int) -> tuple[float, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    auth = f"Authorization: Bearer {PAT}"
    results: dict[str, list[tuple[float, float]]] = {"direct": [], "passthrough": [], "gateway": []}
    with tempfile.TemporaryDirectory() as tmp:
        async with uipath_emulator("--webhooks", "1") as upstream:
            config = gateway_config(upstream, tmp)
            async with (
                process("bench/passthrough.py", "--upstream", upstream) as passthrough,
                process("-m", "gateway.cli", "serve", "--config", config, "--log-level", "INFO",
                        ready=r"webhook-gateway on (http://[\d.:]+)") as gateway,
            ):  # fmt: skip
                targets = {
                    "direct": (f"{upstream}/odata/Webhooks(1)", auth),
                    "passthrough": (f"{passthrough}/odata/Webhooks(1)", auth),
                    "gateway": (
                        f"{gateway}/v1/accounts/orch/webhooks/1",
                        f"Authorization: Bearer {API_KEY}",
                    ),
                }
                for url, header in targets.values():  # warm up: connections, token, caches
                    await wrk(url, 1, connections, header)
                for _ in range(rounds):  # interleaved, so drift hits all alike
                    for name, (url, header) in targets.items():
                        results[name].append(await wrk(url, seconds, connections, header))
    best = {
        name: (max(r[0] for r in runs), min(r[1] for r in runs)) for name, runs in results.items()
    }
    throughput = best["gateway"][0] / best["passthrough"][0]
    latency = best["gateway"][1] / best["passthrough"][1]
    rows = [
        (name, f"{rps:,.0f} req/s, p99 {p99 * 1000:.1f} ms") for name, (rps, p99) in best.items()
    ]
    rows.append(("pass-through vs direct", f"{best['passthrough'][0] / best['direct'][0]:.2f}x"))
    report(
        f"proxy throughput: wrk -c{connections} {seconds}s x{rounds}, best run each ({machine()})",
        [*rows, ("p99 gateway / pass-through", f"{latency:.2f} (target <= 1.5)")],
        throughput,
        ">= 0.9 throughput and <= 1.5 p99",
        throughput >= 0.9 and latency <= 1.5,
    )
    return throughput, latency


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    asyncio.run(run(args.seconds, args.connections, args.rounds))


if __name__ == "__main__":
    main()
