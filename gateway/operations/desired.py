"""The desired-state use cases: plan a manifest, apply it (only the plan the caller saw), and
export what exists as a manifest (docs/plan.md).

The input is ``{"manifest": {"accounts": {...}}, "adopt", "prune", "set_unknown_secrets",
"plan_fingerprint", "parallelism"}``: the manifest as data, each secret given as ``secret``
(write-only, as in a create; the command line reads ``secret_env`` and ``secret_file`` on the
operator's machine before it sends or passes the manifest here). Planning only reads, so a read
key may plan; applying writes, and each planned action is checked against the caller's grants
(a plan says which it may not take, and ``apply`` then refuses before anything is written).
Webhooks the caller may not read are left out of its plan and left alone. ``apply`` plans again
and goes on only when the plan's fingerprint is the one the caller was shown (``PlanChanged``
with the current plan otherwise): this is the one place where "plan, compare, apply" is
written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from gateway.errors import ConfigError, Conflict, FieldProblem, Forbidden, InvalidRequest
from gateway.logs import REQUEST_ID
from gateway.model import Webhook
from gateway.operations.base import OperationsBase
from gateway.operations.principal import Principal
from gateway.plan import Outcome, Plan, apply_plan, export_manifest, make_plan, parse_manifest
from gateway.plan.manifest import OWNER_FORM as _OWNER
from gateway.plan.planner import NOT_ALLOWED, Action
from gateway.service import Account
from gateway.store import AuditEntry

__all__ = ["Applied", "DesiredOperations", "PlanChanged", "PlanRequest"]

_FLAGS = ("adopt", "prune", "set_unknown_secrets")
_KEYS = {"manifest", *_FLAGS, "plan_fingerprint", "parallelism"}


class PlanChanged(Conflict):
    """The plan is not the one the caller was shown (``plan_fingerprint``): nothing was
    applied; ``current`` is the plan as it is now."""

    def __init__(self, current: Plan) -> None:
        super().__init__(
            "the plan changed since plan_fingerprint was made; nothing was applied: review "
            "current_plan and send its fingerprint"
        )
        self.current = current


@attrs.frozen(kw_only=True)
class PlanRequest:
    """A plan or apply request, read and checked (``PlanRequest.read``)."""

    manifest: Mapping[str, Any]
    adopt: bool = False
    prune: bool = False
    set_unknown_secrets: bool = False
    plan_fingerprint: str | None = None
    parallelism: int = 4

    @classmethod
    def read(cls, body: Any) -> PlanRequest:
        """The request of a JSON body; ``InvalidRequest`` with every problem at once."""
        if not isinstance(body, Mapping):
            raise InvalidRequest.at("", "the body must be a JSON object with a manifest")
        problems = [FieldProblem(k, "unknown field") for k in sorted(set(body) - _KEYS)]
        problems += [FieldProblem(flag, "must be true or false") for flag in _FLAGS
                     if not isinstance(body.get(flag, False), bool)]  # fmt: skip
        if not isinstance(body.get("plan_fingerprint", ""), str):
            problems.append(FieldProblem("plan_fingerprint", "must be a string (a plan's "
                                         "fingerprint)"))  # fmt: skip
        parallelism = body.get("parallelism", 4)
        if (
            isinstance(parallelism, bool)
            or not isinstance(parallelism, int)
            or not (1 <= parallelism <= 32)
        ):
            problems.append(FieldProblem("parallelism", "must be an integer from 1 to 32"))
        if "manifest" not in body:
            problems.append(FieldProblem("manifest", "required"))
        if problems:
            raise InvalidRequest(problems=problems)
        return cls(manifest=body["manifest"], **{k: body[k] for k in _KEYS - {"manifest"}
                                                 if k in body})  # fmt: skip


@attrs.frozen
class Applied:
    """What an apply did: the plan it carried out and its report."""

    plan: Plan
    report: Any

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "report": self.report.to_json()}


@attrs.frozen
class Exported:
    """A manifest of what exists (TOML text; secrets as ``secret_env`` placeholders)."""

    manifest: str

    def to_json(self) -> dict[str, Any]:
        return {"manifest": self.manifest}


class DesiredOperations(OperationsBase):
    async def plan(self, who: Principal, request: PlanRequest | Any) -> Plan:
        """What applying the manifest would change (reads only)."""
        request = request if isinstance(request, PlanRequest) else PlanRequest.read(request)
        try:
            manifest = parse_manifest(request.manifest, self.gw.config, inline_secrets=True)
        except ConfigError as exc:
            problems = [FieldProblem(f"manifest.{p.path}", p.message) for p in exc.problems]
            raise InvalidRequest(
                problems=problems or [FieldProblem("manifest", exc.message)]
            ) from None
        for name in manifest.accounts:
            self._account(name, who)  # an account the caller may not read is a 404
        _check_owner(who, manifest.owner)
        # Blind (no credential compared) for a caller who may change nothing of an account.
        blind = not all(who.may_on("write", n) or who.may_on("secrets", n)
                        for n in manifest.accounts)  # fmt: skip
        made = await make_plan(self.gw, manifest, adopt=request.adopt, prune=request.prune,
                               set_unknown_secrets=request.set_unknown_secrets,
                               blind=blind)  # fmt: skip
        made = _as_seen_by(who, made)
        await self._audit_plan(who, made)
        return made

    async def _audit_plan(self, who: Principal, made: Plan) -> None:
        """A plan is a read of everything it compares: the audit log says which key made one
        (the command line's user holds the accounts' credentials anyway)."""
        store = self.gw.store
        if store is None or who.kind != "key":
            return
        for account in made.accounts:
            await store.record(AuditEntry(
                time=time.time(), actor=who.actor, account=account.account,
                provider=account.provider, webhook_id=None, operation="plan",
                change={"changes": sum(a.kind not in ("adopt", "move") for a in account.actions),
                        "credentials_compared": not made.blind},
                outcome="failed" if account.error else "ok", request_id=REQUEST_ID.get(),
            ))  # fmt: skip

    async def apply(
        self,
        who: Principal,
        request: PlanRequest | Any,
        *,
        progress: Callable[[Outcome], None] | None = None,
        confirm: Callable[[Plan], None] | None = None,
    ) -> Applied:
        """Plan again and carry the plan out, if it is the one the caller saw
        (``plan_fingerprint``; ``PlanChanged`` otherwise, nothing written). ``confirm`` sees
        the plan before anything is written, and may refuse it by raising (a person's typed
        confirmation of its deletes: the console)."""
        if not who.may_change:
            raise who.refuse("write", "applying a plan")
        request = request if isinstance(request, PlanRequest) else PlanRequest.read(request)
        made = await self.plan(who, request)
        expected = request.plan_fingerprint
        if expected is not None and expected != made.fingerprint:
            raise PlanChanged(made)
        forbidden = [w for a in made.accounts for w in a.warnings if w.startswith(NOT_ALLOWED)]
        if forbidden:
            raise Forbidden("nothing was applied: " + "; ".join(forbidden))
        if confirm is not None:
            confirm(made)
        with who.acting():
            report = await apply_plan(self.gw, made, concurrency=request.parallelism,
                                      progress=progress, written=self._written)  # fmt: skip
        return Applied(made, report)

    async def _written(self, account: Account, id: str, webhook: Webhook | None) -> None:
        await self._fresh(account, id, webhook, deleted=webhook is None)

    async def transfer(self, who: Principal, account: str, id: str, body: Any) -> dict[str, Any]:
        """Hand the webhook ``id`` to the manifest of ``owner`` (under its ``key``): the one
        way a webhook changes owner; audited. Needs ``write`` on the webhook."""
        target = self._account(account, who)
        if not isinstance(body, Mapping):
            raise InvalidRequest.at("", "the body must be a JSON object: owner and key")
        problems = [FieldProblem(k, "unknown field") for k in sorted(set(body) - {"owner", "key"})]
        owner, key = body.get("owner"), body.get("key")
        if not isinstance(owner, str) or (owner and not _OWNER.fullmatch(owner)):
            problems.append(FieldProblem("owner", 'must be a team\'s name ("": no owner)'))
        if not isinstance(key, str) or not key.strip():
            problems.append(FieldProblem("key", "required: the manifest key it goes under"))
        if problems:
            raise InvalidRequest(problems=problems)
        assert isinstance(owner, str) and isinstance(key, str)
        what = "handing a webhook to another owner"
        webhook, grant = await self._webhook_check(who, target, id, "write", what)
        if webhook is None:  # 404 for one that does not exist, before anything is recorded
            webhook = await self._call(target, "get", target.get(id))
        store = self._store("owners")
        taken = (await store.managed(account, owner)).get(key)
        if taken is not None and taken.webhook_id != webhook.id:
            who_has = owner or "the manifest with no owner"
            raise Conflict(f"{who_has} manages another webhook ({taken.webhook_id}) under the "
                           f"key {key!r}: pick another key")  # fmt: skip
        previous = await store.transfer(account, webhook.id, owner, key)
        await store.record(AuditEntry(
            time=time.time(), actor=who.actor, account=account, provider=target.kind,
            webhook_id=webhook.id, operation="transfer", outcome="ok",
            request_id=REQUEST_ID.get(), grant=grant.label if grant else None,
            change={"from": previous, "to": owner, "key": key},
        ))  # fmt: skip
        return {"account": account, "id": webhook.id, "name": webhook.name,
                "owner": owner, "key": key, "previous_owner": previous}  # fmt: skip

    async def export(self, who: Principal, account: str | None = None) -> Exported:
        """The manifest of every webhook the caller may read (of ``account``, or all)."""
        if account is not None:
            self._account(account, who)  # 404 for an account the caller may not read
        names = [account] if account else [
            i.name for i in self.gw.accounts() if who.may_on("read", i.name)]  # fmt: skip
        text = await export_manifest(
            self.gw, accounts=names,
            mask_credentials=not all(who.sees_credentials_on(n) for n in names),
            keep=lambda name, webhook: who.may("read", name, webhook),
        )  # fmt: skip
        return Exported(text)


def _check_owner(who: Principal, owner: str) -> None:
    """A person or a service key plans only its own team's manifests (``owner``: one of its
    groups); an ``admin``, a bootstrap key of the config (a grant on everything) and the
    command line with the config's credentials, any."""
    bootstrap = who.kind == "key" and who.key_id is None
    if not owner or who.kind not in ("user", "key") or bootstrap or who.may("admin"):
        return
    if owner not in who.groups:
        mine = ", ".join(who.groups) or "none"
        raise Forbidden(f"the manifest belongs to {owner!r}, not a team of {who.actor} "
                        f"(its teams: {mine})")  # fmt: skip


