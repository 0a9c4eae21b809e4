"""OpenTelemetry: one trace from the caller through the proxy to the provider, with the lock,
store and audit spans, ``traceparent`` sent on, log lines that carry the trace, and no secret in
any attribute. The SDK's in-memory exporter records; the emulator is a real server."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import logs
from gateway.config import parse_config
from gateway.proxy.server import create_app
from gateway.transport import tracing
from providers.uipath.emulator import UiPathEmulator

PAT = "pat-tracing-s3cret"
KEY = "write-key-tracing-0123456789"
HOOK_SECRET = "hook-secret-tracing-s3cret"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"


class _Switch(InMemorySpanExporter):
    """Keeps spans only while a test of this module runs (the provider is the process's)."""

    on = False

    def export(self, spans: Any) -> Any:
        return super().export(spans) if self.on else super().export([])


_EXPORTER = _Switch()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _EXPORTER.on = True
    yield _EXPORTER
    _EXPORTER.on = False
    _EXPORTER.clear()


async def test_one_trace_from_the_caller_to_the_provider(
    spans: InMemorySpanExporter, aiohttp_client: Any, tmp_path: Path
) -> None:
    emulator = UiPathEmulator(personal_tokens={PAT: ["OR.Webhooks"]})
    made = emulator.add(Name="traced", Events=[{"EventType": "job.completed"}], Secret=HOOK_SECRET)
    seen: list[str | None] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(request.headers.get("traceparent"))
        return await handler(request)  # type: ignore[no-any-return]

    app = emulator.app()
    app.middlewares.insert(0, record)
    server = TestServer(app)
    await server.start_server()
    config = parse_config({
        "accounts": {"orch": {"provider": "uipath", "base_url": str(server.make_url("")),
                              "token": PAT, "batch_reads": 0}},
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": KEY}]},
    })  # fmt: skip
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        client = await aiohttp_client(create_app(config))
        resp = await client.patch(
            f"/v1/accounts/orch/webhooks/{made['Id']}",
            json={"add_events": ["job.faulted"]},
            headers={"Authorization": f"Bearer {KEY}", "traceparent": TRACEPARENT},
        )
        assert resp.status == 200, await resp.text()
        logs.access_log.flush()
    finally:
        logs.configure("WARNING", io.StringIO())
        await server.close()

    finished = spans.get_finished_spans()
    ours = [s for s in finished if f"{s.context.trace_id:032x}" == CALLER_TRACE]
    names = [s.name for s in ours]
    assert "PATCH /v1/accounts/{account}/webhooks/{id}" in names  # the route, not the ids
    assert {"update lock", "audit write", "GET", "PATCH"} <= set(names), names
    assert any(n.startswith("store ") for n in names), names
    (server_span,) = [s for s in ours if s.kind == trace.SpanKind.SERVER]
    assert server_span.parent is not None and server_span.parent.span_id == 0x00F067AA0BA902B7
    attributes = dict(server_span.attributes or {})
    assert attributes["webhook_gateway.account"] == "orch"
    assert attributes["webhook_gateway.provider"] == "uipath"
    assert attributes["http.response.status_code"] == 200
    clients = [s for s in ours if s.kind == trace.SpanKind.CLIENT]
    assert {s.name for s in clients} >= {"GET", "PATCH"}
    assert all((s.attributes or {}).get("server.address") == "127.0.0.1" for s in clients)
    # The provider got the trace: each of its requests carries a traceparent of this trace.
    assert seen and all(t is not None and CALLER_TRACE in t for t in seen), seen
    # No attribute holds a secret, a token or the API key.
    text = json.dumps([dict(s.attributes or {}) for s in finished], default=str)
    for secret in (PAT, KEY, HOOK_SECRET):
        assert secret not in text
    # The request's log lines carry its trace.
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "gateway.access"]
    assert access and access[-1]["trace_id"] == CALLER_TRACE
    assert access[-1]["span_id"] == f"{server_span.context.span_id:016x}"


def test_log_lines_inside_a_span_name_it(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        with tracing.span("a look"):
            logging.getLogger("gateway.test").warning("inside")
            ids = tracing.current_ids()
        logging.getLogger("gateway.test").warning("outside")
    finally:
        logs.configure("WARNING", io.StringIO())
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert ids is not None and (inside["trace_id"], inside["span_id"]) == ids
    assert "trace_id" not in outside


def test_tracing_is_set_up_only_by_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure_from_environment() is False  # nothing asked for: nothing set up
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.configure_from_environment() is False
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    assert tracing.configure_from_environment() is False


@pytest.mark.parametrize(
    ("path", "auth"),
    [("/healthz", None), ("/console/login", None), ("/v1/accounts", "Bearer wrong-key-0123456789")],
)
async def test_an_unauthenticated_caller_does_not_decide_the_trace(
    spans: InMemorySpanExporter, aiohttp_client: Any, path: str, auth: str | None
) -> None:
    """Its ``traceparent`` (sampled) is not continued: a new trace starts, so a caller without
    a key cannot force sampling or join the operator's traces."""
    config = parse_config({
        "accounts": {"m": {"provider": "memory"}},
        "server": {"api_keys": [{"name": "ops", "scope": "write", "key": KEY}]},
    })  # fmt: skip
    client = await aiohttp_client(create_app(config))
    headers = {"traceparent": TRACEPARENT, **({"Authorization": auth} if auth else {})}
    await client.get(path, headers=headers)
    servers = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.SERVER]
    assert servers and all(f"{s.context.trace_id:032x}" != CALLER_TRACE for s in servers)
    assert all(s.parent is None for s in servers)
