"""What health last counted, per gateway: webhooks by state as watch last saw them, and drifted
manifest keys per account as its last plan found (the proxy's ``gateway_webhooks`` and
``gateway_drift`` gauges read them). Health owns them; the facade carries nothing for it."""

from __future__ import annotations

import weakref

from gateway.service import Gateway

__all__ = ["drift_counts", "health_counts", "set_drift_counts", "set_health_counts"]

_health: weakref.WeakKeyDictionary[Gateway, dict[tuple[str, str, str], int]] = (
    weakref.WeakKeyDictionary()
)
_drift: weakref.WeakKeyDictionary[Gateway, dict[str, int]] = weakref.WeakKeyDictionary()


def health_counts(gw: Gateway) -> dict[tuple[str, str, str], int]:
    """``{(account, provider, state): count}`` of the last ``watch_once``."""
    return _health.get(gw, {})


def set_health_counts(gw: Gateway, counts: dict[tuple[str, str, str], int]) -> None:
    _health[gw] = counts


def drift_counts(gw: Gateway) -> dict[str, int]:
    """``{account: drifted keys}`` of the last look that planned a manifest."""
    return _drift.get(gw, {})


def set_drift_counts(gw: Gateway, counts: dict[str, int]) -> None:
    """Record the accounts of ``counts`` (those not planned this time keep theirs)."""
    _drift[gw] = {**drift_counts(gw), **counts}