def _needs(action: Action) -> list[Literal["write", "delete", "secrets"]]:
    """The grants a planned action needs."""
    if action.kind == "delete":
        return ["delete"]
    needed: list[Literal["write", "delete", "secrets"]] = ["write"]
    if action.kind == "replace":
        needed.append("delete")
    secret_set = action.spec is not None and action.spec.secret is not None
    if (action.kind in ("create", "replace") and secret_set) or (
        action.diff is not None and any(f.field == "secret" for f in action.diff.fields)
    ):
        needed.append("secrets")
    return needed


def _as_seen_by(who: Principal, made: Plan) -> Plan:
    """``made`` without the webhooks ``who`` may not read (they are left alone, and said so
    by number), each action ``who`` may not take a warning beginning ``NOT_ALLOWED``."""
    accounts = []
    for plan in made.accounts:
        seen = [a for a in plan.actions if who.may("read", plan.account, a.name)]
        notes = plan.notes
        if len(seen) < len(plan.actions):
            hidden = len(plan.actions) - len(seen)
            notes += (f"{hidden} webhook(s) you may not read are left alone",)
        refused = [f"{NOT_ALLOWED}{a.kind} {a.name!r} in {plan.account} needs a grant of "
                   f"{need!r}" for a in seen for need in _needs(a)
                   if not who.may(need, plan.account, a.name)]  # fmt: skip
        accounts.append(attrs.evolve(plan, actions=tuple(seen), notes=notes,
                                     warnings=plan.warnings + tuple(refused)))  # fmt: skip
    return attrs.evolve(made, accounts=tuple(accounts))
