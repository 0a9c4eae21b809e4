"""Paging through the proxy against the provider's own paging, at 1,000 and 5,000 webhooks.

Each side reads every webhook of one account in pages of 100, following its own position: the
baseline asks the provider directly (UiPath ``$top``/``$skip`` in ``$orderby=Id`` order,
Enterprise Core ``offset``/``count``, ``json.loads`` of each page), the measured side follows
``next_cursor`` through ``GET /v1/accounts/{account}/webhooks?limit=100`` of a gateway process.
Rounds alternate between the two. Figures: the whole listing (target <= 2x), and the cost of
the last page against the first (a page must cost the same whatever its number: <= 1.5x, where
an offset cursor re-reading everything before the page measured 30x and more). Also
``?limit=1`` of the largest account against one provider record.

    python bench/proxy_paging.py [--webhooks 1000 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PAT, Figure, gateway_process, machine, median, process, report

KEY = "bench-paging-key-0123456789"
CORE_TOKEN = "bench-core-token"  # noqa: S105 - the emulator's throw-away token
TENANT = "8c6b4a52-6d6e-4b0e-9d55-0b8f3f0c2f4e"
PAGE = 100
TOTAL_TARGET = 2.0
GROWTH_TARGET = 1.5

#: One page: ``(items, where the next starts or None)``.
Fetch = Callable[[Any], Awaitable[tuple[int, Any]]]


def _config(path: Path, orch: str, core: str) -> str:
    path.write_text(f"""
[accounts.orch]
provider = "uipath"
base_url = "{orch}"
token = "{PAT}"

[accounts.core]
provider = "enterprise_core"
base_url = "{core}"
tenant_locator = "{TENANT}"
token = "{CORE_TOKEN}"

