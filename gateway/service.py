"""The facade: ``Gateway`` owns the transport and one adapter per account; ``Account`` is the
client a service uses.

::

    async with Gateway.from_config("gateway.toml") as gw:
        acct = gw.account("uipath-prod")
        async for wh in acct.list(enabled=True, event="job.completed"): ...

``Account`` applies the rules every provider shares, before any network write:

* a setting the provider cannot store is rejected with its field path, never dropped;
* ids are canonicalized by the adapter first (``Provider.canonical_id``): locks and shared reads
  key on the one spelling, and an id that can name nothing is refused before any request;
* event names are matched case-insensitively against the provider's catalog (fetched once, then
  cached; ``event_types(refresh=True)`` refetches) and passed on in the provider's spelling;
  an unknown name is rejected, naming a few close matches and where the catalog is (or, where
  tenants define events of their own, passed on as written with a warning in the log);
* the per-webhook event-count limits of the provider hold;
* reads of one webhook that start together share one provider request, never a stale answer
  (``gateway.transport.collapse``);
* updates of one webhook are serialized when the provider can only replace whole records, so
  concurrent changes are not lost;
* a write whose answer was lost or unreadable is reconciled, never resent: a create by looking
  the webhook up, an update or delete by reading it back; ``OutcomeUnknown`` when that cannot
  decide.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import difflib
import functools
import inspect
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import attrs

from gateway.checks import did_you_mean
from gateway.codec import etag_of
from gateway.config import AccountConfig, GatewayConfig, load_config
from gateway.destinations import DestinationPolicy
from gateway.errors import (
    DeadlineExceeded,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    NotFound,
    OutcomeUnknown,
    PreconditionFailed,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SchemaNewer,
    StateUnavailable,
)
from gateway.masking import scrub
from gateway.model import (
    EventType,
    ListFilter,
    PingResult,
    Secret,
    Webhook,
    WebhookChange,
    WebhookSpec,
)
from gateway.provider import Capabilities, ListPage, Provider, parse_offset
from gateway.registry import Registry, default_registry
from gateway.store import Store, open_store
from gateway.store.audit import Auditor
from gateway.store.catalogs import CatalogKeeper, catalog_key, decode_catalog, encode_catalog
from gateway.store.held import confirm_held, lost_locks
from gateway.store.sql import newer_message
from gateway.transport import tracing
from gateway.transport.answers import UnreadableRecord
from gateway.transport.collapse import SharedReads
from gateway.transport.http import Transport, within
from gateway.transport.merged_writes import MergedWrites

__all__ = ["Account", "AccountInfo", "Gateway", "Listing", "ListingPage", "change_shows_in"]

#: A catalog read longer ago than this (seconds) is read again when a name is not in it.
UNKNOWN_REREAD = 60.0
#: How long a kept catalog is used without a state store's ``catalog_max_age`` (seconds).
DEFAULT_CATALOG_AGE = 3600.0

log = logging.getLogger("gateway.account")


@attrs.frozen(kw_only=True)
class AccountInfo:
    """A configured account as ``Gateway.accounts()`` lists it."""

    name: str
    provider: str
    title: str
    capabilities: Capabilities


class Account:
    """The client of one configured account. Ids are the provider's ids as strings."""

    def __init__(
        self,
        name: str,
        provider: Provider[Any],
        *,
        store: Store | None = None,
        auditor: Auditor | None = None,
        lock_wait: float = 120.0,
        destinations: DestinationPolicy | None = None,
        audit_required: bool = True,
        catalogs: CatalogKeeper | None = None,
        catalog_max_age: float = DEFAULT_CATALOG_AGE,
    ) -> None:
        self.name = name
        self._audit_required = audit_required
        #: A write and its reconciliation together get the transport's total deadline.
        self._deadline = provider.transport.settings.total_timeout
        self._store, self._auditor, self._lock_wait = store, auditor, lock_wait
        #: Where this account's webhook URLs may point (the gateway's ``[destinations]``).
        self.destinations = destinations or DestinationPolicy()
        self.provider = provider
        self.kind = provider.kind
        self.capabilities = provider.capabilities
        self._catalog: dict[str, EventType] | None = None
        self._catalog_lock = asyncio.Lock()
        self._catalog_read_at = 0.0  # when the catalog in use was read from the provider
        #: Where catalogs are kept between runs and for other replicas (gateway.store.catalogs).
        self._catalogs = catalogs
        self._catalog_key = catalog_key(provider.kind, name, provider.settings)
        self._catalog_max_age = catalog_max_age
        batch = provider.batch_get if provider.capabilities.batch_get else 0
        self._reads: SharedReads[str, Webhook] = SharedReads(provider.get_many, batch)
        self._update_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        #: Changes waiting for a webhook's update lock, written together
        #: (gateway.transport.merged_writes).
        self._merged = MergedWrites(self._locked, self.get, self._update, self._refusal)
        self._where: dict[str, Any] = {"provider": self.kind, "account": name}
        self.unreadable_records = 0  # records skipped by lists because they could not be read
        #: Counts each write's start and end (any write through this client): a read made
        #: while it stayed the same saw every write this process made to the account.
        self.writes = 0

    def __repr__(self) -> str:
        return f"<Account {self.name!r} ({self.kind})>"

    def __getattr__(self, name: str) -> Any:
        # Provider extras (ex_*) are reachable from the account client; those that write
        # (coroutines not named ex_list_* or ex_get_*) are audited like the core writes.
        if not name.startswith("ex_"):
            raise AttributeError(name)
        extra = getattr(self.provider, name)
        if not inspect.iscoroutinefunction(extra) or name.startswith(("ex_list", "ex_get")):
            return extra

        @functools.wraps(extra)
        async def audited(id: str, *args: Any, **kwargs: Any) -> Any:
            change = {"arguments": [*args, *kwargs.values()]}
            async with self._audited(name.removeprefix("ex_"), id, change):
                return await extra(id, *args, **kwargs)

        return audited

    def has_extra(self, name: str) -> bool:
        """Whether the provider offers the extra ``ex_{name}``."""
        return callable(getattr(self.provider, f"ex_{name}", None))

    @property
    def shared_reads(self) -> int:
        """How many ``get`` calls were answered by an identical read's request."""
        return self._reads.shared

    @property
    def info(self) -> AccountInfo:
        return AccountInfo(
            name=self.name,
            provider=self.kind,
            title=self.provider.title,
            capabilities=self.capabilities,
        )

    def canonical_id(self, id: str) -> str:
        """The provider's one spelling of ``id`` (``InvalidRequest`` if it can name nothing)."""
        return self.provider.canonical_id(id)

    # -- reads -------------------------------------------------------------------------------

    def list(
        self,
        *,
        enabled: bool | None = None,
        suspended: bool | None = None,
        event: str | None = None,
        name: str | None = None,
        url: str | None = None,
    ) -> Listing:
        """Every webhook matching all given filters, yielded as the provider's pages arrive.

        A record the provider sent but that cannot be read does not end the list: it is
        logged, counted and kept in the listing's ``unreadable``, and the rest are yielded.
        """
        return Listing(self, ListFilter(enabled=enabled, suspended=suspended, event=event,
                                        name=name, url=url))  # fmt: skip

    async def get(self, id: str) -> Webhook:
        """The webhook ``id``; concurrent reads of it share a request
        (``gateway.transport.collapse``)."""
        id = self.canonical_id(id)
        return await self._reads.run(id, lambda: self.provider.get(id))

    async def event_types(self, *, refresh: bool = False) -> builtins.list[EventType]:
        """The provider's event catalog (cached after the first call unless ``refresh``)."""
        return builtins.list((await self._load_catalog(refresh)).values())

    # -- writes ------------------------------------------------------------------------------

    async def create(self, spec: WebhookSpec) -> Webhook:
        async with self._audited("create", None, spec) as entry:
            webhook = await self._create(spec)
            entry["webhook_id"] = webhook.id
            return webhook

    async def _create(self, spec: WebhookSpec) -> Webhook:
        spec, problems = await self._vetted_spec(spec)
        if problems:
            raise InvalidRequest(problems=problems, **self._where)
        with within(self._deadline):  # the create and the look that may follow, together
            await confirm_held(f"the create of {spec.name!r}")
            try:
                return await self.provider.create(spec)
            except (OutcomeUnknown, ProviderError) as lost:
                # Sent, but the answer was lost or unreadable: look instead of sending it again.
                return await self._reconcile_create(spec, lost)

    async def update(
        self, id: str, change: WebhookChange, *, if_match: Collection[str] | None = None
    ) -> Webhook:
        """Apply ``change``; the result equals ``change.apply`` on the webhook as it was.

        When the provider's answer is lost or unreadable, or it failed in a way that does not
        prove the write was refused, the webhook is read back: if the change shows, the update
        succeeded; if it plainly does not, the original error stands; if the read cannot tell
        (a new secret the provider does not return), ``OutcomeUnknown`` says so.

        ``if_match``: ETags (``gateway.codec.etag_of``, or ``*``) one of which the webhook must
        have, checked on a fresh read under the update lock; else ``PreconditionFailed``.
        """
        # An update that takes the store's lock before it sends has the store answer then: no
        # separate check of it first.
        locked = (self._store is not None and self._store.shared
                  and self._takes_lock(if_match, change))  # fmt: skip
        async with self._audited("update", id, change, checked=locked) as entry:
            id = entry["webhook_id"] = self.canonical_id(id)
            return await self._checked_update(id, change, if_match)

    async def _checked_update(
        self, id: str, change: WebhookChange, if_match: Collection[str] | None
    ) -> Webhook:
        change, problems = await self._vetted_change(change)
        if problems:
            raise InvalidRequest(problems=problems, **self._where)
        if change.is_empty and if_match is None:
            return await self.provider.get(id)
        if not self._takes_lock(if_match, change):
            return await self._update(id, change)
        # Read under the lock, through the shared reads (concurrent updates of different
        # webhooks then read them in one batch, gateway.transport.collapse), sent after the
        # lock was taken, so it sees every write made before; the changes waiting for the same
        # webhook meanwhile go in the same write (gateway.transport.merged_writes).
        return await self._merged.update(id, change, if_match)

    def _refusal(
        self, id: str, state: Webhook | GatewayError, if_match: Collection[str] | None
    ) -> GatewayError | None:
        """What a change with ``if_match`` meets against ``state`` (the webhook, or the error
        its read raised): None when it may be applied."""
        if isinstance(state, GatewayError):
            if if_match is not None and isinstance(state, NotFound):
                return PreconditionFailed(
                    f"webhook {id} does not exist, so it matches no If-Match",
                    **self._where,
                )
            return state
        if if_match is None:
            return None
        try:
            self._check_precondition(state, if_match)
        except PreconditionFailed as exc:
            return exc
        return None

    def _takes_lock(self, if_match: Collection[str] | None, change: WebhookChange) -> bool:
        """Whether an update reads and writes under the webhook's update lock: unless the
        provider writes the change in one call of its own (``Provider.writes_alone``: atomic
        add/remove, or a UiPath change of scalars alone) and no ``If-Match`` asks for a fresh
        read first."""
        return not (if_match is None and self.provider.writes_alone(change))

    def _locked(self, id: str) -> AbstractAsyncContextManager[Any]:
        """Hold webhook ``id`` for a read-modify-write: in this process, and in the state
        store when one is shared by replicas."""
        lock = self._update_locks.get(id)
        if lock is None:
            lock = self._update_locks[id] = asyncio.Lock()
        held: AbstractAsyncContextManager[Any] = lock  # one process: its lock is the lock
        if self._store is not None and self._store.shared:
            held = _Both(lock, self._store.lock(f"{self.kind}/{self.name}/{id}", self._lock_wait))
        return self._traced(held, id) if tracing.enabled() else held

    @contextlib.asynccontextmanager
    async def _traced(self, held: AbstractAsyncContextManager[Any], id: str) -> AsyncIterator[None]:
        """``held``, the wait for it a span of its own."""
        async with contextlib.AsyncExitStack() as stack:
            where = {"webhook_gateway__account": self.name, "webhook_gateway__webhook": id}
            with tracing.span("update lock", webhook_gateway__provider=self.kind, **where):
                await stack.enter_async_context(held)
            yield

    async def _read_for_precondition(self, id: str) -> Webhook:
        try:
            return await self.get(id)
        except NotFound:
            raise PreconditionFailed(
                f"webhook {id} does not exist, so it matches no If-Match", **self._where
            ) from None

    def _check_precondition(self, current: Webhook, if_match: Collection[str]) -> None:
        etag = etag_of(current)
        if "*" not in if_match and etag not in if_match:
            raise PreconditionFailed(
                f"webhook {current.id} has changed: its ETag is {etag}, not the one in If-Match",
                etag=etag,
                **self._where,
            )

    async def _update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        with within(self._deadline):  # the write and the read that may settle it, together
            return await self._update_once(id, change, previous)

    async def _update_once(
        self, id: str, change: WebhookChange, previous: Webhook | None
    ) -> Webhook:
        await confirm_held(f"the update of {id}")
        try:
            updated = await self.provider.update(id, change, previous)
        except (ProviderUnavailable, RateLimited) as failed:
            if not _maybe_applied(failed):
                raise
            try:
                current = await self.provider.get(id)
            except GatewayError:
                raise _unknown(
                    failed,
                    f"update of {id}: {failed.message}; reading it back "
                    "failed too, so whether the change took effect is unknown",
                    self._where,
                ) from None
            applied = change_shows_in(change, current)
            if applied is True:
                log.info(
                    "update confirmed by reading back",
                    extra={**self._where, "id": id, "error": type(failed).__name__},
                )
                updated = current
            elif applied is False:
                raise
            else:
                raise _unknown(
                    failed,
                    f"update of {id}: {failed.message}; the webhook was read back but its "
                    "secret is not readable, so whether the new secret took effect is unknown",
                    self._where,
                ) from None
        lost = await lost_locks()
        if lost:
            raise await self._written_unlocked(id, change, lost)
        return updated

    async def _written_unlocked(
        self, id: str, change: WebhookChange, lost: builtins.list[str]
    ) -> OutcomeUnknown:
        """The error for an update sent while its lock was lost: another replica may have
        written the webhook at the same time, so a success is not claimed; what a read shows
        now is said."""
        try:
            shows = change_shows_in(change, await self.provider.get(id))
        except GatewayError:
            shows = None
        now = _READ_BACK[shows]
        log.warning("update sent while its lock was lost", extra={**self._where, "id": id})
        return OutcomeUnknown(
            f"update of {id}: sent, but the lock of {', '.join(lost)} was lost while it ran, "
            f"so another replica may have changed the webhook at the same time; read back now, "
            f"it {now}",
            **self._where,
        )

    async def delete(self, id: str, *, if_match: Collection[str] | None = None) -> None:
        """Delete webhook ``id``; with ``if_match``, only if it has one of those ETags."""
        async with self._audited("delete", id, None) as entry:
            id = entry["webhook_id"] = self.canonical_id(id)
            if if_match is None:
                return await self._delete(id)
            async with self._locked(id):
                self._check_precondition(await self._read_for_precondition(id), if_match)
                await self._delete(id)

    async def _delete(self, id: str) -> None:
        await confirm_held(f"the delete of {id}")
        try:
            await self.provider.delete(id)
        except (ProviderUnavailable, RateLimited) as failed:
            if not _maybe_applied(failed):
                raise
            try:
                await self.provider.get(id)
            except NotFound:
                return  # it is gone: the delete took effect
            except GatewayError:
                raise _unknown(
                    failed,
                    f"delete of {id}: {failed.message}; reading it back "
                    "failed too, so whether it was deleted is unknown",
                    self._where,
                ) from None
            raise

    async def ping(self, id: str) -> PingResult:
        async with self._audited("ping", id, None) as entry:
            id = entry["webhook_id"] = self.canonical_id(id)
            return await self.provider.ping(id)

    async def trigger_custom(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Have the provider send a custom event with ``data`` (a JSON object) to its webhooks
        that take custom events (UiPath's ``TriggerCustom``), so a receiver can be tested end to
        end with a real, signed event; the provider's record of the event. ``Unsupported``
        where the provider has no such thing. Audited (the data's keys, not its values)."""
        if not self.has_extra("trigger_custom"):
            raise self.provider.unsupported("trigger_custom", "it sends no custom events")
        async with self._audited("trigger_custom", None, {"event_data": sorted(data)}):
            event: dict[str, Any] = await self.provider.ex_trigger_custom(data)  # type: ignore[attr-defined]
            return event

    async def unsuspend(self, id: str) -> None:
        async with self._audited("unsuspend", id, None) as entry:
            id = entry["webhook_id"] = self.canonical_id(id)
            await confirm_held(f"the unsuspend of {id}")
            await self.provider.unsuspend(id)

    @contextlib.asynccontextmanager
    async def _audited(
        self, operation: str, webhook_id: str | None, change: Any, *, checked: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Record the write made in the block in the audit log (when a store is configured);
        the block may set ``entry["webhook_id"]`` once it knows the id. ``checked``: the block
        reaches the store itself before it sends anything (its update lock)."""
        self.writes += 1  # a write began: what was read before it may be out of date
        try:
            entry: dict[str, Any] = {"webhook_id": webhook_id}
            if self._auditor is None:
                yield entry
                return
            try:  # no write the audit log cannot take: refused before anything is sent
                if not checked:
                    await self._auditor.ready()
            except StateUnavailable as exc:
                if self._audit_required:
                    raise StateUnavailable(
                        f"the state store cannot audit this write now, so it was not sent ({exc}); "
                        '[state] audit = "best-effort" writes anyway',
                        **self._where,
                    ) from None
                self._auditor.unaudited += 1
                log.error(
                    "writing without an audit entry: the state store is unavailable",
                    extra={**self._where, "operation": operation, "id": webhook_id},
                )
                yield entry
                return
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                yield entry
            except BaseException as exc:
                error = exc
                if isinstance(exc, GatewayError):
                    _scrub_known(exc, change)
                raise
            finally:
                await self._auditor.record(
                    account=self.name,
                    provider=self.kind,
                    operation=operation,
                    webhook_id=entry["webhook_id"],
                    change=change,
                    started=started,
                    error=error,
                )
        finally:
            self.writes += 1  # and ended

    # -- shared rules ------------------------------------------------------------------------

    def _too_long(
        self, thing: WebhookSpec | WebhookChange, skip: Collection[str]
    ) -> builtins.list[FieldProblem]:
        """A problem for each text field longer than the provider stores
        (``Capabilities.max_lengths``)."""
        problems = []
        for field, most in self.capabilities.max_lengths:
            value = getattr(thing, field, None)
            text = value.reveal() if isinstance(value, Secret) else value
            if field not in skip and isinstance(text, str) and len(text) > most:
                problems.append(FieldProblem(
                    field, f"must be at most {most} characters at {self.provider.title} "
                    f"({len(text)} given)",
                ))  # fmt: skip
        return problems

    def _unstorable(self, paths: Mapping[str, str]) -> builtins.list[FieldProblem]:
        """A problem for each ``{path: model field}`` the provider cannot store."""
        stored = self.capabilities.fields | {"name", "url", "events"}
        stored |= {f"extras.{k}" for k in self.capabilities.extras}
        return [
            FieldProblem(
                path, f"{self.kind} cannot store {field}; remove it (it would otherwise be lost)"
            )
            for path, field in sorted(paths.items())
            if field not in stored
        ]

    async def input_problems(
        self, thing: WebhookSpec | WebhookChange, *, skip: Collection[str] = ()
    ) -> builtins.list[FieldProblem]:
        """Every problem this account finds with a create's spec or an update's change (what
        the provider cannot store, destinations the policy refuses, unknown events), all at
        once; fields in ``skip`` (already found wrong, given a stand-in value) are not
        looked at."""
        if isinstance(thing, WebhookSpec):
            _, problems = await self._vetted_spec(thing, skip)
        else:
            _, problems = await self._vetted_change(thing, skip)
        return problems

    async def _vetted_spec(
        self, spec: WebhookSpec, skip: Collection[str] = ()
    ) -> tuple[WebhookSpec, builtins.list[FieldProblem]]:
        """``spec`` with its events in the catalog's spelling, and every problem found."""
        paths = {f: f for f in spec.set_fields()} | spec.extra_paths()
        problems = self._unstorable({p: f for p, f in paths.items() if p not in skip})
        problems += self._too_long(spec, skip)
        if "url" not in skip:
            problems += await self.destinations.problems_of(spec)
        events, unknown = await self._events_or_problem(spec.events, "events")
        problems += unknown
        if not unknown and "events" not in skip:
            try:
                self.provider.check_event_count(frozenset(events), spec.all_events, "events")
            except InvalidRequest as exc:
                problems += exc.problems
        if events != spec.events:  # ``evolve`` validates the whole spec again: only then
            spec = attrs.evolve(spec, events=events)
        return spec, problems

    async def _vetted_change(
        self, change: WebhookChange, skip: Collection[str] = ()
    ) -> tuple[WebhookChange, builtins.list[FieldProblem]]:
        """``change`` with its events in the catalog's spelling, and every problem found."""
        touched = {p: f for p, f in change.touched_paths().items() if p not in skip}
        problems = self._unstorable(touched)
        problems += self._too_long(change, skip)
        if "url" not in skip:
            problems += await self.destinations.problems_of(change)
        add, unknown_add = await self._events_or_problem(change.add_events, "add_events")
        remove, unknown_remove = await self._events_or_problem(
            change.remove_events, "remove_events"
        )
        problems += unknown_add + unknown_remove
        max_events = self.capabilities.max_events
        if not unknown_add and max_events is not None and len(add) > max_events:
            # More additions than a webhook may hold can never succeed; the exact count after
            # the change is the adapter's to check, as only it sees the previous state.
            try:
                self.provider.check_event_count(add, change.all_events is True, "add_events")
            except InvalidRequest as exc:
                problems += exc.problems
        if add != change.add_events or remove != change.remove_events:  # not yet canonical
            change = attrs.evolve(change, add_events=add, remove_events=remove)
        return change, problems

    async def _events_or_problem(
        self, names: Iterable[str], path: str
    ) -> tuple[frozenset[str], builtins.list[FieldProblem]]:
        try:
            return await self._canonical_events(names, path), []
        except InvalidRequest as exc:
            if exc.status is not None:  # the provider's own refusal (its catalog's read)
                raise
            return frozenset(names), builtins.list(exc.problems)

    def _catalog_fresh(self) -> bool:
        return time.time() - self._catalog_read_at <= self._catalog_max_age

    async def _load_catalog(self, refresh: bool = False) -> dict[str, EventType]:
        """The catalog: this process's while fresh, else the one kept (in the store, or the
        command line's cache files) while fresh, else the provider's, then kept
        (gateway.store.catalogs)."""
        if self._catalog is not None and not refresh and self._catalog_fresh():
            return self._catalog
        async with self._catalog_lock:
            if self._catalog is not None and not refresh and self._catalog_fresh():
                return self._catalog
            if not refresh and await self._kept_catalog():
                assert self._catalog is not None
                return self._catalog
            types = await self.provider.event_types()
            self._catalog = {t.name.casefold(): t for t in types}
            self._catalog_read_at = time.time()
            if self._catalogs is not None:
                try:
                    await self._catalogs.save_catalog(
                        self._catalog_key, encode_catalog(types), self._catalog_read_at
                    )
                except GatewayError as exc:  # kept for the next run: this one has it
                    log.warning("the event catalog could not be kept",
                                extra={**self._where, "error": str(exc)})  # fmt: skip
            return self._catalog

    async def _kept_catalog(self) -> bool:
        """Take the catalog kept by an earlier run or another replica, if fresh."""
        if self._catalogs is None or self._catalog_max_age <= 0:
            return False
        try:
            kept = await self._catalogs.catalog(self._catalog_key)
        except GatewayError as exc:
            log.warning("the kept event catalog could not be read",
                        extra={**self._where, "error": str(exc)})  # fmt: skip
            return False
        if kept is None or time.time() - kept[1] > self._catalog_max_age:
            return False
        types = decode_catalog(kept[0])
        if types is None:
            return False
        self._catalog = {t.name.casefold(): t for t in types}
        self._catalog_read_at = kept[1]
        return True

    async def canonical_events(self, names: Iterable[str], path: str) -> frozenset[str]:
        """``names`` in the catalog's spelling; ``InvalidRequest`` at ``path`` for names a
        strict catalog lacks (see ``_canonical_events``)."""
        return await self._canonical_events(names, path)

    async def _canonical_events(self, names: Iterable[str], path: str) -> frozenset[str]:
        """``names`` in the catalog's spelling; unknown ones refused (a strict catalog) or
        passed on as written with a warning (a provider whose tenants add events).

        However many names are unknown, the answer stays small: one problem for the field,
        naming at most ``SHOWN_UNKNOWN`` of them with close matches, and a count of the rest.
        """
        names = sorted(names)
        if not names:
            return frozenset()
        catalog = await self._load_catalog()
        canonical, unknown = _spelled(names, catalog)
        if unknown and time.time() - self._catalog_read_at > UNKNOWN_REREAD:
            # a name the catalog lacks: the tenant may have a new event since it was read
            catalog = await self._load_catalog(refresh=True)
            canonical, unknown = _spelled(names, catalog)
        if not unknown:
            return frozenset(canonical)
        if not self.provider.strict_events:
            log.warning(
                "event names outside the known catalog are passed on as written: %s",
                ", ".join(unknown[:SHOWN_UNKNOWN])
                + (" ..." if len(unknown) > SHOWN_UNKNOWN else ""),
                extra={**self._where, "count": len(unknown)},
            )
            return frozenset(canonical | set(unknown))
        raise InvalidRequest(problems=[self._unknown_events(unknown, catalog, path)],
                             **self._where)  # fmt: skip

    def _unknown_events(
        self, unknown: builtins.list[str], catalog: Mapping[str, EventType], path: str
    ) -> FieldProblem:
        shown = []
        for name in unknown[:SHOWN_UNKNOWN]:
            # difflib's work grows with both lengths: only short names are compared
            close = (
                difflib.get_close_matches(name.casefold(), builtins.list(catalog), n=2, cutoff=0.6)
                if len(name) <= 100
                else []
            )
            hint = (
                f" (did you mean {' or '.join(catalog[c].name for c in close)}?)" if close else ""
            )
            shown.append(f"{name[:100]!r}{hint}")
        rest = len(unknown) - len(shown)
        more = f" and {rest} more" if rest else ""
        return FieldProblem(
            path,
            f"unknown event{'s' if len(unknown) > 1 else ''} {', '.join(shown)}{more}; "
            f"the {len(catalog)} valid names are listed by "
            f"GET /v1/accounts/{self.name}/event-types (or `webhook-gateway event-types "
            f"{self.name}`)",
        )

    async def _reconcile_create(self, spec: WebhookSpec, lost: GatewayError) -> Webhook:
        """The create's answer was lost: find what it made, instead of sending it again."""
        try:
            found = [
                wh
                async for wh in self.list(name=spec.name, url=spec.url)
                if wh.events == spec.events
            ]
        except Exception:
            raise _unknown(
                lost,
                f"create of {spec.name!r}: {lost.message}; looking it up "
                "failed too, so whether it was created is unknown",
                self._where,
            ) from None
        if len(found) == 1:
            log.info("create reconciled by looking it up", extra={**self._where, "id": found[0].id})
            return found[0]
        if not found:
            raise OutcomeUnknown(
                f"create of {spec.name!r}: the answer was lost and no such webhook exists now; "
                "it is safe to try again",
                **self._where,
            ) from None
        ids = ", ".join(wh.id for wh in found)
        raise OutcomeUnknown(
            f"create of {spec.name!r}: the answer was lost and several webhooks match ({ids})",
            **self._where,
        ) from None


#: What a read after an update sent without its lock shows (``change_shows_in``'s answer).
_READ_BACK: dict[bool | None, str] = {
    True: "shows the change",
    False: "does not show the change",
    None: "could not tell",
}


def _scrub_known(error: GatewayError, change: Any) -> None:
    """Mask in ``error``'s text the secret values a write carried (its secret, the alert
    endpoint's, header values) where a provider's answer quoted them: before the error is
    stored in the audit log, logged or answered."""
    found: builtins.list[str] = []
    for item in (change, getattr(getattr(change, "failure_handling", None), "alert_endpoint",
                                 None)):  # fmt: skip
        secret = getattr(item, "secret", None)
        if isinstance(secret, Secret):
            found.append(secret.reveal())
        for headers in (getattr(item, "headers", None), getattr(item, "add_headers", None)):
            if isinstance(headers, Mapping):
                found += [value for values in headers.values() for value in values]
    if found:
        error.message = scrub(error.message, found)
        error.args = (error.message,)


def _spelled(
    names: Iterable[str], catalog: Mapping[str, EventType]
) -> tuple[set[str], builtins.list[str]]:
    """``names`` the catalog knows, in its spelling, and those it lacks."""
    canonical, unknown = set(), []
    for name in names:
        known = catalog.get(name.casefold())
        if known is not None:
            canonical.add(known.name)
        else:
            unknown.append(name)
    return canonical, unknown


class _Both:
    """This process's lock of a webhook, then the store's (``Account._locked``): a class, as
    every update takes it."""

    __slots__ = ("_local", "_shared")

    def __init__(self, local: asyncio.Lock, shared: AbstractAsyncContextManager[Any]) -> None:
        self._local, self._shared = local, shared

    async def __aenter__(self) -> None:
        await self._local.acquire()
        try:
            await self._shared.__aenter__()
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._shared.__aexit__(*exc)
        finally:
            self._local.release()


@attrs.frozen
class ListingPage:
    """One page of a listing (``Listing.page``): the ``webhooks``, and ``next``, the position
    where the next page starts (None: the listing ended)."""

    webhooks: builtins.list[Webhook]
    next: str | None
    #: What the provider's page held after these (it starts at ``next``), when the page was
    #: read larger than asked for (``read_size``): the next page's first provider page.
    rest: ListPage | None = attrs.field(default=None, eq=False, repr=False)


class Listing:
    """The webhooks of one ``Account.list`` call: an async iterator of ``Webhook``, or pages of
    it (``page``).

    ``unreadable`` collects the records the provider sent that could not be read (each an
    ``UnreadableRecord`` saying why), so a caller can report them beside the rest.
    """

    def __init__(self, account: Account, flt: ListFilter) -> None:
        self._account = account
        self._filter = flt
        self._canonical = flt.event is None
        self._source: AsyncIterator[Webhook | UnreadableRecord] | None = None
        self.unreadable: builtins.list[UnreadableRecord] = []

    def __aiter__(self) -> Listing:
        return self

    async def __anext__(self) -> Webhook:
        if self._source is None:  # the provider's own iterator: no layer of ours per record
            self._source = self._account.provider.list(await self._canonical_filter())
        while True:
            record = await anext(self._source)
            if isinstance(record, UnreadableRecord):
                self._skip(record)
            elif self._filter.matches(record):
                return record

    async def page(
        self,
        position: str | None,
        limit: int,
        *,
        read_size: int | None = None,
        first: ListPage | None = None,
    ) -> ListingPage:
        """Up to ``limit`` matching webhooks from ``position`` (None: the start).

        A provider that can start a listing at a position (``capabilities.resumable_list``)
        is asked for one page from there, sized to ``limit`` (or ``read_size``, when larger:
        what the page leaves of it is its ``rest``): a page costs the same whatever its number.
        ``first``: a provider page already read at ``position`` (an earlier page's ``rest``),
        used before asking for more. Another provider is read from its start and the first
        ``position`` matches are skipped (a page then costs what all pages before it cost).
        ``next`` may lead to an empty page when the last records of the listing do not match a
        filter applied here.
        """
        flt = await self._canonical_filter()
        if not self._account.capabilities.resumable_list:
            return await self._counted_page(position, limit)
        webhooks: builtins.list[Webhook] = []
        size = max(limit, read_size or 0)
        got = first
        while True:
            if got is None:
                got = await self._account.provider.list_page(flt, position, size)
            last = len(got.records) - 1
            for i, (record, after) in enumerate(zip(got.records, got.positions, strict=True)):
                if isinstance(record, UnreadableRecord):
                    self._skip(record)
                elif flt.matches(record):
                    webhooks.append(record)
                    if len(webhooks) == limit:
                        if i == last:
                            return ListingPage(webhooks, got.next)
                        rest = ListPage(got.records[i + 1 :], got.positions[i + 1 :], got.next)
                        return ListingPage(webhooks, after, rest)
            if got.next is None or (not got.records and got.next == position):
                return ListingPage(webhooks, None)
            position, got = got.next, None

    async def _counted_page(self, position: str | None, limit: int) -> ListingPage:
        """A page of a provider without positions: the position counts the matches before it."""
        skip = parse_offset(position, self._account.kind)
        webhooks: builtins.list[Webhook] = []
        seen = 0
        try:
            async for webhook in self:
                seen += 1
                if seen <= skip:
                    continue
                if len(webhooks) == limit:  # one more than a page: there is a next page
                    return ListingPage(webhooks, str(skip + limit))
                webhooks.append(webhook)
        finally:
            await self.aclose()
        return ListingPage(webhooks, None)

    async def _canonical_filter(self) -> ListFilter:
        if not self._canonical and self._filter.event is not None:
            (event,) = await self._account._canonical_events([self._filter.event], "event")
            self._filter = attrs.evolve(self._filter, event=event)
            self._canonical = True
        return self._filter

    def _skip(self, record: UnreadableRecord) -> None:
        self.unreadable.append(record)
        self._account.unreadable_records += 1
        log.warning(
            "a listed record could not be read; the list goes on without it",
            extra={**self._account._where, "id": record.id, "problem": record.problem},
        )

    async def aclose(self) -> None:
        if self._source is not None:
            await self._source.aclose()  # type: ignore[attr-defined]


#: How many unknown event names one problem names (the rest are counted).
SHOWN_UNKNOWN = 5


def _maybe_applied(error: GatewayError) -> bool:
    """Whether a failed write may still have taken effect at the provider.

    Not when nothing was sent (no status: connection refused) or the provider's answer says it
    refused; yes when the answer was lost, unreadable, a 5xx, or a 429 after earlier attempts.
    """
    if isinstance(error, OutcomeUnknown | ProviderError | DeadlineExceeded):
        return True
    return error.status is not None and (error.status >= 500 or error.status == 429)


def _unknown(cause: GatewayError, message: str, where: Mapping[str, Any]) -> OutcomeUnknown:
    return OutcomeUnknown(message, **where, status=cause.status, trace_id=cause.trace_id)


def change_shows_in(change: WebhookChange, webhook: Webhook) -> bool | None:
    """Whether everything ``change`` sets is true of ``webhook`` (None: cannot tell).

    ``apply`` is idempotent, so a webhook the change has reached is its own result. A secret
    the provider does not return cannot be compared: if that is the only doubt, None.
    """
    expected = change.apply(webhook)
    if "secret" not in change.set_fields() or webhook.secret is not None:
        return expected == webhook
    rest_equal = attrs.evolve(expected, secret=None, secret_state=webhook.secret_state) == webhook
    if not rest_equal:
        return False
    if expected.secret_state != webhook.secret_state:
        return False
    return None if expected.secret_state == "set" else True  # noqa: S105 - a state


async def _schema_current(store: Store) -> None:
    """``StateUnavailable`` unless ``store``'s schema is this release's (``[state] migrate =
    "manual"``: the gateway waits for ``webhook-gateway migrate``)."""
    current, expected = await store.schema()
    if current > expected:
        raise SchemaNewer(newer_message(current, expected))
    if current < expected:
        raise StateUnavailable(f"the state store's schema is version {current}, this release "
                               f"needs {expected}: run `webhook-gateway migrate` ([state] "
                               'migrate = "manual")')  # fmt: skip


class Gateway:
    """One configuration, one HTTP session, one adapter per account. Use ``async with``."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        registry: Registry | None = None,
        transport: Transport | None = None,
        catalogs: CatalogKeeper | None = None,
    ) -> None:
        """``catalogs``: where event catalogs are kept without a state store (the command
        line's cache files, ``gateway.store.catalogs``); with one, they are kept there."""
        self.config = config
        self._registry = registry or default_registry()
        self._catalogs = catalogs
        self.transport = transport or Transport(config.http)
        self._accounts: dict[str, Account] = {}
        self._opened = False
        #: The state store of ``[state]`` (None without it), open while the gateway is.
        self.store: Store | None = None
        self.auditor: Auditor | None = None

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        registry: Registry | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Gateway:
        """A Gateway for the TOML file at ``path`` (``ConfigError`` lists what is wrong)."""
        return cls(load_config(path, registry=registry, env=env), registry=registry)

    async def __aenter__(self) -> Gateway:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._opened:
            return
        if self.config.state is not None:
            store = open_store(self.config.state)
            try:
                auto = self.config.state.migrate == "auto"
                await store.open(migrate=auto)
                if not auto:
                    await _schema_current(store)
                auditor = Auditor(store)
                await auditor.open()
            except BaseException:
                await store.close()
                raise
            self.store, self.auditor = store, auditor
        lock_wait = 2 * self.config.http.total_timeout
        for name, account in self.config.accounts.items():
            # every replica's requests to the provider count in one budget, in the store
            self.transport.configure_budget(name, account.rate_limit, self.store)
            self._accounts[name] = Account(
                name,
                self._provider(account),
                store=self.store,
                auditor=self.auditor,
                lock_wait=lock_wait,
                destinations=self.config.destinations,
                audit_required=self.config.state is None or self.config.state.audit == "required",
                catalogs=self.store or self._catalogs,
                catalog_max_age=(self.config.state.catalog_max_age if self.config.state
                                 else DEFAULT_CATALOG_AGE),
            )  # fmt: skip
        self._opened = True

    async def close(self) -> None:
        accounts, self._accounts, self._opened = self._accounts, {}, False
        await asyncio.gather(*(a.provider.close() for a in accounts.values()))
        await self.transport.close()
        store, self.store, self.auditor = self.store, None, None
        if store is not None:
            await store.close()

    async def prune(self) -> int:
        """Drop idempotency records and audit entries past their retention (the proxy runs
        this hourly); how many went. Without a store, 0."""
        if self.store is None or self.config.state is None:
            return 0
        days = self.config.state.audit_retention_days
        return await self.store.prune(time.time(), days * 86400)

    def _provider(self, account: AccountConfig) -> Provider[Any]:
        cls = self._registry.load(account.provider, path=f"accounts.{account.name}.provider")
        return cls(account.name, account.settings, self.transport)

    def account(self, name: str) -> Account:
        """The client of account ``name``; ``NotFound`` lists the configured names."""
        if not self._opened:
            raise RuntimeError("use the Gateway as `async with Gateway(...) as gw:` first")
        try:
            return self._accounts[name]
        except KeyError:
            known = ", ".join(sorted(self._accounts)) or "none"
            hint = did_you_mean(name, self._accounts)
            raise NotFound(f"no account named {name!r}{hint} (configured: {known})") from None

    def accounts(self) -> list[AccountInfo]:
        """Every configured account with its provider kind and capabilities."""
        return [self.account(name).info for name in sorted(self.config.accounts)]
