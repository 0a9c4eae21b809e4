"""``apply_plan``: carry a plan out, through the account clients (so update locks, retries,
idempotent reconciliation and the audit log apply to every write).

Accounts run concurrently; within one, at most ``concurrency`` writes at a time. A failure is
recorded and the rest go on; applying the same manifest again converges, since a new plan
starts from what is there. Ownership (which webhook a key manages, and the fingerprint of the
secret applied) is recorded in the state store after each successful write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs

from gateway.errors import GatewayError, InvalidRequest
from gateway.model import Webhook
from gateway.plan.planner import CREATING, Action, Plan
from gateway.service import Account, Gateway
from gateway.store import Managed
from gateway.transport import tracing

__all__ = ["Outcome", "Report", "Written", "apply_plan"]

#: ``(account, webhook id, what the write answered or None once deleted) -> None``: told after
#: each write an apply made (the operations layer refreshes the webhook's health with it).
Written = Callable[[Account, str, Webhook | None], Awaitable[None]]


@attrs.frozen(kw_only=True)
class Outcome:
    action: Action
    ok: bool
    webhook_id: str | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class Report:
    outcomes: tuple[Outcome, ...]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_json(self) -> dict[str, object]:
        return {
            "applied": sum(o.ok for o in self.outcomes),
            "failed": len(self.failed),
            "outcomes": [
                {"account": o.action.account, "action": o.action.kind, "key": o.action.key,
                 "id": o.webhook_id, "name": o.action.name, "ok": o.ok, "error": o.error}
                for o in self.outcomes
            ],
        }  # fmt: skip


async def apply_plan(
    gw: Gateway,
    plan: Plan,
    *,
    concurrency: int = 4,
    progress: Callable[[Outcome], None] | None = None,
    written: Written | None = None,
) -> Report:
    """Carry ``plan`` out; ``progress`` is called after each action, ``written`` after each
    write."""
    if plan.blind:
        raise InvalidRequest("a plan made for a read key compares no credentials and cannot be "
                             "applied: plan again with a key that may write")  # fmt: skip

    async def intend(action: Action) -> None:
        """Record that ``action``'s key is being created, before it is: an apply killed after
        the provider made the webhook but before its id was recorded then converges (the
        next plan takes over the webhook of that name, or creates it)."""
        if gw.store is not None and action.key is not None:
            entry = Managed(
                account=action.account, key=action.key, webhook_id=CREATING, owner=plan.owner
            )
            await gw.store.manage(entry, time.time())

    async def wrote(account: Account, webhook_id: str, webhook: Webhook | None) -> None:
        if written is not None:
            await written(account, webhook_id, webhook)

    async def create(account: Account, action: Action) -> str:
        assert action.spec is not None
        await intend(action)
        made = await account.create(action.spec)
        await wrote(account, made.id, made)
        return made.id

    async def delete(account: Account, webhook_id: str) -> None:
        await account.delete(webhook_id)
        await wrote(account, webhook_id, None)

    async def run(action: Action) -> Outcome:
        account = gw.account(action.account)
        try:
            webhook_id = action.webhook_id
            if action.kind == "create":
                webhook_id = await create(account, action)
            elif action.kind == "update":
                assert action.diff is not None and webhook_id is not None
                await wrote(account, webhook_id,
                            await account.update(webhook_id, action.diff.change))  # fmt: skip
            elif action.kind == "replace":  # no update at this provider: delete, create anew
                assert webhook_id is not None
                await delete(account, webhook_id)
                webhook_id = await create(account, action)
            elif action.kind == "delete":
                assert webhook_id is not None
                await delete(account, webhook_id)
            if gw.store is not None and action.key is not None:
                if action.kind == "delete":
                    await gw.store.unmanage(action.account, action.key, plan.owner)
                else:
                    assert webhook_id is not None
                    entry = Managed(account=action.account, key=action.key,
                                    webhook_id=webhook_id,
                                    secret_fingerprint=action.secret_fingerprint,
                                    alert_secret_fingerprint=action.alert_fingerprint,
                                    owner=plan.owner)  # fmt: skip
                    await gw.store.manage(entry, time.time())
                    if action.moved_from is not None:  # the key was renamed: the old one goes
                        await gw.store.unmanage(action.account, action.moved_from, plan.owner)
            outcome = Outcome(action=action, ok=True, webhook_id=webhook_id)
        except GatewayError as exc:
            outcome = Outcome(action=action, ok=False, webhook_id=action.webhook_id,
                              error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        if progress is not None:
            progress(outcome)
        return outcome

    async def account_run(name: str, actions: tuple[Action, ...]) -> list[Outcome]:
        gate = asyncio.Semaphore(concurrency)

        async def gated(action: Action) -> Outcome:
            async with gate:
                return await run(action)

        with tracing.span("apply account", webhook_gateway__account=name,
                          webhook_gateway__writes=len(actions)):  # fmt: skip
            return list(await asyncio.gather(*(gated(a) for a in actions)))

    results = await asyncio.gather(*(account_run(a.account, a.actions) for a in plan.accounts))
    return Report(outcomes=tuple(o for outcomes in results for o in outcomes))
