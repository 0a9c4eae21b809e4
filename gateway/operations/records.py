"""The use cases that read what the gateway itself keeps: the audit log, each webhook's health
as watch last saw it, and who the caller is."""

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
        who.require("read", "reading the audit log")
        return await audit_answer(query, self._store("the audit log"))

    async def health(self, who: Principal, account: str | None = None) -> Items:
        """Each webhook's health as watch last saw it (``gateway.health.watch``)."""
        from gateway.health.watch import health_rows

        who.require("read", "reading health")
        self._store("health")
        if account is not None:
            self._account(account)
        return Items(await health_rows(self.gw, account))

    async def whoami(self, who: Principal) -> dict[str, Any]:
        """Who the caller is, and what it may do."""
        return who.to_json()
