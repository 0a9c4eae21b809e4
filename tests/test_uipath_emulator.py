"""The UiPath emulator as a client sees it: auth, scopes, OData options, status codes, delivery."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from providers.uipath.emulator import CATALOG, PROPERTIES
from providers.uipath.odata_filter import compile_filter, key_lookup
from providers.uipath.signature import SIGNATURE_HEADER, verify
from tests.conftest import UIPATH_CLIENT, Receiver, UiPathHarness

Session = aiohttp.ClientSession


@pytest.fixture
async def http() -> AsyncIterator[Session]:
    async with aiohttp.ClientSession() as session:
        yield session


async def token(
    http: Session, base: str, client: tuple[str, str] = UIPATH_CLIENT, **form: str
) -> Any:
    data = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]}
    async with http.post(f"{base}/identity_/connect/token", data={**data, **form}) as resp:
        return resp.status, await resp.json()


async def call(
    http: Session, method: str, url: str, bearer: str | None = "pat-s3cret", **kw: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    headers |= kw.pop("headers", {})
    async with http.request(method, url, headers=headers, **kw) as resp:
        raw = await resp.read()
        return resp.status, json.loads(raw) if raw else None


async def test_client_credentials_and_scopes(uipath: UiPathHarness, http: Session) -> None:
    base = uipath.base_url
    status, body = await token(http, base)
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert (await token(http, base, (UIPATH_CLIENT[0], "wrong")))[1] == {"error": "invalid_client"}
    assert (await token(http, base, ("nobody", "x")))[0] == 400
    status, body = await token(http, base, ("reader", "reader-s3cret"), scope="OR.Webhooks")
    assert (status, body) == (400, {"error": "invalid_scope"})

    _, reader = await token(http, base, ("reader", "reader-s3cret"))
    read_token = reader["access_token"]
    assert (await call(http, "GET", f"{base}/odata/Webhooks", read_token))[0] == 200
    status, body = await call(
        http, "POST", f"{base}/odata/Webhooks", read_token, json={"Name": "n", "Url": "https://a.b"}
    )
    assert status == 403 and "OR.Webhooks.Write" in body["message"]
    assert (await call(http, "GET", f"{base}/odata/Webhooks", None))[0] == 401
    assert (await call(http, "GET", f"{base}/odata/Webhooks", "forged"))[0] == 401


async def test_odata_options(uipath: UiPathHarness, http: Session) -> None:
    for i, (name, enabled) in enumerate([("alpha", True), ("beta", False), ("gamma", True)]):
        uipath.emulator.add(Name=name, Url=f"https://h{i}.example.com/x", Enabled=enabled)
    url = f"{uipath.base_url}/odata/Webhooks"

    async def names(**params: str) -> list[str]:
        status, body = await call(http, "GET", url, params=params)
        assert status == 200, body
        return [r["Name"] for r in body["value"]]

    assert await names(**{"$filter": "Enabled eq true"}) == ["alpha", "gamma"]
    assert await names(**{"$filter": "Name ne 'beta' and contains(Url,'h2')"}) == ["gamma"]
    assert await names(**{"$filter": "Name eq 'alpha' or Name eq 'beta'"}) == ["alpha", "beta"]
    assert await names(**{"$orderby": "Name desc", "$top": "2"}) == ["gamma", "beta"]
    assert await names(**{"$skip": "1", "$top": "1"}) == ["beta"]
    status, body = await call(http, "GET", url, params={"$count": "true", "$top": "1"})
    assert body["@odata.count"] == 3 and len(body["value"]) == 1
    assert body["@odata.context"].endswith("/odata/$metadata#Webhooks")

    # Key filters are answered by lookup, exactly as the general evaluation would answer them.
    assert await names(**{"$filter": "Id eq 3 or Id eq 1 or Id eq 9"}) == ["alpha", "gamma"]
    assert await names(**{"$filter": "Id eq 2 or Id eq 2 or Id eq 1"}) == ["alpha", "beta"]
    records = [{"Id": i, "Name": f"n{i}"} for i in range(1, 60)]
    for text in ("Id eq 5", "Id eq 7 or Id eq 3 or Id eq 70", "(Id eq 9) or Id eq 9"):
        keys = key_lookup(text)
        assert keys is not None
        keep = compile_filter(text, PROPERTIES)
        assert sorted(set(keys) & {r["Id"] for r in records}) == [
            r["Id"] for r in records if keep(r)
        ]
    assert key_lookup("Id eq 1 or Name eq 'x'") is None
    assert key_lookup("Id gt 1") is None

    too_many = " or ".join(f"Id eq {i}" for i in range(26))  # 26 * 3 + 25 = 103 nodes
    slow_too_many = " or ".join(f"Name eq 'n{i}'" for i in range(26))
    for bad in ({"$top": "1001"}, {"$filter": "Colour eq 'red'"}, {"$filter": "Name eq"},
                {"$filter": too_many}, {"$filter": slow_too_many}):  # fmt: skip
        status, body = await call(http, "GET", url, params=bad)
        assert (status, body["errorCode"]) == (400, 1000), bad
        assert body["traceId"]
    status, body = await call(http, "GET", url, params={"$filter": too_many})
    assert "The node count limit of '100' has been exceeded" in body["message"]


async def test_entity_status_codes(uipath: UiPathHarness, http: Session) -> None:
    base = f"{uipath.base_url}/odata"
    body = {
        "Name": "Jobs",
        "Url": "https://h.example.com/jobs",
        "Events": [{"EventType": "Job.Completed"}],
    }
    status, created = await call(http, "POST", f"{base}/Webhooks", json=body)
    assert status == 201 and created["Id"] == 1
    assert created["Events"] == [{"EventType": "job.completed"}]
    status, dup = await call(http, "POST", f"{base}/Webhooks", json={**body, "Name": "JOBS"})
    assert (status, dup["errorCode"]) == (409, 1001)
    status, missing = await call(http, "GET", f"{base}/Webhooks(99)")
    assert (status, missing["errorCode"]) == (404, 1002)
    status, bad = await call(http, "POST", f"{base}/Webhooks", json={"Name": "x", "Url": "ftp://a"})
    assert (status, bad["errorCode"]) == (400, 1000) and "Url" in bad["message"]
    status, bad = await call(
        http, "POST", f"{base}/Webhooks", json={**body, "Name": "y", "Colour": 1}
    )
    assert status == 400 and "'Colour'" in bad["message"]

    status, patched = await call(http, "PATCH", f"{base}/Webhooks(1)", json={"Enabled": False})
    assert (status, patched) == (204, None)  # OData's default answer to a PATCH
    status, patched = await call(
        http, "PATCH", f"{base}/Webhooks(1)", json={"Description": "d"},
        headers={"Prefer": "return=representation"},
    )  # fmt: skip
    assert (status, patched["Enabled"], patched["Name"]) == (200, False, "Jobs")
    # PUT replaces: what the body leaves out takes its default (document 000's PUT example).
    status, put = await call(
        http, "PUT", f"{base}/Webhooks(1)", json={"Url": "https://h.example.com/2", "Enabled": True}
    )
    assert (status, put["Name"], put["Events"], put["Enabled"]) == (200, None, [], True)
    assert (await call(http, "DELETE", f"{base}/Webhooks(1)"))[0] == 204
    assert (await call(http, "DELETE", f"{base}/Webhooks(1)"))[0] == 404


@pytest.mark.parametrize("parens", ["()", ""])  # document 000 writes (); generated clients don't
async def test_event_types_are_the_whole_catalog(
    uipath: UiPathHarness, http: Session, parens: str
) -> None:
    function = f"UiPath.Server.Configuration.OData.GetEventTypes{parens}"
    status, body = await call(http, "GET", f"{uipath.base_url}/odata/Webhooks/{function}")
    assert status == 200
    groups = {e["Group"] for e in body["value"]}
    assert groups == {"job", "robot", "queue", "queueItem", "process", "schedule", "task"}
    assert len(body["value"]) == len(CATALOG) == 28
    assert {"Name": "task.forwarded", "Group": "task"} in body["value"]


async def test_fired_events_are_delivered_signed_and_verifiable(
    uipath: UiPathHarness, http: Session, receiver: Receiver
) -> None:
    emulator = uipath.emulator
    emulator.add(Name="jobs", Url=f"{receiver.url}/jobs", Secret="hook-s3cret",
                 Events=[{"EventType": "job.completed"}])  # fmt: skip
    emulator.add(Name="all", Url=f"{receiver.url}/all", SubscribeToAllEvents=True)
    emulator.add(Name="other", Url=f"{receiver.url}/other", Events=[{"EventType": "job.faulted"}])
    emulator.add(Name="off", Url=f"{receiver.url}/off", Enabled=False, SubscribeToAllEvents=True)

    status, report = await call(
        http, "POST", f"{uipath.base_url}/_emulator/events", None, json={"type": "Job.Completed"}
    )
    assert status == 200
    assert sorted(path for path, _, _ in receiver.received) == ["/all", "/jobs"]
    ((_, headers, body),) = [r for r in receiver.received if r[0] == "/jobs"]
    payload = json.loads(body)
    assert payload["Type"] == "job.completed"
    assert payload["Job"]["State"] == "Successful"  # document 001's example, fresh ids
    # the fields "About webhooks" lists as common to every payload
    for field in ("Type", "EventId", "Timestamp", "TenantId", "OrganizationUnitId", "FolderId"):
        assert field in payload, field
    assert payload["FolderId"] == payload["OrganizationUnitId"]
    assert verify(body, headers[SIGNATURE_HEADER], "hook-s3cret")
    assert not verify(
        body.replace(b"Successful", b"Faulted"), headers[SIGNATURE_HEADER], "hook-s3cret"
    )
    (all_headers,) = [h for p, h, _ in receiver.received if p == "/all"]
    assert SIGNATURE_HEADER not in all_headers  # no secret, no signature
    assert {d["webhook_id"] for d in report["deliveries"]} == {1, 2}


async def test_a_failed_delivery_disables_the_webhook_for_an_hour(
    uipath: UiPathHarness, http: Session, receiver: Receiver
) -> None:
    """ "If the request to forward an event fails, the circuit breaker for that particular webhook
    opens, disabling the webhook for one hour" (About webhooks): the record reads disabled for
    the hour, that hour's events are skipped, and then it is enabled again."""
    now = [1000.0]
    uipath.emulator.clock = lambda: now[0]
    uipath.emulator.add(Name="flaky", Url=receiver.url, SubscribeToAllEvents=True)
    fire = f"{uipath.base_url}/_emulator/events"
    one = f"{uipath.base_url}/odata/Webhooks(1)"
    receiver.status = 500
    _, report = await call(http, "POST", fire, None, json={"type": "robot.created"})
    assert report["deliveries"][0]["status"] == 500
    assert (await call(http, "GET", one))[1]["Enabled"] is False
    receiver.status = 200
    now[0] += 3599
    _, report = await call(http, "POST", fire, None, json={"type": "robot.created"})
    assert report["deliveries"] == [{"webhook_id": 1, "skipped": "circuit breaker open"}]
    assert (await call(http, "GET", one))[1]["Enabled"] is False
    now[0] += 2
    assert (await call(http, "GET", one))[1]["Enabled"] is True
    _, report = await call(http, "POST", fire, None, json={"type": "robot.created"})
    assert report["deliveries"][0]["status"] == 200
    assert len(receiver.received) == 2


