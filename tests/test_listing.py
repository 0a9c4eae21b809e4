"""Listing through the proxy: cursors carry the provider's position, so a page reads one
provider page whatever its number; cursors are signed and bound to their query; the list of all
accounts pages with one composite cursor and reads about a page in all.

Real emulators on loopback, each recording the list requests it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.config import parse_config
from gateway.proxy.server import create_app
from providers.enterprise_core.emulator import ALL_PERMISSIONS, EnterpriseCoreEmulator
from providers.uipath.emulator import UiPathEmulator

READ = {"Authorization": "Bearer read-key-4567"}
PAT = "pat-s3cret"
EC_TOKEN = "ec-token-s3cret"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
Queries = list[dict[str, str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _recording(
    app: web.Application, seen: Queries, path_end: str, delay: float = 0.0
) -> web.Application:
    """``app`` recording the query of each list request as it arrives, answering it ``delay``
    seconds later."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET" and request.path.endswith(path_end):
            seen.append(dict(request.query))
            await asyncio.sleep(delay)
        return await handler(request)

    app.middlewares.insert(0, record)
    return app


@contextlib.asynccontextmanager
async def uipath_with(
    count: int, delay: float = 0.0
) -> AsyncIterator[tuple[UiPathEmulator, str, Queries]]:
    emulator = UiPathEmulator(personal_tokens={PAT: ["OR.Webhooks"]})
    for i in range(count):
        emulator.add(Name=f"hook-{i:05d}")
    seen: Queries = []
    server = TestServer(_recording(emulator.app(), seen, "/odata/Webhooks", delay))
    await server.start_server()
    try:
        yield emulator, str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def core_with(
    count: int, delay: float = 0.0
) -> AsyncIterator[tuple[EnterpriseCoreEmulator, str, Queries]]:
    emulator = EnterpriseCoreEmulator(tokens={EC_TOKEN: ALL_PERMISSIONS})
    for i in range(count):
        emulator.add(name=f"core-{i:05d}")
    seen: Queries = []
    server = TestServer(_recording(emulator.app(), seen, "/webhooks/list", delay))
    await server.start_server()
    try:
        yield emulator, str(server.make_url("")).rstrip("/"), seen
    finally:
        await server.close()


def _uipath(url: str) -> dict[str, Any]:
    return {"provider": "uipath", "base_url": url, "token": PAT}


def _core(url: str, tenant: str) -> dict[str, Any]:
    return {"provider": "enterprise_core", "base_url": url, "tenant_locator": tenant,
            "token": EC_TOKEN}  # fmt: skip


