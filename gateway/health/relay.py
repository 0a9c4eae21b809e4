"""The inbound relay's core: a provider's delivery is verified (``gateway.health.verify``, with
the account's ``[inbound]`` secrets and, with ``webhook``, the secrets ``rotate`` keeps for it:
the current one and the previous during its grace period), stored in the state store's outbox
once per destination, and acknowledged at once; ``forward_due`` (run by ``relay_forever`` in
``serve``) then forwards it to each destination as a CloudEvent signed per Standard Webhooks,
with retries and backoff, surviving restarts. So a slow destination never makes the provider
wait (UiPath disables a webhook whose deliveries fail; the relay must not cause that). A
delivery the running sender has room for is stored already held by it and sent from memory
(never read back); while a flood is being taken in, forwarding gives way to it
(``BUSY_INTAKE``, ``TRICKLE``) and catches up after.

What is forwarded never holds the provider's shared secret: the fields a provider repeats it in
(``Provider.delivery_secret_fields``: Orchestry's ``Secret``) are taken out, and any other value
holding a verification secret has it replaced by ``***``. The CloudEvent's id is derived from the
provider's own id of the delivery (``Provider.delivery_id``: UiPath ``EventId``, Enterprise
Core ``locator``) and the subscription's inbound path, if any (``/v1/inbound/{account}/
{subscription}``, which is also the CloudEvent's ``subject``); where that id names no single
event (Orchestry's ``requestId``, shared by a request's deliveries) the subscription is what
tells them apart, and without one (or without any id) it is a digest of the verified body. So
a delivery sent again within the replay window is acknowledged and not forwarded twice, on any
replica, and destinations can de-duplicate too.

The HTTP side (``POST /v1/inbound/{account}``, its statuses and its refusal counter) is the
proxy's route (``gateway.proxy.inbound``); this module knows nothing of HTTP answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import logging
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs
import orjson

from gateway.config import InboundConfig
from gateway.errors import GatewayError, StateUnavailable
from gateway.health.events import Sink, deliver_event
from gateway.health.rotation import verification_secrets
from gateway.health.verify import verify
from gateway.model import Secret
from gateway.service import Gateway
from gateway.store import Relay, Store

__all__ = [
    "Outcome", "Relayed", "event_id_of", "forward_due", "relay_counts", "relay_delivery",
    "relay_forever",
]  # fmt: skip

log = logging.getLogger("gateway.health.relay")

T = TypeVar("T")
R = TypeVar("R")

#: The namespace of the CloudEvent ids derived from providers' event ids.
EVENT_IDS = uuid.UUID("5b0c8f3e-3a52-4f57-9b3e-6f1d2c7a9e10")
#: Attempts to forward one delivery to one destination before it is marked failed; the waits
#: between them double from 1 s up to ``MAX_WAIT`` (about 40 minutes in all).
ATTEMPTS = 12
MAX_WAIT = 600.0
#: How long a sender holds a relay it is sending (another replica waits that long): longer
#: than one attempt may take (``gateway.health.events``: 30 s).
HOLD = 60.0


class Outcome(enum.Enum):
    UNVERIFIABLE = "unverifiable"  # no secret to verify with yet
    REFUSED = "refused"  # the delivery does not verify: nothing stored or forwarded
    QUEUED = "queued"  # stored, to be forwarded to every destination
    REPLAYED = "replayed"  # its event id was relayed within the window: not again
    FULL = "full"  # the outbox holds its limit: not stored (the provider is to retry later)


@attrs.frozen
class Relayed:
    """What became of one delivery: ``event_id`` is the CloudEvent's id, ``matched`` the
    index of the secret that verified it."""

    outcome: Outcome
    event_id: str | None = None
    matched: int | None = None


#: Per gateway: relays queued, forwarded and failed by this process (the metrics), and the
#: event that wakes its sender when something was queued.
_counts: weakref.WeakKeyDictionary[Gateway, Counter[str]] = weakref.WeakKeyDictionary()
_wakeups: weakref.WeakKeyDictionary[Gateway, asyncio.Event] = weakref.WeakKeyDictionary()


K = TypeVar("K")
V = TypeVar("V")


def _made_once(table: MutableMapping[K, V], key: K, make: Callable[[], V]) -> V:
    """``table[key]``, made by ``make`` the first time (not ``setdefault``, which would make
    one on every call: once a delivery, on the relay's path)."""
    found = table.get(key)
    if found is None:
        found = table[key] = make()
    return found


def relay_counts(gw: Gateway) -> Counter[str]:
    """This process's relays by outcome (``queued``, ``replayed``, ``forwarded``, ``failed``)."""
    return _made_once(_counts, gw, Counter)


def _wakeup(gw: Gateway) -> asyncio.Event:
    return _made_once(_wakeups, gw, asyncio.Event)


def _holds_none(body: bytes, data: Any, fields: Sequence[str], secrets: Sequence[str]) -> bool:
    """Whether ``data`` (the JSON of ``body``) surely holds none of ``fields`` at its top and
    none of ``secrets`` in any string: JSON without an escape (``\\``) spells each string as
    it is, so a secret that is not in its bytes is in none of them (a byte search, where a
    walk of the whole delivery costs a delivery's intake about 10 us)."""
    if b"\\" in body:
        return False
    if fields and isinstance(data, Mapping) and not data.keys().isdisjoint(fields):
        return False
    return not any(secret and secret.encode() in body for secret in secrets)


def _scrubbed(data: Any, fields: Sequence[str], secrets: Sequence[str]) -> Any:
    """``data`` without the provider's secret: ``fields`` dropped at the top, and each
    occurrence of one of ``secrets`` in any string, at any depth, replaced by ``***``."""
    if isinstance(data, Mapping):
        return {k: _scrubbed(v, (), secrets) for k, v in data.items() if k not in fields}
    if isinstance(data, list):
        return [_scrubbed(v, (), secrets) for v in data]
    if isinstance(data, str):
        for secret in secrets:
            if secret and secret in data:
                data = data.replace(secret, "***")
    return data


_second: list[Any] = [0, ""]  # the second last formatted, and its text


def _now_rfc3339() -> str:
    """Now as RFC 3339 in UTC, to the microsecond (``datetime.now(UTC).isoformat()``'s text,
    its date formatted once a second: it was a tenth of the relay's own intake work)."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{int((now - second) * 1_000_000):06d}+00:00"


def _event(account: str, provider: str, event_id: str, data: Any, data_type: str,
           subscription: str | None) -> dict[str, Any]:  # fmt: skip
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"webhook-gateway/{account}",
        "type": f"com.webhook-gateway.delivery.{provider}",
        "time": _now_rfc3339(),
        "datacontenttype": data_type,
        "data": data,
    }
    if subscription is not None:
        event["subject"] = subscription  # which subscription (and so which event) it is
    return event


def event_id_of(account: str, subscription: str | None, adapter: type[Any], data: Any,
                body: bytes) -> str:  # fmt: skip
    """The CloudEvent id of a verified delivery: the same for a replay of it, different for
    every other event (``delivery_id``, the subscription, else the body's digest)."""
    where = account if subscription is None else f"{account}/{subscription}"
    theirs = (
        data.get(adapter.delivery_id) if isinstance(data, dict) and adapter.delivery_id else None
    )
    if (
        isinstance(theirs, str | int)
        and str(theirs)
        and (adapter.delivery_id_names_event or subscription is not None)
    ):
        return _uuid5(f"{where}/{theirs}")
    # No id that names the event here: the delivery itself, byte for byte (a replay is one).
    return _uuid5(f"{where}/sha256:{hashlib.sha256(body).hexdigest()}")


_NAMESPACE = EVENT_IDS.bytes


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(EVENT_IDS, name))``, without its two UUID objects (a delivery's intake
    paid about 4 us for them; the same bytes, tested against ``uuid.uuid5``)."""
    sha1 = hashlib.sha1(_NAMESPACE + name.encode(), usedforsecurity=False)
    digest = bytearray(sha1.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


async def relay_delivery(
    gw: Gateway,
    account: str,
    provider: str,
    config: InboundConfig,
    headers: Mapping[str, str],
    body: bytes,
    content_type: str,
    subscription: str | None = None,
) -> Relayed:
    """Verify ``body`` as a delivery of ``account`` (to the inbound path of ``subscription``,
    if any) and queue it for ``config``'s destinations."""
    forwarder = _forwarders.get(gw)  # (none: no sender runs here, nothing gives way to intake)
    with forwarder.taking_in() if forwarder is not None else contextlib.nullcontext():
        secrets: list[Secret] = list(config.secrets)
        if config.webhook is not None:  # the secrets rotate keeps, current first
            secrets = [*await verification_secrets(gw, account, config.webhook), *secrets]
        if not secrets:
            return Relayed(Outcome.UNVERIFIABLE)
        result = verify(provider, headers, body, secrets)
        if not result.ok:
            return Relayed(Outcome.REFUSED)
        adapter = type(gw.account(account).provider)
        try:
            data: Any = orjson.loads(body)
            data_type = "application/json"
        except orjson.JSONDecodeError:
            data, data_type = body.decode("utf-8", "replace"), content_type or "text/plain"
        revealed = [s.reveal() for s in secrets]
        if data_type != "application/json" or not _holds_none(
            body, data, adapter.delivery_secret_fields, revealed
        ):
            data = _scrubbed(data, adapter.delivery_secret_fields, revealed)
        if gw.store is None:
            raise StateUnavailable("the inbound relay needs [state]: its outbox is kept there")
        if await _outbox_full(gw):  # (before the event is made: nothing of it is kept)
            relay_counts(gw)["full"] += 1
            log.error("the relay's outbox is full: a delivery was refused for a retry",
                      extra={"account": account})  # fmt: skip
            return Relayed(Outcome.FULL, matched=result.matched)
        event_id = event_id_of(account, subscription, adapter, data, body)
        event = orjson.dumps(_event(account, provider, event_id, data, data_type, subscription))
        now = time.time()
        # This process's sender, when it runs and has room, sends what it queues at once: stored
        # held by it (as ``hold_due`` would), and handed over without reading it back.
        sender = forwarder if forwarder and forwarder.reserve(len(config.destinations)) else None
        relays = [Relay(event_id=event_id, destination=d.url, account=account, event=event,
                        next_at=now + HOLD if sender else 0.0)
                  for d in config.destinations]  # fmt: skip
        keep_until = now + config.replay_window_hours * 3600
        try:
            queued = await _writers_of(gw).intake((relays, now, keep_until))
        finally:
            if sender:
                sender.reserved -= len(relays)
        counts = relay_counts(gw)
        if not queued:
            counts["replayed"] += 1
            log.info("a delivery relayed before came again: not forwarded twice",
                     extra={"account": account, "event_id": event_id})  # fmt: skip
            return Relayed(Outcome.REPLAYED, event_id=event_id, matched=result.matched)
        counts["queued"] += len(relays)
        if sender and sender.running:
            for queued_relay in relays:
                sender.start(gw, queued_relay, held=True)
        elif sender:  # the sender stopped meanwhile: handed back, due now, for another replica
            await _hand_back(gw, relays)
        else:
            _wakeup(gw).set()
        return Relayed(Outcome.QUEUED, event_id=event_id, matched=result.matched)


class _Grouped(Generic[T, R]):
    """Writes to the store made in groups: one that arrives while a group is being written
    waits for the next, so a flood costs the store one statement and one commit a group
    instead of one each, and one that arrives alone is written at once. Each caller is
    answered once its own group is committed, with its own item's result (``write`` gives
    one per item, or None for none), or with the group's error.

    Two of them per gateway: deliveries taken in (``Store.enqueue_many``: was each one
    queued?) and attempts' outcomes (``Store.settle_relays``); both run off the event loop
    (SQLite's writer thread, or one PostgreSQL round trip)."""

    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R] | None]]) -> None:
        self._write = write
        self._pending: list[tuple[T, asyncio.Future[R | None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R | None:
        done: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._write_groups())
        return await done

    async def _write_groups(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                results = await self._write([item for item, _ in group])
            except Exception as exc:  # every caller of the group hears it (and says so)
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for i, (_, done) in enumerate(group):
                if not done.done():
                    done.set_result(None if results is None else results[i])


class _Writers:
    """A gateway's two ``_Grouped`` writers."""

    def __init__(self, store: Store) -> None:
        self.intake: _Grouped[tuple[list[Relay], float, float], bool] = _Grouped(store.enqueue_many)
        self.settle: _Grouped[tuple[Relay, str, int, float], None] = _Grouped(store.settle_relays)


_writers: weakref.WeakKeyDictionary[Gateway, _Writers] = weakref.WeakKeyDictionary()


def _writers_of(gw: Gateway) -> _Writers:
    store = gw.store
    assert store is not None
    return _made_once(_writers, gw, lambda: _Writers(store))


async def _hand_back(gw: Gateway, relays: Sequence[Relay]) -> None:
    """Give back relays held by this process and not sent (it stops): due now, for another
    replica, instead of after their hold. Shielded: the stopping does not cut it short."""
    now, settle = time.time(), _writers_of(gw).settle
    await asyncio.shield(asyncio.gather(*(settle((r, "queued", r.attempts, now)) for r in relays)))


def _event_type(event: bytes) -> str:
    """The ``type`` of a stored CloudEvent, read without parsing the whole event (its data may
    be large); ``relay`` where it cannot be found."""
    start = event.find(b'"type":"')
    if start < 0:
        return "relay"
    end = event.find(b'"', start + 8)
    return event[start + 8 : end].decode() if end > 0 else "relay"


#: How long a count of the outbox stands before it is counted again (seconds).
_COUNT_FOR = 1.0
_outbox: weakref.WeakKeyDictionary[Gateway, tuple[float, asyncio.Future[int]]] = (
    weakref.WeakKeyDictionary()
)


async def _outbox_full(gw: Gateway) -> bool:
    """Whether the outbox holds ``[state] relay_outbox_limit`` queued relays (counted at most
    once a second, one count for every delivery that asks meanwhile: a flood of deliveries
    does not count it once each)."""
    assert gw.store is not None and gw.config.state is not None
    now = time.monotonic()
    at, count = _outbox.get(gw, (0.0, None))
    if (
        count is None
        or now - at > _COUNT_FOR
        or (count.done() and (count.cancelled() or count.exception() is not None))
    ):
        count = asyncio.ensure_future(gw.store.queued_relays())
        _outbox[gw] = (now, count)
    return await asyncio.shield(count) >= gw.config.state.relay_outbox_limit


def _sink(gw: Gateway, relay: Relay) -> Sink | None:
    """The configured destination ``relay`` goes to (None: no longer configured)."""
    sinks = _made_once(_sinks, gw, lambda: {  # (once: a gateway's configuration stays)
        (account, d.url): Sink(url=d.url, secret=d.secret)
        for account, inbound in gw.config.inbound.items()
        for d in inbound.destinations
    })  # fmt: skip
    return sinks.get((relay.account, relay.destination))


_sinks: weakref.WeakKeyDictionary[Gateway, dict[tuple[str, str], Sink]] = (
    weakref.WeakKeyDictionary()
)


#: Forwards in flight to one destination at most: a slow or hanging receiver holds that many
#: of its own relays, never another destination's.
PER_DESTINATION = 16
#: Relays held by this process at most, in all (being forwarded, or waiting for their
#: destination's turn).
IN_FLIGHT = 256
#: Relays held in one statement at most.
BATCH = 128
#: Deliveries being taken in at once from which intake comes first: forwards to a destination
#: beyond ``TRICKLE`` wait until fewer are (the provider waits for its answer, and UiPath
#: disables a webhook whose deliveries fail; a destination waits for nothing). Forwarding
#: never stops: ``TRICKLE`` a destination go on, and a backlog drains once the flood ends.
BUSY_INTAKE = 8
TRICKLE = 2


class _Forwarder:
    """This process's forwards in flight, bounded per destination and in all; ``running``
    while ``relay_forever`` runs, ``reserved``: room promised to deliveries being queued;
    ``taking``: deliveries being taken in (``calm`` while fewer than ``BUSY_INTAKE``);
    ``roomy``: set when there is room for a batch."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Semaphore] = {}
        self.flying: set[tuple[str, str]] = set()
        self.tasks: set[asyncio.Task[bool]] = set()
        self.running = False
        self.reserved = 0
        self.taking = 0
        self.calm = asyncio.Event()
        self.calm.set()
        self.sending: Counter[str] = Counter()
        self.roomy = asyncio.Event()

    @contextlib.contextmanager
    def taking_in(self) -> Iterator[None]:
        """Count a delivery being taken in (``relay_delivery``) while the block runs."""
        self.taking += 1
        if self.taking >= BUSY_INTAKE:
            self.calm.clear()
        try:
            yield
        finally:
            self.taking -= 1
            if self.taking < BUSY_INTAKE:
                self.calm.set()

    def reserve(self, count: int) -> bool:
        """Promise room for ``count`` relays being queued (to be started ``held``), if the
        sender runs and has it; the caller gives it back (``reserved``) once they are."""
        if not self.running or len(self.flying) + self.reserved + count > IN_FLIGHT:
            return False
        self.reserved += count
        return True

    def start(self, gw: Gateway, relay: Relay, *, held: bool = False) -> asyncio.Task[bool] | None:
        """Forward ``relay`` in a task of its own, unless it is in flight already (``held``:
        the store holds it for this process already)."""
        key = (relay.event_id, relay.destination)
        if key in self.flying or (not held and len(self.flying) >= IN_FLIGHT):
            return None
        self.flying.add(key)
        gate = _made_once(self.gates, relay.destination,
                          lambda: asyncio.Semaphore(PER_DESTINATION))  # fmt: skip
        task = asyncio.ensure_future(self._one(gw, relay, gate, held))
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._landed(t, key))
        return task

    def _landed(self, task: asyncio.Task[bool], key: tuple[str, str]) -> None:
        self.tasks.discard(task)
        self.flying.discard(key)
        if self.room_for_a_batch():
            self.roomy.set()
        if not task.cancelled() and task.exception() is not None:  # (a store failure)
            log.warning("relay: forwarding failed", extra={"error": str(task.exception())})

    async def _one(self, gw: Gateway, relay: Relay, gate: asyncio.Semaphore, held: bool) -> bool:
        destination, sending, turn = relay.destination, False, True

        def sent() -> None:  # the destination's turn ends with the sending, not the settling
            nonlocal turn
            if turn:
                turn = False
                gate.release()

        try:
            await gate.acquire()
            try:
                while not self.calm.is_set() and self.sending[destination] >= TRICKLE:
                    await self.calm.wait()  # intake first (a hold that runs low is renewed)
                sending = True
                self.sending[destination] += 1  # (a trickle's forward counts until settled)
                try:
                    return await _forward(gw, relay, held=held, sent=sent)
                finally:
                    self.sending[destination] -= 1
            finally:
                sent()
        except asyncio.CancelledError:
            # Stopping while it waited its turn: held for this process and never sent, it is
            # handed back, due now, for another replica (``_forward`` hands back its own).
            if held and not sending:
                await _hand_back(gw, [relay])
            raise

    def room_for_a_batch(self) -> bool:
        return IN_FLIGHT - len(self.flying) >= min(BATCH, IN_FLIGHT)

    async def roomier(self) -> None:
        """Wait until there is room for a batch in flight."""
        self.roomy.clear()
        if not self.room_for_a_batch():
            await self.roomy.wait()


_forwarders: weakref.WeakKeyDictionary[Gateway, _Forwarder] = weakref.WeakKeyDictionary()


def _forwarder_of(gw: Gateway) -> _Forwarder:
    return _made_once(_forwarders, gw, _Forwarder)


async def forward_due(gw: Gateway, *, limit: int = 100, now: float | None = None) -> int:
    """Forward the relays due by ``now`` (default: now), once each (an attempt; a failed one
    is due again later, with backoff, until ``ATTEMPTS``), concurrently, at most
    ``PER_DESTINATION`` at a time to one destination; how many were forwarded."""
    started = await _start_due(gw, time.time() if now is None else now, limit)
    return sum(await asyncio.gather(*started))


async def _start_due(gw: Gateway, now: float, limit: int) -> list[asyncio.Task[bool]]:
    """Hold the relays due by ``now`` (at most ``limit``, and as many as this process has room
    for) in one statement, and start forwarding each; the tasks started."""
    assert gw.store is not None
    forwarder = _forwarder_of(gw)
    room = min(limit, IN_FLIGHT - len(forwarder.flying))
    if room <= 0:
        return []
    held = await gw.store.hold_due(now, room, time.time() + HOLD)
    return [t for t in (forwarder.start(gw, r, held=True) for r in held) if t is not None]


async def _forward(
    gw: Gateway, relay: Relay, *, held: bool = False, sent: Callable[[], None] = lambda: None
) -> bool:
    """One attempt at ``relay``, held from when it is taken (``held``: taken already, with
    others, by ``hold_due``; so another replica waits for the hold of this relay, however long
    the pass before it took); whether it was forwarded. ``sent`` is called once the attempt
    is over, before its outcome is recorded (the destination's next relay goes meanwhile)."""
    assert gw.store is not None
    store, counts = gw.store, relay_counts(gw)
    if held and time.time() > relay.next_at - HOLD / 2:  # waited its turn long: hold anew
        held = await store.hold_relay(relay, time.time() + HOLD)
        if not held:
            return False  # its hold ran out and another replica has it
    elif not held and not await store.hold_relay(relay, time.time() + HOLD):
        return False  # another replica has it
    sink = _sink(gw, relay)
    attempts = relay.attempts + 1
    try:
        # the stored event as it is: its id and type are all the sending needs of it parsed
        event = {"id": relay.event_id, "type": _event_type(relay.event)}
        done = sink is not None and await deliver_event(
            gw.transport.session, sink, event, attempts=1, body=relay.event
        )
    except asyncio.CancelledError:  # stopping: handed back, due now, for another replica
        await _hand_back(gw, [relay])
        raise
    sent()
    now = time.time()
    group = _writers_of(gw).settle

    async def settle(relay: Relay, state: str, attempts: int, next_at: float) -> None:
        await group((relay, state, attempts, next_at))

    if done:
        await settle(relay, "forwarded", attempts, now)
        counts["forwarded"] += 1
        return True
    if sink is None or attempts >= ATTEMPTS:
        await settle(relay, "failed", attempts, now)
        counts["failed"] += 1
        why = "no such destination now" if sink is None else "every attempt failed"
        log.error("a relayed delivery could not be forwarded; given up",
                  extra={"account": relay.account, "event_id": relay.event_id,
                         "attempts": attempts, "why": why})  # fmt: skip
    else:
        wait = min(MAX_WAIT, 2.0 ** (attempts - 1))
        await settle(relay, "queued", attempts, now + wait)
    return False


async def relay_forever(gw: Gateway, *, idle: float = 1.0) -> None:
    """Start forwarding whatever is due whenever a delivery is queued, and every ``idle``
    seconds (retries, other replicas' relays, what a restart left), until cancelled. A pass
    does not wait for the forwards it started: a slow destination delays only its own."""
    wakeup = _wakeup(gw)
    forwarder = _forwarder_of(gw)
    forwarder.running = True
    try:
        while True:
            wakeup.clear()  # before the pass: what is queued during it wakes the next one
            if forwarder.tasks and not forwarder.room_for_a_batch():
                # room for less than a batch: wait for room (never sleep while relays are due,
                # nor take them a few at a time)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(idle):
                        await forwarder.roomier()
            asked = min(BATCH, IN_FLIGHT - len(forwarder.flying))
            started: list[asyncio.Task[bool]] = []
            if asked > 0:
                try:
                    started = await _start_due(gw, time.time(), asked)  # (they land alone)
                except GatewayError as exc:
                    log.warning("relay: forwarding failed", extra={"error": str(exc)})
                    asked = -1
            if asked > 0 and len(started) == asked:
                continue  # as many as there was room for: more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), idle)
    finally:  # (stopping) each forward hands its relay back before the store closes
        forwarder.running = False
        running = list(forwarder.tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
