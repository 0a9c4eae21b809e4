"""Plans made for a caller who may not see credentials (a read key): nothing in them tells
whether a guessed secret, URL credential or header value is right.

A plan compares the manifest with the provider: show a read key that comparison with a guessed
secret or URL password in the manifest and "rotated" against nothing tells it whether the guess
was right, and the before-values of a change would show the stored headers. So such a plan
compares both sides with their credentials masked the same way (``mask_url``, header values
``***``, secrets neither compared nor shown) and says so in a note; it cannot be applied
(an apply plans again, as a caller who may write).
"""

from __future__ import annotations

from typing import TypeVar

import attrs

from gateway.model import AlertEndpoint, FailureHandling, Headers, mask_url

__all__ = ["BLIND_NOTE", "blinded"]

BLIND_NOTE = (
    "planned with a read key: secrets, credentials in URLs and header values are not "
    "compared (plan with a write key to compare them)"
)

T = TypeVar("T")


def blinded(item: T) -> T:
    """``item`` (a ``WebhookSpec`` or a ``Webhook``) with its credentials masked: URLs by
    ``mask_url``, header values as ``***``, the alert endpoint's secret gone."""
    found = attrs.evolve(item, url=mask_url(item.url), headers=_masked(item.headers))  # type: ignore[misc, attr-defined]
    fh: FailureHandling | None = getattr(item, "failure_handling", None)
    if fh is not None and fh.alert_endpoint is not None:
        alert: AlertEndpoint = fh.alert_endpoint
        alert = attrs.evolve(alert, url=mask_url(alert.url), headers=_masked(alert.headers),
                             secret=None, secret_state="unset")  # noqa: S106  # fmt: skip
        found = attrs.evolve(found, failure_handling=attrs.evolve(fh, alert_endpoint=alert))  # type: ignore[misc]
    return found


def _masked(headers: Headers) -> dict[str, tuple[str, ...]]:
    return {name: ("***",) for name in headers}
