"""Health of subscriptions: ``watch_once`` reads every account and records each webhook's state
in the state store; what changed since the last look is a ``Transition``.

States: ``active``, ``disabled`` (enabled is false), ``suspended`` (the provider stopped
delivering: Enterprise Core's suspension). Enterprise Core's diverted events are counted for
webhooks that divert. Transitions: ``new``, ``disabled``, ``suspended``, ``active`` (back),
``diverted`` (more diverted events than last time), ``deleted`` (gone, not by the gateway's
knowledge). Each is logged (``gateway.health.watch``, with account, id and name) and returned; the
counts by state are kept for ``/metrics`` (``gateway_webhooks``).

UiPath's circuit breaker disables a webhook whose delivery fails for an hour ("disabling the
webhook for one hour", Orchestrator's "About webhooks" page). Assumed: the record reads
``enabled: false`` meanwhile, so ``watch`` sees ``disabled`` and, when the hour is over,
``active``. No public page says which field the breaker sets. Under the other reading (a
tripped breaker that leaves ``Enabled: true``), the record shows nothing: watch sees
``active`` throughout, reports nothing and auto-unsuspend writes nothing, and the hour of
dropped events is visible only at the receiver (or the inbound relay) as deliveries that did
not come. Either way, a webhook disabled for longer than the provider's own disabling
(``Capabilities.disabled_for``) is not the breaker's, and auto-unsuspend leaves it as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime
from typing import Any

import attrs

from gateway.access import system_allowance
from gateway.config import WatchConfig
from gateway.errors import GatewayError
from gateway.health.counts import count_health
from gateway.health.drift import DriftEvent, look_for_drift
from gateway.health.events import Sink, deliver_events
from gateway.health.states import Transition, diverted_count, health_state, report
from gateway.model import WebhookChange
from gateway.origin import acting_as
from gateway.service import Account, Gateway
from gateway.store import AuditEntry, AuditQuery, Health
from gateway.store.held import confirm_held
from gateway.transport import tracing

__all__ = [
    "Transition",
    "WatchResult",
    "diverted_count",
    "health_rows",
    "health_state",
    "watch_forever",
    "watch_once",
]

log = logging.getLogger("gateway.health.watch")


@attrs.frozen(kw_only=True)
class WatchResult:
    transitions: tuple[Transition, ...]
    #: ``{(account, provider, state): count}`` of what was seen.
    counts: dict[tuple[str, str, str], int]
    errors: dict[str, str]
    #: Drift that appeared or went, when the look planned a manifest.
    drift: tuple[DriftEvent, ...] = ()


#: How far before the last look the audit log is read for the writes that explain a change
#: (a write audited while the last look was still listing may show only in this one).
CAUSE_WINDOW = 60.0
#: The audited outcomes of writes that may have happened.
_WROTE = ("ok", "outcome_unknown")


#: One look at an account at a time: in this process (the serve loop and a look of one's own),
#: and across replicas (the store's lock), so that no change is reported twice.
_LOOKING: weakref.WeakKeyDictionary[Gateway, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()
#: How long a look waits for another replica's look of the same account (seconds).
LOOK_WAIT = 300.0


@contextlib.asynccontextmanager
async def _looking(gw: Gateway, name: str) -> AsyncIterator[None]:
    """Hold the look lock of account ``name``: this process's, then the store's."""
    assert gw.store is not None
    lock = _LOOKING.setdefault(gw, {}).setdefault(name, asyncio.Lock())
    async with lock, gw.store.lock(f"watch/{name}", LOOK_WAIT):
        yield


async def _watch_account(gw: Gateway, account: Account, now: float) -> list[Transition]:
    """Look at ``account`` and resume what the auto-unsuspend policy says, under its look lock
    (so one replica does both, and no change is reported twice)."""
    with tracing.span("watch look", webhook_gateway__account=account.name,
                      webhook_gateway__provider=account.kind):  # fmt: skip
        async with _looking(gw, account.name):
            found = await _look(gw, account, now)
            policy = gw.config.watch.auto_unsuspend if gw.config.watch is not None else None
            if policy is not None:
                await _auto_unsuspend(gw, [account.name], policy, now)
            return found


async def _look(gw: Gateway, account: Account, now: float) -> list[Transition]:
    assert gw.store is not None
    before = {h.webhook_id: h for h in await gw.store.health(account.name)}
    since = min((h.seen_at for h in before.values()), default=now) - CAUSE_WINDOW
    writes = await _writes_since(gw, account.name, since)
    seen: list[Health] = []
    transitions: list[Transition] = []

    def moved(h: Health, change: str, old: str | None, new: str | None, state: str | None,
              by: str | None) -> None:  # fmt: skip
        transitions.append(Transition(account=account.name, provider=account.kind,
                                      webhook_id=h.webhook_id, name=h.name, change=change,
                                      before=old, after=new, state=state, by=by))  # fmt: skip

    async for webhook in account.list():
        state = health_state(webhook.enabled, webhook.suspended)
        diverted = await diverted_count(account, webhook)
        old = before.pop(webhook.id, None)
        mine = writes.get(webhook.id, [])
        if old is None:
            by = _cause(mine, "new", None)
            changed_at, previous = now, None
        elif old.state != state:
            by = _cause(mine, state, old.state)
            changed_at, previous = now, old.state
        else:
            by, changed_at, previous = old.changed_by, old.changed_at, old.previous
        health = Health(account=account.name, webhook_id=webhook.id, name=webhook.name,
                        state=state, diverted=diverted, changed_at=changed_at, seen_at=now,
                        previous=previous, changed_by=by)  # fmt: skip
        seen.append(health)
        if old is None:
            # A first sight tells what is broken already (once, before: null); a healthy
            # webhook first seen is only recorded.
            if state == "active":
                moved(health, "new", None, state, state, by)
            else:
                moved(health, state, None, state, state, None)
        elif old.state != state:
            moved(health, state, old.state, state, state, by)
        if diverted and (old is None or (old.diverted or 0) < diverted):
            moved(health, "diverted", str(old.diverted or 0) if old else None, str(diverted),
                  state, None)  # fmt: skip
    for gone in before.values():
        moved(gone, "deleted", gone.state, None, None,
              _cause(writes.get(gone.webhook_id, []), "deleted", gone.state))  # fmt: skip
    await confirm_held(f"the look at {account.name}")  # else another replica reports it too
    await gw.store.save_health(account.name, seen, list(before))
    await gw.store.record_transitions([t.record(now) for t in transitions])
    return transitions


async def _writes_since(gw: Gateway, account: str, since: float) -> dict[str, list[AuditEntry]]:
    """The account's audited writes since ``since`` (any replica's), by webhook, newest
    first."""
    assert gw.store is not None
    found: dict[str, list[AuditEntry]] = {}
    before_id = None
    while True:
        page = await gw.store.audit(
            AuditQuery(account=account, since=since, before_id=before_id, limit=500)
        )
        for entry in page:
            if entry.webhook_id is not None and entry.outcome in _WROTE:
                found.setdefault(entry.webhook_id, []).append(entry)
        if len(page) < 500:
            return found
        before_id = page[-1].id


def _cause(entries: list[AuditEntry], change: str, before: str | None) -> str | None:
    """The actor of the newest audited write among ``entries`` (one webhook's, newest first)
    that makes ``change`` (from state ``before``); None when none does."""
    for entry in entries:
        op, changed = entry.operation, entry.change
        if (
            (change == "deleted" and op == "delete")
            or (change == "new" and op == "create")
            or (change == "disabled" and op == "update" and changed.get("enabled") is False)
            or (change == "active" and before == "disabled" and op == "update"
                and changed.get("enabled") is True)
            or (change == "active" and before == "suspended" and op == "unsuspend")
        ):  # fmt: skip
            return entry.actor
    return None


async def health_rows(
    gw: Gateway, account: str | None = None, *, stale_after: float | None = None
) -> list[dict[str, Any]]:
    """Each webhook's health as the gateway last saw it, in the names transitions use
    (``account``, ``provider``, ``webhook_id``, ``name``, ``state``, ``before``/``after``: the
    states before and after its last change, ``by``: who made that change, when the gateway
    did), ``changed_at``/``seen_at`` (epoch seconds) and the same as RFC 3339 (``since``,
    ``seen``), ``stale`` (seen more than ``stale_after`` seconds ago), ``diverted``, ``drift``
    (what watch's plan of the manifest found changed there, or None)."""
    assert gw.store is not None
    drifted = {(d.account, d.webhook_id): d.summary for d in await gw.store.drift(account)}
    kinds = {**gw.config.account_kinds, **{info.name: info.provider for info in gw.accounts()}}
    now = time.time()
    return [
        {
            "account": h.account,
            "provider": kinds.get(h.account),
            "webhook_id": h.webhook_id,
            "name": h.name,
            "state": h.state,
            "before": h.previous,
            "after": h.state,
            "by": h.changed_by,
            "diverted": h.diverted,
            "changed_at": h.changed_at,
            "seen_at": h.seen_at,
            "since": rfc3339(h.changed_at),
            "seen": rfc3339(h.seen_at),
            "stale": stale_after is not None and now - h.seen_at > stale_after,
            "drift": drifted.get((h.account, h.webhook_id)),
        }
        for h in await gw.store.health(account)
    ]


def rfc3339(epoch: float) -> str:
    """``epoch`` as RFC 3339 in UTC, to the second: ``2026-12-07T18:22:30Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def watch_once(
    gw: Gateway,
    *,
    accounts: Collection[str] | None = None,
    concurrency: int = 8,
    manifest: str | None = None,
    reconcile: bool | None = None,
) -> WatchResult:
    """Look at every account once (at most ``concurrency`` at a time); record and return what
    changed. Needs a state store (``[state]``). ``manifest`` (default ``[watch] manifest``):
    also plan it and report its drift; ``reconcile`` (default ``[watch] reconcile``): apply
    it too (gateway/health/drift.py)."""
    if gw.store is None:
        raise GatewayError("watching needs a state store: set [state] url")
    gate = asyncio.Semaphore(concurrency)
    now = time.time()
    errors: dict[str, str] = {}
    names = [i.name for i in gw.accounts() if accounts is None or i.name in accounts]

    async def one(name: str) -> list[Transition]:
        async with gate:
            try:
                return await _watch_account(gw, gw.account(name), now)
            except GatewayError as exc:
                errors[name] = str(exc)
                log.warning("watch: an account could not be read",
                            extra={"account": name, "error": str(exc)})  # fmt: skip
                return []

    found = [t for ts in await asyncio.gather(*(one(n) for n in names)) for t in ts]
    report(log, found)
    counted = await count_health(gw)
    counts = {key: n for key, n in counted.states.items() if key[0] in names}
    drift: list[DriftEvent] = []
    watching = gw.config.watch
    manifest = manifest or (watching.manifest if watching is not None else None)
    if manifest is not None:
        again = reconcile if reconcile is not None else bool(watching and watching.reconcile)
        limit = (watching or WatchConfig()).max_writes_per_look
        try:
            async with contextlib.AsyncExitStack() as held:  # one replica plans an account
                for name in sorted(names):  # in one order everywhere: no deadlock
                    await held.enter_async_context(_looking(gw, name))
                drift, failed = await look_for_drift(
                    gw, manifest, now, accounts=None if accounts is None else names,
                    reconcile=again, max_writes=limit,
                )  # fmt: skip
            errors.update({name: f"drift: {error}" for name, error in failed.items()})
        except GatewayError as exc:  # a manifest that does not load: said, the look stands
            errors["manifest"] = str(exc)
            log.warning("drift: the manifest could not be planned", extra={"error": str(exc)})
    if gw.config.watch is not None and gw.config.watch.sinks:
        sinks = [Sink(url=s.url, secret=s.secret) for s in gw.config.watch.sinks]
        own = gw.config.watch.notify_own
        sent: list[Any] = [t for t in found if t.out_of_band or (own and t.change != "new")]
        await deliver_events(gw.transport.session, sinks, [*sent, *drift])
    return WatchResult(transitions=tuple(found), counts=dict(counts), errors=errors,
                       drift=tuple(drift))  # fmt: skip


AUTO_ACTOR = "watch:auto-unsuspend"


async def _auto_unsuspend(gw: Gateway, names: list[str], policy: Any, now: float) -> None:
    """Resume webhooks suspended (Enterprise Core: unsuspend), or disabled by a provider that
    disables failing ones (UiPath's circuit breaker: enable again), for longer than
    ``policy.after`` seconds, at most ``policy.max_per_day`` times a webhook in 24 hours (counted
    in the audit log, where each resume is recorded as done by ``watch:auto-unsuspend``).

    A disabled webhook is enabled again only if watch saw it go from active to disabled and the
    gateway did not disable it itself (its newest audited write of ``enabled`` did not set it
    false): one that was disabled when first seen, or disabled on purpose, stays so. Only
    what a grant of ``system:watch`` allows (every webhook, where no grant names it)."""
    assert gw.store is not None
    allowed = system_allowance("watch", gw.config.access.to_grants())
    for name in names:
        if policy.accounts is not None and name not in policy.accounts:
            continue
        account = gw.account(name)
        caps = account.capabilities
        resumable = {"suspended"} if caps.supports("unsuspend") else set()
        if caps.disables_failing and caps.supports("update"):
            resumable.add("disabled")
        for health in await gw.store.health(name) if resumable else []:
            if health.state not in resumable or now - health.changed_at < policy.after:
                continue
            disabled = health.state == "disabled"
            if disabled and health.previous != "active":
                continue
            if disabled and _outlasted(caps.disabled_for, now - health.changed_at, policy):
                continue  # longer than the breaker keeps it off: someone else's decision
            # Newest first: the resumes of the last 24 hours, and the gateway's own newest
            # write of ``enabled``.
            history = await gw.store.audit(
                AuditQuery(account=name, webhook_id=health.webhook_id, limit=500)
            )
            if disabled and _disabled_on_purpose(history):
                continue
            # attempts, failed ones too
            done = sum(e.actor == AUTO_ACTOR and e.time >= now - 86400 for e in history)
            if done >= policy.max_per_day:
                continue
            grant = allowed.grant_for("write", name, health.name)
            if grant is None:
                log.warning("auto-unsuspend: no grant of system:watch allows it",
                            extra={"account": name, "id": health.webhook_id})  # fmt: skip
                continue
            with acting_as(AUTO_ACTOR, grant=grant.label):
                try:
                    if disabled:
                        await account.update(health.webhook_id, WebhookChange(enabled=True))
                    else:
                        await account.unsuspend(health.webhook_id)
                except GatewayError as exc:
                    log.warning("auto-unsuspend failed", extra={"account": name,
                                "id": health.webhook_id, "error": str(exc)})  # fmt: skip
                    continue
            log.warning("auto-enabled" if disabled else "auto-unsuspended",
                        extra={"account": name, "id": health.webhook_id,
                               "times_today": done + 1})  # fmt: skip


#: How much longer than the provider's own disabling a webhook may read disabled and still be
#: taken as the provider's (watch sees the end of the hour only at its next look).
BREAKER_MARGIN = 600.0


def _outlasted(disabled_for: int | None, disabled_since: float, policy: Any) -> bool:
    """Whether a webhook disabled ``disabled_since`` seconds ago has been off for longer than
    a provider that lifts its disabling after ``disabled_for`` seconds would keep it."""
    if disabled_for is None:
        return False
    return disabled_since > disabled_for + max(BREAKER_MARGIN, float(policy.after))


def _disabled_on_purpose(history: list[AuditEntry]) -> bool:
    """Whether the newest write of ``enabled`` through the gateway in ``history`` (a webhook's
    audit entries, newest first) set it false."""
    for entry in history:
        if entry.outcome == "ok" and "enabled" in entry.change:
            return entry.change["enabled"] is False
    return False


async def watch_forever(gw: Gateway, interval: float, concurrency: int = 8) -> None:
    """``watch_once`` every ``interval`` seconds, until cancelled."""
    while True:
        try:
            await watch_once(gw, concurrency=concurrency)
        except GatewayError as exc:
            log.warning("watch failed", extra={"error": str(exc)})
        await asyncio.sleep(interval)
