"""Socotra's event catalog: generated from its OpenAPI document, served by the emulator's nine
catalog routes, accepted whole by the adapter and the emulator, and read from a tenant's own
routes where an account asks (``read_catalog``).

Source: Socotra's public OpenAPI document (api-evangelist/socotra,
``openapi/_original/socotra-openapi-original.json``), whose catalog part is copied to
tests/data/enterprise_core/event_catalog.json; issue 39, point 2.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway import Gateway, WebhookSpec
from gateway.config import parse_config
from gateway.errors import InvalidRequest, ProviderUnavailable
from gateway.service import Account
from providers.enterprise_core import catalog
from providers.enterprise_core.adapter import CATALOG
from providers.enterprise_core.emulator import ALL_PERMISSIONS, EnterpriseCoreEmulator
from tests.conftest import EC_TOKEN, EnterpriseCoreHarness

OPENAPI = Path(__file__).parent / "data" / "enterprise_core" / "event_catalog.json"

#: Names per route, counted in the OpenAPI document's schemas.
PER_ROUTE = {
    "/policy/events": 92,
    "/billing/events": 47,
    "/claim/events": 9,
    "/contact/events": 4,
    "/document/events": 2,
    "/migration/events": 8,
    "/work-management/events": 4,
    "/producers/events": 23,
    "/config/events": 4,
}
ALL = catalog.names(CATALOG)


def test_events_json_is_what_the_openapi_document_gives(tmp_path: Path) -> None:
    assert catalog.main([str(OPENAPI), "--check"]) == 0
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert catalog.from_openapi(doc, source=doc["x-source"]) == CATALOG
    # a hand edit is caught
    edited = tmp_path / "events.json"
    edited.write_text(catalog.EVENTS_JSON.read_text().replace("claim.fnol.create", "claim.x"))
    assert catalog.main([str(OPENAPI), "--check", "--out", str(edited)]) == 1
    # and regenerating writes it back
    assert catalog.main([str(OPENAPI), "--out", str(edited)]) == 0
    assert edited.read_text() == catalog.EVENTS_JSON.read_text()


def test_the_catalog_is_the_193_names_of_the_nine_routes() -> None:
    assert len(ALL) == len(set(ALL)) == 193
    assert {r["path"]: sum(len(g["events"]) for g in r["groups"]) for r in CATALOG["routes"]} == (
        PER_ROUTE
    )
    assert {
        "billing.invoice.generate", "claim.fnol.create", "policy.quote.issue",
        "policy.status.update", "contact.merged", "document.ready", "migration.start",
        "userAssociation.completed", "producers.producercode.suspend", "moratorium.end",
        "fnol.numberAssignmentFailed", "policy.change.manualUnderwrite",
    } <= set(ALL)  # fmt: skip
    assert not {"account.create", "policy.issue", "quote.price"} & set(ALL)  # old guesses
    for route in CATALOG["routes"]:  # every group the schema requires is defined
        assert set(route["required"]) <= {g["name"] for g in route["groups"]}


@pytest.fixture
async def tenant() -> AsyncIterator[tuple[EnterpriseCoreEmulator, str]]:
    """An emulator whose tenant runs another release: one more billing event, no /config."""
    served = {r["path"]: catalog.route_answer(r) for r in CATALOG["routes"]}
    billing = {g: list(events) for g, events in served["/billing/events"].items()}
    billing["invoiceEvents"].append("billing.invoice.remind")
    routes: dict[str, dict[str, list[str]]] = {
        path: {g: list(events) for g, events in groups.items()}
        for path, groups in served.items()
        if path != "/config/events"
    } | {"/billing/events": billing}
    emulator = EnterpriseCoreEmulator(tokens={EC_TOKEN: ALL_PERMISSIONS}, catalog=routes)
    server = TestServer(emulator.app())
    await server.start_server()
    yield emulator, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_the_emulator_serves_the_nine_routes_without_a_token(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    seen: list[str] = []
    async with aiohttp.ClientSession() as http:
        for route in CATALOG["routes"]:
            async with http.get(enterprise_core.base_url + route["path"]) as response:
                assert response.status == 200
                body: dict[str, Any] = await response.json()
            assert list(body) == [g["name"] for g in route["groups"]]
            seen += [name for group in body.values() for name in group]
    assert seen == ALL


async def test_every_catalog_name_is_accepted_by_the_adapter_and_the_emulator(
    enterprise_core: EnterpriseCoreHarness,
) -> None:
    config = {"accounts": {"core": enterprise_core.account(custom_events=["custom.x"])}}
    async with Gateway(parse_config(config)) as gw:  # strict: only known names pass
        account = gw.account("core")
        made = await account.create(
            WebhookSpec(name="all", url="https://h.example.com/a", events=set(ALL))
        )
        assert made.events == set(ALL)
        (stored,) = enterprise_core.emulator.webhooks.values()
        assert sorted(stored["eventTypes"]) == sorted(ALL)
        # the suggestions of a strict account come from the whole catalog
        with pytest.raises(InvalidRequest, match=r"billing\.invoice\.generate"):
            await account.create(
                WebhookSpec(name="typo", url="https://h.example.com/b",
                            events={"billing.invoice.generat"})
            )  # fmt: skip
        types = await account.event_types()
    by_name = {t.name: t for t in types}
    assert by_name["billing.invoice.generate"].group == "billing invoice"
    assert by_name["billing.invoice.generate"].description == (
        "GET /billing/events: invoiceEvents (InvoiceGeneratedEventData)"
    )
    assert by_name["policy.status.update"].group == "policy policy status"
    assert by_name["custom.x"].group == "custom"


async def _account(
    base: str, tenant: str, *, http: dict[str, Any] | None = None, **settings: Any
) -> tuple[Gateway, Account]:
    config: dict[str, Any] = {"accounts": {"core": {
        "provider": "enterprise_core", "base_url": base, "tenant_locator": tenant,
        "token": EC_TOKEN, **settings}}}  # fmt: skip
    if http is not None:
        config["http"] = http
    gw = Gateway(parse_config(config))
    await gw.__aenter__()
    return gw, gw.account("core")


async def test_read_catalog_reads_the_tenants_routes(
    tenant: tuple[EnterpriseCoreEmulator, str], caplog: pytest.LogCaptureFixture
) -> None:
    emulator, base = tenant
    caplog.set_level(logging.WARNING)
    gw, account = await _account(base, emulator.tenant_locator, read_catalog=True,
                                 custom_events=["custom.x"])  # fmt: skip
    try:
        names = {t.name for t in await account.event_types()}
        # the tenant's extra event, the bundled names of the route it does not serve, custom
        assert "billing.invoice.remind" in names and "custom.x" in names
        assert {"moratorium.create", "moratorium.end"} <= names
        assert names == set(ALL) | {"billing.invoice.remind", "custom.x"}
        assert "GET /config/events is not served" in caplog.text
        made = await account.create(
            WebhookSpec(name="remind", url="https://h.example.com/r",
                        events={"billing.invoice.remind"})
        )  # fmt: skip
        assert made.events == {"billing.invoice.remind"}
    finally:
        await gw.__aexit__(None, None, None)


async def test_without_read_catalog_a_strict_account_knows_only_the_bundled_names(
    tenant: tuple[EnterpriseCoreEmulator, str],
) -> None:
    emulator, base = tenant
    gw, account = await _account(base, emulator.tenant_locator, custom_events=["custom.x"])
    try:
        assert {t.name for t in await account.event_types()} == set(ALL) | {"custom.x"}
        with pytest.raises(InvalidRequest, match=r"billing\.invoice\.remind"):
            await account.create(
                WebhookSpec(name="remind", url="https://h.example.com/r",
                            events={"billing.invoice.remind"})
            )  # fmt: skip
        assert not emulator.webhooks  # refused before anything was written
    finally:
        await gw.__aexit__(None, None, None)


async def test_an_unreadable_route_falls_back_and_a_failing_one_is_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: dict[str, Any] = {r["path"]: catalog.route_answer(r) for r in CATALOG["routes"]}
    answers["/claim/events"] = {"fnolEvents": ["claim.fnol.create"]}  # a group that is a list
    answers["/contact/events"] = []  # not an object of groups

    async def route(request: web.Request) -> web.Response:
        if request.path in failing:
            return web.json_response({"message": "down"}, status=503)
        return web.json_response(answers[request.path])

    failing: set[str] = set()
    app = web.Application()
    for path in answers:
        app.router.add_get(path, route)
    server = TestServer(app)
    await server.start_server()
    caplog.set_level(logging.WARNING)
    base = str(server.make_url("")).rstrip("/")
    gw, account = await _account(base, "8c6b4a52-6d6e-4b0e-9d55-0b8f3f0c2f4e", read_catalog=True,
                                 http={"retry": {"max_attempts": 1}})  # fmt: skip
    try:
        assert {t.name for t in await account.provider.event_types()} == set(ALL)
        assert "fnolEvents must be an object of event names" in caplog.text
        assert "the bundled names are used for /contact/events" in caplog.text
        failing.add("/document/events")  # a failure is not remembered as the catalog
        with pytest.raises(ProviderUnavailable):
            await account.provider.event_types()
    finally:
        await gw.__aexit__(None, None, None)
        await server.close()
