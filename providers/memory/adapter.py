"""The reference provider: every capability, in memory, raising the real errors.

It is the first target of the conformance suite and the backend of the core's and the proxy's
tests, so its behaviour is the contract in its plainest form: ids are increasing integers as
text, names are unique (a duplicate is ``Conflict``), ``list`` pages through a snapshot, and
``ex_suspend`` stands in for a provider's circuit breaker suspending a failing webhook.

With ``path``, the webhooks are kept in that JSON file (mode 0600: it holds their secrets, as a
provider's database would), read when the account opens and rewritten whole, atomically, after
each write: enough to try the command line across commands. One process at a time.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import attrs

from gateway.checks import check
from gateway.codec import spec_from_json, webhook_to_json
from gateway.errors import ConfigError, Conflict, FieldProblem, NotFound
from gateway.model import EventType, ListFilter, PingResult, Webhook, WebhookChange, WebhookSpec
from gateway.provider import (
    OPTIONAL_FIELDS,
    Capabilities,
    ListPage,
    Provider,
    offset_page,
    parse_offset,
)
from gateway.transport.answers import UnreadableRecord
from gateway.transport.http import Transport

#: The keys of a stored record that make up its spec (the rest is the provider's state).
_SPEC_KEYS = ("name", "url", "enabled", "events", "all_events", "secret", "description",
              "headers", "allow_insecure_ssl", "failure_handling", "extras")  # fmt: skip

DEFAULT_EVENTS = (
    "invoice.created",
    "invoice.paid",
    "invoice.voided",
    "order.cancelled",
    "order.created",
    "order.shipped",
)


@attrs.frozen(kw_only=True)
class MemorySettings:
    """Keys of a ``provider = "memory"`` account."""

    page_size: int = attrs.field(
        default=100, validator=check(lambda v: 1 <= v <= 1000, "must be from 1 to 1000")
    )
    event_types: tuple[str, ...] = attrs.field(
        default=DEFAULT_EVENTS, validator=check(bool, "must name at least one event")
    )
    #: A JSON file to keep the webhooks in between runs (relative: to the working directory).
    path: str | None = None


class MemoryProvider(Provider[MemorySettings]):
    """In-memory webhooks; one store per account."""

    kind = "memory"
    title = "In-memory reference provider"
    docs_url = "https://github.com/webhook-gateway/webhook-gateway/blob/main/docs/providers.md"
    settings_type = MemorySettings
    capabilities = Capabilities(
        fields=frozenset(OPTIONAL_FIELDS),
        atomic_update=True,
        server_filters=frozenset({"enabled", "suspended", "event", "name", "url"}),
        reports_secret=True,
    )

    def __init__(self, account: str, settings: MemorySettings, transport: Transport) -> None:
        super().__init__(account, settings, transport)
        self._hooks: dict[str, Webhook] = {}
        self._next_id = 1
        self.pings: list[tuple[str, PingResult]] = []
        if settings.path is not None:
            self._load(Path(settings.path))

    # -- the file of ``path`` ----------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise ConfigError(
                problems=[FieldProblem("path", f"cannot read {path}: {exc}")]
            ) from None
        self._next_id = int(data["next_id"])
        for record in data["webhooks"]:
            spec = spec_from_json({k: record[k] for k in _SPEC_KEYS if k in record})
            webhook = spec.to_webhook(record["id"], provider=self.kind, account=self.account)
            suspended_at = record.get("suspended_at")
            self._hooks[record["id"]] = attrs.evolve(
                webhook,
                suspended=record.get("suspended", False),
                suspended_at=datetime.fromisoformat(suspended_at) if suspended_at else None,
            )

    def _save(self) -> None:
        if self.settings.path is None:
            return
        path = Path(self.settings.path)
        records = []
        for webhook in self._hooks.values():
            record = webhook_to_json(webhook)
            record["secret"] = webhook.secret.reveal() if webhook.secret is not None else None
            records.append(record)
        text = json.dumps({"next_id": self._next_id, "webhooks": records}, indent=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)

    def _missing(self, id: str) -> NotFound:
        return NotFound(
            f"webhook {id} not found", provider=self.kind, account=self.account, status=404
        )

    def _lookup(self, id: str) -> Webhook:
        try:
            return self._hooks[id]
        except KeyError:
            raise self._missing(id) from None

    def _check_name(self, name: str, id: str | None) -> None:
        if any(wh.name == name and wh.id != id for wh in self._hooks.values()):
            raise Conflict(
                f"a webhook named {name!r} already exists",
                provider=self.kind,
                account=self.account,
                status=409,
            )

    async def list(self, filter: ListFilter) -> AsyncIterator[Webhook]:
        snapshot = list(self._hooks.values())
        size = self.settings.page_size
        for start in range(0, len(snapshot), size):
            await asyncio.sleep(0)  # a page boundary, as a remote provider would have
            for webhook in snapshot[start : start + size]:
                if filter.matches(webhook):
                    yield webhook

    async def list_page(self, filter: ListFilter, position: str | None, size: int) -> ListPage:
        """Offsets into the records in creation order."""
        start = parse_offset(position, self.kind)
        await asyncio.sleep(0)  # a page, as a remote provider would answer it
        records: builtins.list[Webhook | UnreadableRecord] = list(
            builtins.list(self._hooks.values())[start : start + size]
        )
        return offset_page(records, start, start + len(records) < len(self._hooks))

    async def get(self, id: str) -> Webhook:
        return self._lookup(id)

    async def create(self, spec: WebhookSpec) -> Webhook:
        self._check_name(spec.name, None)
        id, self._next_id = str(self._next_id), self._next_id + 1
        webhook = spec.to_webhook(id, provider=self.kind, account=self.account)
        self._hooks[id] = webhook
        self._save()
        return webhook

    async def update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        updated = change.apply(self._lookup(id))  # its own state is the one to change
        self._check_name(updated.name, id)
        self.check_event_count(updated.events, updated.all_events, "add_events")
        self._hooks[id] = updated
        self._save()
        return updated

    async def delete(self, id: str) -> None:
        self._lookup(id)
        del self._hooks[id]
        self._save()

    async def ping(self, id: str) -> PingResult:
        self._lookup(id)
        result = PingResult(
            event_id=uuid.uuid4().hex, timestamp=datetime.now(UTC), details={"webhook_id": id}
        )
        self.pings.append((id, result))
        return result

    async def event_types(self) -> builtins.list[EventType]:
        return [
            EventType(name=name, group=name.partition(".")[0]) for name in self.settings.event_types
        ]

    async def unsuspend(self, id: str) -> None:
        webhook = self._lookup(id)
        self._hooks[id] = attrs.evolve(webhook, suspended=False, suspended_at=None)
        self._save()

    # -- extras ------------------------------------------------------------------------------

    async def ex_suspend(self, id: str) -> None:
        """Suspend a webhook, as a provider's circuit breaker would after failed deliveries."""
        webhook = self._lookup(id)
        self._hooks[id] = attrs.evolve(webhook, suspended=True, suspended_at=datetime.now(UTC))
        self._save()
