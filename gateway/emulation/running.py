"""Running an emulator: ``start`` it on a free port for a test or the demo, or ``serve`` it until
interrupted (the ``emulate`` command), with the command line and the banner every emulator
shares."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
from collections.abc import Callable, Mapping

from aiohttp import web

from gateway.emulation.faults import add_fault_arguments
from gateway.emulation.limits import add_limit_arguments
from gateway.lifecycle import stop_on_signals

__all__ = ["banner", "emulator_parser", "serve", "start"]


def emulator_parser(
    description: str, port: int, prog: str | None = None
) -> argparse.ArgumentParser:
    """The command line every emulator shares: ``--host``, ``--port`` and the fault options."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    add_fault_arguments(parser)
    add_limit_arguments(parser)
    return parser


def banner(headline: str, credentials: Mapping[str, str], account: str) -> str:
    """What an emulator prints once it listens: a headline with its URL, the credentials it
    accepts (throw-away ones: it is a local test server), and a ready ``[accounts.*]`` table
    for pointing a gateway at it (docs/configuration.md, "Emulators")."""
    width = max(map(len, credentials))
    lines = [headline, "credentials:"]
    lines += [f"  {name.ljust(width)}  {value}" for name, value in credentials.items()]
    lines += ["point a gateway at it (add to its config):", ""]
    lines += [f"  {line}" if line else "" for line in account.strip().splitlines()]
    return "\n".join(lines) + "\n"


async def start(
    app: web.Application,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, str]:
    """Start ``app`` on ``host:port`` (0: any free port); return the runner and its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    scheme = "https" if ssl_context is not None else "http"
    return runner, f"{scheme}://{bound_host}:{bound_port}"


def serve(
    app: web.Application,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    announce: Callable[[str], str] = lambda url: f"listening on {url}",
) -> None:
    """Run ``app`` until interrupted, printing ``announce(base URL)`` once it listens."""

    async def run() -> None:
        stop = stop_on_signals()
        runner, url = await start(app, host=host, port=port, ssl_context=ssl_context)
        print(announce(url), flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
