"""``make_plan``: what applying a manifest would do, account by account.

Desired webhooks are matched to actual ones by ownership (the state store's record of which
webhook a manifest key manages); a desired key with no owned webhook adopts one of the same name
when ``adopt`` is given (or when there is no state store, where names are all there is), else
a same-named webhook is a conflict the plan reports. Deletes touch only owned webhooks whose key
left the manifest, or, with ``prune``, every webhook no key matches. Accounts are read
concurrently (bounded); one that fails is reported and the others still plan.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any, Literal

import attrs
import orjson

from gateway.codec import webhook_to_json
from gateway.errors import GatewayError, InvalidRequest
from gateway.model import Webhook, WebhookSpec
from gateway.plan.blind import BLIND_NOTE, blinded
from gateway.plan.diff import UNKNOWN, Diff, FieldChange, Rotation, diff, fingerprint
from gateway.plan.manifest import Desired, Manifest
from gateway.service import Account, Gateway
from gateway.store import Managed
from gateway.transport import tracing

__all__ = ["NOT_ALLOWED", "AccountPlan", "Action", "Plan", "make_plan"]

#: How a plan's warning of an action its caller may not take begins (gateway.operations.desired
#: adds them; the fingerprint leaves them out: who planned is not what the plan would do).
NOT_ALLOWED = "not allowed: "

Kind = Literal["create", "update", "replace", "delete", "adopt", "move"]

#: The webhook id recorded for a key whose create an apply has begun (the provider's id is not
#: known until it answers): the next plan takes over the webhook of that name, or creates it.
CREATING = ""


@attrs.frozen(kw_only=True)
class Action:
    """One planned write. ``spec`` (create, replace), ``diff`` (update, replace); a replace
    deletes the webhook and creates it anew, for a provider without update (Orchestry): its id
    changes. ``adopt`` and ``move`` write only the state store: a webhook taken over as it is,
    and a key renamed (``moved_from``). ``secret_fingerprint``/``alert_fingerprint``: what the
    store records for the secrets once done (``diff.UNKNOWN``: adopted without being known)."""

    kind: Kind
    account: str
    key: str | None
    webhook_id: str | None
    name: str
    spec: WebhookSpec | None = None
    diff: Diff | None = None
    secret_fingerprint: str | None = None
    alert_fingerprint: str | None = None
    note: str | None = None
    moved_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action": self.kind,
            "key": self.key,
            "id": self.webhook_id,
            "name": self.name,
        }
        if self.moved_from is not None:
            body["moved_from"] = self.moved_from
        if self.spec is not None and self.kind in ("create", "replace"):
            shown = webhook_to_json(self.spec.to_webhook(""), mask_credentials=True)
            body["fields"] = {k: v for k, v in shown.items()
                              if k not in ("id", "account", "provider", "suspended",
                                           "suspended_at", "secret_state")}  # fmt: skip
        if self.diff is not None:
            body["changes"] = [_field_json(f) for f in self.diff.fields]
            body["notes"] = list(self.diff.notes)
        if self.note:
            body["note"] = self.note
        return body


def _field_json(change: FieldChange) -> dict[str, Any]:
    return {"field": change.field, "before": change.before, "after": change.after}


@attrs.frozen(kw_only=True)
class AccountPlan:
    account: str
    provider: str
    actions: tuple[Action, ...] = ()
    unchanged: int = 0
    notes: tuple[str, ...] = ()
    #: What may fail when applied, though the plan cannot tell (an event name the provider's
    #: catalog does not list, where tenants add events of their own).
    warnings: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "provider": self.provider,
            "actions": [a.to_json() for a in self.actions],
            "unchanged": self.unchanged,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "error": self.error,
        }


@attrs.frozen(kw_only=True)
class Plan:
    """What applying a manifest would do. ``changes``: the number of writes."""

    accounts: tuple[AccountPlan, ...]
    #: Made for a caller who may not see credentials (``gateway.plan.blind``): not appliable.
    blind: bool = False
    #: The manifest's owner: what it applies is recorded as this owner's.
    owner: str = ""

    @property
    def changes(self) -> int:
        return sum(1 for a in self.accounts for x in a.actions if x.kind not in ("adopt", "move"))

    @property
    def failed(self) -> bool:
        return any(a.error for a in self.accounts)

    @property
    def fingerprint(self) -> str:
        """A hash of everything the plan would do: equal plans, equal fingerprints. Applying a
        saved plan means re-planning and comparing this (``apply --plan``). How it was planned
        is not what it would do: a read key's plan (``blind``, and saying which actions it may
        not take) and a write key's that find the same have one fingerprint."""
        accounts = [a.to_json() for a in self.accounts]
        for account in accounts:
            account["warnings"] = [w for w in account["warnings"]
                                   if not w.startswith(NOT_ALLOWED)]  # fmt: skip
            if self.blind:
                account["notes"] = [n for n in account["notes"] if n != BLIND_NOTE]
        body = {"changes": self.changes, "accounts": accounts}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        """The plan's documented JSON form (``schema: 1``; docs/plan.md)."""
        return {
            "schema": 1,
            "fingerprint": self.fingerprint,
            "changes": self.changes,
            "accounts": [a.to_json() for a in self.accounts],
        }


