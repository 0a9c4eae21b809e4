"""What health last counted, per gateway: webhooks by state, diverting, and the age of what
is known, from the store's health rows (the proxy's ``gateway_webhooks``,
``gateway_webhooks_diverting`` and ``gateway_health_seen_seconds`` gauges read them), and
drifted manifest keys per account as watch's last plan found (``gateway_drift``). Health owns
them; the facade carries nothing for it."""

from __future__ import annotations

import weakref
from collections import Counter

import attrs

from gateway.service import Gateway

__all__ = ["HealthCounts", "count_health", "drift_counts", "health_counts", "set_drift_counts"]


@attrs.frozen
class HealthCounts:
    """The health rows counted: ``states`` ``{(account, provider, state): webhooks}``,
    ``diverting`` ``{(account, provider): webhooks holding diverted events}``, ``oldest``
    ``{(account, provider): seen_at of its least recently seen row}`` (epoch seconds)."""

    states: dict[tuple[str, str, str], int] = attrs.field(factory=dict)
    diverting: dict[tuple[str, str], int] = attrs.field(factory=dict)
    oldest: dict[tuple[str, str], float] = attrs.field(factory=dict)


_health: weakref.WeakKeyDictionary[Gateway, HealthCounts] = weakref.WeakKeyDictionary()
_drift: weakref.WeakKeyDictionary[Gateway, dict[str, int]] = weakref.WeakKeyDictionary()


def health_counts(gw: Gateway) -> HealthCounts:
    """The counts of the last ``count_health``."""
    return _health.get(gw) or HealthCounts()


async def count_health(gw: Gateway) -> HealthCounts:
    """Count the store's health rows of the configured accounts, as every replica sees them
    now (a look, or a refresh after the gateway's own write, updates them), and keep the
    counts for ``/metrics``."""
    if gw.store is None:
        return HealthCounts()
    kinds = {info.name: info.provider for info in gw.accounts()}
    states: Counter[tuple[str, str, str]] = Counter()
    diverting: Counter[tuple[str, str]] = Counter()
    oldest: dict[tuple[str, str], float] = {}
    for h in await gw.store.health():
        if h.account not in kinds:
            continue
        where = (h.account, kinds[h.account])
        states[(*where, h.state)] += 1
        diverting[where] += 1 if h.diverted else 0
        oldest[where] = min(oldest.get(where, h.seen_at), h.seen_at)
    counted = HealthCounts(dict(states), dict(diverting), oldest)
    _health[gw] = counted
    return counted


def drift_counts(gw: Gateway) -> dict[str, int]:
    """``{account: drifted keys}`` of the last look that planned a manifest."""
    return _drift.get(gw, {})


def set_drift_counts(gw: Gateway, counts: dict[str, int]) -> None:
    """Record the accounts of ``counts`` (those not planned this time keep theirs)."""
    _drift[gw] = {**drift_counts(gw), **counts}
