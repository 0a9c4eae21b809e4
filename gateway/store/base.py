"""What every state store offers: update locks, idempotency records and the audit log.

A store is shared by every gateway process configured with the same ``[state] url``; what one
replica stores, another reads. Times are seconds since the epoch (UTC), as the caller's clock
gives them (``time.time()``), so expiries compare across replicas whose clocks agree.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

import attrs

__all__ = [
    "AuditEntry",
    "AuditQuery",
    "Claim",
    "Health",
    "IssuedKey",
    "Managed",
    "Relay",
    "Store",
    "StoredAnswer",
]


@attrs.frozen(kw_only=True)
class StoredAnswer:
    """An HTTP answer kept for replay: status, the headers worth repeating, and the body."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Claim:
    """The outcome of claiming an idempotency key.

    ``new``: this request runs and must ``settle`` (or ``release``) the key. ``done``: an
    earlier request with the same key and body finished; ``answer`` is its answer. ``running``:
    it has not finished yet (``retry_after`` seconds is a fair wait). ``mismatch``: the key was
    used with a different request.
    """

    state: Literal["new", "done", "running", "mismatch"]
    answer: StoredAnswer | None = None
    retry_after: float | None = None


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One write, as the audit log keeps it. ``change`` never holds a secret value."""

    id: int | None = None  # assigned by the store, increasing
    time: float
    actor: str
    account: str
    provider: str
    webhook_id: str | None
    operation: str
    change: Mapping[str, Any] = attrs.field(factory=dict)
    outcome: str  # "ok", "outcome_unknown", or the error's type name
    detail: str | None = None
    request_id: str | None = None
    duration_ms: float = 0.0
    #: The grant that allowed the write (``access.grants[2]``; None before grants).
    grant: str | None = None


@attrs.frozen(kw_only=True)
class AuditQuery:
    """Which audit entries to read, newest first: ``before_id`` is the paging cursor."""

    account: str | None = None
    webhook_id: str | None = None
    since: float | None = None
    before_id: int | None = None
    limit: int = 100
    actor: str | None = None


@attrs.frozen(kw_only=True)
class Managed:
    """A webhook a manifest key manages: its id, and the fingerprints of the secret and of the
    alert endpoint's secret last applied to it (None: none applied)."""

    account: str
    key: str
    webhook_id: str
    secret_fingerprint: str | None = None
    alert_secret_fingerprint: str | None = None
    #: A rotation through the gateway since the last apply: when, by whom, the new secret's
    #: fingerprint (``record_rotation``; an apply's ``manage`` clears them).
    rotated_at: float | None = None
    rotated_by: str | None = None
    rotated_fingerprint: str | None = None
    #: Whose manifest manages it (a team; ``""``: a manifest that names no owner).
    owner: str = ""


@attrs.frozen(kw_only=True)
class TransitionRecord:
    """One transition watch saw, as the history keeps it (``by``: who caused it, when the
    gateway did)."""

    account: str
    webhook_id: str
    name: str
    change: str
    before: str | None
    after: str | None
    by: str | None
    at: float


@attrs.frozen(kw_only=True)
class ConsoleSession:
    """A console login: the key's name and scope at login, ``key_ref`` (which key, by value:
    ``gateway.proxy.keys.KeyMatch.ref``), the CSRF token of its forms, and when it was made and
    last used (for idle and absolute expiry)."""

    key_name: str
    scope: str
    csrf: str
    created_at: float
    seen_at: float
    key_ref: str = attrs.field(default="", repr=False)
    #: A person signed in with single sign-on: ``{subject, email, name, groups}`` (else None).
    person: Mapping[str, Any] | None = None


@attrs.frozen(kw_only=True)
class IssuedKey:
    """A key issued at run time (``POST /v1/keys``): ``digest`` is the hex SHA-256 of the key,
    never the key; ``grants`` their JSON form (``{can, accounts, webhooks}``)."""

    id: str
    name: str
    digest: str = attrs.field(repr=False)
    team: str | None = None
    grants: tuple[Mapping[str, Any], ...] = ()
    created_at: float
    created_by: str
    expires_at: float | None = None
    last_used: float | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@attrs.frozen(kw_only=True)