async def make_plan(
    gw: Gateway,
    manifest: Manifest,
    *,
    accounts: Collection[str] | None = None,
    adopt: bool = False,
    prune: bool = False,
    concurrency: int = 8,
    set_unknown_secrets: bool = False,
    blind: bool = False,
) -> Plan:
    """Plan ``manifest`` against what the accounts have now (reads only).
    ``set_unknown_secrets``: write the manifest's secret where the provider's is unknown
    (else an adopted webhook's unknown secret is left as it is). ``blind``: for a caller who
    may not see credentials (``gateway.plan.blind``; such a plan cannot be applied)."""
    names = [n for n in manifest.accounts if accounts is None or n in accounts]
    gate = asyncio.Semaphore(concurrency)
    key = await gw.store.secret_key() if gw.store is not None else b""

    async def one(name: str) -> AccountPlan:
        account = gw.account(name)
        try:
            with tracing.span("plan account", webhook_gateway__account=name,
                              webhook_gateway__provider=account.kind):  # fmt: skip
                return await _plan_account(gw, account, manifest.accounts[name], key, gate,
                                           adopt=adopt, prune=prune,
                                           set_unknown=set_unknown_secrets,
                                           blind=blind, owner=manifest.owner)  # fmt: skip
        except GatewayError as exc:
            return AccountPlan(account=name, provider=account.kind, error=str(exc))

    planned = tuple(await asyncio.gather(*(one(n) for n in names)))
    return Plan(accounts=planned, blind=blind, owner=manifest.owner)


async def _uncatalogued(
    account: Account, specs: dict[str, WebhookSpec], in_use: Collection[str] = ()
) -> list[str]:
    """Event names the account's catalog does not list, where the catalog is open (a tenant
    adds events of its own, and the gateway's own writes pass them on as written): problems
    at plan all the same. A plan writes many webhooks, and one the provider refuses halfway
    leaves the rest half-applied (a replace already deleted); a tenant's own events are
    listed in the account's ``custom_events``, which makes its catalog strict. Names a webhook
    of the account already takes (``in_use``, folded) are the tenant's: not refused."""
    if account.provider.strict_events:
        return []
    catalog = {t.name.casefold(): t.name for t in await account.event_types()}
    found = []
    for key, spec in specs.items():
        unknown = [e for e in spec.events if e.casefold() not in catalog]
        for name in sorted(e for e in unknown if e.casefold() not in in_use):
            close = difflib.get_close_matches(name.casefold(), list(catalog), n=1, cutoff=0.6)
            hint = f"; did you mean {catalog[close[0]]!r}?" if close else ""
            found.append(
                f"accounts.{account.name}.webhooks.{key}.events: {name!r} is not in "
                f"{account.name}'s event catalog{hint} (a custom event of the tenant: list it "
                f"in [accounts.{account.name}] custom_events)"
            )
    return found


async def _refused(account: Account, spec: WebhookSpec, key: str) -> list[str]:
    """The destination policy, as the write itself would apply it, refused at plan with the
    manifest's key path (only for a write that sets a URL: a webhook the plan leaves alone
    is not checked again)."""
    try:
        await account.destinations.check(spec, prefix=f"accounts.{account.name}.webhooks.{key}.")
    except InvalidRequest as exc:
        return [str(p) for p in exc.problems]
    return []


def _as_intended(spec: WebhookSpec, found: Webhook) -> bool:
    """Whether ``found`` is what creating ``spec`` would have made (URL and events): only then
    is a same-named webhook taken over after an interrupted apply, not one someone else made
    meanwhile."""
    if found.url != spec.url or found.all_events != spec.all_events:
        return False
    return spec.all_events or {e.casefold() for e in found.events} == {
        e.casefold() for e in spec.events
    }


