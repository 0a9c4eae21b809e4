"""Continuous drift: each look of watch also plans the manifest (``[watch] manifest``).

Every write the plan would make (create, update, replace, delete of a key the manifest no longer
has) is drift. A drift is an operational event ``com.webhook-gateway.drift`` once, when it
appears, and ``com.webhook-gateway.drift_resolved`` when a later look finds it gone (applied, or
undone by hand); the state store keeps what is drifted (``drift``: one row a key, since when),
so that any replica, a restart or ``health`` knows it. ``gateway_drift{account}`` counts it.

With ``reconcile = true`` each look also applies the plan, at most ``max_writes`` writes a look
(the rest wait for the next), every write audited as ``watch:reconcile``; deletes only of keys
the manifest itself gave up (a plan never prunes here). An account that could not be planned
keeps its earlier drift and is reported, so a failing provider is never "resolved". A drift
that a reconcile already wrote and that came back the same (the provider keeps reading it
differently from what was written) is not written again at every look: it is reported, for a
person to decide.

Watch runs this under the per-account look locks (``gateway.health.watch``), so one replica
plans and reconciles an account at a time.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from gateway.access import system_allowance
from gateway.errors import GatewayError
from gateway.health.counts import set_drift_counts
from gateway.origin import acting_as
from gateway.plan import Plan, apply_plan, load_manifest, make_plan
from gateway.plan.planner import AccountPlan, Action
from gateway.service import Gateway
from gateway.store import AuditQuery, Drift

__all__ = ["DRIFT", "RECONCILE_ACTOR", "RESOLVED", "DriftEvent", "look_for_drift"]

log = logging.getLogger("gateway.health.drift")

DRIFT = "com.webhook-gateway.drift"
RESOLVED = "com.webhook-gateway.drift_resolved"
RECONCILE_ACTOR = "watch:reconcile"
#: The plan's actions that are drift (writes at the provider).
_WRITES = ("create", "update", "replace", "delete")


@attrs.frozen(kw_only=True)
class DriftEvent:
    """A drift that appeared (``change = "drift"``) or went (``"drift_resolved"``)."""

    account: str
    provider: str
    key: str
    webhook_id: str | None
    name: str | None
    change: str
    summary: str
    since: float

    @property
    def event_type(self) -> str:
        return DRIFT if self.change == "drift" else RESOLVED

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _summary(action: Action) -> str:
    """What the plan would do, in a line (fields only, never a value of a secret)."""
    if action.diff is not None and action.diff.fields:
        fields = ", ".join(f.field for f in action.diff.fields)
        return f"{action.kind}: {fields}"
    return action.kind


async def look_for_drift(
    gw: Gateway,
    manifest_path: str,
    now: float,
    *,
    accounts: list[str] | None = None,
    reconcile: bool = False,
    max_writes: int = 20,
) -> tuple[list[DriftEvent], dict[str, str]]:
    """Plan the manifest; record its drift; ``(events, errors by account)``. With
    ``reconcile``, also apply at most ``max_writes`` of the plan's writes."""
    assert gw.store is not None
    manifest = load_manifest(manifest_path, gw.config)
    plan = await make_plan(gw, manifest, accounts=accounts)
    events: list[DriftEvent] = []
    errors: dict[str, str] = {}
    counts: dict[str, int] = {}
    stuck: set[tuple[str, str | None]] = set()
    for account in plan.accounts:
        if account.error:
            errors[account.account] = account.error
            log.warning("drift: an account could not be planned",
                        extra={"account": account.account, "error": account.error})  # fmt: skip
            continue
        before = {d.key: d for d in await gw.store.drift(account.account)}
        if reconcile:
            for key, summary in await _no_progress(gw, account, before):
                stuck.add((account.account, key))
                errors[account.account] = (
                    f"reconcile made no progress on {key} ({summary}): it was written and "
                    "still differs, so it is not written again; check it by hand"
                )
        events += await _record(gw, account, before, now)
        counts[account.account] = sum(a.kind in _WRITES for a in account.actions)
    set_drift_counts(gw, counts)
    for event in events:
        log.warning(f"drift {'appeared' if event.change == 'drift' else 'resolved'}",
                    extra={"account": event.account, "key": event.key,
                           "webhook_id": event.webhook_id, "summary": event.summary})  # fmt: skip
    if reconcile and plan.changes:
        await _reconcile(gw, plan, max_writes, stuck)
    return events, errors


