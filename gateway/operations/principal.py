"""Who is asking: the principal every operation takes first, and what it may do.

A front door says who the caller is; the operations decide what that caller may do, here and
nowhere else. A principal is

* an API key: a bootstrap key of the config (``[[server.api_keys]]``; scope ``read`` is a grant
  to read everything, ``write`` a grant of every action on everything) or a key issued at run
  time (its own grants, and those of its team);
* a person signed in with the company's identity provider (``user``: subject, email, groups);
* the person at a local command line (``cli:<os user>``, who holds the config's vendor
  credentials and so may do everything), or a program using the library;
* the gateway itself (``system:watch``: watch's own writes), with the grants that name it, or
  every action where none does.

To these come the ``[[access.grants]]`` naming any of the caller's identities
(``key:NAME``, ``user:EMAIL``, ``user:SUBJECT``, ``group:NAME``, ``system:NAME``;
``gateway.access``). The audit log records ``actor`` and the grant that allowed a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs

from gateway.access import Action, Allowance, Grant, everything, reading, system_allowance
from gateway.errors import Forbidden
from gateway.logs import REQUEST_ID
from gateway.origin import acting_as

__all__ = ["Action", "Principal"]

Kind = Literal["key", "user", "cli", "library", "system"]


@attrs.frozen
class Principal:
    """A caller: ``kind``, ``name`` and the grants it holds (``allowance``)."""

    kind: Kind
    name: str
    allowance: Allowance = attrs.field(factory=Allowance, repr=False)
    email: str | None = None
    subject: str | None = None
    groups: tuple[str, ...] = ()
    #: A key issued at run time (its id), or None.
    key_id: str | None = None

    # -- who -------------------------------------------------------------------------------

    @classmethod
    def key(
        cls, name: str, scope: Literal["read", "write"], grants: Sequence[Grant] = ()
    ) -> Principal:
        """A bootstrap key of the config (or a console session opened with it)."""
        own = everything if scope == "write" else reading
        base = Allowance((own(f"bootstrap key {name} ({scope})"),))
        return cls("key", name, base + Allowance.of([f"key:{name}"], grants))

    @classmethod
    def issued_key(
        cls,
        name: str,
        *,
        key_id: str,
        own: Sequence[Grant] = (),
        team: str | None = None,
        grants: Sequence[Grant] = (),
    ) -> Principal:
        """A key issued at run time: its own grants, and the config's for it and its team."""
        groups = (team,) if team else ()
        identities = [f"key:{name}", *(f"group:{g}" for g in groups)]
        allowance = Allowance(tuple(own)) + Allowance.of(identities, grants)
        return cls("key", name, allowance, groups=groups, key_id=key_id)

    @classmethod
    def user(
        cls,
        subject: str,
        *,
        email: str | None,
        name: str | None = None,
        groups: Sequence[str] = (),
        grants: Sequence[Grant] = (),
    ) -> Principal:
        """A person signed in with the identity provider."""
        identities = [f"user:{subject}", *(f"group:{g}" for g in groups)]
        if email:
            identities.append(f"user:{email}")
        return cls("user", name or email or subject, Allowance.of(identities, grants),
                   email=email, subject=subject, groups=tuple(groups))  # fmt: skip

    @classmethod
    def local(cls, kind: Literal["cli", "library"] = "cli") -> Principal:
        """The person running the command line (or a program) with the config's credentials:
        whoever holds those may do everything, so nothing is refused here."""
        actor = acting_as(kind).origin.actor  # cli:<os user>
        label = "the config's credentials (local)"
        return cls(kind, actor.partition(":")[2] or "unknown", Allowance((everything(label),)))

    @classmethod
    def system(cls, name: str, grants: Sequence[Grant] = ()) -> Principal:
        """The gateway's own writes (``system:watch``): the grants naming it, or everything
        where none does."""
        return cls("system", name, system_allowance(name, grants))

    @property
    def actor(self) -> str:
        """The audit log's name of this caller (``key:deployer``, ``user:ana@example.com``)."""
        if self.kind == "user":
            return f"user:{self.email or self.name}"
        return f"{self.kind}:{self.name}"

    def _described(self) -> str:
        if self.kind == "key":
            return f"the API key {self.name!r}"
        return self.actor

    # -- what it may do ----------------------------------------------------------------------

    def grant_for(self, action: Action, account: str, webhook: str | None = None) -> Grant | None:
        return self.allowance.grant_for(action, account, webhook)

    def may(self, action: Action, account: str | None = None, webhook: str | None = None) -> bool:
        """Whether ``action`` is allowed: on ``webhook`` (a name) of ``account``; on the account
        as a whole (no ``webhook``); anywhere (no ``account``)."""
        if account is None:
            return self.allowance.anywhere(action)
        return self.allowance.allows(action, account, webhook)

    def may_on(self, action: Action, account: str) -> bool:
        """Whether ``action`` is allowed on some webhook of ``account``."""
        return self.allowance.anywhere_on(action, account)

    def needs_name(self, action: Action, account: str) -> bool:
        """Whether deciding ``action`` on a webhook of ``account`` needs its name."""
        return self.allowance.depends_on_name(action, account)

    def sees_credentials_on(self, account: str, webhook: str | None = None) -> bool:
        """Whether answers may show credentials (in webhook URLs, ``user:password@`` and
        ``?token=``; header values; plans compare them): for callers that may change or set
        them anyway."""
        return self.may("write", account, webhook) or self.may("secrets", account, webhook)

    @property
    def sees_credentials(self) -> bool:
        """Whether credentials may be shown on every account (a plan spanning accounts)."""
        return self.may("write") or self.may("secrets")

    @property
    def may_change(self) -> bool:
        """Whether this caller may change something somewhere (write, delete or set secrets):
        who the console shows its forms to, who may apply a plan at all."""
        return any(self.may(a) for a in ("write", "delete", "secrets"))

    def refuse(self, action: Action, what: str, where: str = "") -> Forbidden:
        """The ``Forbidden`` for ``action`` (``what`` the caller tried) ``where``."""
        if not self.may_change and not self.may("admin"):
            return Forbidden(f"{self._described()} may only read; {what} needs a grant of "
                             f"{action!r}" + (f" on {where}" if where else ""))  # fmt: skip
        return Forbidden(f"{self._described()} may not {action} {where or 'here'}: no grant "
                         f"allows {what}")  # fmt: skip

    def require(
        self, action: Action, what: str, account: str | None = None, webhook: str | None = None
    ) -> Grant | None:
        """Refuse (``Forbidden``: nothing is done) unless this caller may ``action`` there;
        the grant that allows it (None for "anywhere")."""
        if not self.may(action, account, webhook):
            raise self.refuse(action, what, _where(account, webhook))
        return None if account is None else self.grant_for(action, account, webhook)

    def require_on(self, action: Action, account: str, what: str) -> None:
        """Refuse unless ``action`` is allowed on some webhook of ``account`` (a first check,
        before the webhook's name is known)."""
        if not self.may_on(action, account):
            raise self.refuse(action, what, _where(account, None))

    def acting(self, grant: Grant | None = None) -> Any:
        """The writes inside the ``with`` block are this caller's in the audit log (with the
        request id a front door set, if any, and the grant that allowed them)."""
        return acting_as(self.actor, REQUEST_ID.get(), grant.label if grant else None)

    def to_json(self) -> dict[str, Any]:
        can = self.allowance.actions()
        return {
            "kind": self.kind,
            "name": self.name,
            "actor": self.actor,
            "email": self.email,
            "subject": self.subject,
            "groups": list(self.groups),
            "scope": "write" if any(a != "read" for a in can) else "read",
            "can": can,
            "grants": [g.to_json() for g in self.allowance.grants],
        }


def _where(account: str | None, webhook: str | None) -> str:
    if account is None:
        return ""
    if webhook is None:
        return f"account {account!r}"
    return f"webhook {webhook!r} of account {account!r}"
