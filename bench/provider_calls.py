"""Provider calls: what the gateway spends of a provider's time and rate limit, counted at the
UiPath emulator (its own process, every request counted: ``GET /_emulator/state``).

- **Merged writes**: 20 concurrent add-event changes of one webhook, the emulator adding 50 ms
  to each answer. Baseline in the same run: the same 20 changes one after another (what the
  update lock made of them before: each its own read and write). Targets: <= 0.35 s and <= 6
  requests, every change applied and answered.
- **A scalar update** (``enabled = false``): requests; target 1 (Orchestrator merges a PATCH).
- **Paging 5,000 webhooks through the proxy** at its default ``limit`` (100): provider pages;
  target <= 1.2x the provider's minimum (5 at ``$top=1000``).
- **Two command-line runs** that each create a webhook: catalog reads (``GetEventTypes``);
  target 1 (kept between runs).
- **Rate limit**: 300 creates from two replicas (two ``serve`` processes on one PostgreSQL
  store, 150 each through ``POST /v1/accounts/orch/webhooks``, 4 at a time each as ``apply``
  writes), the emulator limited to 20 requests a second; the time against what the limit
  allows (300 / 20 = 15 s), the 429s it answered, and creates lost. Target: none lost, time
  <= 1.5x the limit's.

    python bench/provider_calls.py [--latency 0.05] [--rate 20] [--creates 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PAT,
    Figure,
    gateway_config,
    gateway_process,
    machine,
    postgres_database,
    process,
    report,
)
from gateway import Gateway, WebhookChange
from gateway.config import parse_config
from providers.uipath.emulator import CATALOG

API_KEY = "bench-provider-calls-key-7Yt3"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
EVENTS = sorted(e["Name"] for e in CATALOG)


@contextlib.asynccontextmanager
async def emulator(latency: float = 0.0, *extra: str) -> AsyncIterator[str]:
    async with process(
        "-m", "providers.uipath.emulator", "--port", "0", "--token", PAT,
        "--latency", str(latency), *extra, ready=r"emulator on (http://[\d.:]+)",
    ) as url:  # fmt: skip
        yield url


async def state(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(f"{url}/_emulator/state") as answer:
        found: dict[str, Any] = await answer.json()
        return found


def requests_of(found: dict[str, Any], needle: str = " /odata") -> int:
    return sum(n for key, n in found["requests"].items() if needle in key)


async def fire(session: aiohttp.ClientSession, url: str, path: str, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {PAT}", "Content-Type": "application/json"}
    async with session.post(f"{url}{path}", json=body, headers=headers) as answer:
        return await answer.json()


def config(url: str, **extra: Any) -> Any:
    return parse_config({"accounts": {"orch": {"provider": "uipath", "base_url": url,
                                               "token": PAT}}, **extra})  # fmt: skip


def _met(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


async def merged_writes(latency: float, rounds: int) -> tuple[list[tuple[str, str]], Figure]:
    rows = []
    alone, merged, counts = [], [], []
    async with (
        emulator(latency) as url,
        aiohttp.ClientSession() as session,
        Gateway(config(url)) as gw,
    ):
        account = gw.account("orch")
        await account.event_types()
        for _ in range(rounds):
            ids = []
            for _ in range(2):
                made = await fire(session, url, "/odata/Webhooks", {
                    "Name": f"merge-{time.monotonic_ns()}", "Url": "https://93.184.215.14/in",
                    "Events": [{"EventType": "job.completed"}]})  # fmt: skip
                ids.append(str(made["Id"]))
            changes = [WebhookChange(add_events={e}) for e in EVENTS[1:21]]
            started = time.perf_counter()
            for change in changes:  # the baseline: one after another
                await account.update(ids[0], change)
            alone.append(time.perf_counter() - started)
            before = requests_of(await state(session, url))
            started = time.perf_counter()
            answers = await asyncio.gather(*(account.update(ids[1], c) for c in changes))
            merged.append(time.perf_counter() - started)
            counts.append(requests_of(await state(session, url)) - before)
            final = await account.get(ids[1])
            if not all(set(EVENTS[1:21]) <= a.events | final.events for a in answers) or \
                    not set(EVENTS[:21]) <= final.events:  # fmt: skip
                raise RuntimeError("a merged change was not applied")
    rows.append(("20 changes of one webhook, one after another (the baseline)",
                 f"best {min(alone):.2f} s"))  # fmt: skip
    rows.append(("20 concurrent changes of one webhook, merged",
                 f"best {min(merged):.3f} s, median {sorted(merged)[len(merged) // 2]:.3f} s; "
                 f"{max(counts)} provider requests at most (target <= 0.35 s, <= 6 requests: "
                 f"{_met(min(merged) <= 0.35 and max(counts) <= 6)})"))  # fmt: skip
    figure = Figure("20 concurrent changes of one webhook / the same one after another",
                    alone, merged, 0.35 / 2.07)  # fmt: skip
    return rows, figure


async def scalar_and_paging(tmp: str) -> list[tuple[str, str]]:
    rows = []
    async with emulator(0.0, "--webhooks", "5000") as url, aiohttp.ClientSession() as session:
        async with Gateway(config(url)) as gw:
            before = await state(session, url)
            await gw.account("orch").update("1", WebhookChange(enabled=False))
            used = requests_of(await state(session, url)) - requests_of(before)
        rows.append(("a scalar update (enabled = false)",
                     f"{used} provider request(s) (target 1: {_met(used == 1)})"))  # fmt: skip
        path = gateway_config(tmp, url, key=API_KEY, scope="read", name="paging")
        async with gateway_process(path) as proxy:
            before = await state(session, url)
            cursor, items = None, 0
            while True:
                params: dict[str, str] = {"cursor": cursor} if cursor else {}
                async with session.get(f"{proxy}/v1/accounts/orch/webhooks", params=params,
                                       headers=AUTH) as answer:  # fmt: skip
                    page = await answer.json()
                items += len(page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            pages = requests_of(await state(session, url), "GET /odata/Webhooks") - \
                requests_of(before, "GET /odata/Webhooks")  # fmt: skip
        ratio = pages / 5
        rows.append((f"paging {items:,} through the proxy at limit=100",
                     f"{pages} provider pages, {ratio:.1f}x the provider's minimum of 5 (target "
                     f"<= 1.2x: {'MET' if ratio <= 1.2 else 'NOT MET'})"))  # fmt: skip
        toml = Path(tmp) / "cli.toml"
        toml.write_text(f'[accounts.orch]\nprovider = "uipath"\nbase_url = "{url}"\n'
                        f'token = "{PAT}"\n')  # fmt: skip
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        before = await state(session, url)
        for n in range(2):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway.cli", "create", "orch", "--config", str(toml),
                "--name", f"cli-{n}", "--url", "https://93.184.215.14/in", "--event",
                "job.completed", env=env, stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            if await proc.wait() != 0:
                raise RuntimeError("the command line's create failed")
        reads = requests_of(await state(session, url), "GetEventTypes") - \
            requests_of(before, "GetEventTypes")  # fmt: skip
        rows.append(("two command-line runs that create",
                     f"{reads} catalog read(s) (target 1: {_met(reads == 1)})"))  # fmt: skip
    return rows


async def rate_limited(tmp: str, rate: int, creates: int) -> tuple[list[tuple[str, str]], bool]:
    async with (
        postgres_database("calls") as pg,
        emulator(0.0, "--rate-limit", f"{rate}/1") as url,
    ):
        extra = f'[state]\nurl = "{pg}"\n[server.destinations]\nallow_unresolvable = true\n'
        paths = [gateway_config(tmp, url, key=API_KEY, scope="write", name=f"replica-{i}",
                                extra=extra) for i in range(2)]  # fmt: skip
        async with gateway_process(paths[0]) as one, gateway_process(paths[1]) as two, \
                aiohttp.ClientSession() as session:  # fmt: skip
            await session.get(f"{one}/v1/accounts/orch/event-types", headers=AUTH)
            before = await state(session, url)
            gate = {one: asyncio.Semaphore(4), two: asyncio.Semaphore(4)}
            failed = 0

            async def create(replica: str, n: int) -> None:
                nonlocal failed
                body = {"name": f"limited-{n}", "url": f"https://93.184.215.14/{n}",
                        "events": ["job.completed"]}  # fmt: skip
                async with (
                    gate[replica],
                    session.post(
                        f"{replica}/v1/accounts/orch/webhooks", json=body, headers=AUTH
                    ) as answer,
                ):
                    failed += answer.status != 201

            started = time.perf_counter()
            await asyncio.gather(*(create(one if n % 2 else two, n) for n in range(creates)))
            took = time.perf_counter() - started
            after = await state(session, url)
    made = after["webhooks"] - before["webhooks"]
    limited = after["rate_limited"] - before["rate_limited"]
    allowed = creates / rate
    ok = failed == 0 and made == creates and took <= 1.5 * allowed
    return [(f"{creates} creates from two replicas at {rate}/s",
             f"{took:.1f} s, {took / allowed:.2f}x what the limit allows ({allowed:g} s); "
             f"{made} made, {failed} failed; {limited} answered 429 (target: none lost, <= 1.5x: "
             f"{'MET' if ok else 'NOT MET'})")], ok  # fmt: skip


async def run(latency: float = 0.05, rounds: int = 5, rate: int = 20,
              creates: int = 300) -> bool:  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        rows, figure = await merged_writes(latency, rounds)
        rows += await scalar_and_paging(tmp)
        limited_rows, ok = await rate_limited(tmp, rate, creates)
        rows += limited_rows
    return report(f"provider calls ({machine()})", rows, [figure]) and ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=20)
    parser.add_argument("--creates", type=int, default=300)
    args = parser.parse_args(argv)
    asyncio.run(run(args.latency, args.rounds, args.rate, args.creates))


if __name__ == "__main__":
    main()
