"""The facade: ``Gateway`` owns the transport and one adapter per account; ``Account`` is the
client a service uses.

::

    async with Gateway.from_config("gateway.toml") as gw:
        acct = gw.account("uipath-prod")
        async for wh in acct.list(enabled=True, event="job.completed"): ...

``Account`` applies the rules every provider shares, before any network write:

* a setting the provider cannot store is rejected with its field path, never dropped;
* event names are matched case-insensitively against the provider's catalog (fetched once, then
  cached; ``event_types(refresh=True)`` refetches) and passed on in the provider's spelling;
  an unknown name is rejected, naming close matches and the valid names;
* the per-webhook event-count limits of the provider hold;
* reads of one webhook that start together share one provider request, never a stale answer
  (``gateway.collapse``);
* updates of one webhook are serialized when the provider can only replace whole records, so
  concurrent changes are not lost;
* a create whose answer was lost is reconciled by looking the webhook up, never by resending.
"""

from __future__ import annotations

import asyncio
import builtins
import difflib
import os
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import attrs

from gateway.collapse import SharedReads
from gateway.config import AccountConfig, GatewayConfig, load_config
from gateway.errors import FieldProblem, InvalidRequest, NotFound, OutcomeUnknown
from gateway.http import Transport
from gateway.model import (
    EventType,
    ListFilter,
    PingResult,
    Webhook,
    WebhookChange,
    WebhookSpec,
)
from gateway.provider import Capabilities, Provider
from gateway.registry import Registry, default_registry

__all__ = ["Account", "AccountInfo", "Gateway"]


@attrs.frozen(kw_only=True)
class AccountInfo:
    """A configured account as ``Gateway.accounts()`` lists it."""

    name: str
    provider: str
    title: str
    capabilities: Capabilities


