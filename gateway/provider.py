"""The provider contract: the one base class every adapter subclasses.

An adapter declares its identity (``kind``, ``title``, ``docs_url``), the attrs class of its
account settings (``settings_type``), and its ``capabilities``; then it implements the async
primitives below. The primitives it does not override raise ``Unsupported`` naming the provider
and the operation, and ``capabilities.operations`` is derived from what it overrides, so the data
can never disagree with the code.

The ``Account`` client (gateway.service) does the shared work before calling an adapter: it rejects
settings the provider cannot store, canonicalizes event names against the provider's catalog,
enforces the event-count limits, serializes read-modify-write updates, and reconciles a create
whose outcome was lost. Adapters translate; they do not re-implement those rules.

Provider-only extras are methods named ``ex_*``, defined after the standard API, and reachable
from the account client (``account.ex_list_diverted(...)``).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, Generic, Protocol, TypeVar

import attrs

from gateway.errors import FieldProblem, GatewayError, InvalidRequest, ProviderError, Unsupported
from gateway.model import (
    EventType,
    ListFilter,
    PingResult,
    Secret,
    Webhook,
    WebhookChange,
    WebhookSpec,
    text_problem,
)
from gateway.transport.answers import UnreadableRecord
from gateway.transport.http import Transport

__all__ = [
    "OPERATIONS",
    "OPTIONAL_FIELDS",
    "Capabilities",
    "DeliveryCheck",
    "ListPage",
    "Provider",
    "offset_after",
    "offset_page",
    "parse_offset",
]

#: Every operation of the contract, in the order docs list them.
OPERATIONS: Final = (
    "list",
    "get",
    "create",
    "update",
    "delete",
    "ping",
    "event_types",
    "unsuspend",
)

#: Webhook fields beyond name, url and events that a provider may or may not store.
OPTIONAL_FIELDS: Final = (
    "enabled",
    "all_events",
    "secret",
    "description",
    "headers",
    "allow_insecure_ssl",
    "failure_handling",
)

S = TypeVar("S")


@attrs.frozen(kw_only=True, cache_hash=True)
class Capabilities:
    """What a provider can do, as data (for callers, the proxy and the generated docs).

    ``fields``: the optional webhook fields it stores; setting any other is rejected.
    ``min_events``/``max_events``: how many events one subscription takes (without ``all_events``).
    ``atomic_update``: the provider applies add/remove changes itself in one call; when False the
    adapter reads, applies and writes, and the gateway serializes updates of one webhook.
    ``server_filters``: the list filters the provider applies itself (the rest are applied locally).
    ``reports_secret``: whether the provider returns the stored secret when read.
    ``reports_secret_state``: whether a read at least tells if a secret is set (when False,
    ``Webhook.secret_state`` reads ``"unknown"``).
    ``extras``: the provider-only settings it stores (``Webhook.extras`` keys, e.g. ``tag``).
    ``blank_extras``: those of them whose empty value the provider reads back as none
    (Enterprise Core's ``tag = ""``): a plan takes the two as equal, so it converges.
    ``disables_failing``: the provider disables a webhook whose delivery fails (``enabled``
    turns false: UiPath's circuit breaker, as assumed), so enabling it again is the way back.
    ``disabled_for``: how long such a disabling lasts before the provider lifts it itself
    (seconds; UiPath: its breaker's hour; None: until enabled). A webhook disabled for longer
    is not the provider's doing, and watch's auto-unsuspend leaves it alone.
    ``max_lengths``: ``(field, characters)`` pairs, the most the provider stores of a text field
    (UiPath's ``WebhookDto``: ``Name`` 128, ``Description`` 256, ``Secret`` 100); a longer
    value is refused with its field path before any request.
    ``batch_get``: the most webhooks ``get_many`` reads in one request (0: it cannot); the
    account client then sends concurrent reads of different webhooks as one request.
    ``operations``: derived from the methods the adapter overrides; do not set it by hand.
    ``resumable_list``: derived too: the adapter implements ``list_page``, so a page of a
    listing starts at the provider's own position (without it, a page of the proxy's listing
    re-reads every webhook before it: linear per page).
    """

    fields: frozenset[str] = frozenset()
    min_events: int = 0
    max_events: int | None = None
    atomic_update: bool = False
    server_filters: frozenset[str] = frozenset()
    reports_secret: bool = False
    reports_secret_state: bool = True
    extras: frozenset[str] = frozenset()
    blank_extras: frozenset[str] = frozenset()
    disables_failing: bool = False
    disabled_for: int | None = None
    batch_get: int = 0
    max_lengths: tuple[tuple[str, int], ...] = ()
    operations: frozenset[str] = frozenset()
    resumable_list: bool = False

    def __attrs_post_init__(self) -> None:
        unknown = self.fields - set(OPTIONAL_FIELDS)
        if unknown:
            raise ValueError(f"unknown capability fields: {sorted(unknown)}")

    def supports(self, operation: str) -> bool:
        return operation in self.operations


@attrs.frozen
class ListPage:
    """What ``Provider.list_page`` read: ``records`` (an ``UnreadableRecord`` for one that
    cannot be read), ``positions[i]`` where a listing resumes after ``records[i]``, and
    ``next``, where it resumes after the page (None: nothing follows)."""

    records: builtins.list[Webhook | UnreadableRecord]
    positions: builtins.list[str]
    next: str | None


def offset_page(
    records: builtins.list[Webhook | UnreadableRecord], start: int, more: bool
) -> ListPage:
    """The ``ListPage`` of an offset-paged provider: the record at ``start + i`` resumes at
    ``start + i + 1``; ``more``: whether the provider has records after this page."""
    end = start + len(records)
    return ListPage(records, [str(start + i + 1) for i in range(len(records))],
                    str(end) if more else None)  # fmt: skip


def offset_after(position: str | None, count: int) -> str | None:
    """``Provider.position_after`` of an ``offset_page`` adapter (None for a position that is
    not one of its offsets)."""
    offset = _offset(position)
    return None if offset is None else str(offset + count)


def parse_offset(position: str | None, kind: str) -> int:
    """The offset an ``offset_page`` position names (0 for the start)."""
    offset = _offset(position)
    if offset is None:
        raise InvalidRequest.at("cursor", "is not a position of this listing", provider=kind)
    return offset


def _offset(position: str | None) -> int | None:
    """The offset ``position`` names (0 for None, the start), or None if it names none."""
    if position is None:
        return 0
    if position.isdigit() and len(position) <= 12:
        return int(position)
    return None


class DeliveryCheck(Protocol):
    """``(raw body, headers, secret) -> bool``: whether a delivery is genuine."""

    def __call__(self, body: bytes, headers: Mapping[str, str], secret: Secret | str) -> bool: ...


class Provider(Generic[S]):
    """Base class of every adapter. One instance serves one configured account."""

    kind: ClassVar[str]
    title: ClassVar[str]
    docs_url: ClassVar[str] = ""
    #: The module of this provider's emulator (``module.main(argv)`` runs it: ``webhook-gateway
    #: emulate KIND``), or None: an emulator is registered with its kind, as the kind is.
    emulator: ClassVar[str | None] = None
    settings_type: ClassVar[type[Any]]
    #: The kind's capabilities; an instance may narrow them from its settings (UiPath's
    #: ``breaker_seconds`` is its ``disabled_for``).
    capabilities: Capabilities = Capabilities()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        overridden = frozenset(
            op for op in OPERATIONS if getattr(cls, op) is not getattr(Provider, op)
        )
        resumable = cls.list_page is not Provider.list_page
        cls.capabilities = attrs.evolve(
            cls.capabilities, operations=overridden, resumable_list=resumable
        )

    def __init__(self, account: str, settings: S, transport: Transport) -> None:
        self.account = account
        self.settings = settings
        self.transport = transport

    #: How a receiver checks that a delivery came from this provider: ``(raw body, headers,
    #: secret) -> bool``, constant-time (``gateway.health.verify`` runs it for each secret given).
    #: None: the provider does not sign deliveries.
    verify_delivery: ClassVar[DeliveryCheck | None] = None
    #: The top-level field of a delivery's JSON body that holds the provider's own id of it
    #: (the inbound relay forwards each event id once within its replay window).
    delivery_id: ClassVar[str | None] = None
    #: Whether ``delivery_id`` names one event (UiPath's ``EventId``). False: it names what
    #: several events share (Orchestry's ``requestId``: a request's "requested", "approved"
    #: and "completed" deliveries carry the same one), so the relay tells events apart by the
    #: subscription's inbound path as well (``/v1/inbound/{account}/{subscription}``).
    delivery_id_names_event: ClassVar[bool] = True
    #: Top-level fields of a delivery's JSON body that repeat the shared secret (the inbound
    #: relay takes them out before forwarding).
    delivery_secret_fields: ClassVar[tuple[str, ...]] = ()

    #: Whether ``event_types`` is the whole list of names the account can subscribe to. When
    #: False (a provider whose tenants define events of their own), a name outside it is
    #: accepted as written, with a warning in the log.
    strict_events: bool = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} account={self.account!r}>"

    @property
    def batch_get(self) -> int:
        """How many ids ``get_many`` takes at once for this account (0: no batched reads)."""
        return self.capabilities.batch_get

    def unsupported(self, operation: str, detail: str | None = None) -> Unsupported:
        return Unsupported(self.kind, operation, detail, account=self.account)

    # -- the standard API --------------------------------------------------------------------

    def list(self, filter: ListFilter) -> AsyncIterator[Webhook | UnreadableRecord]:
        """Every webhook, paging hidden inside; applies what it can of ``filter`` server-side.

        The account client filters the results again, so a provider may ignore what it cannot
        express. Implement as an async generator that yields as pages arrive; a record that
        cannot be read is yielded as an ``UnreadableRecord`` (``read_each``), not raised.
        """
        raise self.unsupported("list")

    async def list_page(self, filter: ListFilter, position: str | None, size: int) -> ListPage:
        """One page of the listing from ``position`` (None: the start), in a stable order:
        about ``size`` records (fewer at the end, never more than asked), each with the
        position that resumes the listing after it, and the page's ``next`` (None: the end).

        Positions are the adapter's own strings (an offset, a key, a provider page token and
        an index): the proxy carries them in its cursors, signed, so an adapter only ever
        gets back positions it made. Implement it where the provider can start a listing at
        a position; ``list`` stays the way to read everything."""
        raise self.unsupported("list_page")

    def position_after(self, filter: ListFilter, position: str | None, count: int) -> str | None:
        """Where ``filter``'s listing from ``position`` resumes after ``count`` more records,
        when the adapter can tell without reading them (an offset: ``position + count``), and
        None when only reading tells (a provider's page token) or the adapter knows the listing
        ends before. The proxy reads a page from there before the page before it has arrived
        (``gateway.operations.read_ahead``), so a wrong answer costs a provider read, never a wrong
        page."""
        return None

    async def get(self, id: str) -> Webhook:
        raise self.unsupported("get")

    async def get_many(self, ids: Sequence[str]) -> dict[str, Webhook | GatewayError]:
        """The webhooks ``ids`` (canonical, at most ``capabilities.batch_get``) in one request:
        each id's webhook, or the error a ``get`` of it alone would raise (``NotFound``,
        ``ProviderError`` for a record that cannot be read). An error of the request itself is
        raised. Implement it only where one request can answer several ids."""
        raise self.unsupported("get_many")

    async def create(self, spec: WebhookSpec) -> Webhook:
        """Create from an already validated spec whose event names are canonical."""
        raise self.unsupported("create")

    async def update(
        self, id: str, change: WebhookChange, previous: Webhook | None = None
    ) -> Webhook:
        """Apply ``change``; the result must equal ``change.apply(previous)``.

        ``previous``: the webhook as the account read it under the update lock, when it did
        (providers without atomic updates: the adapter need not read it again).
        """
        raise self.unsupported("update")

    @property
    def largest_page(self) -> int:
        """The most records one ``list_page`` call reads (its ``page_size`` setting, where it
        has one; 0: no more than asked for). The proxy reads pages this large and serves its
        own smaller pages from them (``gateway.operations.held_pages``)."""
        size = getattr(self.settings, "page_size", 0)
        return size if isinstance(size, int) else 0

    def writes_alone(self, change: WebhookChange) -> bool:
        """Whether ``update`` sends ``change`` without reading the webhook first, in one call
        the provider applies as a whole (it merges every field the change carries): then the
        account takes no update lock for it. Providers with atomic updates: every change."""
        return self.capabilities.atomic_update

    async def delete(self, id: str) -> None:
        raise self.unsupported("delete")

    async def ping(self, id: str) -> PingResult:
        """Send a test delivery to the webhook's URL and return what the provider reported."""
        raise self.unsupported("ping")

    async def event_types(self) -> builtins.list[EventType]:
        raise self.unsupported("event_types")

    async def unsuspend(self, id: str) -> None:
        raise self.unsupported("unsuspend")

    async def close(self) -> None:
        """Release what the adapter holds beyond the shared session (threads, caches)."""

    def counters(self) -> dict[str, int]:
        """Transport counters for metrics: retries made and tokens fetched so far.

        Found by convention: an adapter that keeps its ``ProviderHTTP`` as ``self.http`` and
        its token source as ``self.tokens`` (or ``self.http.auth``) is counted without code.
        """
        http = getattr(self, "http", None)
        tokens = getattr(self, "tokens", None) or getattr(http, "auth", None)
        return {
            "retries": getattr(getattr(http, "retry", None), "retries", 0),
            "token_fetches": getattr(tokens, "fetches", 0),
        }

    # -- ids ---------------------------------------------------------------------------------

    def canonical_id(self, id: str) -> str:
        """The one spelling of ``id`` this provider means by it; ``InvalidRequest`` when ``id``
        cannot name a webhook at all.

        Locks and shared reads key on it, so two spellings of one webhook (UiPath ``7`` and
        ``007``) can never take two locks. The base refuses what no provider's id may be:
        empty, ``.``/``..`` (dot segments a URL library would resolve to another resource),
        surrounding white space, control characters. Adapters narrow it further.
        """
        if not isinstance(id, str) or not id:
            raise InvalidRequest.at("id", "must be a non-empty string", provider=self.kind)
        if id in (".", ".."):
            raise InvalidRequest.at("id", f"{id!r} is not an id", provider=self.kind)
        if id != id.strip():
            raise InvalidRequest.at(
                "id", "must not begin or end with white space", provider=self.kind
            )
        problem = text_problem(id, limit=256)
        if problem:
            raise InvalidRequest.at("id", problem, provider=self.kind)
        return id

    # -- helpers for adapters ----------------------------------------------------------------

    def read_each(
        self, items: Iterable[Any], parse: Callable[[Any], Webhook], id_key: str
    ) -> Iterator[Webhook | UnreadableRecord]:
        """``parse`` each record of a list page; one that cannot be read becomes an
        ``UnreadableRecord`` (with its ``id_key`` value, where it has one) and the rest go on."""
        for item in items:
            try:
                yield parse(item)
            except ProviderError as exc:
                raw_id = item.get(id_key) if isinstance(item, Mapping) else None
                yield UnreadableRecord(
                    id=None if raw_id is None else str(raw_id)[:100],
                    problem=exc.message,
                    provider=self.kind,
                    account=self.account,
                )

    def check_event_count(self, events: frozenset[str], all_events: bool, path: str) -> None:
        """Raise ``InvalidRequest`` when ``events`` breaks this provider's per-webhook limits."""
        caps = self.capabilities
        if all_events:
            return
        problem = None
        if caps.max_events is not None and len(events) > caps.max_events:
            problem = (
                f"{self.kind} takes at most {caps.max_events} event(s) per webhook, "
                f"got {len(events)}"
            )
        elif len(events) < caps.min_events:
            problem = f"{self.kind} needs at least {caps.min_events} event(s) per webhook"
        if problem:
            if caps.max_events == 1:
                problem += "; create one subscription per event"
            raise InvalidRequest(problems=[FieldProblem(path, problem)], provider=self.kind)
