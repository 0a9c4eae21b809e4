"""Health that keeps up with the gateway's own writes, and says how old it is.

``watch`` looks at every account each ``[watch] interval``; between two looks, the gateway's own
writes would leave the health rows saying what was true before them (``unsuspend`` and the row
still says ``suspended``). ``note_write`` refreshes the written webhook's row at once, from what
the write answered, and records the transition as a look would (``by`` the writer), so the
console, the command line, ``GET /v1/health`` and ``/metrics`` agree right after the write.

Only accounts a look has seen are refreshed (an account never watched has no rows, and a row
of its own would make the overview count one webhook of many). The store keeps the newer of
two views of a row (``Store.save_health``), so a look under way does not undo a refresh; a
look that listed the account after the write and read its rows before it reports the change a
second time, with the same ``by``.

With ``[watch] notify_own``, the refreshed transitions go to the sinks as a look's would, in
the background (``drain`` waits for them: the proxy at shutdown, the command line before it
exits).

Age: each row has ``seen_at``, when the gateway last saw that state (a look or its own
write). A state seen more than ``STALE_INTERVALS`` intervals ago is *stale*: watch is not
running, or cannot read the account.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from gateway.config import WatchConfig
from gateway.health.events import Sink, deliver_events
from gateway.health.states import Transition, diverted_count, health_state, report
from gateway.model import Webhook
from gateway.service import Account, Gateway
from gateway.store import Health

__all__ = ["STALE_INTERVALS", "ago", "drain", "note_write", "stale_after"]

log = logging.getLogger("gateway.health.fresh")

#: A state seen longer ago than this many watch intervals is stale.
STALE_INTERVALS = 2

_SENDING: weakref.WeakKeyDictionary[Gateway, set[asyncio.Task[Any]]] = weakref.WeakKeyDictionary()


def stale_after(gw: Gateway) -> float:
    """Seconds after which a seen state is stale: ``STALE_INTERVALS`` watch intervals (the
    default interval when ``[watch]`` is not configured: a ``watch`` run from cron)."""
    return STALE_INTERVALS * (gw.config.watch or WatchConfig()).interval


async def note_write(
    gw: Gateway,
    account: Account,
    webhook_id: str,
    webhook: Webhook | None = None,
    *,
    by: str,
    deleted: bool = False,
    diverted: bool = False,
) -> list[Transition]:
    """Refresh the health row of ``webhook_id`` after the gateway's own write: ``webhook`` is
    what the write answered (None: read it again, when the account is watched); ``deleted``:
    the write deleted it; ``diverted``: count its diverted events again (after a resend or a
    delete of one). The transitions recorded."""
    store = gw.store
    if store is None:
        return []
    name, webhook_id = account.name, account.canonical_id(webhook_id)
    rows = await store.health(name, webhook_id)
    old = rows[0] if rows else None
    if old is None and (deleted or not await store.health(name, limit=1)):
        return []  # not watched yet (or gone before a look saw it): nothing to refresh
    if webhook is None and not deleted:
        webhook = await account.get(webhook_id)
    now = time.time()
    found: list[Transition] = []

    def moved(change: str, before: str | None, after: str | None, called: str) -> None:
        found.append(Transition(account=name, provider=account.kind, webhook_id=webhook_id,
                                name=called, change=change, before=before, after=after,
                                state=after, by=by))  # fmt: skip

    if webhook is None:  # deleted
        assert old is not None
        moved("deleted", old.state, None, old.name)
        await store.save_health(name, [], [webhook_id])
    else:
        state = health_state(webhook.enabled, webhook.suspended)
        count = await diverted_count(account, webhook) if diverted else None
        if old is None:
            moved("new" if state == "active" else state, None, state, webhook.name)
            health = Health(account=name, webhook_id=webhook_id, name=webhook.name, state=state,
                            diverted=count, changed_at=now, seen_at=now, changed_by=by)  # fmt: skip
        else:
            changed = old.state != state
            if changed:
                moved(state, old.state, state, webhook.name)
            health = Health(
                account=name, webhook_id=webhook_id, name=webhook.name, state=state,
                diverted=count if diverted else old.diverted,
                changed_at=now if changed else old.changed_at, seen_at=now,
                previous=old.state if changed else old.previous,
                changed_by=by if changed else old.changed_by,
            )  # fmt: skip
        await store.save_health(name, [health], [])
    await store.record_transitions([t.record(now) for t in found])
    report(log, found)
    _notify(gw, found)
    return found


def _notify(gw: Gateway, found: list[Transition]) -> None:
    """Send ``found`` to the sinks in the background when ``[watch] notify_own`` asks."""
    watching = gw.config.watch
    sent = [t for t in found if t.change != "new"]
    if watching is None or not watching.notify_own or not watching.sinks or not sent:
        return
    sinks = [Sink(url=s.url, secret=s.secret) for s in watching.sinks]
    task = asyncio.create_task(deliver_events(gw.transport.session, sinks, sent))
    tasks = _SENDING.setdefault(gw, set())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def drain(gw: Gateway, within: float = 10.0) -> None:
    """Wait (at most ``within`` seconds) for the sinks' deliveries ``note_write`` started."""
    tasks = set(_SENDING.get(gw, ()))
    if tasks:
        await asyncio.wait(tasks, timeout=within)


def ago(epoch: float | None, now: float | None = None) -> str:
    """How long ago ``epoch`` was, as a person says it: ``just now``, ``40 s ago``, ``2 min
    ago``, ``3 h ago``, ``2 days ago`` (the exact time goes in the element's title)."""
    if epoch is None:
        return "-"
    seconds = max(0, int((time.time() if now is None else now) - epoch))
    if seconds < 10:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return f"{seconds} s ago"
