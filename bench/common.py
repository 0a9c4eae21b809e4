"""Helpers the benchmarks share: processes, timing, reporting.

Every server a benchmark measures runs in its own process (``python -m ...``), as it would in
production, so the load generator, the proxy and the emulator do not share one event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAT = "bench-personal-access-token"


#: The process id behind each URL ``process`` yielded (for ``cpu_seconds``).
PIDS: dict[str, int] = {}
#: Every process ``process`` started since the last ``report``: [label, pid, peak RSS in kB
#: once it has exited (None while it runs)].
STARTED: list[list[Any]] = []


def peak_rss_kb(pid: int) -> int | None:
    """The peak resident set (``VmHWM``) of a running process, in kB (None: cannot tell)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _label(args: tuple[str, ...]) -> str:
    if args[0] == "-m":
        return args[1] + (f" {args[2]}" if len(args) > 2 and not args[2].startswith("-") else "")
    return Path(args[0]).name


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) the process serving ``url`` has used so far; 0.0 where
    ``/proc`` cannot tell (not Linux)."""
    try:
        fields = Path(f"/proc/{PIDS[url]}/stat").read_text().rsplit(")", 1)[1].split()
    except (KeyError, OSError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (all but idle and I/O wait,
    every process and the kernel); 0.0 where ``/proc/stat`` cannot tell (not Linux)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """The CPU the processes serving ``urls`` use from now on, per request (``per``), and the
    whole machine's (``machine_per``, ``busy``)."""

    def __init__(self, *urls: str) -> None:
        self.urls = urls
        self.start = [cpu_seconds(url) for url in urls]
        self.machine_start = machine_cpu_seconds()
        self.started = time.monotonic()

    def per(self, requests: float) -> tuple[float, ...]:
        """CPU seconds a request, for each URL, since this meter was made."""
        return tuple(
            (cpu_seconds(url) - start) / requests
            for url, start in zip(self.urls, self.start, strict=True)
        )

    def machine_per(self, requests: float) -> float:
        """The whole machine's busy CPU seconds a request since this meter was made."""
        return (machine_cpu_seconds() - self.machine_start) / requests

    def busy(self) -> float:
        """The share of all the machine's cores busy since this meter was made (0 to 1)."""
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        return (machine_cpu_seconds() - self.machine_start) / elapsed if elapsed else 0.0


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@asynccontextmanager
async def process(*args: str, ready: str = r"(https?://[\d.:]+)") -> AsyncIterator[str]:
    """Run ``python ARGS``; yield the first URL it prints; stop it on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError(f"{' '.join(args)} exited before it was ready")
                match = re.search(ready, line)
                if match:
                    break
        PIDS[match.group(1)] = proc.pid
        STARTED.append([_label(args), proc.pid, None])
        yield match.group(1)
    finally:
        if proc.returncode is None:
            for entry in STARTED:
                if entry[1] == proc.pid:
                    entry[2] = peak_rss_kb(proc.pid)
            proc.terminate()
            await proc.wait()


def gateway_process(config: str, *extra: str) -> AbstractAsyncContextManager[str]:
    """``webhook-gateway serve --config CONFIG [EXTRA...]`` in a process of its own; yields its
    URL once it listens."""
    return process(
        "-m", "gateway.cli", "serve", "--config", config, *extra,
        ready=r"webhook-gateway on (http://[\d.:]+)",
    )  # fmt: skip


def gateway_config(
    directory: str,
    upstream: str,
    *,
    key: str,
    scope: str,
    name: str = "gateway",
    extra: str = "",
    account: str = "",
) -> str:
    """A config file for a gateway in front of one UiPath emulator (account ``orch``, the
    bench token), listening on any free port with one API key; ``extra``: more TOML,
    ``account``: more keys of the account's table."""
    path = Path(directory) / f"{name}.toml"
    path.write_text(
        f"""
[accounts.orch]
provider = "uipath"
base_url = "{upstream}"
token = "{PAT}"
{account}

[server]
port = 0
[[server.api_keys]]
name = "bench"
scope = "{scope}"
key = "{key}"
{extra}"""
    )
    return str(path)


@asynccontextmanager
async def postgres_database(name: str) -> AsyncIterator[str]:
    """A throw-away PostgreSQL server (``gateway.testing.postgres``) with an empty database
    ``name``; its URL. (asyncpg and the server binaries: ``python -m bench`` checks them.)"""
    from gateway.testing.postgres import create_database, temporary_server

    with temporary_server() as server:
        yield await create_database(server, name)


