"""Pages followed by cursor are read ahead (gateway.operations.read_ahead): the next page is read
from the provider while the caller reads this one, and a page read ahead is used only when it
is fresh and no write through the gateway overtook it.

Real UiPath emulators on loopback, recording the list requests they are sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.config import parse_config
from gateway.operations.read_ahead import ReadAhead
from gateway.proxy.appkeys import OPERATIONS
from gateway.proxy.server import create_app
from tests import test_listing
from tests.test_listing import READ, ClientFactory, _config, core_with, uipath_with

WRITE_KEY = "write-key-0987-abcdef"


# Provider pages of the proxy's page size (10): what is read ahead here is a provider page a
# page, as where a provider's largest page is the caller's (larger ones are held_pages').
def _uipath(url: str) -> dict[str, Any]:
    return {**test_listing._uipath(url), "page_size": 10}


def _core(url: str, tenant: str) -> dict[str, Any]:
    return {**test_listing._core(url, tenant), "page_size": 10}


def _ahead(app: Any) -> ReadAhead:
    """The pages the proxy's operations read ahead."""
    ahead: ReadAhead | None = app[OPERATIONS].read_ahead
    assert ahead is not None
    return ahead


def _with_writer(config: dict[str, Any], **server: Any) -> dict[str, Any]:
    config["server"]["api_keys"].append({"name": "deploy", "scope": "write", "key": WRITE_KEY})
    config["server"].update(server)
    return config


async def _page(client: TestClient[Any, Any], cursor: str | None = None) -> dict[str, Any]:
    params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
    resp = await client.get("/v1/accounts/orch/webhooks", params=params, headers=READ)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


def _skips(seen: list[dict[str, str]]) -> list[str]:
    return [q["$skip"] for q in seen]