async def _plan_account(
    gw: Gateway,
    account: Account,
    desired: dict[str, Desired] | Any,
    key: bytes,
    gate: asyncio.Semaphore,
    *,
    adopt: bool,
    prune: bool,
    set_unknown: bool = False,
    blind: bool = False,
    owner: str = "",
) -> AccountPlan:
    managed: dict[str, Managed] = (
        await gw.store.managed(account.name, owner) if gw.store is not None else {}
    )
    moves = {e.moved_from: k for k, e in desired.items()
             if e.moved_from in managed and k not in managed}  # fmt: skip
    owned_ids = {m.webhook_id for m in managed.values()}
    # Another owner's webhooks: never taken over, updated or deleted by this manifest.
    theirs = {wid: o for wid, o in (await gw.store.owners(account.name)).items()
              if o != owner and wid not in owned_ids} if gw.store is not None else {}  # fmt: skip
    actual, by_name, others = await _read_actual(
        account, desired, owned_ids, gate, prune=prune, theirs=theirs
    )
    # The next account's read goes first (the gate just let it in): it then waits for its
    # provider while this one is compared, instead of after (the comparing never yields).
    await asyncio.sleep(0)
    adopt = adopt or gw.store is None
    actions: list[Action] = []
    kept_by = Counter(theirs.values())
    matched: set[str] = set()
    unchanged = 0
    can_update = "update" in account.capabilities.operations
    notes = _account_notes(account)
    if blind:
        notes.append(BLIND_NOTE)
    notes += [f"{n} webhook(s) managed by {_owner_name(o)}: left alone"
              for o, n in sorted(kept_by.items())]  # fmt: skip
    specs, problems = await _spelled(account, desired)
    if problems:  # nothing of this account is planned from a manifest it cannot take
        return AccountPlan(account=account.name, provider=account.kind, error="; ".join(problems))
    in_use = {e.casefold() for w in [*actual.values(), *by_name.values()] for e in w.events}
    problems += await _uncatalogued(account, specs, in_use)
    if problems:  # an event the provider would refuse: nothing of this account is written
        return AccountPlan(account=account.name, provider=account.kind, error="; ".join(problems))
    warnings: list[str] = []
    for entry_key, spec in specs.items():
        entry = desired[entry_key]
        want_fp = fingerprint(spec.secret, key)
        alert = spec.failure_handling.alert_endpoint if spec.failure_handling else None
        alert_fp = fingerprint(alert.secret if alert else None, key)
        moved_from = entry.moved_from if moves.get(entry.moved_from) == entry_key else None
        record = managed.get(moved_from or entry_key)
        interrupted = record is not None and record.webhook_id == CREATING
        current = actual.get(record.webhook_id) if record is not None else None
        adopted = False
        if current is None:
            same_name = by_name.get(spec.name)
            if same_name is not None and same_name.id in theirs:
                problems.append(
                    f"accounts.{account.name}.webhooks.{entry_key}: the webhook named "
                    f"{spec.name!r} ({same_name.id}) is managed by "
                    f"{_owner_name(theirs[same_name.id])}: not taken over (its owner may hand "
                    "it over: webhook-gateway transfer)"
                )
                continue
            if same_name is not None and same_name.id not in owned_ids:
                if interrupted and not adopt and not _as_intended(spec, same_name):
                    problems.append(
                        f"accounts.{account.name}.webhooks.{entry_key}: an apply was "
                        f"interrupted before creating it, and the webhook named {spec.name!r} "
                        f"({same_name.id}) is not the one it meant to make (its URL or events "
                        "differ): not taken over; plan with --adopt to take it over anyway"
                    )
                    continue
                if interrupted and _as_intended(spec, same_name):  # made by the stopped apply
                    notes.append(f"{entry_key}: {same_name.id} was made by an apply that was "
                                 "interrupted before it recorded it: taken over")  # fmt: skip
                elif not adopt:
                    problems.append(
                        f"accounts.{account.name}.webhooks.{entry_key}: a webhook named "
                        f"{spec.name!r} ({same_name.id}) exists and is not managed; plan with "
                        "--adopt to take it over"
                    )
                    continue
                current, adopted = same_name, True
        if current is None:
            if entry.secret_unset is not None:
                problems.append(f"accounts.{account.name}.webhooks.{entry_key}.secret_env: "
                                f"environment variable {entry.secret_unset} is not set (the "
                                "create needs the secret)")  # fmt: skip
                continue
            problems += await _refused(account, spec, entry_key)
            actions.append(Action(kind="create", account=account.name, key=entry_key,
                                  webhook_id=None, name=spec.name, spec=spec,
                                  secret_fingerprint=want_fp, alert_fingerprint=alert_fp,
                                  note=None if record is None else
                                  "an earlier apply was interrupted before creating it"
                                  if interrupted else
                                  "its webhook was deleted outside the manifest"))  # fmt: skip
            continue
        matched.add(current.id)
        applied = record if record and not adopted else None
        # The secret is the manifest's to compare unless rotated elsewhere or not given here.
        # (A blind plan compares no secret: what the store knows of it stays as it is.)
        compared = (entry.secret_rotation != "external" and entry.secret_unset is None  # noqa: S105
                    and not blind)  # fmt: skip
        rotated = (Rotation(applied.rotated_at, applied.rotated_by or "unknown")
                   if applied is not None and applied.rotated_at is not None else None)  # fmt: skip
        seen, shown = (blinded(spec), blinded(current)) if blind else (spec, current)
        found = diff(seen, shown, account.capabilities, secret_fingerprint=want_fp,
                     applied_fingerprint=applied.secret_fingerprint if applied else None,
                     alert_fingerprint=alert_fp,
                     applied_alert_fingerprint=applied.alert_secret_fingerprint
                     if applied else None,
                     compare_secret=compared,
                     set_unknown=set_unknown, rotated=rotated)  # fmt: skip
        if entry.secret_unset is not None:
            notes.append(f"{entry_key}: secret_env {entry.secret_unset} is not set: the "
                         "secret is left as it is (not compared)")  # fmt: skip
        if found.notes:
            notes += [f"{entry_key}: {n}" for n in found.notes]
        if not compared:  # what the store knows of the secret stays as it is
            record_fp = applied.secret_fingerprint if applied else UNKNOWN
        elif found.secret_unknown:
            record_fp = UNKNOWN
        else:
            record_fp = want_fp
        record_alert_fp = UNKNOWN if found.alert_secret_unknown else alert_fp
        if blind and record is not None:
            record_alert_fp = record.alert_secret_fingerprint
        if found.sets("url", "failure_handling"):
            problems += await _refused(account, spec, entry_key)
        if not found.empty:
            note = None
            if not can_update:
                if entry.secret_unset is not None:
                    problems.append(f"accounts.{account.name}.webhooks.{entry_key}.secret_env: "
                                    f"environment variable {entry.secret_unset} is not set "
                                    "(the replace creates it anew)")  # fmt: skip
                    continue
                record_fp = want_fp  # created anew with the manifest's secret
                why = ", ".join(f.field for f in found.fields)
                note = (f"{account.kind} cannot update {why}: deleted and created anew, its id "
                        f"{current.id} will change")  # fmt: skip
            actions.append(Action(kind="update" if can_update else "replace",
                                  account=account.name, key=entry_key, webhook_id=current.id,
                                  name=current.name, diff=found, spec=spec,
                                  secret_fingerprint=record_fp, alert_fingerprint=record_alert_fp,
                                  moved_from=moved_from, note=note))  # fmt: skip
        elif moved_from is not None:
            actions.append(Action(kind="move", account=account.name, key=entry_key,
                                  webhook_id=current.id, name=current.name,
                                  secret_fingerprint=record_fp, alert_fingerprint=record_alert_fp,
                                  moved_from=moved_from,
                                  note=f"was {moved_from!r}: nothing is written"))  # fmt: skip
        elif gw.store is not None and (
            adopted
            or record is None
            or record.secret_fingerprint != record_fp
            or record.alert_secret_fingerprint != record_alert_fp
        ):
            actions.append(Action(kind="adopt", account=account.name, key=entry_key,
                                  webhook_id=current.id, name=current.name,
                                  secret_fingerprint=record_fp,
                                  alert_fingerprint=record_alert_fp,
                                  note="taken over as it is: nothing is written to "
                                  f"{account.kind}" if adopted else None))  # fmt: skip
        else:
            unchanged += 1
    actions += _deletes(account.name, desired, managed, moves, actual, matched, owned_ids,
                        others if prune else None)  # fmt: skip
    if problems:
        return AccountPlan(account=account.name, provider=account.kind, error="; ".join(problems))
    return AccountPlan(account=account.name, provider=account.kind, actions=tuple(actions),
                       unchanged=unchanged, notes=tuple(notes),
                       warnings=tuple(warnings))  # fmt: skip


