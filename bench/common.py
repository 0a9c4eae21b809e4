"""Helpers the benchmarks share: processes, timing, reporting.

Every server a benchmark measures runs in its own process (``python -m ...``), as it would in
production, so the load generator, the proxy and the emulator do not share one event loop.
"""

from __future__ import annotations

import asyncio
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAT = "bench-personal-access-token"


#: The process id behind each URL ``process`` yielded (for ``cpu_seconds``).
PIDS: dict[str, int] = {}


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) the process serving ``url`` has used so far; 0.0 where
    ``/proc`` cannot tell (not Linux)."""
    try:
        fields = Path(f"/proc/{PIDS[url]}/stat").read_text().rsplit(")", 1)[1].split()
    except (KeyError, OSError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """The CPU the processes serving ``urls`` use from now on, per request (``per``)."""

    def __init__(self, *urls: str) -> None:
        self.urls = urls
        self.start = [cpu_seconds(url) for url in urls]

    def per(self, requests: float) -> tuple[float, ...]:
        """CPU seconds a request, for each URL, since this meter was made."""
        return tuple(
            (cpu_seconds(url) - start) / requests
            for url, start in zip(self.urls, self.start, strict=True)
        )


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
        yield match.group(1)
    finally:
        if proc.returncode is None:
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


def report(title: str, rows: list[tuple[str, str]], ratio: float, target: str, ok: bool) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n== {title}")
    for key, value in rows:
        print(f"   {key.ljust(width)}  {value}")
    print(f"   ratio {ratio:.3f} (target {target}): {'MET' if ok else 'NOT MET'}")


def median(values: list[float]) -> float:
    return statistics.median(values)
