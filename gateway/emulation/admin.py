"""The admin routes every emulator shares under ``/_emulator``: fire an event, read the state,
set the faults. No auth: emulators listen on loopback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from gateway.emulation.delivery import Deliverer
from gateway.emulation.faults import ADMIN_PREFIX, Faults
from gateway.emulation.limits import RateLimit, Traffic
from gateway.emulation.wire import json_object

__all__ = ["Emulator", "add_admin_routes"]


class Emulator(Protocol):
    """What the shared admin routes need of an emulator."""

    faults: Faults
    traffic: Traffic
    deliverer: Deliverer

    async def fire(self, event_type: str, payload: Mapping[str, Any] | None = None) -> Any: ...

    def state(self) -> dict[str, Any]: ...


def add_admin_routes(app: web.Application, emulator: Emulator) -> None:
    """``POST /_emulator/events {"type", "payload"?}``, ``GET /_emulator/state`` (with the
    requests counted), ``PUT /_emulator/faults`` (a ``Faults`` as JSON) and
    ``PUT /_emulator/rate_limit`` (a ``RateLimit``: ``{"requests": 100, "window": 60}``);
    closes the deliverer on clean-up. No auth: emulators listen on loopback."""

    async def fire(request: web.Request) -> web.Response:
        body = await _admin_body(request)
        if not isinstance(body.get("type"), str):
            return _admin_error("type: the event type to fire is required")
        payload = body.get("payload")
        if payload is not None and not isinstance(payload, dict):
            return _admin_error("payload: must be an object")
        return web.json_response(await emulator.fire(body["type"], payload))

    async def state(_request: web.Request) -> web.Response:
        return web.json_response({**emulator.state(), "faults_injected": emulator.faults.injected,
                                  **emulator.traffic.state()})  # fmt: skip

    async def set_faults(request: web.Request) -> web.Response:
        body = await _admin_body(request)
        try:
            emulator.faults = Faults(**body)
        except (TypeError, ValueError) as exc:
            return _admin_error(f"faults: {exc}")
        return web.json_response({"ok": True})

    async def set_rate_limit(request: web.Request) -> web.Response:
        body = await _admin_body(request)
        try:
            emulator.traffic.limit = RateLimit(**body)
        except (TypeError, ValueError) as exc:
            return _admin_error(f"rate_limit: {exc}")
        return web.json_response({"ok": True})

    app.router.add_post(f"{ADMIN_PREFIX}/events", fire)
    app.router.add_put(f"{ADMIN_PREFIX}/rate_limit", set_rate_limit)
    app.router.add_get(f"{ADMIN_PREFIX}/state", state)
    app.router.add_put(f"{ADMIN_PREFIX}/faults", set_faults)
    app.on_cleanup.append(lambda _app: emulator.deliverer.close())


def _admin_error(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


async def _admin_body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, lambda message: web.HTTPBadRequest(text=message))
