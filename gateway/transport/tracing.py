"""Traces, through the OpenTelemetry API, when it is installed (``webhook-gateway[otel]``).

The library only asks the API for a tracer (``opentelemetry.trace.get_tracer``), so it sets up
nothing by being imported: without a tracer provider the API's spans are no-ops, and without the
package ``span`` is a shared empty context manager. A program that configures OpenTelemetry gets
the gateway's spans in its traces; ``webhook-gateway serve`` configures the SDK from the standard
``OTEL_*`` variables (``configure_from_environment``).

Spans: ``ClientTracing`` (one per request to a provider, a sink or a relay destination: each
attempt of a retried request its own, ``traceparent`` sent with it); the proxy's server span and
the others (``update lock``, ``store ...``, ``audit write``, ``watch look``, ``plan account``,
``apply account``, ``deliver event``, ``relay forward``) via ``span``. Attributes hold names,
ids, hosts and statuses: never a secret, token, API key or a URL's query.

Written by hand rather than with the aiohttp instrumentations: those patch aiohttp for the whole
process (a library must not), name server spans by the raw path (ids in span names), and record
full URLs with their queries (tokens).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

__all__ = [
    "ATTEMPT",
    "ClientTracing",
    "configure_from_environment",
    "current_ids",
    "extract",
    "inject",
    "span",
]

log = logging.getLogger("gateway.transport.tracing")

try:  # the optional extra
    from opentelemetry import propagate as _propagate
    from opentelemetry import trace as _trace
    from opentelemetry.trace import (
        NoOpTracerProvider,
        ProxyTracerProvider,
        SpanKind,
        Status,
        StatusCode,
    )

    _IDLE: tuple[type, ...] = (ProxyTracerProvider, NoOpTracerProvider)
except ImportError:  # pragma: no cover - exercised where the extra is absent
    _trace = None  # type: ignore[assignment]

#: Which attempt of a retried request is being sent (1 for the first; set by the retry loop).
ATTEMPT: contextvars.ContextVar[int] = contextvars.ContextVar("attempt", default=1)

_NOTHING = contextlib.nullcontext()
_KINDS = {"server": "SERVER", "client": "CLIENT", "internal": "INTERNAL"}


def enabled() -> bool:
    """Whether spans are recorded: the API is installed and a tracer provider was set (by
    ``serve``, or by the program using the library). Asked at each span, so a provider set
    later counts; until then a span costs this check. Once set, a provider stays."""
    global _ON
    if _ON:
        return True
    if _trace is None:
        return False
    # The API keeps the provider it was given in a module global (None until set): reading it
    # is the cheapest test; the public call is the fallback should that name ever change.
    given = getattr(_trace, "_TRACER_PROVIDER", _UNKNOWN)
    if given is _UNKNOWN:
        given = _trace.get_tracer_provider()
    _ON = given is not None and not isinstance(given, _IDLE)
    return _ON


_ON = False
_UNKNOWN = object()


def _tracer() -> Any:
    assert _trace is not None
    return _trace.get_tracer("webhook-gateway")


def span(
    name: str, kind: str = "internal", parent: Any = None, **attributes: Any
) -> contextlib.AbstractContextManager[Any]:
    """A span named ``name`` around the block (``kind``: internal, server, client; ``parent``:
    a context from ``extract``); attributes whose value is None are left out."""
    if not enabled():
        return _NOTHING
    shown = {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
    started: contextlib.AbstractContextManager[Any] = _tracer().start_as_current_span(
        name, context=parent, kind=getattr(SpanKind, _KINDS[kind]), attributes=shown,
        record_exception=False,
    )  # fmt: skip
    return started


def set_attributes(**attributes: Any) -> None:
    """Add attributes to the current span (if any)."""
    if not enabled():  # (every proxy request asks: no span to look up when none is recorded)
        return
    assert _trace is not None
    current = _trace.get_current_span()
    if current.is_recording():
        current.set_attributes({k.replace("__", "."): v for k, v in attributes.items()
                                if v is not None})  # fmt: skip


def failed(error: BaseException) -> None:
    """Mark the current span as failed with ``error``'s type (its message may hold anything the
    provider said: only the type is kept)."""
    if _trace is None:
        return
    current = _trace.get_current_span()
    if current.is_recording():
        current.set_status(Status(StatusCode.ERROR, type(error).__name__))
        current.set_attribute("error.type", type(error).__name__)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) of the current span to ``headers``."""
    if enabled():
        _propagate.inject(headers)


def extract(headers: Mapping[str, str]) -> Any:
    """The caller's trace context from its ``traceparent`` (None without tracing)."""
    if not enabled():
        return None
    return _propagate.extract(headers)


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` of the current span, as hex, or None outside one."""
    if not enabled():
        return None
    context = _trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class ClientTracing:
    """Client middleware: one client span per request sent, ``traceparent`` on it."""

    def __init__(self, provider: str | None = None, account: str | None = None) -> None:
        self.provider, self.account = provider, account

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        if not enabled():
            return await handler(req)
        url = req.url
        with span(
            req.method, "client",
            http__request__method=req.method, server__address=url.host, server__port=url.port,
            url__path=url.path, http__request__resend_count=ATTEMPT.get() - 1 or None,
            webhook_gateway__provider=self.provider, webhook_gateway__account=self.account,
        ):  # fmt: skip
            carrier: dict[str, str] = {}
            inject(carrier)
            for name, value in carrier.items():
                req.headers[name] = value
            try:
                resp = await handler(req)
            except Exception as exc:
                failed(exc)
                raise
            set_attributes(http__response__status_code=resp.status)
            if resp.status >= 500:
                failed(RuntimeError(str(resp.status)))
            return resp


def configure_from_environment() -> bool:
    """Set up the SDK as the standard ``OTEL_*`` variables say, for ``serve``: exporters from
    ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``; tracing stays off unless it or an
    ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set), the service from ``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES``, the sampler from ``OTEL_TRACES_SAMPLER``. Off with
    ``OTEL_SDK_DISABLED=true`` or without the SDK. Whether tracing was set up."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not names and any(k.startswith("OTEL_EXPORTER_OTLP_") and k.endswith("ENDPOINT")
                         for k in os.environ):  # fmt: skip
        names = "otlp"
    if not names or names == "none":
        return False
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SimpleSpanProcessor,
        )
    except ImportError:
        log.warning("OTEL_TRACES_EXPORTER is set but the SDK is not installed: "
                    "pip install 'webhook-gateway[otel]'")  # fmt: skip
        return False
    service = os.environ.get("OTEL_SERVICE_NAME") or "webhook-gateway"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    for name in (n.strip() for n in names.split(",")):
        if name == "console":
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
            except ImportError:
                log.warning("the OTLP exporter is not installed: pip install "
                            "'webhook-gateway[otel]'")  # fmt: skip
                continue
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER value, ignored", extra={"exporter": name})
    _trace.set_tracer_provider(provider)
    return True