async def test_enabling_a_webhook_the_breaker_disabled_closes_the_breaker(
    uipath: UiPathHarness, http: Session, receiver: Receiver
) -> None:
    now = [1000.0]
    uipath.emulator.clock = lambda: now[0]
    uipath.emulator.add(Name="a", Url=receiver.url, SubscribeToAllEvents=True)
    uipath.emulator.add(Name="b", Url=receiver.url, SubscribeToAllEvents=True)
    fire = f"{uipath.base_url}/_emulator/events"
    receiver.status = 500
    await call(http, "POST", fire, None, json={"type": "robot.created"})
    receiver.status = 200
    base = f"{uipath.base_url}/odata/Webhooks"
    await call(http, "PATCH", f"{base}(1)", json={"Enabled": True})
    await call(http, "PATCH", f"{base}(2)", json={"Enabled": False})
    _, report = await call(http, "POST", fire, None, json={"type": "robot.created"})
    assert report["deliveries"] == [{"webhook_id": 1, "status": 200, "error": None}]
    now[0] += 3601  # the hour is over, but 2 was disabled by a caller: it stays disabled
    assert (await call(http, "GET", f"{base}(2)"))[1]["Enabled"] is False


@pytest.mark.parametrize(("retries", "opened"), [(0, True), (2, False)])
async def test_a_standalone_orchestrator_retries_before_its_breaker_opens(
    retries: int, opened: bool
) -> None:
    """On-premises Orchestrator's Webhooks appsettings: a failed delivery is tried again
    (MaxRetryRequests 2, after RetryAfter's waits) before the breaker opens for
    SubscriberCircuitBreakerExpirationSeconds; Automation Cloud documents no retries."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from providers.uipath.emulator import UiPathEmulator

    answers = iter([503, 200, 200])

    async def flaky(request: web.Request) -> web.Response:
        return web.Response(status=next(answers))

    receiver = web.Application()
    receiver.router.add_post("/in", flaky)
    server = TestServer(receiver)
    await server.start_server()
    try:
        emulator = UiPathEmulator(breaker_seconds=600, retry_after=(0.0, 0.01),
                                  max_retries=retries)  # fmt: skip
        made = emulator.add(Url=str(server.make_url("/in")),
                            Events=[{"EventType": "job.completed"}])  # fmt: skip
        report = await emulator.fire("job.completed")
    finally:
        await server.close()
    assert (made["Id"] in emulator.breaker_until) is opened
    assert report["deliveries"][0]["status"] == (503 if opened else 200)