# -- the phases of an account's plan ----------------------------------------------------------


async def _read_actual(
    account: Account,
    desired: dict[str, Desired],
    owned_ids: set[str],
    gate: asyncio.Semaphore,
    *,
    prune: bool,
    theirs: Mapping[str, str] = {},
) -> tuple[dict[str, Webhook], dict[str, Webhook], list[tuple[str, str]]]:
    """Read what the account has: ``(by id, by name, others)``.

    Streamed: only webhooks the manifest or the store names are kept whole (memory stays the
    manifest's size plus a page); the rest are kept as ``(id, name)``, for ``--prune`` only,
    but for another owner's (``theirs``), which ``--prune`` never takes.
    """
    wanted_names = {entry.spec.name for entry in desired.values()}
    actual: dict[str, Webhook] = {}
    by_name: dict[str, Webhook] = {}
    others: list[tuple[str, str]] = []
    async with gate:  # the reading is bounded; the comparing after lets the next account read
        async for webhook in account.list():
            if webhook.id in owned_ids:
                actual[webhook.id] = webhook
            elif webhook.name in wanted_names and webhook.name not in by_name:
                actual[webhook.id] = by_name[webhook.name] = webhook
            elif prune and webhook.id not in theirs:
                others.append((webhook.id, webhook.name))
    return actual, by_name, others


