"""Prometheus metrics of the HTTP proxy (``GET /metrics``), one registry per application.

* ``gateway_requests_total{route,method,status,account,provider}``: requests served;
* ``gateway_request_duration_seconds{route,method}``: time to answer;
* ``gateway_provider_call_duration_seconds{provider,account,operation,outcome}``: time spent in
  each provider operation (``outcome`` is ``ok`` or the error class);
* ``gateway_provider_retries_total{provider,account}``,
  ``gateway_token_fetches_total{provider,account}``,
  ``gateway_shared_reads_total{provider,account}`` and
  ``gateway_unreadable_records_total{provider,account}`` (listed records that could not be
  read and were left out): read from the accounts at scrape time;
  ``gateway_audit_failures_total`` (writes whose audit entry could not be stored),
  ``gateway_unaudited_writes_total`` (writes made with the store unreachable, best-effort),
  ``gateway_relays_total{outcome}`` (the inbound relay: queued, replayed, forwarded, failed,
  full).

Observations go into plain dicts and bucket lists (a dict increment and a ``bisect``), and are
turned into metric families only when ``/metrics`` is scraped: prometheus_client's per-sample
locks cost more than a whole proxied request's own work. The proxy runs on one event loop, so
no lock is needed.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.health.counts import HealthCounts, drift_counts, health_counts
from gateway.health.relay import relay_counts
from gateway.service import Gateway

__all__ = ["BUCKETS", "CONTENT_TYPE", "Metrics"]

T = TypeVar("T")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _Histograms:
    """Bucket counts and sums per label set."""

    def __init__(self) -> None:
        # per labels: [count in bucket 0, ..., count in +Inf bucket, sum]
        self.data: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        row = self.data.get(labels)
        if row is None:
            row = self.data[labels] = [0.0] * (len(BUCKETS) + 2)
        row[bisect.bisect_left(BUCKETS, value)] += 1
        row[-1] += value

    def family(self, name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=labels)
        for key, row in self.data.items():
            cumulative, buckets = 0.0, []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), row[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(list(key), buckets, row[-1])
        return family


def _gauge(
    name: str, doc: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], float]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in values:
        family.add_metric(list(key), value)
    return family


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        requests = CounterMetricFamily(
            "gateway_requests",
            "HTTP requests served by the proxy.",
            labels=["route", "method", "status", "account", "provider"],
        )
        for key, count in m.requests.items():
            requests.add_metric(list(key), count)
        yield requests
        yield m.request_seconds.family(
            "gateway_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route", "method"],
        )
        yield m.provider_seconds.family(
            "gateway_provider_call_duration_seconds",
            "Time spent in one provider operation.",
            ["provider", "account", "operation", "outcome"],
        )
        retries = CounterMetricFamily(
            "gateway_provider_retries", "Retried provider requests.", labels=["provider", "account"]
        )
        tokens = CounterMetricFamily(
            "gateway_token_fetches", "Token requests made.", labels=["provider", "account"]
        )
        shared = CounterMetricFamily(
            "gateway_shared_reads",
            "Reads answered by another read's provider request: of the same webhook, or a batch "
            "(gateway.transport.collapse).",
            labels=["provider", "account"],
        )
        unreadable = CounterMetricFamily(
            "gateway_unreadable_records",
            "Records a provider listed that could not be read (left out of the list).",
            labels=["provider", "account"],
        )
        gw = m.gateway()
        accounts = [gw.account(info.name) for info in gw.accounts()] if gw is not None else []
        for account in accounts:
            counters = account.provider.counters()
            info = account.info
            retries.add_metric([info.provider, info.name], counters.get("retries", 0))
            tokens.add_metric([info.provider, info.name], counters.get("token_fetches", 0))
            shared.add_metric([info.provider, info.name], account.shared_reads)
            unreadable.add_metric([info.provider, info.name], account.unreadable_records)
        yield retries
        yield tokens
        yield shared
        yield unreadable
        counted = health_counts(gw) if gw else HealthCounts()
        where = ["account", "provider"]
        yield _gauge("gateway_webhooks",
                     "Webhooks by state as the gateway last saw them: watch's looks and its own "
                     "writes (active, disabled, suspended).",
                     [*where, "state"], counted.states.items())  # fmt: skip
        yield _gauge("gateway_webhooks_diverting",
                     "Webhooks holding diverted events (Enterprise Core), as last seen.",
                     where, counted.diverting.items())  # fmt: skip
        yield _gauge("gateway_health_seen_timestamp_seconds",
                     "When the least recently seen webhook of the account was seen (Unix time): "
                     "alert when it falls behind by more than two watch intervals (stale health).",
                     where, counted.oldest.items())  # fmt: skip
        drift = drift_counts(gw) if gw else {}
        yield _gauge("gateway_drift",
                     "Manifest keys whose webhook differs from the manifest, as watch's last plan "
                     "found.",
                     ["account"], [((n,), c) for n, c in drift.items()])  # fmt: skip
        audit = CounterMetricFamily(
            "gateway_audit_failures",
            "Writes whose audit entry could not be stored (the write itself stands).",
        )
        audit.add_metric([], gw.auditor.failures if gw is not None and gw.auditor else 0)
        yield audit
        unaudited = CounterMetricFamily(
            "gateway_unaudited_writes",
            'Writes made while the state store was unreachable ([state] audit = "best-effort").',
        )
        unaudited.add_metric([], gw.auditor.unaudited if gw is not None and gw.auditor else 0)
        yield unaudited
        refused = CounterMetricFamily(
            "gateway_inbound_refused",
            "Inbound deliveries refused because they did not verify (nothing was forwarded).",
            labels=["account"],
        )
        for name, count in m.inbound_refused.items():
            refused.add_metric([name], count)
        yield refused
        relays = CounterMetricFamily(
            "gateway_relays",
            "Inbound deliveries by what the relay did: queued (per destination), replayed "
            "(seen within the window: not forwarded again), forwarded, failed (given up) and "
            "full (refused for a retry: the outbox held [state] relay_outbox_limit).",
            labels=["outcome"],
        )
        counts = relay_counts(gw) if gw is not None else {}
        for outcome in ("queued", "replayed", "forwarded", "failed", "full"):
            relays.add_metric([outcome], counts.get(outcome, 0))
        yield relays


class Metrics:
    """The proxy's metrics; ``render()`` is the body of ``GET /metrics``."""

    def __init__(self, gateway: Callable[[], Gateway | None]) -> None:
        #: Inbound deliveries refused for a bad signature, by account (gateway/proxy/inbound.py).
        self.inbound_refused: dict[str, int] = {}
        self.gateway = gateway
        self.requests: defaultdict[tuple[str, str, str, str, str], int] = defaultdict(int)
        self.request_seconds = _Histograms()
        self.provider_seconds = _Histograms()
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))

    def observe_request(
        self, route: str, method: str, status: int, account: str, provider: str, seconds: float
    ) -> None:
        self.requests[(route, method, str(status), account, provider)] += 1
        self.request_seconds.observe((route, method), seconds)

    async def provider_call(
        self, provider: str, account: str, operation: str, call: Awaitable[T]
    ) -> T:
        """Await ``call``, a provider operation, and record how long it took and its outcome.

        (A plain coroutine rather than a context manager: on the proxy's hottest path the
        generator machinery of ``asynccontextmanager`` cost more than the observation itself.)
        """
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await call
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            self.provider_seconds.observe(
                (provider, account, operation, outcome), time.perf_counter() - started
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)
