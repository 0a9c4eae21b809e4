"""Auth and retry middlewares against a real aiohttp server on loopback (no mocks in between)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from gateway.model import Secret
from gateway.transport.auth import ClientCredentials, StaticToken
from gateway.transport.http import (
    HttpSettings,
    ProviderHTTP,
    RetryPolicy,
    Transport,
    parse_retry_after,
)

CLIENT_SECRET = "cl13nt-s3cr3t-value"
FAST = RetryPolicy(max_attempts=4, max_elapsed=10, backoff_base=0.01, backoff_max=0.05, rate_wait=5)


class Upstream:
    """A small provider: a token endpoint and scripted API routes, counting what it receives."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.tokens_issued = 0
        self.valid_tokens: set[str] = set()
        self.scripts: dict[str, list[web.StreamResponse]] = {}
        self.bodies: list[Any] = []

    def script(self, route: str, *responses: web.StreamResponse) -> None:
        """Answer ``route`` with these responses in turn, then 200 ``{"ok": true}``."""
        self.scripts[route] = list(responses)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_secret") != CLIENT_SECRET:
            return web.json_response(
                {"error": "invalid_client", "error_description": "client authentication failed"},
                status=401,
            )
        await asyncio.sleep(0.02)  # a token takes a while: concurrent callers pile up
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def api(self, request: web.Request) -> web.StreamResponse:
        route = request.match_info["route"]
        self.hits[route] += 1
        if request.can_read_body:
            self.bodies.append(await request.json())
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.valid_tokens:
            return web.json_response({"message": "unauthorized"}, status=401)
        if route == "drop":
            assert request.transport is not None
            request.transport.close()  # the answer is lost after the request arrived
            await asyncio.sleep(1)
        queue = self.scripts.get(route)
        if queue:
            return queue.pop(0)
        return web.json_response({"ok": True, "route": route})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_route("*", "/api/{route}", self.api)
        return app


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, TestServer]]:
    up = Upstream()
    server = TestServer(up.app())
    await server.start_server()
    yield up, server
    await server.close()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport(HttpSettings(retry=FAST, read_timeout=5))
    yield t
    await t.close()


def client_for(
    transport: Transport, server: TestServer, secret: str = CLIENT_SECRET
) -> tuple[ProviderHTTP, ClientCredentials]:
    source = transport.client_credentials(
        str(server.make_url("/token")), "client-1", Secret(secret), "api.read", provider="test"
    )
    client = transport.client(
        provider="test", account="acct", base_url=str(server.make_url("/api")), auth=source
    )
    return client, source