def uipath_emulator(*extra: str) -> AbstractAsyncContextManager[str]:
    """A UiPath emulator process accepting the bench token."""
    return process(
        "-m", "providers.uipath.emulator", "--port", "0", "--token", PAT, *extra,
        ready=r"emulator on (http://[\d.:]+)",
    )  # fmt: skip


async def best_of(runs: int, work: Callable[[], Awaitable[object]]) -> float:
    """The fastest of ``runs`` timings of ``work`` (the least disturbed by the noisy machine)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass
class Figure:
    """One measured figure against its baseline: the value of each round on both sides.

    ``ratio`` is measured / baseline (of the medians; ``best_ratio`` of the best rounds).
    ``higher`` says a higher ratio is better (throughput); else lower is (time, latency).
    ``paired``: round ``i`` of each side ran next to the other's round ``i`` (interleaved), and
    ``ratio`` is the median of the rounds' own ratios, so that a slow spell of the machine,
    which hits both sides of a pair alike, does not count as the proxy's.
    """

    name: str
    baseline: Sequence[float]
    measured: Sequence[float]
    target: float
    higher: bool = False
    unit: str = "s"
    scale: float = 1.0  # shown values are value * scale (e.g. 1000 for ms)
    paired: bool = False

    def _best(self, values: Sequence[float]) -> float:
        return max(values) if self.higher else min(values)

    @property
    def ratio(self) -> float:
        if self.paired:
            return statistics.median(self.round_ratios)
        return statistics.median(self.measured) / statistics.median(self.baseline)

    @property
    def round_ratios(self) -> list[float]:
        return [m / b for m, b in zip(self.measured, self.baseline, strict=True)]

    @property
    def best_ratio(self) -> float:
        return self._best(self.measured) / self._best(self.baseline)

    @property
    def met(self) -> bool:
        return self.ratio >= self.target if self.higher else self.ratio <= self.target

    def lines(self) -> list[str]:
        def shown(values: Sequence[float]) -> str:
            best, mid = self._best(values) * self.scale, statistics.median(values) * self.scale
            return f"best {best:,.4g} {self.unit}, median {mid:,.4g} {self.unit}"

        sign = ">=" if self.higher else "<="
        how = "median of the paired rounds'" if self.paired else "median"
        lines = [
            f"{self.name}:",
            f"    baseline  {shown(self.baseline)} ({len(self.baseline)} rounds)",
            f"    measured  {shown(self.measured)} ({len(self.measured)} rounds)",
        ]
        if self.paired:
            each = ", ".join(f"{r:.3f}" for r in self.round_ratios)
            lines.append(f"    rounds    {each}")
        lines.append(
            f"    ratio     {how} {self.ratio:.3f}, best {self.best_ratio:.3f} "
            f"(target {sign} {self.target:g}): {'MET' if self.met else 'NOT MET'}"
        )
        return lines


def report(title: str, rows: list[tuple[str, str]], figures: Sequence[Figure]) -> bool:
    """Print the figures of one benchmark, its other facts (``rows``) and the peak RSS of each
    process it started (and of this one); whether every figure met its target."""
    print(f"\n== {title}")
    if rows:
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            print(f"   {key.ljust(width)}  {value}")
    for figure in figures:
        for line in figure.lines():
            print(f"   {line}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    peaks: list[tuple[str, int | None]] = [("this benchmark's own process", own)]
    for label, pid, peak in STARTED:
        peaks.append((f"{label} (pid {pid})", peak if peak is not None else peak_rss_kb(pid)))
    print("   peak RSS:")
    for label, kb in peaks:
        print(f"    {label}: {'unknown' if kb is None else f'{kb / 1024:.1f} MB'}")
    STARTED.clear()
    met = all(f.met for f in figures)
    print(f"   all targets: {'MET' if met else 'NOT MET'}")
    return met


def wrk_main(
    doc: str,
    run: Callable[[int, int, int], Coroutine[Any, Any, object]],
    argv: list[str] | None,
    *,
    seconds: int,
    rounds: int,
) -> None:
    """The command line of a ``wrk`` benchmark: ``--seconds`` a run, ``--connections`` (50),
    ``--rounds``; then ``run(seconds, connections, rounds)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=seconds)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=rounds)
    args = parser.parse_args(argv)
    asyncio.run(run(args.seconds, args.connections, args.rounds))


def median(values: list[float]) -> float:
    return statistics.median(values)
