"""Slow clients: how a well-behaved client fares while a slowloris holds the gateway's sockets.

The gateway runs in its own process (one memory account). A well-behaved client on 127.0.0.1
calls ``GET /healthz`` one request after another (a new connection each), first alone (the
baseline), then while an attacker on 127.0.0.2 keeps ``--attackers`` connections open, each
sending a request head one header line per second and reconnecting a second after it is cut
off or refused (the attacker runs in a process of its own).
It runs twice: with the default limits (``max_connections = 1024``, no per-client limit) and
with ``max_connections_per_client = 64``.

Printed per run: the share of the client's requests answered 200 and 503, and its p99 latency
as a ratio to the baseline's. Target: with a per-client limit every request is served, p99
within 10x the baseline; with the defaults every request is answered (200 or an immediate 503,
never a hang or a refused connection).

    python bench/slow_clients.py [--attackers 3000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Figure, gateway_process, machine, process, report

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"


def config(directory: str, per_client: int) -> str:
    path = Path(directory) / f"gateway-{per_client}.toml"
    path.write_text(
        f"""
[accounts.mem]
provider = "memory"
[server]
port = 0
max_connections_per_client = {per_client}
[[server.api_keys]]
name = "bench"
scope = "read"
key = "bench-api-key-0123456789"
"""
    )
    return str(path)


async def probe(host: str, port: int) -> tuple[int, float]:
    """(status or 0 for a failure, seconds) of one request on a new connection."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.1", 0))
            writer.write(REQUEST)
            data = await reader.read()
            writer.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    except (OSError, TimeoutError, ValueError):
        status = 0
    return status, time.perf_counter() - started


async def client(host: str, port: int, seconds: float) -> list[tuple[int, float]]:
    results = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        results.append(await probe(host, port))
    return results


async def slowloris(host: str, port: int) -> None:
    """One attacker connection: a request head, a header line a second; when cut off or
    refused, again a second later."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
            for i in itertools.count():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1):
                        if await reader.read(4096) == b"":
                            break
                writer.write(b"X-Slow-%d: 1\r\n" % i)
            writer.close()
        except OSError:
            pass
        await asyncio.sleep(1)


async def attack(target: str, attackers: int) -> None:
    host, port = target.rsplit(":", 1)
    print("attacking", flush=True)
    await asyncio.gather(*(slowloris(host, int(port)) for _ in range(attackers)))


def p99(results: list[tuple[int, float]]) -> float:
    times = sorted(t for _, t in results)
    return times[min(len(times) - 1, int(len(times) * 0.99))]


async def run(attackers: int, seconds: int) -> float:
    rows: list[tuple[str, str]] = []
    ratios = {}
    shares = {}
    p99s: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for per_client in (0, 64):
            async with gateway_process(config(tmp, per_client)) as url:
                host, port = url.removeprefix("http://").rsplit(":", 1)
                baseline = await client(host, int(port), seconds / 2)
                async with process(
                    "bench/slow_clients.py", "--attack", f"{host}:{port}",
                    "--attackers", str(attackers), ready=r"(attacking)",
                ):  # fmt: skip
                    await asyncio.sleep(min(3, seconds))  # let the attack build up
                    attacked = await client(host, int(port), seconds)
            n = len(attacked)
            ok = sum(s == 200 for s, _ in attacked) / n
            busy = sum(s == 503 for s, _ in attacked) / n
            shares[per_client] = (ok, busy)
            ratios[per_client] = p99(attacked) / p99(baseline)
            p99s[per_client] = (p99(baseline), p99(attacked))
            label = f"per-client limit {per_client or 'none'}"
            rows.append(
                (f"{label}, alone", f"{len(baseline)} requests, p99 {p99(baseline) * 1000:.1f} ms")
            )
            rows.append((
                f"{label}, {attackers} slow",
                f"{n} requests, {ok:.0%} 200, {busy:.0%} 503, p99 {p99(attacked) * 1000:.1f} ms "
                f"({ratios[per_client]:.2f}x)",
            ))  # fmt: skip
    rows.append(("machine", machine()))
    figures = [
        Figure("p99 of a well-behaved client, per-client limit 64: attacked / alone",
               [p99s[64][0]], [p99s[64][1]], 10.0, unit="ms", scale=1000),
        Figure("its requests served (200), per-client limit 64: share / all",
               [1.0], [shares[64][0]], 1.0, higher=True, unit=""),
        Figure("requests answered (200 or 503) without a per-client limit: share / all",
               [1.0], [sum(shares[0])], 1.0, higher=True, unit=""),
    ]  # fmt: skip
    report("Slow clients: a well-behaved client under a slowloris", rows, figures)
    return ratios[64]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--attack", metavar="HOST:PORT", help="be the attacker (its own process)")
    args = parser.parse_args()
    if args.attack:
        asyncio.run(attack(args.attack, args.attackers))
    else:
        asyncio.run(run(args.attackers, args.seconds))


if __name__ == "__main__":
    main()
