"""Shared fixtures, and the aioresponses adaptation for aiohttp 3.14.

aioresponses 0.7.9 builds ``ClientResponse`` without the ``stream_writer`` argument that aiohttp
3.14 requires (pnuckowski/aioresponses#289). We keep aiohttp 3.14 for its security fix and hand
aioresponses a response class that supplies a finished writer. Note that aioresponses bypasses
client middlewares: auth and retry are tested against real servers in test_transport.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioresponses.core
import attrs
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer

import gateway.config
from gateway import Gateway
from gateway.config import parse_config
from gateway.destinations import DestinationPolicy
from gateway.emulation import start
from gateway.proxy.server import create_app
from gateway.service import Account
from providers.enterprise_core.emulator import ALL_PERMISSIONS, EnterpriseCoreEmulator
from providers.orchestry.emulator import OrchestryEmulator
from providers.uipath.emulator import UiPathEmulator

# The command line keeps event catalogs in the user's cache directory: the suite's runs keep
# theirs in a folder of their own, never the user's (and start with none).
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="webhook-gateway-test-cache-")


class _SentWriter:
    """Stands in for the stream writer of a request that has been sent completely."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentWriter())
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[attr-defined]

DATA = Path(__file__).parent / "data"

#: The destination policy of the suite's configs that set none: the emulators' receivers listen
#: on loopback over plain http, and the tests run offline (``hooks.example.com`` does not
#: resolve). Link-local and metadata addresses stay refused. Tests of the real default are
#: marked ``strict_destinations`` (tests/test_destinations.py); a config that sets
#: ``[destinations]`` gets exactly that.
SUITE_DESTINATIONS = DestinationPolicy(
    allow_http=True, allow_loopback=True, allow_private=True, allow_unresolvable=True
)


@pytest.fixture(autouse=True)
def _suite_destinations(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("strict_destinations") is None:
        monkeypatch.setattr(gateway.config, "DEFAULT_DESTINATIONS", SUITE_DESTINATIONS)


def memory_config(**settings: Any) -> dict[str, Any]:
    """A config dict with one memory account named ``mem``."""
    return {"accounts": {"mem": {"provider": "memory", **settings}}}


def create_command(config: Path) -> list[str]:
    """The command line that creates webhook ``a`` (``order.created``) in the memory account
    ``mem`` of ``config`` (``memory_state_config``)."""
    return ["create", "mem", "--config", str(config), "--name", "a",
            "--url", "https://hooks.example.com/a", "--event", "order.created"]  # fmt: skip


def memory_state_config(tmp_path: Path, state_extra: str = "") -> Path:
    """A config file: one memory account ``mem`` kept in a file, and a SQLite state store (for
    command-line tests, where webhooks must outlive one command)."""
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[accounts.mem]\nprovider = "memory"\npath = "{tmp_path}/hooks.json"\n'
        f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n{state_extra}'
    )
    return path


@pytest.fixture
async def memory_gateway() -> AsyncIterator[Gateway]:
    async with Gateway(parse_config(memory_config(page_size=2))) as gw:
        yield gw


# -- a delivery receiver and the UiPath emulator -----------------------------------------------


@attrs.define
class Receiver:
    """A local webhook receiver: records every POST; answers ``status``."""

    url: str = ""
    status: int = 200
    received: list[tuple[str, dict[str, str], bytes]] = attrs.field(factory=list)
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.path, dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)


