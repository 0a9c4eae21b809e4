"""Prometheus metrics of the HTTP proxy (``GET /metrics``), one registry per application.

* ``gateway_requests_total{route,method,status,account,provider}``: requests served;
* ``gateway_request_duration_seconds{route,method}``: time to answer;
* ``gateway_provider_call_duration_seconds{provider,account,operation,outcome}``: time spent in
  each provider operation (``outcome`` is ``ok`` or the error class);
* ``gateway_provider_retries_total{provider,account}`` and
  ``gateway_token_fetches_total{provider,account}``: read from the adapters at scrape time.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.service import Gateway

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _TransportCollector(Collector):
    def __init__(self, gateway: Callable[[], Gateway | None]) -> None:
        self._gateway = gateway

    def collect(self) -> Iterable[Metric]:
        retries = CounterMetricFamily(
            "gateway_provider_retries", "Retried provider requests.", labels=["provider", "account"]
        )
        tokens = CounterMetricFamily(
            "gateway_token_fetches", "Token requests made.", labels=["provider", "account"]
        )
        gw = self._gateway()
        infos = gw.accounts() if gw is not None else []
        for info in infos:
            assert gw is not None
            counters = gw.account(info.name).provider.counters()
            retries.add_metric([info.provider, info.name], counters.get("retries", 0))
            tokens.add_metric([info.provider, info.name], counters.get("token_fetches", 0))
        yield retries
        yield tokens


class Metrics:
    """The proxy's metrics; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self, gateway: Callable[[], Gateway | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests",
            "HTTP requests served by the proxy.",
            ["route", "method", "status", "account", "provider"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "gateway_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route", "method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.provider_seconds = Histogram(
            "gateway_provider_call_duration_seconds",
            "Time spent in one provider operation.",
            ["provider", "account", "operation", "outcome"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_TransportCollector(gateway))
        # labels() takes a lock and builds a key each time; the label sets are few: keep them.
        self._children: dict[tuple[object, ...], tuple[Any, Any]] = {}
        self._provider_children: dict[tuple[str, ...], Any] = {}

    def observe_request(
        self, route: str, method: str, status: int, account: str, provider: str, seconds: float
    ) -> None:
        key = (route, method, status, account, provider)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(route, method, str(status), account, provider),
                self.request_seconds.labels(route, method),
            )
        children[0].inc()
        children[1].observe(seconds)

    @asynccontextmanager
    async def provider_call(
        self, provider: str, account: str, operation: str
    ) -> AsyncIterator[None]:
        started = time.perf_counter()
        outcome = "ok"
        try:
            yield
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            key = (provider, account, operation, outcome)
            child = self._provider_children.get(key)
            if child is None:
                child = self._provider_children[key] = self.provider_seconds.labels(*key)
            child.observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)
