"""What every use case shares: the gateway it runs on, how provider calls are measured, and
the typed answers' one JSON encoding."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import attrs

from gateway.access import Action, Grant
from gateway.checks import did_you_mean
from gateway.errors import ConfigError, FieldProblem, NotFound
from gateway.health.fresh import note_write
from gateway.model import Webhook
from gateway.operations.held_pages import HeldPages
from gateway.operations.listing import Cursors
from gateway.operations.principal import Principal
from gateway.operations.read_ahead import ReadAhead
from gateway.origin import current_origin
from gateway.service import Account, Gateway
from gateway.store import Store

__all__ = ["Items", "Observe", "OperationsBase"]

log = logging.getLogger("gateway.operations")

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
        held: HeldPages | None = None,
        observe: Observe | None = None,
        fanout: int = 8,
    ) -> None:
        self.gw = gw
        self.cursors = cursors or Cursors()
        self.read_ahead = read_ahead
        self.held = held
        self.observe: Observe = observe or _unobserved
        self.fanout = fanout

    def _account(self, name: str, who: Principal | None = None) -> Account:
        """The account ``name``; with ``who``, only if it may read something of it. An
        account it may not read is a 404, as one that does not exist: no oracle of names."""
        if who is None:
            return self.gw.account(name)  # NotFound for a name the config lacks
        if name in self.gw.config.accounts and who.may_on("read", name):
            return self.gw.account(name)
        # (the caller's whole list only for the message: not on every request)
        readable = [i.name for i in self.gw.accounts() if who.may_on("read", i.name)]
        hint = did_you_mean(name, readable)
        raise NotFound(f"no account named {name!r}{hint} (configured: "
                       f"{', '.join(readable) or 'none'})")  # fmt: skip

    def check_first(
        self, who: Principal, action: Action, what: str, account: str | None = None
    ) -> None:
        """A first check a front door makes before it reads a request's body: the account is
        one ``who`` may read (404 otherwise), and ``action`` is allowed somewhere in it (or,
        without an account, anywhere)."""
        if account is None:
            if not who.may(action):
                raise who.refuse(action, what)
            return
        self._account(account, who)
        who.require_on(action, account, what)

    async def _webhook_check(
        self, who: Principal, target: Account, id: str, action: Action, what: str
    ) -> tuple[Webhook | None, Grant | None]:
        """May ``who`` ``action`` the webhook ``id`` of ``target``? The webhook is read only
        when the answer depends on its name (grants by webhook); one ``who`` may not read is
        a 404, as one that does not exist. The webhook read (or None) and the grant."""
        account = target.name
        if who.may(action, account):  # the whole account: no need of the name
            return None, who.grant_for(action, account)
        who.require_on(action, account, what)
        webhook = await self._call(target, "get", target.get(id))
        if not who.may("read", account, webhook.name):
            raise NotFound(f"webhook {id!r} not found", provider=target.kind, account=account)
        return webhook, who.require(action, what, account, webhook.name)

    async def _fresh(
        self,
        target: Account,
        id: str,
        webhook: Webhook | None = None,
        *,
        deleted: bool = False,
        diverted: bool = False,
    ) -> None:
        """Refresh the health of the webhook just written (gateway/health/fresh.py), as its
        writer (call it inside ``who.acting``). The write stands whatever happens here: a
        refresh that fails is logged, and the next look sees the change."""
        if self.gw.store is None:
            return
        try:
            await note_write(self.gw, target, id, webhook, by=current_origin().actor,
                             deleted=deleted, diverted=diverted)  # fmt: skip
        except Exception as exc:
            log.warning("health: the written webhook's state was not refreshed",
                        extra={"account": target.name, "webhook_id": id,
                               "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip

    def _call(self, account: Account, operation: str, call: Awaitable[T]) -> Awaitable[T]:
        return self.observe(account.kind, account.name, operation, call)

    def _store(self, what: str) -> Store:
        if self.gw.store is None:
            raise ConfigError(problems=[FieldProblem("state", f"{what} needs a state store: "
                                                     "set [state] url")])  # fmt: skip
        return self.gw.store