def _config(accounts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    key = {"name": "dashboard", "scope": "read",
           "key_sha256": hashlib.sha256(b"read-key-4567").hexdigest()}  # fmt: skip
    return {"accounts": accounts, "server": {"api_keys": [key]}, **extra}


async def _pages(client: TestClient[Any, Any], path: str, **params: str) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = await client.get(path, params=query, headers=READ)
        assert resp.status == 200, await resp.text()
        pages.append(await resp.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


async def test_each_uipath_page_is_one_provider_page_from_its_position(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(250) as (_emulator, url, seen):
        client = await aiohttp_client(create_app(parse_config(_config({"orch": _uipath(url)}))))
        pages = await _pages(client, "/v1/accounts/orch/webhooks", limit="100")
        names = [item["name"] for page in pages for item in page["items"]]
        assert names == [f"hook-{i:05d}" for i in range(250)]
        assert [len(p["items"]) for p in pages] == [100, 100, 50]
        # The first page at its size; the pages followed by cursor from one provider page of
        # the provider's largest size (page_size, 1,000) held for them (held_pages), in Id order.
        assert [(q["$skip"], q["$top"], q["$orderby"]) for q in seen] == [
            ("0", "100", "Id"), ("100", "1000", "Id")
        ]  # fmt: skip

        seen.clear()
        resp = await client.get("/v1/accounts/orch/webhooks?limit=1", headers=READ)
        assert len((await resp.json())["items"]) == 1
        assert [(q["$skip"], q["$top"]) for q in seen] == [("0", "1")]


async def test_each_core_page_is_one_provider_page_from_its_offset(
    aiohttp_client: ClientFactory,
) -> None:
    async with core_with(230) as (emulator, url, seen):
        account = _core(url, emulator.tenant_locator)
        client = await aiohttp_client(create_app(parse_config(_config({"core": account}))))
        pages = await _pages(client, "/v1/accounts/core/webhooks", limit="100")
        names = [item["name"] for page in pages for item in page["items"]]
        assert names == [f"core-{i:05d}" for i in range(230)]
        # One request a page from its offset; the third, read ahead with the next offset
        # guessed (Enterprise Core tells no total), may be followed by one empty page past the end.
        asked = [(q["offset"], q["count"]) for q in seen]
        each = [("0", "100"), ("100", "100"), ("200", "100")]
        assert asked in (each, [*each, ("300", "100")])


async def test_a_filter_applied_here_reads_on_until_the_page_is_full(
    aiohttp_client: ClientFactory,
) -> None:
    """UiPath cannot filter by event: pages of matches still come whole, in order, once each."""
    async with uipath_with(0) as (emulator, url, _seen):
        for i in range(30):
            emulator.add(Name=f"hook-{i:02d}", Events=[{"EventType": "job.completed"}]
                         if i % 3 == 0 else [{"EventType": "job.faulted"}])  # fmt: skip
        client = await aiohttp_client(create_app(parse_config(_config({"orch": _uipath(url)}))))
        pages = await _pages(client, "/v1/accounts/orch/webhooks", limit="4", event="job.completed")
        names = [item["name"] for page in pages for item in page["items"]]
        assert names == [f"hook-{i:02d}" for i in range(0, 30, 3)]
        assert all(len(p["items"]) == 4 for p in pages[:2])


async def test_cursors_are_signed_and_bound_to_their_query(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    async with uipath_with(5) as (_, url, _seen):
        state = {"state": {"url": f"sqlite:///{tmp_path}/state.db"}}
        config = parse_config(_config({"orch": _uipath(url)}, **state))
        one, other = (
            await aiohttp_client(create_app(config)),
            await aiohttp_client(create_app(config)),
        )
        path = "/v1/accounts/orch/webhooks"
        first = await (await one.get(path, params={"limit": "2"}, headers=READ)).json()
        cursor = first["next_cursor"]
        # Another replica of the same store reads it: the key is the store's.
        resp = await other.get(path, params={"limit": "2", "cursor": cursor}, headers=READ)
        assert resp.status == 200
        assert [i["name"] for i in (await resp.json())["items"]] == ["hook-00002", "hook-00003"]

        payload, _, mac = cursor.partition(".")
        altered = ("A" if payload[0] != "A" else "B") + payload[1:] + "." + mac
        for bad, says in (
            (altered, "altered"),
            (payload, "not a cursor this API handed out"),
            ("%%%", "not a cursor this API handed out"),
        ):
            resp = await one.get(path, params={"limit": "2", "cursor": bad}, headers=READ)
            body = await resp.json()
            assert resp.status == 400 and says in body["detail"], body
            assert body["errors"][0]["path"] == "cursor", body
        resp = await one.get(path, params={"limit": "2", "cursor": cursor, "enabled": "true"},
                             headers=READ)  # fmt: skip
        assert resp.status == 400 and "another query" in (await resp.json())["detail"]

        # A gateway with no store signs with a key of its own: its cursors are not these.
        alone = await aiohttp_client(create_app(parse_config(_config({"orch": _uipath(url)}))))
        resp = await alone.get(path, params={"limit": "2", "cursor": cursor}, headers=READ)
        assert resp.status == 400


async def test_all_accounts_page_together_and_read_about_a_page(
    aiohttp_client: ClientFactory,
) -> None:
    async with (
        uipath_with(23) as (_, orch_url, orch_seen),
        core_with(9) as (core, core_url, core_seen),
    ):
        accounts = {
            "orch": _uipath(orch_url),
            "core": _core(core_url, core.tenant_locator),
            "down": _uipath("http://127.0.0.1:9"),  # nothing listens: reported, not fatal
        }
        config = _config(accounts, http={"retry": {"max_attempts": 1}})
        client = await aiohttp_client(create_app(parse_config(config)))
        pages = await _pages(client, "/v1/webhooks", limit="10")
        names = [item["name"] for page in pages for item in page["items"]]
        assert sorted(names) == sorted(
            [f"hook-{i:05d}" for i in range(23)] + [f"core-{i:05d}" for i in range(9)]
        )
        assert len(names) == len(set(names)) == 32
        assert all(len(p["items"]) == 10 for p in pages[:-1])
        errors = [e for page in pages for e in page["errors"]]
        assert [e["account"] for e in errors] == ["down"]  # once: then left out
        # Each page goes on where the last ended (never the listing again from its start), and
        # all the pages together asked the providers for about the listing once.
        skips = [int(q["$skip"]) for q in orch_seen]
        offsets = [int(q["offset"]) for q in core_seen]
        assert skips == sorted(set(skips)) and offsets == sorted(set(offsets))
        asked = sum(int(q["$top"]) for q in orch_seen) + sum(int(q["count"]) for q in core_seen)
        assert asked <= 2 * 32, asked


@pytest.mark.parametrize("limit", ["1", "7", "1000"])
async def test_the_list_of_all_accounts_gives_each_webhook_once_at_any_page_size(
    aiohttp_client: ClientFactory, limit: str
) -> None:
    async with (
        uipath_with(12) as (_, a_url, _a),
        uipath_with(0) as (_, b_url, _b),
        uipath_with(3) as (_, c_url, _c),
    ):
        # (configured out of order: a page's items come in the order of the accounts' names)
        accounts = {"c": _uipath(c_url), "a": _uipath(a_url), "b": _uipath(b_url)}
        client = await aiohttp_client(create_app(parse_config(_config(accounts))))
        pages = await _pages(client, "/v1/webhooks", limit=limit)
        found = [(i["account"], i["id"]) for page in pages for i in page["items"]]
        assert len(found) == len(set(found)) == 15
        for page in pages:
            names = [i["account"] for i in page["items"]]
            assert names == sorted(names)
        assert all(len(p["items"]) == int(limit) for p in pages[:-1])