class PersonToken:
    """A person's sign-in at the command line: the SHA-256 of the access and refresh tokens,
    who (``{subject, email, name, groups}``), and until when each token is good."""

    digest: str = attrs.field(repr=False)
    refresh_digest: str = attrs.field(repr=False)
    person: Mapping[str, Any]
    expires_at: float
    refresh_expires_at: float


@attrs.frozen(kw_only=True)
class Drift:
    """A manifest key whose webhook differs from the manifest (what ``plan`` would change), as
    watch's last plan found it, and since when."""

    account: str
    key: str
    webhook_id: str | None
    summary: str
    since: float


@attrs.frozen(kw_only=True)
class Relay:
    """One verified delivery for one destination, in the relay's outbox: ``event`` is the
    CloudEvent's JSON (the provider's secret already taken out); ``state`` is ``queued``,
    ``forwarded`` or ``failed``; ``next_at`` when it is due (or held by a sender until)."""

    event_id: str
    destination: str
    account: str
    event: bytes
    state: str = "queued"
    attempts: int = 0
    next_at: float = 0.0


@attrs.frozen(kw_only=True)
class Health:
    """A webhook's health as ``watch`` last saw it; ``changed_at``: since when in this state,
    ``previous``: the state before that (None: first seen in this one)."""

    account: str
    webhook_id: str
    name: str
    state: str  # active, disabled, suspended
    diverted: int | None = None
    changed_at: float = 0.0
    seen_at: float = 0.0
    previous: str | None = None
    #: Who caused the last change (the audit actor), when the gateway did; None otherwise.
    changed_by: str | None = None


