"""Tools every provider emulator shares: fault injection, outgoing delivery, and running one.

An emulator is a real ``aiohttp.web`` application (fakes are real servers). These pieces keep
the three built-in emulators, and any outside one, consistent:

* ``Faults`` + ``fault_middleware``: configurable latency, a fraction of error answers (429 with
  ``Retry-After``, 503, ...) and dropped connections, on the provider's API routes only (never on
  the ``/_emulator`` admin routes), reproducible with a seed.
* ``Deliverer``: POSTs an event to a subscriber URL with a short timeout, reporting the outcome
  instead of raising, as a provider's delivery worker would.
* ``serve``: run an application on a host and port until interrupted (the ``emulate`` command).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import aiohttp
import attrs
from aiohttp import web

from gateway.lifecycle import stop_on_signals

__all__ = [
    "ADMIN_PREFIX",
    "Deliverer",
    "Delivery",
    "Emulator",
    "Faults",
    "add_admin_routes",
    "add_fault_arguments",
    "dumps",
    "emulator_parser",
    "error_middleware",
    "fault_middleware",
    "faults_from_args",
    "is_json_type",
    "json_object",
    "serve",
    "start",
    "trace_id",
    "ulid",
]

#: Admin routes of every emulator live under this prefix; faults never apply to them.
ADMIN_PREFIX = "/_emulator"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


@attrs.frozen(kw_only=True)
class Delivery:
    """The outcome of one POST to a subscriber."""

    url: str
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Deliverer:
    """Sends events to subscriber URLs; owns its client session (``start``/``close``)."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        verify_tls: bool = True,
    ) -> Delivery:
        await self.start()
        assert self._session is not None
        try:
            async with self._session.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", **headers},
                ssl=verify_tls,
            ) as resp:
                await resp.read()
                return Delivery(url=url, status=resp.status)
        except TimeoutError:
            return Delivery(url=url, status=None, error="timeout")
        except aiohttp.ClientError as exc:
            return Delivery(url=url, status=None, error=f"{type(exc).__name__}: {exc}")


class Emulator(Protocol):
    """What the shared admin routes need of an emulator."""

    faults: Faults
    deliverer: Deliverer

    async def fire(self, event_type: str, payload: Mapping[str, Any] | None = None) -> Any: ...

    def state(self) -> dict[str, Any]: ...


def add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    """``POST /_emulator/events {"type", "payload"?}``, ``GET /_emulator/state``, and
    ``PUT /_emulator/faults`` (a ``Faults`` as JSON); closes the deliverer on clean-up.
    No auth: emulators listen on loopback."""

    async def fire(request: web.Request) -> web.Response:
        body = await _admin_body(request)
        if not isinstance(body.get("type"), str):
            return _admin_error("type: the event type to fire is required")
        payload = body.get("payload")
        if payload is not None and not isinstance(payload, dict):
            return _admin_error("payload: must be an object")
        return web.json_response(await emulator.fire(body["type"], payload))

    async def state(_request: web.Request) -> web.Response:
        return web.json_response({**emulator.state(), "faults_injected": emulator.faults.injected})

    async def set_faults(request: web.Request) -> web.Response:
        body = await _admin_body(request)
        try:
            emulator.faults = Faults(**body)
        except (TypeError, ValueError) as exc:
            return _admin_error(f"faults: {exc}")
        return web.json_response({"ok": True})

    app.router.add_post(f"{ADMIN_PREFIX}/events", fire)
    app.router.add_get(f"{ADMIN_PREFIX}/state", state)
    app.router.add_put(f"{ADMIN_PREFIX}/faults", set_faults)
    app.on_cleanup.append(lambda _app: emulator.deliverer.close())


E = TypeVar("E", bound=Exception)


def error_middleware(kind: type[E], render: Callable[[E], web.Response]) -> Any:
    """A web middleware answering the emulator's own error type ``kind`` with ``render``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except kind as exc:
            return render(exc)

    return middleware


def _admin_error(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


async def _admin_body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, lambda message: web.HTTPBadRequest(text=message))


async def json_object(request: web.Request, refuse: Callable[[str], Exception]) -> dict[str, Any]:
    """The request's JSON object body; otherwise raise ``refuse(message)``, the emulator's 400."""
    try:
        body = await request.json()
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError alike
        raise refuse("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise refuse("The request body must be a JSON object.")
    return body


def is_json_type(value: Any, kind: type[Any]) -> bool:
    """Whether ``value`` is a JSON ``kind`` (a boolean is not a number or a string here)."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def emulator_parser(
    description: str, port: int, prog: str | None = None
) -> argparse.ArgumentParser:
    """The command line every emulator shares: ``--host``, ``--port`` and the fault options."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    add_fault_arguments(parser)
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


def dumps(data: Any) -> bytes:
    """Compact JSON bytes, as a provider sends them (the signature covers exactly these)."""
    return json.dumps(data, separators=(",", ":")).encode()


def trace_id() -> str:
    return uuid.uuid4().hex


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """A new ULID: 48 bits of milliseconds, 80 random bits, Crockford Base32 (26 characters)."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


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
