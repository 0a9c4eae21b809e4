"""The baseline proxy: the least an aiohttp proxy can do in front of the emulator.

It forwards each request's method, path, query, ``Authorization``, ``Content-Type`` and body
upstream through one pooled ``ClientSession`` and copies back status, content type and body.
No parsing, no checks.
It runs as ``webhook-gateway serve`` does, so the comparison is fair: on uvloop when installed,
with the same garbage-collector settings once it listens (``gateway.lifecycle``).

    python bench/passthrough.py --upstream http://127.0.0.1:8101 [--port 0]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.emulation import start
from gateway.lifecycle import run_fast, stop_on_signals, tune_gc

SESSION = web.AppKey("session", aiohttp.ClientSession)


def app(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.Response:
        headers = {}
        for name in ("Authorization", "Content-Type"):
            if name in request.headers:
                headers[name] = request.headers[name]
        async with request.app[SESSION].request(
            request.method,
            upstream + request.path_qs,
            headers=headers,
            data=await request.read() or None,
        ) as resp:
            body = await resp.read()
            return web.Response(body=body, status=resp.status, content_type=resp.content_type)

    application = with_session()
    application.router.add_route("*", "/{tail:.*}", forward)
    return application


def with_session() -> web.Application:
    """An app holding one pooled ``ClientSession`` (``app[SESSION]``) while it runs."""

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    application = web.Application()
    application.cleanup_ctx.append(session_ctx)
    return application


async def serve_baseline(application: web.Application, name: str, port: int) -> None:
    """Serve a baseline app as ``serve`` serves the gateway (GC tuned once it listens), print
    ``<name> on <url>``, and stop on SIGINT/SIGTERM."""
    stop = stop_on_signals()
    runner, url = await start(application, port=port)
    print(f"{name} on {url}", flush=True)
    tune_gc()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve_baseline(app(args.upstream.rstrip("/")), "passthrough", args.port))


if __name__ == "__main__":
    main()
