"""A webhook's health state as its record says it, and a change of it (``Transition``): what
``watch`` and the refresh after the gateway's own writes (gateway/health/fresh.py) share."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import attrs

from gateway.model import Webhook
from gateway.service import Account
from gateway.store import TransitionRecord

__all__ = ["Transition", "diverted_count", "health_state", "report"]


@attrs.frozen(kw_only=True)
class Transition:
    """A change watch saw. ``before``/``after``: the state (or the diverted count) before and
    after it; ``state``: the webhook's state now (None once deleted); ``by``: who caused it,
    when the audit log says the gateway did (the audit actor: an API key's name, ``cli``,
    ``apply``, ``watch:auto-unsuspend``); None for a change nobody in the audit log made."""

    account: str
    provider: str
    webhook_id: str
    name: str
    change: str  # new, disabled, suspended, active, diverted, deleted
    before: str | None
    after: str | None
    state: str | None = None
    by: str | None = None

    @property
    def out_of_band(self) -> bool:
        """Whether it is news to operators: not the gateway's own write, not a healthy
        webhook first seen."""
        return self.by is None and self.change != "new"

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)

    def record(self, at: float) -> TransitionRecord:
        """What the state store keeps of it (``Store.record_transitions``), seen ``at``."""
        return TransitionRecord(account=self.account, webhook_id=self.webhook_id, name=self.name,
                                change=self.change, before=self.before, after=self.after,
                                by=self.by, at=at)  # fmt: skip


def report(log: logging.Logger, found: Iterable[Transition]) -> None:
    """Log each change (not a healthy webhook first seen): a warning for one nobody in the
    audit log made, else who made it."""
    for t in found:
        if t.change == "new":
            continue
        fields = {"account": t.account, "provider": t.provider, "webhook_id": t.webhook_id,
                  "webhook": t.name, "before": t.before, "after": t.after}  # fmt: skip
        if t.out_of_band:
            log.warning(f"webhook {t.change}", extra=fields)
        else:
            log.info(f"webhook {t.change} by {t.by}", extra={**fields, "by": t.by})


def health_state(enabled: bool, suspended: bool) -> str:
    """A webhook's state as its own record says it: suspended, else active or disabled."""
    if suspended:
        return "suspended"
    return "active" if enabled else "disabled"


async def diverted_count(account: Account, webhook: Webhook) -> int | None:
    fh = webhook.failure_handling
    if not account.has_extra("list_diverted") or fh is None or not fh.divert:
        return None
    return sum([1 async for _ in account.ex_list_diverted(webhook.id)])
