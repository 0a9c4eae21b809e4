"""``/readyz``: whether this replica should get traffic now.

200 only when the config is loaded (the application exists), the gateway is open, its state
store answers within ``PROBE_TIMEOUT`` seconds and its schema is the version this release
expects; 503 otherwise, with why. From the first SIGINT or SIGTERM it answers 503 at once
(``Readiness.stopping``), while in-flight requests finish: a load balancer stops sending here
before the listener closes (``[server] shutdown_delay``). ``/healthz`` stays liveness only: a
replica waiting for its database is alive, not ready.
"""

from __future__ import annotations

import asyncio

import attrs
import orjson
from aiohttp import web

from gateway.errors import GatewayError
from gateway.proxy.appkeys import GATEWAY

__all__ = ["PROBE_TIMEOUT", "READY", "Readiness", "readyz"]

#: How long the probe waits for the state store (seconds).
PROBE_TIMEOUT = 2.0


@attrs.define
class Readiness:
    #: Set on the first stop signal: the replica is going away.
    stopping: bool = False
    #: Whether the gateway is open and requests are served.
    open: bool = False
    #: Why the gateway is not open yet (``[state] migrate = "manual"``: waiting for the schema).
    waiting: str | None = None


READY = web.AppKey("ready", Readiness)


def _answer(status: int, body: dict[str, object]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})  # fmt: skip


async def readyz(request: web.Request) -> web.Response:
    if request.app[READY].stopping:
        return _answer(503, {"status": "stopping"})
    gw = request.app[GATEWAY]
    if not request.app[READY].open:
        waiting = request.app[READY].waiting
        return _answer(503, {"status": "starting", **({"detail": waiting} if waiting else {})})
    if gw.store is None:
        return _answer(200, {"status": "ready"})
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await gw.store.ping()
            current, expected = await gw.store.schema()
    except (GatewayError, TimeoutError, OSError) as exc:
        why = str(exc) if isinstance(exc, GatewayError) else "no answer in time"
        return _answer(503, {"status": "state store unavailable", "detail": why})
    if current != expected:
        what = "run `webhook-gateway migrate`" if current < expected else "upgrade this replica"
        return _answer(503, {"status": "schema", "schema": current, "expected": expected,
                             "detail": f"the state store's schema is version {current}, this "
                             f"release needs {expected}: {what}"})  # fmt: skip
    return _answer(200, {"status": "ready", "schema": current})
