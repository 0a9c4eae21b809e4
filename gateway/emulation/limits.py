"""What an emulator counts of the requests it gets, and the rate limit it enforces as a real
tenant's API would: ``requests`` a ``window`` (seconds) per tenant, and once they are spent a
429 with ``Retry-After`` (whole seconds until the window ends) until it does. A fixed window,
started by a tenant's first request after the last one ended, as API gateways commonly count.

The vendors document little: UiPath gives per-tenant limits for some OData routes only (``GET
/odata/Jobs`` and ``/odata/QueueItems``: 100 a minute a tenant) and none for
``/odata/Webhooks``; Enterprise Core and Orchestry document none. So an emulator has no limit
unless one is set (``--rate-limit 100/60``, ``PUT /_emulator/rate_limit``, or the constructor),
and a test or benchmark sets the one it studies. Admin routes are neither counted nor limited.

Counting is also how tests and benchmarks see what the gateway spends: ``Traffic.requests``
holds every API request by ``"METHOD /route"`` (the route's pattern, ids kept out, an action's
name in), the 429s included.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from gateway.emulation.faults import ADMIN_PREFIX
from gateway.emulation.wire import Handler

__all__ = ["RateLimit", "Traffic", "add_limit_arguments", "limit_from_args", "traffic_middleware"]


@attrs.frozen(kw_only=True)
class RateLimit:
    """``requests`` a ``window`` of seconds, per tenant; ``requests = 0``: no limit.
    ``methods``: the HTTP methods it counts (empty: every method)."""

    requests: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    window: float = attrs.field(default=60.0, validator=attrs.validators.gt(0.0))
    methods: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"100/60"``: 100 requests a 60-second window (``"100"``: a minute)."""
        count, _, window = text.partition("/")
        try:
            return cls(requests=int(count), window=float(window or 60))
        except ValueError:
            raise ValueError(f"{text!r}: give requests/seconds, e.g. 100/60") from None


@attrs.define
class Traffic:
    """The requests one emulator got (``requests``, by ``"METHOD /route"``), how many of them
    its limit refused (``limited``), and the windows of its tenants."""

    limit: RateLimit = attrs.field(factory=RateLimit)
    clock: Callable[[], float] = time.monotonic
    requests: Counter[str] = attrs.field(factory=Counter)
    limited: int = 0
    _windows: dict[str, tuple[float, int]] = attrs.field(factory=dict)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def reset(self) -> None:
        self.requests.clear()
        self.limited = 0
        self._windows.clear()

    def admit(self, tenant: str, method: str) -> float | None:
        """Count one request of ``tenant`` against the limit: None when it may go on, else the
        seconds until its window ends."""
        limit = self.limit
        if not limit.requests or (limit.methods and method not in limit.methods):
            return None
        now = self.clock()
        start, used = self._windows.get(tenant, (now, 0))
        if now - start >= limit.window:
            start, used = now, 0
        if used >= limit.requests:
            self.limited += 1
            return start + limit.window - now
        self._windows[tenant] = (start, used + 1)
        return None

    def state(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "rate_limited": self.limited,
                "rate_limit": attrs.asdict(self.limit)}  # fmt: skip


def traffic_middleware(
    traffic: Callable[[], Traffic],
    error_body: Callable[[int], Any],
    tenant_of: Callable[[web.Request], str] = lambda _request: "",
) -> Any:
    """A web middleware that counts every request outside ``ADMIN_PREFIX`` in ``traffic()`` and
    answers 429 (``error_body(429)``, ``Retry-After``) to those over its limit for the tenant
    ``tenant_of(request)`` names. Put it first: it sees what arrives, faults included."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        t = traffic()
        t.requests[f"{request.method} {_route(request)}"] += 1
        wait = t.admit(tenant_of(request), request.method)
        if wait is not None:
            headers = {"Retry-After": str(max(1, math.ceil(wait)))}
            return web.json_response(error_body(429), status=429, headers=headers)
        return await handler(request)

    return middleware


def _route(request: web.Request) -> str:
    """The request's route, its variable parts that hold no digit spelled out (an action's
    name, ``Webhooks``) and the others (ids, tenants) left as ``{name}``."""
    resource = request.match_info.route.resource
    if resource is None:
        return request.path
    route = resource.canonical
    for name, value in request.match_info.items():
        if not any(c.isdigit() for c in value):
            route = route.replace("{" + name + "}", value)
    return route


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate-limit",
        type=RateLimit.parse,
        default=RateLimit(),
        metavar="N/SECONDS",
        help="answer 429 with Retry-After beyond N requests a window per tenant (e.g. 100/60)",
    )


def limit_from_args(args: argparse.Namespace) -> RateLimit:
    limit: RateLimit = args.rate_limit
    return limit