class Store(abc.ABC):
    """The interface; ``gateway.store.open_store`` picks the implementation by URL."""

    #: Whether the store is shared by processes, so update locks must be taken in it.
    shared: bool = False
    #: How long after storing a group of audit entries the next group waits for more, under
    #: load (seconds; ``gateway.store.audit.Auditor``): worth it where a commit's fixed cost is
    #: CPU on the gateway's own loop (SQLite), not where entries gather during a round trip.
    audit_window: float = 0.0

    @abc.abstractmethod
    async def open(self, *, migrate: bool = True) -> None:
        """Connect and (``migrate``) bring the schema up to date: migrations are applied once,
        in order, by one process at a time. Without ``migrate`` the schema is left as it is
        (``schema()`` tells; ``migrate()`` applies them)."""

    @abc.abstractmethod
    async def migrate(self) -> int:
        """Apply the migrations the store lacks (one process at a time); how many.
        ``SchemaNewer`` when a later release migrated it."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def lock(self, key: str, wait: float) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` exclusively among every process sharing the store (``StateUnavailable``
        after ``wait`` seconds of waiting). A crashed holder's lock is released."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Answer if the store is reachable now; else ``StateUnavailable``."""

    @abc.abstractmethod
    async def schema(self) -> tuple[int, int]:
        """``(the store's schema version, the version this release expects)``."""

    @abc.abstractmethod
    async def secret_key(self) -> bytes:
        """A random key made once per store, for fingerprints of secrets in the audit log."""

    # -- idempotency ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def claim(
        self, scope: str, key: str, fingerprint: str, now: float, lease: float
    ) -> Claim:
        """Claim ``key`` for a request with ``fingerprint``; a claim not settled within
        ``lease`` seconds (its process died) may be claimed again."""

    @abc.abstractmethod
    async def settle(
        self, scope: str, key: str, answer: StoredAnswer, now: float, retention: float
    ) -> None:
        """Keep ``answer`` for ``key`` for ``retention`` seconds."""

    @abc.abstractmethod
    async def release(self, scope: str, key: str) -> None:
        """Forget an unsettled claim (the request ended without an answer worth keeping)."""

    # -- audit ----------------------------------------------------------------------------------

    @abc.abstractmethod
    async def record(self, *entries: AuditEntry) -> None:
        """Add ``entries`` to the audit log, all or none."""

    @abc.abstractmethod
    async def audit(self, query: AuditQuery) -> list[AuditEntry]: ...

    # -- managed webhooks (plan/apply) ---------------------------------------------------------

    @abc.abstractmethod
    async def managed(self, account: str, owner: str = "") -> dict[str, Managed]:
        """The account's webhooks ``owner``'s manifest manages, by manifest key."""

    @abc.abstractmethod
    async def owners(self, account: str) -> dict[str, str]:
        """Who manages each managed webhook of the account: webhook id -> owner."""

    @abc.abstractmethod
    async def manage(self, entry: Managed, now: float) -> None:
        """Record (or replace) what a manifest key (of ``entry.owner``) manages."""

    @abc.abstractmethod
    async def unmanage(self, account: str, key: str, owner: str = "") -> None: ...

    @abc.abstractmethod
    async def transfer(self, account: str, webhook_id: str, owner: str, key: str) -> str | None:
        """Make ``owner``'s manifest manage ``webhook_id`` under ``key`` (whoever did before
        no longer does); the previous owner, or None (nobody's)."""

    @abc.abstractmethod
    async def record_rotation(
        self, account: str, webhook_id: str, fingerprint: str | None, by: str, now: float
    ) -> None:
        """Note a rotation of ``webhook_id``'s secret on the keys that manage it."""

    @abc.abstractmethod
    async def drift(self, account: str | None = None) -> list[Drift]: ...

    @abc.abstractmethod
    async def record_transitions(self, found: list[TransitionRecord]) -> None: ...

    @abc.abstractmethod
    async def transitions(
        self, account: str | None = None, webhook_id: str | None = None, limit: int = 100
    ) -> list[TransitionRecord]:
        """The newest transitions first."""

    @abc.abstractmethod
    async def save_session(self, id_hash: str, session: ConsoleSession) -> None: ...

    @abc.abstractmethod
    async def session(self, id_hash: str) -> ConsoleSession | None: ...

    @abc.abstractmethod
    async def touch_session(self, id_hash: str, now: float) -> None: ...

    @abc.abstractmethod
    async def drop_session(self, id_hash: str) -> None: ...

    # -- keys issued at run time -------------------------------------------------------------

    @abc.abstractmethod
    async def issue_key(self, key: IssuedKey) -> bool:
        """Keep ``key``; False (nothing kept) if one of that name exists."""

    @abc.abstractmethod
    async def issued_key(self, digest: str) -> IssuedKey | None:
        """The key whose digest is ``digest``, or None (never issued, or revoked)."""

    @abc.abstractmethod
    async def issued_keys(self) -> list[IssuedKey]:
        """Every issued key, by name."""

    @abc.abstractmethod
    async def revoke_key(self, id: str) -> IssuedKey | None:
        """Forget the key ``id`` (every replica refuses it from now on); it, or None."""

    @abc.abstractmethod
    async def touch_key(self, id: str, now: float) -> None:
        """Note that the key ``id`` was used at ``now``."""

    @abc.abstractmethod
    async def save_person_token(self, token: PersonToken) -> None: ...

    @abc.abstractmethod
    async def person_token(self, digest: str) -> PersonToken | None:
        """The sign-in whose access token's digest is ``digest``, or None."""

    @abc.abstractmethod
    async def take_refresh(self, refresh_digest: str) -> PersonToken | None:
        """Forget the sign-in of this refresh token (it is good once) and return it."""

    @abc.abstractmethod
    async def drop_person_token(self, digest: str) -> None: ...

    @abc.abstractmethod
    async def save_drift(self, account: str, found: list[Drift]) -> None:
        """Replace what is known to be drifted in ``account``."""

    # -- health (watch) ----------------------------------------------------------------------

    @abc.abstractmethod
    async def health(
        self, account: str | None = None, webhook_id: str | None = None, limit: int | None = None
    ) -> list[Health]:
        """What is known of each webhook's health (of ``account``; of one webhook; at most
        ``limit`` rows), by account and id."""

    @abc.abstractmethod
    async def save_health(self, account: str, seen: list[Health], gone: list[str]) -> None:
        """Replace what is known of ``seen`` webhooks and forget the ``gone`` ones. A row seen
        later than the one given stays (a refresh after the gateway's own write, made while a
        look was under way, is not undone by that look's older view)."""

    # -- kept secrets (rotation) -------------------------------------------------------------

    @abc.abstractmethod
    async def keep_secrets(
        self, account: str, webhook_id: str, current: bytes, previous: bytes | None,
        now: float, not_after: float,
    ) -> None:  # fmt: skip
        """Record a rotation: ``current`` (encrypted) is the webhook's secret from now on;
        ``previous`` stays valid until ``not_after``; earlier previous ones keep their own
        expiry (a rotation within a grace period does not cut the one before short)."""

    @abc.abstractmethod
    async def kept_secrets(
        self, account: str, webhook_id: str, now: float, *, current_only: bool = False
    ) -> list[bytes]:
        """The encrypted secrets valid now, the current one first, then the previous ones,
        newest first (``current_only``: the current one alone)."""

    # -- provider facts shared by replicas and runs ------------------------------------------

    @abc.abstractmethod
    async def catalog(self, key: str) -> tuple[bytes, float] | None:
        """An account's event catalog as kept (``save_catalog``): its JSON and when it was read
        from the provider (epoch seconds); None when none is kept."""

    @abc.abstractmethod
    async def save_catalog(self, key: str, types: bytes, read_at: float) -> None: ...

    @abc.abstractmethod
    async def pause_rate(self, account: str, until: float) -> None:
        """No request of ``account`` to its provider before ``until`` (epoch seconds), on any
        replica (a later pause already kept stands)."""

    @abc.abstractmethod
    async def rate_paused(self, account: str) -> float:
        """Until when ``account``'s requests are paused (epoch seconds; 0: not paused)."""

    @abc.abstractmethod
    async def take_rate(self, account: str, now: float, interval: float) -> tuple[float, float]:
        """Reserve the next time slot of ``account``'s requests, ``interval`` seconds after
        the last one reserved (at ``now`` when that is past): ``(slot, paused_until)``."""

    # -- the inbound relay's outbox ----------------------------------------------------------

    @abc.abstractmethod
    async def enqueue_relays(self, relays: list[Relay], now: float, keep_until: float) -> bool:
        """Queue a delivery for each of its destinations, durably; False (nothing queued) when
        its event id is already there: a replay within the window."""

    @abc.abstractmethod
    async def enqueue_many(
        self, deliveries: Sequence[tuple[Sequence[Relay], float, float]]
    ) -> list[bool]:
        """``enqueue_relays`` for several deliveries (``(relays, now, keep_until)`` each) in one
        statement and one commit; whether each was queued. A relay with a ``next_at`` is
        stored held until then (its process sends it at once), else due ``now``."""

    @abc.abstractmethod
    async def hold_due(self, now: float, limit: int, until: float) -> list[Relay]:
        """Take up to ``limit`` relays due by ``now`` for sending until ``until``, oldest
        first, in one statement (rows another replica is taking are skipped)."""

    @abc.abstractmethod
    async def due_relays(self, now: float, limit: int) -> list[Relay]:
        """Queued relays due by ``now``, oldest first."""

    @abc.abstractmethod
    async def hold_relay(self, relay: Relay, until: float) -> bool:
        """Take ``relay`` for sending until ``until`` (so no other replica sends it too);
        False if another took or settled it first."""

    @abc.abstractmethod
    async def settle_relays(self, outcomes: Sequence[tuple[Relay, str, int, float]]) -> None:
        """Record attempts' outcomes, each ``(relay, state, attempts, next_at)``: ``forwarded``,
        ``failed``, or ``queued`` again (due at ``next_at``), in one commit."""

    @abc.abstractmethod
    async def relay_counts(self) -> dict[str, int]:
        """How many relays are in each state."""

    @abc.abstractmethod
    async def queued_relays(self) -> int:
        """How many relays are queued (the outbox's backlog; counted from its due index)."""

    @abc.abstractmethod
    async def prune(self, now: float, audit_retention: float) -> int:
        """Drop expired idempotency records and audit entries older than the retention;
        return how many rows went."""