async def _no_progress(
    gw: Gateway, plan: AccountPlan, before: dict[str, Drift]
) -> list[tuple[str, str]]:
    """The account's drifts (key, summary) that a reconcile wrote since they were first seen
    and that are still there, the same: writing them again would change nothing."""
    assert gw.store is not None
    stuck = []
    for action in plan.actions:
        key = action.key or f"id:{action.webhook_id}"
        old = before.get(key)
        if action.kind not in _WRITES or action.webhook_id is None or old is None:
            continue
        if old.summary != _summary(action):
            continue
        written = await gw.store.audit(AuditQuery(
            account=plan.account, webhook_id=action.webhook_id, since=old.since,
            actor=RECONCILE_ACTOR, limit=1,
        ))  # fmt: skip
        if any(entry.outcome == "ok" for entry in written):
            stuck.append((key, old.summary))
    return stuck


async def _record(
    gw: Gateway, plan: AccountPlan, before: dict[str, Drift], now: float
) -> list[DriftEvent]:
    """Compare the account's drift with what was recorded (``before``, by key); record it;
    what changed."""
    assert gw.store is not None
    before = dict(before)
    found: list[Drift] = []
    events: list[DriftEvent] = []
    for action in plan.actions:
        if action.kind not in _WRITES:
            continue
        key = action.key or f"id:{action.webhook_id}"
        summary = _summary(action)
        old = before.pop(key, None)
        since = old.since if old is not None and old.summary == summary else now
        found.append(Drift(account=plan.account, key=key, webhook_id=action.webhook_id,
                           summary=summary, since=since))  # fmt: skip
        if old is None or old.summary != summary:
            events.append(DriftEvent(account=plan.account, provider=plan.provider, key=key,
                                     webhook_id=action.webhook_id, name=action.name,
                                     change="drift", summary=summary, since=since))  # fmt: skip
    for gone in before.values():
        events.append(DriftEvent(account=plan.account, provider=plan.provider, key=gone.key,
                                 webhook_id=gone.webhook_id, name=None, change="drift_resolved",
                                 summary=gone.summary, since=gone.since))  # fmt: skip
    await gw.store.save_drift(plan.account, found)
    return events


async def _reconcile(
    gw: Gateway, plan: Plan, max_writes: int, stuck: set[tuple[str, str | None]]
) -> None:
    """Apply the first ``max_writes`` writes of ``plan`` (and its records), as
    ``watch:reconcile``, but none of the ``stuck`` ones (account, key)."""
    left = max_writes
    allowed = system_allowance("watch", gw.config.access.to_grants())
    kept: list[AccountPlan] = []
    for account in plan.accounts:
        actions = []
        for action in account.actions:
            if (account.account, action.key or f"id:{action.webhook_id}") in stuck:
                continue
            need = "delete" if action.kind in ("delete", "replace") else "write"
            if not allowed.allows(need, account.account, action.name):
                log.warning("reconcile: no grant of system:watch allows it",
                            extra={"account": account.account, "action": action.kind,
                                   "name": action.name})  # fmt: skip
                continue
            if action.kind in _WRITES:
                if left <= 0:
                    continue
                left -= 1
            actions.append(action)
        kept.append(attrs.evolve(account, actions=tuple(actions)))
    with acting_as(RECONCILE_ACTOR):
        try:
            report = await apply_plan(gw, Plan(accounts=tuple(kept), owner=plan.owner))
        except GatewayError as exc:
            log.warning("reconcile failed", extra={"error": str(exc)})
            return
    for failure in report.failed:
        log.warning("reconcile: a write failed",
                    extra={"account": failure.action.account, "key": failure.action.key,
                           "error": failure.error})  # fmt: skip
    if left <= 0 and plan.changes > max_writes:
        log.info("reconcile: more writes wait for the next look",
                 extra={"waiting": plan.changes - max_writes})  # fmt: skip
