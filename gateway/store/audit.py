"""The audit log's writer: one entry per write, with who, what, where, outcome and duration.

What a write changed is recorded in gateway terms with nothing secret in it: a secret shows as
``{"changed": true, "fingerprint": ...}`` and a custom header's values as fingerprints too
(headers often carry tokens), and a URL without its user info and the values of its
credential-like query parameters (``gateway.model.mask_url``). A fingerprint is an
HMAC-SHA256 under the store's own random key, cut to 16 hex digits: equal secrets give equal
fingerprints within one store, and nobody without the database can test a guess against it.

Recording never fails the write it records: a failure is logged and counted
(``Auditor.failures``, the metric ``gateway_audit_failures_total``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from gateway.errors import GatewayError, OutcomeUnknown, StateUnavailable
from gateway.model import UNSET, Extras, FailureHandling, Headers, Secret, mask_url
from gateway.origin import current_origin
from gateway.store.base import AuditEntry, Store
from gateway.transport import tracing

__all__ = ["Auditor", "describe"]

log = logging.getLogger("gateway.audit")


def _fingerprint(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def _value(value: Any, key: bytes) -> Any:
    if isinstance(value, Secret):
        return {"changed": True, "fingerprint": _fingerprint(value.reveal(), key)}
    if isinstance(value, Headers):
        return {n: [f"fp:{_fingerprint(v, key)}" for v in vs] for n, vs in value.items()}
    if isinstance(value, Extras):
        return dict(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, list | tuple):
        return [_value(v, key) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, FailureHandling) or attrs.has(type(value)):
        return {k: _field(k, v, key) for k, v in attrs.asdict(value, recurse=False).items()}
    return value


def _field(name: str, value: Any, key: bytes) -> Any:
    """A field's value for the log: a URL without its credentials (``mask_url``)."""
    if name == "url" and isinstance(value, str):
        return mask_url(value)
    return _value(value, key)


def describe(thing: Any, key: bytes) -> dict[str, Any]:
    """The fields an attrs spec or change sets, JSON-ready, secrets and header values
    fingerprinted; a cleared secret is ``{"changed": true, "cleared": true}``."""
    if thing is None:
        return {}
    described: dict[str, Any] = {}
    for name, default in _defaults(type(thing)):  # type: ignore[arg-type]
        value = getattr(thing, name)
        if value is UNSET:
            continue
        if name == "secret" and value is None:
            if default is UNSET:  # a change that clears the secret
                described["secret"] = {"changed": True, "cleared": True}
            continue
        if default is not attrs.NOTHING and value == default:
            continue
        described[name] = _field(name, value, key)
    return described


@functools.cache
def _defaults(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """``(name, default)`` of each field of an attrs class, a factory's default made once (the
    model's defaults are immutable), ``attrs.NOTHING`` where there is none."""
    found = []
    for field in attrs.fields(cls):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = attrs.NOTHING if default.takes_self else default.factory()
        found.append((field.name, default))
    return tuple(found)


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, OutcomeUnknown):
        return "outcome_unknown"
    return type(error).__name__


class Auditor:
    """Writes audit entries for one store (``record`` after each write).

    Entries are committed in groups: an entry recorded while the store is busy writing earlier
    ones, or within the store's ``audit_window`` of the last group's commit, waits for the next
    group, so concurrent writes cost the store one transaction between them instead of one each
    (SQLite: one multi-row INSERT, made on the event loop; PostgreSQL: one pipelined round
    trip).
    ``record`` returns once its entry is stored (or has failed to be: then it is logged and
    counted, and the write it records still stands).
    """

    #: The most entries one transaction holds.
    GROUP = 256
    #: How long a store that took an entry counts as reachable without asking again (seconds):
    #: under load every write's entry answers for the next; otherwise a write pings first. A
    #: store lost within this window shows as a failed entry (``failures``), as before.
    FRESH = 0.1

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failures = 0
        self._key = b""
        self._queue: list[tuple[AuditEntry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._reached = 0.0  # when the store last took an entry or answered a ping
        self._committed = 0.0  # when the last group was stored
        #: Under load, how long after a group's commit the next one waits for more entries
        #: (seconds; ``Store.audit_window``): where a commit costs about the same for one row
        #: as for eight (SQLite), a burst of writes then costs one commit a window instead of
        #: about one each. An entry with no group stored within the window before it waits for
        #: nothing.
        self.window = store.audit_window
        #: Writes made without the store reachable (``[state] audit = "best-effort"``).
        self.unaudited = 0

    async def ready(self) -> None:
        """``StateUnavailable`` unless the store can take this write's entry: it took one (or
        answered) within ``FRESH`` seconds, or it answers a ping now."""
        if time.monotonic() - self._reached < self.FRESH:
            return
        await self.store.ping()
        self._reached = time.monotonic()

    async def open(self) -> None:
        self._key = await self.store.secret_key()

    async def record(
        self,
        *,
        account: str,
        provider: str,
        operation: str,
        webhook_id: str | None,
        change: Any,
        started: float,
        error: BaseException | None,
    ) -> None:
        origin = current_origin()
        detail = error.message if isinstance(error, GatewayError) else None
        entry = AuditEntry(
            time=time.time(),
            actor=origin.actor,
            account=account,
            provider=provider,
            webhook_id=webhook_id,
            operation=operation,
            change=(
                {k: _value(v, self._key) for k, v in change.items()}
                if isinstance(change, Mapping)
                else describe(change, self._key)
            ),
            outcome=outcome_of(error),
            detail=detail,
            request_id=origin.request_id,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            grant=origin.grant,
        )
        stored = asyncio.get_running_loop().create_future()
        self._queue.append((entry, stored))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())
        try:
            # A caller cancelled now (a client gone) cancels ``stored``, not its entry: the
            # writer writes the entries of the queue whatever became of their futures.
            with tracing.span("audit write", webhook_gateway__account=account,
                              webhook_gateway__operation=operation):  # fmt: skip
                await stored
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the write stands; the missing entry is logged and counted
            self.failures += 1
            log.error(
                "an audit entry could not be stored",
                extra={"account": account, "operation": operation, "id": webhook_id,
                       "error": f"{type(exc).__name__}: {exc}"[:300]},
            )  # fmt: skip

    async def _write(self) -> None:
        """Store what is queued, a group at a time, until the queue is empty."""
        try:
            while self._queue:
                group: list[tuple[AuditEntry, asyncio.Future[None]]] = []
                try:
                    wait = self._committed + self.window - time.monotonic()
                    if wait > 0 and len(self._queue) < self.GROUP:
                        await asyncio.sleep(wait)  # under load: a window's entries together
                    group, self._queue = self._queue[: self.GROUP], self._queue[self.GROUP :]
                    await self.store.record(*(entry for entry, _ in group))
                except asyncio.CancelledError:
                    stopped = StateUnavailable("the audit log's writer was stopped")
                    for _, stored in group + self._queue:
                        if not stored.done():
                            stored.set_exception(stopped)
                            stored.exception()
                    self._queue = []
                    raise
                except Exception as exc:
                    for _, stored in group:
                        if not stored.done():
                            stored.set_exception(exc)
                            stored.exception()  # retrieved: its caller may be gone
                else:
                    self._reached = self._committed = time.monotonic()
                    for _, stored in group:
                        if not stored.done():
                            stored.set_result(None)
        finally:
            self._writer = None
