"""What every use case shares: the gateway it runs on, how provider calls are measured, and
the typed answers' one JSON encoding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs

from gateway.errors import ConfigError, FieldProblem
from gateway.operations.listing import Cursors
from gateway.operations.read_ahead import ReadAhead
from gateway.service import Account, Gateway
from gateway.store import Store

__all__ = ["Items", "Observe", "OperationsBase"]

T = TypeVar("T")

#: ``(provider kind, account, operation, call) -> its result``: how a front door measures a
#: provider call (the proxy's metrics); the default only awaits it.
Observe = Callable[[str, str, str, Awaitable[Any]], Awaitable[Any]]


async def _unobserved(_kind: str, _account: str, _operation: str, call: Awaitable[T]) -> T:
    return await call


@attrs.frozen
class Items:
    """A list answer: ``{"items": [...], "errors": [...], "next_cursor": ...}``, the one shape
    of every list (``errors``: accounts or records that could not be read; ``next_cursor``:
    where the next page starts, or null)."""

    items: Sequence[Any]
    errors: Sequence[Any] = ()
    next_cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"items": list(self.items), "errors": list(self.errors),
                "next_cursor": self.next_cursor}  # fmt: skip


class OperationsBase:
    """The gateway and the front door's measures, for the use cases built on it."""

    def __init__(
        self,
        gw: Gateway,
        *,
        cursors: Cursors | None = None,
        read_ahead: ReadAhead | None = None,
        observe: Observe | None = None,
        fanout: int = 8,
    ) -> None:
        self.gw = gw
        self.cursors = cursors or Cursors()
        self.read_ahead = read_ahead
        self.observe: Observe = observe or _unobserved
        self.fanout = fanout

    def _account(self, name: str) -> Account:
        return self.gw.account(name)  # NotFound for a name the config lacks

    def _call(self, account: Account, operation: str, call: Awaitable[T]) -> Awaitable[T]:
        return self.observe(account.kind, account.name, operation, call)

    def _store(self, what: str) -> Store:
        if self.gw.store is None:
            raise ConfigError(problems=[FieldProblem("state", f"{what} needs a state store: "
                                                     "set [state] url")])  # fmt: skip
        return self.gw.store
