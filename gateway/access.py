"""Grants: who may do what, where (``[[access.grants]]``; docs/access.md).

A grant names ``who`` it is for (``group:billing``, ``user:ana@example.com``, ``key:billing-svc``,
``system:watch``), what they ``can`` do (``ACTIONS``), on which ``accounts`` (names or globs) and,
optionally, on which ``webhooks`` of those accounts (name globs). Nothing is allowed unless a
grant allows it. ``write``, ``delete`` and ``secrets`` include ``read`` of what they cover (a
change to what one cannot see is not a thing to offer); ``admin`` is keys and the whole audit
log, and nothing else.

``Allowance`` is what one caller holds: the grants naming any of its identities. It answers
whether an action is allowed on an account (and webhook), and which grant allowed it (the audit
log records that). The front doors never decide: the operations ask (gateway.operations).

Written by hand: it is a few set operations and ``fnmatch``; no policy library fits grants this
small without bringing a language of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Literal

import attrs

__all__ = [
    "ACTIONS", "Action", "Allowance", "Grant", "grant_of_text", "identity_ok", "matches_none",
    "system_allowance", "token_digest",
]  # fmt: skip

Action = Literal["read", "write", "delete", "secrets", "admin"]

#: Every action, in the order messages list them.
ACTIONS: tuple[Action, ...] = ("read", "write", "delete", "secrets", "admin")

_IMPLIES_READ = frozenset({"write", "delete", "secrets"})
_KINDS = ("group", "user", "key", "system")


def identity_ok(value: str) -> bool:
    """``kind:name`` with a known kind and a name (``group:billing``)."""
    kind, sep, name = value.partition(":")
    return bool(sep) and kind in _KINDS and bool(name.strip())


@attrs.frozen(kw_only=True)
class Grant:
    """One grant. ``label`` says where it comes from (``access.grants[2]``, ``bootstrap key
    ci``), for the audit log and ``whoami``."""

    who: tuple[str, ...]
    can: frozenset[str]
    accounts: tuple[str, ...] = ("*",)
    #: Name globs of the webhooks covered; None: every webhook of the accounts.
    webhooks: tuple[str, ...] | None = None
    label: str = ""

    def allows(self, action: str) -> bool:
        return action in self.can or (action == "read" and bool(self.can & _IMPLIES_READ))

    def covers_account(self, account: str) -> bool:
        return any(fnmatchcase(account, pattern) for pattern in self.accounts)

    def covers_webhook(self, name: str | None) -> bool:
        """Whether the webhook named ``name`` is covered (None: the account as a whole, which
        only a grant without ``webhooks`` covers)."""
        if self.webhooks is None:
            return True
        return name is not None and any(fnmatchcase(name, p) for p in self.webhooks)

    def to_json(self) -> dict[str, object]:
        return {
            "grant": self.label,
            "can": [a for a in ACTIONS if a in self.can],
            "accounts": list(self.accounts),
            "webhooks": None if self.webhooks is None else list(self.webhooks),
        }


#: Everything, everywhere: the local command line (which holds the vendor credentials anyway)
#: and a bootstrap key of scope ``write``.
def everything(label: str) -> Grant:
    return Grant(who=(), can=frozenset(ACTIONS), label=label)


def reading(label: str) -> Grant:
    return Grant(who=(), can=frozenset({"read"}), label=label)


#: The most decisions one ``Allowance`` keeps.
_MEMO = 4096


@attrs.frozen
class Allowance:
    """The grants one caller holds."""

    grants: tuple[Grant, ...] = ()
    #: Decisions made, by question (grants are immutable, and every request of a key asks the
    #: same few): at most ``_MEMO`` kept, so names of webhooks cannot grow it without bound.
    _memo: dict[tuple[str, str, str | None], Grant | None] = attrs.field(
        factory=dict, init=False, eq=False, repr=False, hash=False
    )

    @classmethod
    def of(cls, identities: Iterable[str], grants: Sequence[Grant]) -> Allowance:
        """The grants of ``grants`` that name any of ``identities``."""
        mine = frozenset(identities)
        return cls(tuple(g for g in grants if not mine.isdisjoint(g.who)))

    def __add__(self, other: Allowance) -> Allowance:
        return Allowance(self.grants + other.grants)

    def grant_for(self, action: str, account: str, webhook: str | None = None) -> Grant | None:
        """The first grant allowing ``action`` on ``webhook`` (a name; None: the account as a
        whole) of ``account``, or None."""
        question = (action, account, webhook)
        if question in self._memo:
            return self._memo[question]
        found = None
        for grant in self.grants:
            if (
                grant.allows(action)
                and grant.covers_account(account)
                and grant.covers_webhook(webhook)
            ):
                found = grant
                break
        if len(self._memo) < _MEMO:
            self._memo[question] = found
        return found

    def allows(self, action: str, account: str, webhook: str | None = None) -> bool:
        return self.grant_for(action, account, webhook) is not None

    def anywhere_on(self, action: str, account: str) -> bool:
        """Whether ``action`` is allowed on some webhook of ``account`` (or all of it)."""
        question = ("anywhere_on:" + action, account, None)
        if question in self._memo:
            return self._memo[question] is not None
        found = next((g for g in self.grants if g.allows(action) and g.covers_account(account)),
                     None)  # fmt: skip
        if len(self._memo) < _MEMO:
            self._memo[question] = found
        return found is not None

    def anywhere(self, action: str) -> bool:
        return any(g.allows(action) for g in self.grants)

    def depends_on_name(self, action: str, account: str) -> bool:
        """Whether deciding ``action`` on a webhook of ``account`` needs the webhook's name:
        no grant covers the whole account, some cover webhooks of it by name."""
        return not self.allows(action, account) and self.anywhere_on(action, account)

    def actions(self) -> list[str]:
        """Every action some grant allows somewhere, in ``ACTIONS`` order."""
        return [a for a in ACTIONS if self.anywhere(a)]


def system_allowance(name: str, grants: Sequence[Grant]) -> Allowance:
    """What the gateway's own ``system:NAME`` writes may do (``system:watch``: auto-unsuspend
    and reconcile): the grants naming it, or every action where none does."""
    named = Allowance.of([f"system:{name}"], grants)
    return named if named.grants else Allowance((everything(f"system:{name} (no grant names "
                                                            "it)"),))  # fmt: skip


def grant_of_text(text: str) -> dict[str, object]:
    """``ACTIONS@ACCOUNTS[:WEBHOOKS]`` (comma-separated lists) as a key's grant, the way the
    command line and the console write one: ``write,delete@billing``, ``write@claims:bob-*``."""
    can, _, where = text.partition("@")
    accounts, _, webhooks = where.partition(":")
    grant: dict[str, object] = {
        "can": [a for a in can.split(",") if a],
        "accounts": [a for a in accounts.split(",") if a] or ["*"],
    }
    if webhooks:
        grant["webhooks"] = [w for w in webhooks.split(",") if w]
    return grant


def token_digest(token: str) -> str:
    """How a key issued at run time, or a person's token, is kept and looked up: its SHA-256,
    hex (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches_none(pattern: str, names: Iterable[str]) -> bool:
    """Whether an ``accounts`` pattern of a grant (a name or a glob) names none of ``names``:
    a typo that would grant nothing, silently."""
    return not any(fnmatchcase(name, pattern) for name in names)