async def test_200_concurrent_calls_without_a_token_make_one_token_request(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    client, source = client_for(transport, server)
    results = await asyncio.gather(*(client.request("GET", "/items") for _ in range(200)))
    assert all(r == {"ok": True, "route": "items"} for r in results)
    assert up.tokens_issued == 1
    assert source.fetches == 1
    assert up.hits["items"] == 200


async def test_429_with_retry_after_is_retried_after_that_long(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("limited", web.json_response({}, status=429, headers={"Retry-After": "1"}))
    client, _ = client_for(transport, server)
    started = time.monotonic()
    assert await client.request("GET", "/limited") == {"ok": True, "route": "limited"}
    assert time.monotonic() - started >= 1.0
    assert up.hits["limited"] == 2
    assert client.retry.retries == 1


async def test_http_date_retry_after_is_honoured() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(7.0)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_post_answered_503_is_not_retried(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("create", web.json_response({"message": "busy"}, status=503))
    client, _ = client_for(transport, server)
    with pytest.raises(ProviderUnavailable) as caught:
        await client.request("POST", "/create", json_body={"name": "x"})
    assert caught.value.status == 503
    assert up.hits["create"] == 1


async def test_get_503_is_retried_until_it_succeeds(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("flaky", *(web.json_response({}, status=s) for s in (503, 502)))
    client, _ = client_for(transport, server)
    assert await client.request("GET", "/flaky") == {"ok": True, "route": "flaky"}
    assert up.hits["flaky"] == 3


async def test_attempts_are_bounded(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("down", *(web.json_response({}, status=503) for _ in range(10)))
    client, _ = client_for(transport, server)
    with pytest.raises(ProviderUnavailable):
        await client.request("GET", "/down")
    assert up.hits["down"] == FAST.max_attempts


async def test_retry_after_beyond_the_time_budget_is_not_waited_for(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    """A call waits for the rate budget at most ``retry.rate_wait`` in all (5 s here)."""
    up, server = upstream
    up.script("slow", web.json_response({}, status=429, headers={"Retry-After": "120"}))
    client, _ = client_for(transport, server)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        await client.request("GET", "/slow")
    assert time.monotonic() - started < 5
    assert caught.value.retry_after == pytest.approx(120, abs=1)
    assert up.hits["slow"] == 1


async def test_patch_is_retried_only_when_the_adapter_marks_it_idempotent(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    client, _ = client_for(transport, server)
    up.script("patch", web.json_response({}, status=503))
    with pytest.raises(ProviderUnavailable):
        await client.request("PATCH", "/patch", json_body={"a": 1})
    assert up.hits["patch"] == 1
    up.script("patch", web.json_response({}, status=503))
    assert await client.request("PATCH", "/patch", json_body={"a": 1}, idempotent=True)
    assert up.hits["patch"] == 3


async def test_put_body_is_sent_again_on_retry(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("put", web.json_response({}, status=503))
    client, _ = client_for(transport, server)
    await client.request("PUT", "/put", json_body={"Name": "same", "Events": [1, 2]})
    assert up.bodies == [{"Name": "same", "Events": [1, 2]}] * 2


async def test_stale_token_recovers_with_one_refetch(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    client, source = client_for(transport, server)
    await client.request("GET", "/warm")
    up.valid_tokens.clear()  # the provider revokes every token it issued
    results = await asyncio.gather(*(client.request("GET", "/after") for _ in range(20)))
    assert all(r["ok"] for r in results)
    assert up.tokens_issued == 2
    assert source.fetches == 2


async def test_static_token_rejected_is_authentication_failed(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    client = transport.client(
        provider="test",
        account="acct",
        base_url=str(server.make_url("/api")),
        auth=StaticToken(Secret("pat-not-valid")),
    )
    with pytest.raises(AuthenticationFailed) as caught:
        await client.request("GET", "/x")
    assert up.hits["x"] == 1
    assert "pat-not-valid" not in str(caught.value)


async def test_wrong_client_secret_is_authentication_failed_without_the_secret(
    upstream: tuple[Upstream, TestServer],
    transport: Transport,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, server = upstream
    wrong = "wr0ng-s3cr3t-value"
    client, source = client_for(transport, server, secret=wrong)
    with pytest.raises(AuthenticationFailed) as caught:
        await client.request("GET", "/x")
    assert caught.value.code == "invalid_client"
    assert "client authentication failed" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(source), repr(client), caplog.text):
        assert wrong not in text


async def test_unreachable_provider_is_unavailable_for_any_method(transport: Transport) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connection refused
        client = transport.client(provider="test", account="a", base_url=f"http://127.0.0.1:{port}")
        for method in ("GET", "POST"):
            with pytest.raises(ProviderUnavailable, match="cannot reach"):
                await client.request(method, "/x")
        assert client.retry.retries == 2 * (FAST.max_attempts - 1)


async def test_lost_answer_to_post_is_outcome_unknown_and_get_is_retried(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    client, _ = client_for(transport, server)
    with pytest.raises(OutcomeUnknown):
        await client.request("POST", "/drop", json_body={"name": "x"})
    assert up.hits["drop"] == 1
    with pytest.raises(ProviderUnavailable) as caught:
        await client.request("GET", "/drop")
    assert not isinstance(caught.value, OutcomeUnknown)
    # Each of our attempts may include aiohttp's own single resend on a dropped keep-alive
    # connection (idempotent methods only, RFC 9112 section 9.3.1).
    assert FAST.max_attempts <= up.hits["drop"] - 1 <= 2 * FAST.max_attempts


async def test_cached_token_is_refreshed_before_it_expires(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    now = [1000.0]
    source = ClientCredentials(
        lambda: transport.session,
        str(server.make_url("/token")),
        "client-1",
        Secret(CLIENT_SECRET),
        refresh_margin=300,
        clock=lambda: now[0],
    )
    first = await source.token()
    now[0] += 3600 - 301  # still outside the refresh margin
    assert await source.token() == first
    now[0] += 2  # inside the last five minutes: refresh
    second = await source.token()
    assert second != first
    assert up.tokens_issued == 2


async def test_provider_error_details_are_kept(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    body = {"message": "Webhook not found", "errorCode": 1002, "traceId": "0HMT9:0000"}
    up.script("gone", web.json_response(body, status=404))
    client = transport.client(
        provider="uipath-like",
        account="acct",
        base_url=str(server.make_url("/api")),
        auth=StaticToken(Secret("tok-1")),
        read_error=lambda status, b: (b.get("errorCode"), b.get("message"), b.get("traceId")),
    )
    up.valid_tokens.add("tok-1")
    with pytest.raises(GatewayError) as caught:
        await client.request("GET", "/gone")
    err = caught.value
    assert type(err).__name__ == "NotFound"
    assert (err.provider, err.account, err.status, err.code, err.trace_id) == (
        "uipath-like",
        "acct",
        404,
        1002,
        "0HMT9:0000",
    )
    assert "Webhook not found" in str(err) and "0HMT9:0000" in str(err)


async def test_invalid_json_from_provider_is_unavailable(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("junk", web.Response(text="<html>gateway</html>", content_type="application/json"))
    client, _ = client_for(transport, server)
    with pytest.raises(ProviderUnavailable, match="invalid JSON"):
        await client.request("GET", "/junk")


async def test_cookies_a_provider_sets_are_never_sent_back(transport: Transport) -> None:
    """Accounts share one session, and two accounts may share a host (two tenants of one cloud):
    a cookie set in an answer to one account must not ride along on the next request."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("affinity", "tenant-a-session", path="/")
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        base = f"http://localhost:{server.port}/"  # a name: cookie jars ignore bare IPs
        tenant_a = transport.client(provider="test", account="a", base_url=base + "a")
        tenant_b = transport.client(provider="test", account="b", base_url=base + "b")
        await tenant_a.request("GET", "/hooks")
        await tenant_b.request("GET", "/hooks")
        await tenant_a.request("GET", "/hooks")
        assert seen == [None, None, None]
    finally:
        await server.close()


async def test_post_answered_429_is_retried_after_retry_after(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    """A 429 was not processed (RFC 6585): even a create is sent again, once it may."""
    up, server = upstream
    up.script("create", web.json_response({}, status=429, headers={"Retry-After": "1"}))
    client, _ = client_for(transport, server)
    started = time.monotonic()
    assert await client.request("POST", "/create", json_body={"name": "x"}) == {
        "ok": True,
        "route": "create",
    }
    assert time.monotonic() - started >= 1.0 and up.hits["create"] == 2


async def test_answers_are_read_up_to_max_response_bytes_declared_or_streamed() -> None:
    """An answer over ``max_response_bytes`` is an unreadable ``ProviderError``, whether its
    length is declared (refused before reading) or it streams in chunks (refused once the
    chunks pass the limit); answers within it are read whole either way."""

    def array(n: int) -> bytes:
        return b"[" + b"1," * (n - 1) + b"1]"

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=array(int(request.query["n"])), content_type="application/json")

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = array(int(request.query["n"]))
        for start in range(0, len(body), 100):
            await response.write(body[start : start + 100])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/declared", declared)
    app.router.add_get("/api/streamed", streamed)
    server = TestServer(app)
    await server.start_server()
    transport = Transport(HttpSettings(retry=FAST, max_response_bytes=1000))
    try:
        client = transport.client(provider="test", account="acct", auth=StaticToken(Secret("t")),
                                  base_url=str(server.make_url("/api")))  # fmt: skip
        for route in ("/declared", "/streamed"):
            assert len(await client.request("GET", route, params={"n": "400"})) == 400  # 800 B
            with pytest.raises(GatewayError, match="answered more than 1000 bytes") as caught:
                await client.request("GET", route, params={"n": "600"})  # 1,200 bytes
            assert type(caught.value).__name__ == "ProviderError"
    finally:
        await transport.close()
        await server.close()


@pytest.fixture
async def elsewhere() -> AsyncIterator[tuple[list[dict[str, str]], TestServer]]:
    """Another origin (another port): records what reaches it."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"stolen": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = TestServer(app)
    await server.start_server()
    yield seen, server
    await server.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_to_another_origin_is_an_error_and_carries_no_token(
    upstream: tuple[Upstream, TestServer],
    elsewhere: tuple[list[dict[str, str]], TestServer],
    transport: Transport,
    status: int,
) -> None:
    up, server = upstream
    seen, other = elsewhere
    target = str(other.make_url("/collect?x=1"))
    up.script("moved", web.Response(status=status, headers={"Location": target}))
    client, _ = client_for(transport, server)
    with pytest.raises(ProviderError) as caught:
        await client.request("POST" if status in (307, 308) else "GET", "/moved", json_body={})
    assert seen == []  # nothing, and so no Authorization header, went to the other origin
    message = str(caught.value)
    assert "redirected to another origin" in message and f":{other.port}/collect" in message
    assert "x=1" not in message and "tok-" not in message


async def test_a_redirect_within_the_origin_is_followed_with_the_token(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("old", web.Response(status=307, headers={"Location": "/api/new"}))
    client, _ = client_for(transport, server)
    assert await client.request("POST", "/old", json_body={"a": 1}) == {"ok": True, "route": "new"}
    assert up.hits["new"] == 1 and up.bodies == [{"a": 1}, {"a": 1}]  # 307 keeps the body


async def test_redirect_loops_are_bounded(
    upstream: tuple[Upstream, TestServer], transport: Transport
) -> None:
    up, server = upstream
    up.script("loop", *[web.Response(status=302, headers={"Location": "/api/loop"})
                        for _ in range(10)])  # fmt: skip
    client, _ = client_for(transport, server)
    with pytest.raises(ProviderError, match="redirected more than 5 times"):
        await client.request("GET", "/loop")
    assert up.hits["loop"] == 6
