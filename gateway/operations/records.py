"""The use cases that read what the gateway itself keeps: the audit log, each webhook's health
as watch last saw it, and who the caller is. The audit log shows an ``admin`` every entry,
anyone else the entries of the accounts they may read; health, the webhooks they may read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.operations.audit import audit_answer
from gateway.operations.base import Items, OperationsBase
from gateway.operations.principal import Principal

__all__ = ["RecordOperations"]


class RecordOperations(OperationsBase):
    async def audit(self, who: Principal, query: Mapping[str, str]) -> dict[str, Any]:
        """One page of the audit log for the API's query (``gateway.operations.audit``)."""
        answer = await audit_answer(query, self._store("the audit log"))
        if who.may("admin"):  # every entry
            return answer
        # The entries of the accounts the caller may read something of.
        items = [e for e in answer["items"] if who.may_on("read", e.get("account") or "")]
        return {**answer, "items": items}

    async def health(self, who: Principal, account: str | None = None) -> Items:
        """Each webhook's health as watch last saw it (``gateway.health.watch``)."""
        from gateway.health.fresh import stale_after
        from gateway.health.watch import health_rows

        self._store("health")
        if account is not None:
            self._account(account, who)
        rows = await health_rows(self.gw, account, stale_after=stale_after(self.gw))
        return Items([r for r in rows if who.may("read", r.get("account", ""), r.get("name"))])

    async def whoami(self, who: Principal) -> dict[str, Any]:
        """Who the caller is, and what it may do."""
        return who.to_json()