async def test_a_page_followed_by_cursor_reads_the_next_ahead_once(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(35) as (_emulator, url, seen):
        app = create_app(parse_config(_config({"orch": _uipath(url)})))
        client = await aiohttp_client(app)
        first = await _page(client)
        assert _skips(seen) == ["0"]  # a first page reads nothing ahead
        second = await _page(client, first["next_cursor"])
        await asyncio.sleep(0.05)  # the third and fourth pages are read ahead meanwhile
        assert _skips(seen) == ["0", "10", "20", "30"]  # two pages ahead, the default
        third = await _page(client, second["next_cursor"])
        fourth = await _page(client, third["next_cursor"])
        assert _ahead(app).used == 2  # the third and the fourth page
        assert fourth["next_cursor"] is None
        # Every provider page read once, in order: nothing read twice, nothing past the end.
        assert _skips(seen) == ["0", "10", "20", "30"]
        names = [i["name"] for p in (first, second, third, fourth) for i in p["items"]]
        assert names == [f"hook-{i:05d}" for i in range(35)]


async def test_the_window_of_pages_read_ahead_moves_with_the_caller(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(75) as (_emulator, url, seen):
        config = _config({"orch": _uipath(url)})
        config["server"]["list_read_ahead_pages"] = 3
        app = create_app(parse_config(config))
        client = await aiohttp_client(app)
        page = await _page(client)
        page = await _page(client, page["next_cursor"])  # the second page: 10-19
        await asyncio.sleep(0.05)
        assert _skips(seen) == ["0", "10", "20", "30", "40"]  # three pages ahead
        page = await _page(client, page["next_cursor"])  # 20-29, read ahead
        await asyncio.sleep(0.05)
        assert _skips(seen)[-1] == "50" and len(seen) == 6  # the window moved on by one
        names = [i["name"] for i in page["items"]]
        while page["next_cursor"]:
            page = await _page(client, page["next_cursor"])
            names += [i["name"] for i in page["items"]]
        assert names == [f"hook-{i:05d}" for i in range(20, 75)]
        # Every provider page once, nothing past the end, and all but two taken from ahead.
        assert _skips(seen) == [str(n) for n in range(0, 80, 10)]
        assert _ahead(app).used == 6 and len(_ahead(app)) == 0


async def test_one_page_ahead(aiohttp_client: ClientFactory) -> None:
    async with uipath_with(35) as (_emulator, url, seen):
        config = _config({"orch": _uipath(url)})
        config["server"]["list_read_ahead_pages"] = 1
        client = await aiohttp_client(create_app(parse_config(config)))
        first = await _page(client)
        await _page(client, first["next_cursor"])
        await asyncio.sleep(0.05)
        assert _skips(seen) == ["0", "10", "20"]


async def test_a_write_between_pages_is_seen_by_the_next_page(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(35) as (emulator, url, seen):
        app = create_app(parse_config(_with_writer(_config({"orch": _uipath(url)}))))
        client = await aiohttp_client(app)
        first = await _page(client)
        second = await _page(client, first["next_cursor"])
        await asyncio.sleep(0.05)  # the third page, as it was before the write, read ahead
        target = sorted(emulator.webhooks)[20]  # the first of the third page (Id order)
        resp = await client.patch(
            f"/v1/accounts/orch/webhooks/{target}",
            json={"name": "renamed-between-pages"},
            headers={"Authorization": f"Bearer {WRITE_KEY}"},
        )
        assert resp.status == 200, await resp.text()
        third = await _page(client, second["next_cursor"])
        assert _ahead(app).used == 0  # overtaken by the write: read again
        assert third["items"][0]["name"] == "renamed-between-pages"
        await asyncio.sleep(0.05)  # the fourth page read ahead before the write: read again
        assert _skips(seen) == ["0", "10", "20", "30", "20", "30"]
        fourth = await _page(client, third["next_cursor"])
        assert _ahead(app).used == 1 and len(fourth["items"]) == 5


async def test_a_page_read_ahead_too_long_ago_is_read_again(
    aiohttp_client: ClientFactory,
) -> None:
    async with uipath_with(30) as (emulator, url, seen):
        config = _with_writer(_config({"orch": _uipath(url)}), list_read_ahead=0.05)
        app = create_app(parse_config(config))
        client = await aiohttp_client(app)
        first = await _page(client)
        second = await _page(client, first["next_cursor"])
        await asyncio.sleep(0.03)
        emulator.add(Name="hook-added-out-of-band")  # not through the gateway
        await asyncio.sleep(0.1)  # older than list_read_ahead
        assert len(_ahead(app)) == 0  # dropped once too old: nothing kept for nobody
        third = await _page(client, second["next_cursor"])
        assert _ahead(app).used == 0
        assert _skips(seen) == ["0", "10", "20", "20"]
        assert len(third["items"]) == 10 and third["next_cursor"] is not None


async def test_read_ahead_off(aiohttp_client: ClientFactory) -> None:
    async with uipath_with(30) as (_emulator, url, seen):
        config = _with_writer(_config({"orch": _uipath(url)}), list_read_ahead=0)
        app = create_app(parse_config(config))
        client = await aiohttp_client(app)
        page = await _page(client)
        while page["next_cursor"]:
            page = await _page(client, page["next_cursor"])
        await asyncio.sleep(0.05)
        assert _skips(seen) == ["0", "10", "20"]
        assert _ahead(app).used == 0


async def test_known_positions_are_asked_for_before_the_page_before_them_arrives(
    aiohttp_client: ClientFactory,
) -> None:
    # Each list answer takes 0.3 s: a page read only once the one before it has arrived would
    # be asked for 0.3 s after it.
    async with uipath_with(55, delay=0.3) as (_emulator, url, seen):
        app = create_app(parse_config(_config({"orch": _uipath(url)})))
        client = await aiohttp_client(app)
        first = await _page(client)
        second = await _page(client, first["next_cursor"])
        await asyncio.sleep(0.1)
        # The third page's position came with the second, the fourth's is $skip 10 on.
        assert _skips(seen) == ["0", "10", "20", "30"]
        third = await _page(client, second["next_cursor"])
        await asyncio.sleep(0.1)
        assert _skips(seen) == ["0", "10", "20", "30", "40"]
        page, names = third, [i["name"] for p in (first, second, third) for i in p["items"]]
        while page["next_cursor"]:
            page = await _page(client, page["next_cursor"])
            names += [i["name"] for i in page["items"]]
        assert names == [f"hook-{i:05d}" for i in range(55)]
        # The @odata.count said where the listing ends: nothing was guessed past it.
        assert _skips(seen) == ["0", "10", "20", "30", "40", "50"]
        assert _ahead(app).used == 4


@pytest.mark.parametrize(
    ("filters", "asked"),
    [
        ({}, ["0", "10", "20", "30"]),  # the fourth page's offset: the third's and 10
        # A filter applied here may make a page read on past ``limit`` records: no guess, the
        # fourth page waits for the third's answer.
        ({"enabled": "true"}, ["0", "10", "20"]),
    ],
)
async def test_core_pages_are_asked_for_before_the_page_before_them_arrives_unless_filtered(
    aiohttp_client: ClientFactory, filters: dict[str, str], asked: list[str]
) -> None:
    async with core_with(45, delay=0.3) as (emulator, url, seen):
        account = _core(url, emulator.tenant_locator)
        client = await aiohttp_client(create_app(parse_config(_config({"core": account}))))
        path, params = "/v1/accounts/core/webhooks", {"limit": "10", **filters}
        first = await (await client.get(path, params=params, headers=READ)).json()
        resp = await client.get(path, params={**params, "cursor": first["next_cursor"]},
                                headers=READ)  # fmt: skip
        assert resp.status == 200
        await asyncio.sleep(0.1)
        assert [q["offset"] for q in seen] == asked


async def test_a_guess_past_the_end_is_dropped_once_the_last_page_is_taken(
    aiohttp_client: ClientFactory,
) -> None:
    # Enterprise Core tells no total: the page after the last is guessed while the last is on
    # its way, and dropped once the last page, taken before it arrived, says it is the last.
    async with core_with(25, delay=0.3) as (emulator, url, seen):
        account = _core(url, emulator.tenant_locator)
        app = create_app(parse_config(_config({"core": account})))
        client = await aiohttp_client(app)
        path, params = "/v1/accounts/core/webhooks", {"limit": "10"}
        page = await (await client.get(path, params=params, headers=READ)).json()
        names = [i["name"] for i in page["items"]]
        while page["next_cursor"]:
            resp = await client.get(path, params={**params, "cursor": page["next_cursor"]},
                                    headers=READ)  # fmt: skip
            page = await resp.json()
            names += [i["name"] for i in page["items"]]
        assert names == [f"core-{i:05d}" for i in range(25)]
        assert [q["offset"] for q in seen] == ["0", "10", "20", "30"]  # "30": the guess
        assert _ahead(app).used == 1 and len(_ahead(app)) == 0  # nothing left behind


async def test_a_guess_the_page_read_contradicts_is_dropped() -> None:
    """``ReadAhead`` on its own: the page read says the next starts elsewhere than guessed."""
    started: list[str] = []
    release = asyncio.Event()
    account = _Writes()

    def reader(position: str) -> Any:
        async def read() -> dict[str, Any]:
            started.append(position)
            if position == "a":
                await release.wait()
                return {"next": "c"}  # a record skipped: the page ends one later than guessed
            await asyncio.sleep(10)
            return {"next": None}

        return read

    def follow(found: Any) -> Any:
        return None if found["next"] is None else (found["next"], reader(found["next"]))

    def guess(key: Any) -> Any:
        return {"a": ("b", reader("b")), "b": ("b2", reader("b2"))}.get(key)

    ahead = ReadAhead(max_age=5, depth=2)
    ahead.start("a", account, reader("a"), follow, guess)  # type: ignore[arg-type]
    await asyncio.sleep(0.01)
    assert started == ["a", "b"] and len(ahead) == 2  # "b" guessed and asked for at once
    release.set()
    await asyncio.sleep(0.01)
    assert started == ["a", "b", "c"]  # the page read named "c": "b" dropped, "c" read
    assert len(ahead) == 2 and await ahead.take("b") is None
    assert await ahead.take("a") == {"next": "c"}
    await ahead.close()


class _Writes:
    """What ``ReadAhead`` reads of an account: its count of writes."""

    writes = 0
