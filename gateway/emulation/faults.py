"""Fault injection for emulators: configurable latency, a fraction of error answers (429 with
``Retry-After``, 503, ...) and dropped connections, on the provider's API routes only (never on
the ``/_emulator`` admin routes), reproducible with a seed; and the command-line options that
set them."""

from __future__ import annotations

import argparse
import asyncio
import random
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import web

from gateway.emulation.wire import Handler

__all__ = ["ADMIN_PREFIX", "Faults", "add_fault_arguments", "fault_middleware", "faults_from_args"]


#: Admin routes of every emulator live under this prefix; faults never apply to them.
ADMIN_PREFIX = "/_emulator"


@attrs.define(kw_only=True)
class Faults:
    """What goes wrong, on purpose, on an emulator's API routes.

    ``latency``: seconds added before every answer. ``error_rate``: the fraction (0..1) of
    requests answered with one of ``error_statuses`` (chosen at random) instead of being
    handled; a 429 carries ``Retry-After: retry_after``. ``drop_rate``: the fraction of requests
    that are handled but whose connection is then closed without an answer (the outcome is lost,
    as when a network fails after the provider did the work). ``methods`` limits all of it to
    those HTTP methods (empty: every method). ``seed`` makes the choices repeatable.
    """

    latency: float = 0.0
    error_rate: float = attrs.field(
        default=0.0,
        validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)),
    )
    error_statuses: tuple[int, ...] = (429, 503)
    retry_after: int = 1
    drop_rate: float = attrs.field(
        default=0.0,
        validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.le(1.0)),
    )
    methods: tuple[str, ...] = ()
    seed: int | None = None
    injected: int = 0
    _rng: random.Random = attrs.field(init=False, factory=random.Random)

    def __attrs_post_init__(self) -> None:
        self._rng.seed(self.seed)

    def draw(self) -> float:
        return self._rng.random()

    def pick_status(self) -> int:
        return self._rng.choice(self.error_statuses)


def fault_middleware(faults: Callable[[], Faults], error_body: Callable[[int], Any]) -> Any:
    """A web middleware injecting ``faults()`` into every request outside ``ADMIN_PREFIX``.

    ``error_body(status)`` is the provider's error body for an injected error status.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        f = faults()
        if request.path.startswith(ADMIN_PREFIX) or (f.methods and request.method not in f.methods):
            return await handler(request)
        if f.latency:
            await asyncio.sleep(f.latency)
        if f.drop_rate and f.draw() < f.drop_rate:
            f.injected += 1
            await handler(request)  # the work is done; only the answer is lost
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()  # never reaches the caller: the socket is gone
        if f.error_rate and f.draw() < f.error_rate:
            f.injected += 1
            status = f.pick_status()
            headers = {"Retry-After": str(f.retry_after)} if status == 429 else {}
            return web.json_response(error_body(status), status=status, headers=headers)
        return await handler(request)

    return middleware


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--latency --error-rate --error-status --retry-after --drop-rate --seed`` options."""
    group = parser.add_argument_group("fault injection (API routes only)")
    group.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    group.add_argument("--error-rate", type=float, default=0.0, help="fraction answered in error")
    group.add_argument(
        "--error-status", type=int, action="append", help="status of those answers (429, 503)"
    )
    group.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429")
    group.add_argument("--drop-rate", type=float, default=0.0, help="fraction of dropped calls")
    group.add_argument("--seed", type=int, help="make the choices repeatable")


def faults_from_args(args: argparse.Namespace) -> Faults:
    return Faults(
        latency=args.latency,
        error_rate=args.error_rate,
        error_statuses=tuple(args.error_status or (429, 503)),
        retry_after=args.retry_after,
        drop_rate=args.drop_rate,
        seed=args.seed,
    )