class Account:
    """The client of one configured account. Ids are the provider's ids as strings."""

    def __init__(self, name: str, provider: Provider[Any]) -> None:
        self.name = name
        self.provider = provider
        self.kind = provider.kind
        self.capabilities = provider.capabilities
        self._catalog: dict[str, EventType] | None = None
        self._catalog_lock = asyncio.Lock()
        self._reads: SharedReads[Webhook] = SharedReads()
        self._update_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        return f"<Account {self.name!r} ({self.kind})>"

    def __getattr__(self, name: str) -> Any:
        # Provider extras (ex_*) are reachable from the account client.
        if name.startswith("ex_"):
            return getattr(self.provider, name)
        raise AttributeError(name)

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

    # -- reads -------------------------------------------------------------------------------

    async def list(
        self,
        *,
        enabled: bool | None = None,
        suspended: bool | None = None,
        event: str | None = None,
        name: str | None = None,
        url: str | None = None,
    ) -> AsyncIterator[Webhook]:
        """Every webhook matching all given filters, yielded as the provider's pages arrive."""
        if event is not None:
            (event,) = await self._canonical_events([event], "event")
        flt = ListFilter(enabled=enabled, suspended=suspended, event=event, name=name, url=url)
        async for webhook in self.provider.list(flt):
            if flt.matches(webhook):
                yield webhook

    async def get(self, id: str) -> Webhook:
        """The webhook ``id``; concurrent reads of it share a request (``gateway.collapse``)."""
        id = _check_id(id)
        return await self._reads.run(id, lambda: self.provider.get(id))

    async def event_types(self, *, refresh: bool = False) -> builtins.list[EventType]:
        """The provider's event catalog (cached after the first call unless ``refresh``)."""
        return builtins.list((await self._load_catalog(refresh)).values())

    # -- writes ------------------------------------------------------------------------------

    async def create(self, spec: WebhookSpec) -> Webhook:
        self._reject_unstorable({f: f for f in spec.set_fields()})
        events = await self._canonical_events(spec.events, "events")
        self.provider.check_event_count(frozenset(events), spec.all_events, "events")
        spec = attrs.evolve(spec, events=events)
        try:
            return await self.provider.create(spec)
        except OutcomeUnknown as lost:
            return await self._reconcile_create(spec, lost)

    async def update(self, id: str, change: WebhookChange) -> Webhook:
        """Apply ``change``; the result equals ``change.apply`` on the webhook as it was."""
        id = _check_id(id)
        self._reject_unstorable(change.touched_paths())
        add = await self._canonical_events(change.add_events, "add_events")
        remove = await self._canonical_events(change.remove_events, "remove_events")
        max_events = self.capabilities.max_events
        if max_events is not None and len(add) > max_events:
            # More additions than a webhook may hold can never succeed; the exact count after
            # the change is the adapter's to check, as only it sees the previous state.
            self.provider.check_event_count(add, change.all_events is True, "add_events")
        change = attrs.evolve(change, add_events=add, remove_events=remove)
        if change.is_empty:
            return await self.provider.get(id)
        if self.capabilities.atomic_update:
            return await self.provider.update(id, change)
        lock = self._update_locks.get(id)
        if lock is None:
            lock = self._update_locks[id] = asyncio.Lock()
        async with lock:
            return await self.provider.update(id, change)

    async def delete(self, id: str) -> None:
        await self.provider.delete(_check_id(id))

    async def ping(self, id: str) -> PingResult:
        return await self.provider.ping(_check_id(id))

    async def unsuspend(self, id: str) -> None:
        await self.provider.unsuspend(_check_id(id))

    # -- shared rules ------------------------------------------------------------------------

    def _reject_unstorable(self, paths: Mapping[str, str]) -> None:
        """Reject input whose ``{path: model field}`` names a field the provider cannot store."""
        stored = self.capabilities.fields | {"name", "url", "events"}
        problems = [
            FieldProblem(
                path, f"{self.kind} cannot store {field}; remove it (it would otherwise be lost)"
            )
            for path, field in sorted(paths.items())
            if field not in stored
        ]
        if problems:
            raise InvalidRequest(problems=problems, provider=self.kind, account=self.name)

    async def _load_catalog(self, refresh: bool = False) -> dict[str, EventType]:
        if self._catalog is not None and not refresh:
            return self._catalog
        async with self._catalog_lock:
            if self._catalog is None or refresh:
                types = await self.provider.event_types()
                self._catalog = {t.name.casefold(): t for t in types}
            return self._catalog

    async def _canonical_events(self, names: Iterable[str], path: str) -> frozenset[str]:
        names = list(names)
        if not names:
            return frozenset()
        catalog = await self._load_catalog()
        problems = []
        canonical = set()
        for name in sorted(names):
            known = catalog.get(name.casefold())
            if known is not None:
                canonical.add(known.name)
                continue
            valid = sorted(t.name for t in catalog.values())
            close = difflib.get_close_matches(name.casefold(), list(catalog), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(catalog[c].name for c in close)}?" if close else ""
            problems.append(
                FieldProblem(
                    path, f"unknown event {name!r}{hint} (valid: {', '.join(valid) or 'none'})"
                )
            )
        if problems:
            raise InvalidRequest(problems=problems, provider=self.kind, account=self.name)
        return frozenset(canonical)

    async def _reconcile_create(self, spec: WebhookSpec, lost: OutcomeUnknown) -> Webhook:
        """The create's answer was lost: find what it made, instead of sending it again."""
        try:
            found = [
                wh
                async for wh in self.provider.list(ListFilter(name=spec.name, url=spec.url))
                if wh.name == spec.name and wh.url == spec.url and wh.events == spec.events
            ]
        except Exception:
            raise lost from None
        if len(found) == 1:
            return found[0]
        where: dict[str, Any] = {"provider": self.kind, "account": self.name}
        if not found:
            raise OutcomeUnknown(
                f"create of {spec.name!r}: the answer was lost and no such webhook exists now; "
                "it is safe to try again",
                **where,
            ) from None
        ids = ", ".join(wh.id for wh in found)
        raise OutcomeUnknown(
            f"create of {spec.name!r}: the answer was lost and several webhooks match ({ids})",
            **where,
        ) from None


def _check_id(id: str) -> str:
    if not isinstance(id, str) or not id.strip():
        raise InvalidRequest.at("id", "must be a non-empty string")
    return id


class Gateway:
    """One configuration, one HTTP session, one adapter per account. Use ``async with``."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        registry: Registry | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.config = config
        self._registry = registry or default_registry()
        self.transport = transport or Transport(config.http)
        self._accounts: dict[str, Account] = {}
        self._opened = False

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
        for name, account in self.config.accounts.items():
            self._accounts[name] = Account(name, self._provider(account))
        self._opened = True

    async def close(self) -> None:
        accounts, self._accounts, self._opened = self._accounts, {}, False
        await asyncio.gather(*(a.provider.close() for a in accounts.values()))
        await self.transport.close()

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
            raise NotFound(f"no account named {name!r}; configured: {known}") from None

    def accounts(self) -> list[AccountInfo]:
        """Every configured account with its provider kind and capabilities."""
        return [self.account(name).info for name in sorted(self.config.accounts)]