def _owner_name(owner: str) -> str:
    return f"owner {owner!r}" if owner else "a manifest with no owner"


def _account_notes(account: Account) -> list[str]:
    """What a reader of the plan should know of how this provider updates."""
    if "update" not in account.capabilities.operations:
        return [f"{account.kind} has no update: a changed webhook is replaced (deleted, then "
                "created anew, with a new id)"]  # fmt: skip
    if not account.capabilities.atomic_update:
        return [f"{account.kind} replaces whole collections: each update reads the webhook "
                "and writes it back under the update lock"]  # fmt: skip
    return []


async def _spelled(
    account: Account, desired: dict[str, Desired]
) -> tuple[dict[str, WebhookSpec], list[str]]:
    """Each entry's spec with its events in the catalog's spelling, and the problems found.

    ``InvalidRequest`` for names a strict catalog lacks becomes a problem; a provider whose
    tenants add events keeps them as written. Each event set is spelled once: manifests
    repeat them.
    """
    problems: list[str] = []
    specs: dict[str, WebhookSpec] = {}
    spelled: dict[frozenset[str], frozenset[str]] = {}
    for entry_key, entry in desired.items():
        spec = entry.spec
        events = spelled.get(spec.events) if spec.events else spec.events
        if events is None:
            where = f"accounts.{account.name}.webhooks.{entry_key}.events"
            try:
                events = spelled[spec.events] = await account.canonical_events(spec.events, where)
            except InvalidRequest as exc:
                problems += [str(p) for p in exc.problems]
                continue
        # ``evolve`` validates the whole spec again: only when a spelling actually changed.
        specs[entry_key] = spec if events == spec.events else attrs.evolve(spec, events=events)
    return specs, problems


def _deletes(
    account: str,
    desired: dict[str, Desired],
    managed: dict[str, Managed],
    moves: dict[str | None, str],
    actual: dict[str, Webhook],
    matched: set[str],
    owned_ids: set[str],
    others: list[tuple[str, str]] | None,
) -> list[Action]:
    """The deletes: managed keys the manifest dropped, and with ``--prune`` (``others`` given)
    every webhook no key matched."""
    actions = []
    for entry_key, record in managed.items():
        if entry_key not in desired and entry_key not in moves and record.webhook_id in actual:
            webhook = actual[record.webhook_id]
            matched.add(webhook.id)
            actions.append(Action(kind="delete", account=account, key=entry_key,
                                  webhook_id=webhook.id, name=webhook.name))  # fmt: skip
    if others is not None:
        unmatched = [(w.id, w.name) for w in actual.values()
                     if w.id not in matched and w.id not in owned_ids]  # fmt: skip
        for webhook_id, name in unmatched + others:
            actions.append(Action(kind="delete", account=account, key=None,
                                  webhook_id=webhook_id, name=name,
                                  note="not in the manifest (--prune)"))  # fmt: skip
    return actions
