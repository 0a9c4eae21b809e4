"""Emulator tooling every provider emulator shares, and the demo.

An emulator is a real ``aiohttp.web`` application (fakes are real servers). These pieces keep
the three built-in emulators, and any outside one, consistent:

* ``faults``: ``Faults`` + ``fault_middleware``, configurable latency, error answers and dropped
  connections on the provider's API routes;
* ``limits``: ``Traffic`` + ``traffic_middleware``, the requests counted and a tenant's rate
  limit (429 with ``Retry-After``);
* ``delivery``: ``Deliverer``, POSTing an event to a subscriber as a provider's worker would;
* ``admin``: the ``/_emulator`` routes (fire an event, read the state, set the faults);
* ``wire``: compact JSON, trace ids and ULIDs, JSON-object bodies, the error middleware;
* ``running``: ``start`` on a free port, ``serve`` until interrupted, the shared command line;
* ``demo``: the three emulators seeded and the proxy in front of them (``serve --demo``). It
  sits above the proxy, so this package does not import it: ``gateway.proxy.demo``.
"""

from __future__ import annotations

from gateway.emulation.admin import Emulator, add_admin_routes
from gateway.emulation.delivery import Deliverer, Delivery
from gateway.emulation.faults import (
    ADMIN_PREFIX,
    Faults,
    add_fault_arguments,
    fault_middleware,
    faults_from_args,
)
from gateway.emulation.limits import RateLimit, Traffic, traffic_middleware
from gateway.emulation.running import banner, emulator_parser, serve, start
from gateway.emulation.wire import (
    dumps,
    error_middleware,
    is_json_type,
    json_object,
    trace_id,
    ulid,
)

__all__ = [
    "ADMIN_PREFIX",
    "Deliverer",
    "Delivery",
    "Emulator",
    "Faults",
    "RateLimit",
    "Traffic",
    "add_admin_routes",
    "add_fault_arguments",
    "banner",
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
    "traffic_middleware",
    "ulid",
]
