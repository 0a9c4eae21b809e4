"""The least read-modify-write proxy: what any proxy must at least do to add or remove one
event of a UiPath webhook without losing concurrent updates, and nothing more.

UiPath's PATCH replaces the whole ``Events`` collection, so adding one event means reading the
record first, under a lock held until the PATCH is answered. This proxy does exactly that for
``PATCH /v1/accounts/orch/webhooks/{id}`` with ``{"add_events": [...]}`` or
``{"remove_events": [...]}``: a per-id ``asyncio.Lock``, the read (reads that start together go
as one ``$filter=Id eq 4 or Id eq 7 ...`` request of at most 16 ids, as the gateway's do), one
PATCH, and the record's JSON back. No validation, no typed model, no audit, no metrics, no
logs, no error handling: a baseline for ``bench/write_path.py``, not a server to use. It runs as
``serve`` does (uvloop when installed, the same GC settings).

    python bench/rmw_proxy.py --upstream http://127.0.0.1:8101 --token TOKEN
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.passthrough import SESSION, serve_baseline, with_session
from gateway.lifecycle import run_fast

BATCH = 16


def app(upstream: str, token: str) -> web.Application:
    auth = {"Authorization": f"Bearer {token}"}
    locks: dict[str, asyncio.Lock] = {}
    waiting: dict[str, asyncio.Future[Any]] = {}

    async def read_batch(session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(0)  # the reads that start in this loop turn go together
        ids = list(waiting)[:BATCH]
        futures = [waiting.pop(i) for i in ids]
        if waiting:
            asyncio.get_running_loop().create_task(read_batch(session))
        query = {"$filter": " or ".join(f"Id eq {i}" for i in ids)}
        async with session.get(f"{upstream}/odata/Webhooks", params=query, headers=auth) as r:
            found = {str(x["Id"]): x for x in orjson.loads(await r.read())["value"]}
        for i, future in zip(ids, futures, strict=True):
            future.set_result(found[i])

    def read(session: aiohttp.ClientSession, id: str) -> asyncio.Future[Any]:
        future = waiting.get(id)
        if future is None:
            if not waiting:
                asyncio.get_running_loop().create_task(read_batch(session))
            future = waiting[id] = asyncio.get_running_loop().create_future()
        return future

    async def patch(request: web.Request) -> web.Response:
        id = request.match_info["id"]
        change = orjson.loads(await request.read())
        session = request.app[SESSION]
        async with locks.setdefault(id, asyncio.Lock()):
            record = await read(session, id)
            events = {e["EventType"] for e in record["Events"]}
            events = (events - set(change.get("remove_events", ()))) | set(
                change.get("add_events", ())
            )
            body = orjson.dumps({"Events": [{"EventType": e} for e in sorted(events)]})
            headers = {**auth, "Content-Type": "application/json",
                       "Prefer": "return=representation"}  # fmt: skip
            async with session.patch(f"{upstream}/odata/Webhooks({id})", data=body,
                                     headers=headers) as r:  # fmt: skip
                answer = await r.read()
        return web.Response(body=answer, content_type="application/json")

    application = with_session()
    application.router.add_patch("/v1/accounts/orch/webhooks/{id}", patch)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        application = app(args.upstream.rstrip("/"), args.token)
        run_fast(serve_baseline(application, "rmw-proxy", args.port))


if __name__ == "__main__":
    main()