[server]
port = 0
[[server.api_keys]]
name = "bench"
scope = "read"
key = "{KEY}"
""")
    return str(path)


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str],
               token: str) -> Any:  # fmt: skip
    async with session.get(url, params=params, headers={"Authorization": f"Bearer {token}"}) as r:
        if r.status != 200:
            raise RuntimeError(f"{url}: {r.status} {(await r.text())[:300]}")
        return json.loads(await r.read())


def _direct(session: aiohttp.ClientSession, kind: str, base: str, size: int) -> Fetch:
    async def uipath(skip: int) -> tuple[int, Any]:
        params = {"$top": str(size), "$skip": str(skip), "$count": "true", "$orderby": "Id"}
        body = await _get(session, f"{base}/odata/Webhooks", params, PAT)
        got = len(body["value"])
        return got, skip + got if skip + got < body["@odata.count"] else None

    async def core(offset: int) -> tuple[int, Any]:
        params = {"offset": str(offset), "count": str(size)}
        body = await _get(session, f"{base}/event/{TENANT}/webhooks/list", params, CORE_TOKEN)
        got = len(body["items"])
        return got, None if body["listCompleted"] else offset + got

    return uipath if kind == "uipath" else core


def _proxied(session: aiohttp.ClientSession, gateway: str, account: str, size: int) -> Fetch:
    async def fetch(cursor: str | None) -> tuple[int, Any]:
        params = {"limit": str(size), **({"cursor": cursor} if cursor else {})}
        body = await _get(session, f"{gateway}/v1/accounts/{account}/webhooks", params, KEY)
        return len(body["items"]), body["next_cursor"]

    return fetch


async def _walk(fetch: Fetch, start: Any) -> tuple[float, list[float], int]:
    """(total seconds, each page's seconds, webhooks) of reading every page."""
    pages, seen, position = [], 0, start
    began = time.perf_counter()
    while True:
        t = time.perf_counter()
        got, position = await fetch(position)
        pages.append(time.perf_counter() - t)
        seen += got
        if position is None:
            return time.perf_counter() - began, pages, seen


def _ends(pages: list[float]) -> tuple[float, float]:
    """The median cost of the first and of the last few pages (three each, or fewer)."""
    k = max(1, min(3, len(pages) // 3))
    return median(pages[:k]), median(pages[-k:])


async def _measure(session: aiohttp.ClientSession, gateway: str, urls: dict[str, str],
                   n: int, rounds: int) -> tuple[list[Figure], list[tuple[str, str]]]:  # fmt: skip
    figures, rows = [], []
    for account, kind in (("orch", "uipath"), ("core", "enterprise_core")):
        direct = _direct(session, kind, urls[account], PAGE)
        proxied = _proxied(session, gateway, account, PAGE)
        direct_start = 0
        for fetch, start in ((direct, direct_start), (proxied, None)):  # warm both
            if (await _walk(fetch, start))[2] != n:
                raise RuntimeError(f"{account}: did not list {n} webhooks")
        base_total, gw_total, base_growth, gw_growth, firsts, lasts = [], [], [], [], [], []
        for _ in range(rounds):
            total, pages, _ = await _walk(direct, direct_start)
            base_total.append(total)
            first, last = _ends(pages)
            base_growth.append(last / first)
            total, pages, _ = await _walk(proxied, None)
            gw_total.append(total)
            first, last = _ends(pages)
            gw_growth.append(last / first)
            firsts.append(first)
            lasts.append(last)
        figures.append(Figure(f"{kind}, {n:,} webhooks, every page: proxy / provider",
                              base_total, gw_total, TOTAL_TARGET))  # fmt: skip
        # Growth is judged on the proxy alone: its last page against its own first.
        figures.append(Figure(f"{kind}, {n:,} webhooks: the proxy's last page / its first",
                              [1.0] * rounds, gw_growth, GROWTH_TARGET, unit="x"))  # fmt: skip
        rows.append((f"{kind} {n:,}: proxy first / last page (median)",
                     f"{median(firsts) * 1000:.2f} / {median(lasts) * 1000:.2f} ms; "
                     f"provider's own last / first {median(base_growth):.2f}x"))  # fmt: skip
    return figures, rows


async def _limit_one(session: aiohttp.ClientSession, gateway: str, orch: str,
                     rounds: int) -> Figure:  # fmt: skip
    direct, proxied = _direct(session, "uipath", orch, 1), _proxied(session, gateway, "orch", 1)
    base, measured = [], []
    for _ in range(rounds * 4):
        t = time.perf_counter()
        await direct(0)
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        await proxied(None)
        measured.append(time.perf_counter() - t)
    return Figure("uipath ?limit=1 of the largest account: proxy / one provider record",
                  base, measured, TOTAL_TARGET, unit="ms", scale=1000)  # fmt: skip


async def run(webhooks: tuple[int, ...] = (1000, 5000), rounds: int = 5) -> bool:
    figures, rows = [], []
    for n in webhooks:
        async with (
            process("-m", "providers.uipath.emulator", "--port", "0", "--token", PAT,
                    "--webhooks", str(n), ready=r"emulator on (http://[\d.:]+)") as orch,
            process("-m", "providers.enterprise_core.emulator", "--port", "0", "--token",
                    CORE_TOKEN, "--tenant", TENANT, "--webhooks", str(n),
                    ready=r"emulator on (http://[\d.:]+)") as core,
        ):  # fmt: skip
            with tempfile.TemporaryDirectory() as tmp:
                config = _config(Path(tmp) / "gateway.toml", orch, core)
                async with gateway_process(config) as gateway, aiohttp.ClientSession() as s:
                    found, more = await _measure(s, gateway, {"orch": orch, "core": core}, n,
                                                 rounds)  # fmt: skip
                    figures += found
                    rows += more
                    if n == max(webhooks):
                        figures.append(await _limit_one(s, gateway, orch, rounds))
    return report(f"paging through the proxy, pages of {PAGE} ({machine()})", rows, figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(run(tuple(args.webhooks), args.rounds))


if __name__ == "__main__":
    main()
