"""Keys issued at run time: create one for a service, list them, revoke one (``admin``).

A key is made here (``wgk_`` and 32 random bytes, URL-safe), shown once in the answer, and
kept only as its SHA-256 in the state store; every replica looks a presented key up there on
each request (``gateway.proxy.keys``), so a revoked key is refused at once everywhere, and with
it the console sessions opened with it. A key holds its own grants (``{can, accounts,
webhooks}``, as ``[[access.grants]]`` without ``who``), or a team (``group:TEAM``'s grants of
the config apply to it), or both, and an expiry (``expires_in_days``, 90 by default, at most
3650). Creating and revoking are written to the audit log (never the key).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping
from typing import Any

import attrs

from gateway.access import ACTIONS, matches_none, token_digest
from gateway.errors import Conflict, FieldProblem, InvalidRequest, NotFound
from gateway.logs import REQUEST_ID
from gateway.operations.base import Items, OperationsBase
from gateway.operations.principal import Principal
from gateway.store import AuditEntry, IssuedKey

__all__ = ["Issued", "KeyOperations", "key_to_json"]

_FIELDS = frozenset({"name", "team", "grants", "expires_in_days"})
_GRANT_FIELDS = frozenset({"can", "accounts", "webhooks"})
#: Days a key lives unless the request says otherwise, and the most it may say.
DEFAULT_DAYS, MAX_DAYS = 90, 3650


def _iso(at: float | None) -> str | None:
    return None if at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def key_to_json(key: IssuedKey) -> dict[str, Any]:
    """A key as ``GET /v1/keys`` shows it: never the key, nor its digest."""
    return {
        "id": key.id,
        "name": key.name,
        "team": key.team,
        "grants": [dict(g) for g in key.grants],
        "created_at": _iso(key.created_at),
        "created_by": key.created_by,
        "expires_at": _iso(key.expires_at),
        "last_used": _iso(key.last_used),
    }


@attrs.frozen
class Issued:
    """A new key and its value: the one answer that shows the value."""

    key: IssuedKey
    value: str = attrs.field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {**key_to_json(self.key), "key": self.value}


class KeyOperations(OperationsBase):
    async def create_key(self, who: Principal, body: Any) -> Issued:
        who.require("admin", "issuing a key")
        name, team, grants, days = self._key_input(body)
        store = self._store("issuing keys")
        now = time.time()
        value = "wgk_" + secrets.token_urlsafe(32)
        key = IssuedKey(
            id="key_" + secrets.token_hex(8), name=name,
            digest=token_digest(value), team=team, grants=grants,
            created_at=now, created_by=who.actor, expires_at=now + days * 86400,
        )  # fmt: skip
        if not await store.issue_key(key):
            raise Conflict(f"a key named {name!r} exists: revoke it first, or pick another name")
        await self._audit_key(who, "issue key", key)
        return Issued(key, value)

    async def keys(self, who: Principal) -> Items:
        who.require("admin", "listing keys")
        return Items([key_to_json(k) for k in await self._store("keys").issued_keys()])

    async def revoke_key(self, who: Principal, id: str) -> None:
        who.require("admin", "revoking a key")
        gone = await self._store("keys").revoke_key(id)
        if gone is None:
            raise NotFound(f"no key with id {id!r}")
        await self._audit_key(who, "revoke key", gone)

    async def _audit_key(self, who: Principal, operation: str, key: IssuedKey) -> None:
        store = self._store("keys")
        await store.record(AuditEntry(
            time=time.time(), actor=who.actor, account="", provider="", webhook_id=None,
            operation=operation, outcome="ok", request_id=REQUEST_ID.get(),
            grant=next((g.label for g in who.allowance.grants if g.allows("admin")), None),
            change={"id": key.id, "name": key.name, "team": key.team,
                    "grants": [dict(g) for g in key.grants], "expires_at": _iso(key.expires_at)},
        ))  # fmt: skip

    def _key_input(self, body: Any) -> tuple[str, str | None, tuple[Mapping[str, Any], ...], float]:
        """The name, team, grants and days of a key's request; every problem at once."""
        if not isinstance(body, Mapping):
            raise InvalidRequest.at("", "the body must be a JSON object: name, team or grants")
        problems = [FieldProblem(k, "unknown field") for k in sorted(set(body) - _FIELDS)]
        name, team = body.get("name"), body.get("team")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            problems.append(FieldProblem("name", "required: a name of 1 to 100 characters"))
        elif name in {k.name for k in self.gw.config.server.api_keys}:
            problems.append(FieldProblem("name", "a bootstrap key of the config has this name"))
        if team is not None and (not isinstance(team, str) or not team.strip()):
            problems.append(FieldProblem("team", "must be a team's (group's) name"))
        raw = body.get("grants", [])
        grants: list[Mapping[str, Any]] = []
        if not isinstance(raw, list):
            problems.append(FieldProblem("grants", "must be a list of grants"))
            raw = []
        for i, grant in enumerate(raw):
            checked = self._grant(grant, f"grants[{i}]", problems)
            if checked is not None:
                grants.append(checked)
        if not raw and team is None:
            problems.append(FieldProblem("grants", "give grants, a team, or both: a key "
                                         "that may do nothing is of no use"))  # fmt: skip
        days = body.get("expires_in_days", DEFAULT_DAYS)
        if (isinstance(days, bool) or not isinstance(days, int | float)
                or not math.isfinite(days) or not 0 < days <= MAX_DAYS):  # fmt: skip
            problems.append(FieldProblem("expires_in_days", f"must be a number of days, more "
                                         f"than 0 and at most {MAX_DAYS}"))  # fmt: skip
        if problems:
            raise InvalidRequest(problems=problems)
        assert isinstance(name, str)
        return name.strip(), team, tuple(grants), float(days)

    def _grant(
        self, grant: Any, where: str, problems: list[FieldProblem]
    ) -> Mapping[str, Any] | None:
        if not isinstance(grant, Mapping):
            problems.append(FieldProblem(where, "must be an object: can, accounts, webhooks"))
            return None
        before = len(problems)
        problems += [FieldProblem(f"{where}.{k}", "unknown field")
                     for k in sorted(set(grant) - _GRANT_FIELDS)]  # fmt: skip
        can, accounts = grant.get("can"), grant.get("accounts", ["*"])
        webhooks = grant.get("webhooks")
        if not isinstance(can, list) or not can or not all(a in ACTIONS for a in can):
            problems.append(FieldProblem(f"{where}.can", f"must list actions of: "
                                         f"{', '.join(ACTIONS)}"))  # fmt: skip
        configured = [i.name for i in self.gw.accounts()]
        if (
            not isinstance(accounts, list)
            or not accounts
            or not all(isinstance(p, str) and not matches_none(p, configured) for p in accounts)
        ):
            problems.append(FieldProblem(f"{where}.accounts", "must list names or globs of "
                                         "configured accounts"))  # fmt: skip
        globs_ok = isinstance(webhooks, list) and all(isinstance(w, str) and w for w in webhooks)
        if webhooks is not None and (not webhooks or not globs_ok):
            problems.append(FieldProblem(f"{where}.webhooks", "must list webhook name globs"))
        if len(problems) > before or not isinstance(can, list):
            return None
        return {"can": [a for a in ACTIONS if a in can], "accounts": list(accounts),
                "webhooks": None if webhooks is None else list(webhooks)}  # fmt: skip