@contextlib.asynccontextmanager
async def proxy_port(config: Any) -> AsyncIterator[int]:
    """The proxy of ``config`` on a loopback port, for tests that speak raw HTTP to it."""
    server = TestServer(create_app(config))
    await server.start_server()
    assert server.port is not None
    try:
        yield server.port
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def _posted_to(handle: Any) -> AsyncIterator[str]:
    """A loopback server whose every POST ``handle`` answers; its URL."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _receiving() -> AsyncIterator[Receiver]:
    rec = Receiver()
    async with _posted_to(rec.handle) as rec.url:
        yield rec


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """Where webhooks deliver."""
    async for rec in _receiving():
        yield rec


@pytest.fixture
async def sink() -> AsyncIterator[Receiver]:
    """A second receiver: where the gateway sends its own events (operational, relayed)."""
    async for rec in _receiving():
        yield rec


@attrs.define
class Holding:
    """A destination that takes every POST (``arrived``: their bodies) and answers none until
    ``release`` is set."""

    url: str = ""
    arrived: list[bytes] = attrs.field(factory=list)
    release: asyncio.Event = attrs.field(factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.arrived.append(await request.read())
        await self.release.wait()
        return web.Response()


@pytest.fixture
async def holding() -> AsyncIterator[Holding]:
    held = Holding()
    async with _posted_to(held.handle) as held.url:
        yield held
        held.release.set()


UIPATH_CLIENT = ("gateway-test", "uipath-client-s3cret")


@attrs.define
class UiPathHarness:
    emulator: UiPathEmulator
    base_url: str

    def account(self, **settings: Any) -> dict[str, Any]:
        """An account table using client credentials against this emulator."""
        return {
            "provider": "uipath",
            "base_url": self.base_url,
            "identity_url": f"{self.base_url}/identity_",
            "client_id": UIPATH_CLIENT[0],
            "client_secret": UIPATH_CLIENT[1],
            **settings,
        }


@pytest.fixture
async def uipath() -> AsyncIterator[UiPathHarness]:
    emulator = UiPathEmulator(
        clients={
            UIPATH_CLIENT[0]: (UIPATH_CLIENT[1], ["OR.Webhooks"]),
            "reader": ("reader-s3cret", ["OR.Webhooks.Read"]),
        },
        personal_tokens={"pat-s3cret": ["OR.Webhooks"]},
    )
    server = TestServer(emulator.app())
    await server.start_server()
    yield UiPathHarness(emulator, str(server.make_url("")).rstrip("/"))
    await server.close()


EC_TOKEN = "ec-token-s3cret"


@attrs.define
class EnterpriseCoreHarness:
    emulator: EnterpriseCoreEmulator
    base_url: str

    def account(self, **settings: Any) -> dict[str, Any]:
        return {
            "provider": "enterprise_core",
            "base_url": self.base_url,
            "tenant_locator": self.emulator.tenant_locator,
            "token": EC_TOKEN,
            **settings,
        }


@pytest.fixture
async def enterprise_core() -> AsyncIterator[EnterpriseCoreHarness]:
    emulator = EnterpriseCoreEmulator(
        tokens={
            EC_TOKEN: ALL_PERMISSIONS,
            "ec-reader": ["webhooks.read", "webhooks.list"],
        },
        time_scale=0.001,
    )
    server = TestServer(emulator.app())
    await server.start_server()
    yield EnterpriseCoreHarness(emulator, str(server.make_url("")).rstrip("/"))
    await server.close()


# -- a replay server for wire tests ------------------------------------------------------------


#: The tenant of the Enterprise Core wire tests' replayed answers.
REPLAY_TENANT = "5e2f3a3c-1b7e-4a4e-9a0f-3f9a2b1c0d4e"


@contextlib.asynccontextmanager
async def replayed_core(base: str, **settings: Any) -> AsyncIterator[Account]:
    """An Enterprise Core account against a ``Replay`` at ``base``, with no retries."""
    account = {"provider": "enterprise_core", "base_url": base, "tenant_locator": REPLAY_TENANT,
               "token": "ec-s3cret", **settings}  # fmt: skip
    config = {"accounts": {"core": account}, "http": {"retry": {"max_attempts": 1}}}
    async with Gateway(parse_config(config)) as gw:
        yield gw.account("core")


@attrs.define
class Replay:
    """Answers (method, path) with a canned (status, body); records every request."""

    routes: dict[tuple[str, str], tuple[int, Any]] = attrs.field(factory=dict)
    requests: list[dict[str, Any]] = attrs.field(factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": json.loads(raw) if raw else None,
            }
        )
        status, body = self.routes.get((request.method, request.path), (404, None))
        if body is None:
            return web.Response(status=status)
        return web.json_response(body, status=status)

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method]


@pytest.fixture
async def replay() -> AsyncIterator[tuple[Replay, str]]:
    rep = Replay()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rep.handle)
    server = TestServer(app)
    await server.start_server()
    yield rep, str(server.make_url("")).rstrip("/")
    await server.close()


ORCHESTRY_CLIENT = ("orchestry-test-client", "orchestry-client-s3cret")


@attrs.define
class OrchestryHarness:
    emulator: OrchestryEmulator
    base_url: str

    def account(self, **settings: Any) -> dict[str, Any]:
        return {
            "provider": "orchestry",
            "base_url": self.base_url,
            "tenant_id": self.emulator.tenant_id,
            "client_id": ORCHESTRY_CLIENT[0],
            "client_secret": ORCHESTRY_CLIENT[1],
            "scope": self.emulator.scope,
            "authority": f"{self.base_url}/{self.emulator.tenant_id}",
            "ca_bundle": self.emulator.ca_path,
            **settings,
        }


@pytest.fixture
async def orchestry() -> AsyncIterator[OrchestryHarness]:
    emulator = OrchestryEmulator(
        clients=dict([ORCHESTRY_CLIENT, ("second-client", "second-s3cret")])
    )
    runner, url = await start(emulator.app(), ssl_context=emulator.ssl_context())
    yield OrchestryHarness(emulator, url)
    await runner.cleanup()
    emulator.close()


from tests.postgres import postgres_server, postgres_url  # noqa: E402, F401 - fixtures
