"""The state stores against real databases: a SQLite file and a PostgreSQL server. The same
tests run on both (``store`` is parametrized)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.config import StateConfig
from gateway.errors import SchemaNewer, StateUnavailable
from gateway.store import AuditEntry, AuditQuery, Relay, Store, StoredAnswer, open_store
from gateway.store.sql import migrations
from tests.postgres import create_database, drop_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    server = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/state.db"
    else:
        server = request.getfixturevalue("postgres_server")
        url = await create_database(server)
    store = open_store(StateConfig(url=url))
    await store.open()
    yield store
    await store.close()
    if server is not None:
        await drop_database(server, url)


def entry(**fields: Any) -> AuditEntry:
    base: dict[str, Any] = dict(
        time=1000.0, actor="key:deploy", account="orch", provider="uipath", webhook_id="1",
        operation="update", change={"name": "x"}, outcome="ok", request_id="r1", duration_ms=3.5,
    )  # fmt: skip
    return AuditEntry(**(base | fields))


async def test_an_idempotency_key_runs_once_then_replays(store: Store) -> None:
    assert (await store.claim("k", "key-1", "fp", now=100, lease=60)).state == "new"
    running = await store.claim("k", "key-1", "fp", now=101, lease=60)
    assert running.state == "running" and running.retry_after is not None
    assert (await store.claim("k", "key-1", "other", now=101, lease=60)).state == "mismatch"
    answer = StoredAnswer(status=201, headers={"Location": "/x/1"}, body=b'{"id": "1"}')
    await store.settle("k", "key-1", answer, now=102, retention=3600)
    done = await store.claim("k", "key-1", "fp", now=200, lease=60)
    assert done.state == "done" and done.answer == answer
    assert (await store.claim("k", "key-1", "other", now=200, lease=60)).state == "mismatch"
    assert (await store.claim("other-scope", "key-1", "x", now=200, lease=60)).state == "new"
    # expired: the key may be used afresh, with any request
    assert (await store.claim("k", "key-1", "new-fp", now=102 + 3601, lease=60)).state == "new"


async def test_an_abandoned_claim_can_be_taken_over(store: Store) -> None:
    assert (await store.claim("k", "key", "fp", now=100, lease=10)).state == "new"
    assert (await store.claim("k", "key", "fp", now=105, lease=10)).state == "running"
    assert (await store.claim("k", "key", "fp", now=111, lease=10)).state == "new"
    await store.release("k", "key")
    assert (await store.claim("k", "key", "fp", now=112, lease=10)).state == "new"


async def test_concurrent_claims_of_one_key_let_exactly_one_run(store: Store) -> None:
    claims = await asyncio.gather(*(store.claim("k", "race", "fp", 100, 60) for _ in range(20)))
    assert sorted(c.state for c in claims) == ["new"] + ["running"] * 19


async def test_the_audit_log_pages_newest_first_and_filters(store: Store) -> None:
    for i in range(5):
        await store.record(entry(time=1000.0 + i, webhook_id=str(i % 2), change={"i": i}))
    await store.record(entry(account="other", time=2000.0))
    page = await store.audit(AuditQuery(account="orch", limit=2))
    assert [e.change["i"] for e in page] == [4, 3]
    assert page[0].id is not None
    rest = await store.audit(AuditQuery(account="orch", before_id=page[-1].id, limit=10))
    assert [e.change["i"] for e in rest] == [2, 1, 0]
    assert [
        e.change["i"] for e in await store.audit(AuditQuery(account="orch", webhook_id="1"))
    ] == [3, 1]
    assert len(await store.audit(AuditQuery(since=1003.0))) == 3  # 1003, 1004 and 2000
    first = rest[-1]
    assert (first.actor, first.outcome, first.request_id, first.duration_ms) == (
        "key:deploy", "ok", "r1", 3.5,
    )  # fmt: skip


async def test_entries_recorded_together_are_stored_all_or_none(store: Store) -> None:
    await store.record(*(entry(time=3000.0 + i, change={"i": i}) for i in range(40)))
    stored = await store.audit(AuditQuery(limit=100))
    assert [e.change["i"] for e in stored] == list(range(39, -1, -1))
    poisoned = [entry(time=4000.0), entry(time=4001.0, actor=None)]  # NOT NULL breaks the 2nd
    with pytest.raises(StateUnavailable):
        await store.record(*poisoned)
    assert len(await store.audit(AuditQuery(limit=100))) == 40  # the first was not kept


async def test_more_entries_than_one_statement_binds_are_stored_all_or_none(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite writes a group as one multi-row INSERT; a group larger than one statement may
    bind (here made 3 rows) takes several statements, still in one transaction."""
    monkeypatch.setattr("gateway.store.sqlite._MAX_VALUES", 33)  # 3 rows of 11 columns
    await store.record(*(entry(time=5000.0 + i, change={"i": i}) for i in range(8)))
    assert [e.change["i"] for e in await store.audit(AuditQuery(limit=100))] == list(
        range(7, -1, -1)
    )
    poisoned = [entry(time=6000.0 + i) for i in range(6)] + [entry(time=6007.0, actor=None)]
    with pytest.raises(StateUnavailable):
        await store.record(*poisoned)  # the third statement fails: the first two are undone
    assert len(await store.audit(AuditQuery(limit=100))) == 8


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = open_store(StateConfig(url=f"sqlite:///{tmp_path}/state.db"))
    await store.open()
    yield store
    await store.close()


async def test_sqlite_audit_entries_wait_on_their_thread_while_the_file_is_busy(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """While another writer holds the file, the entry's thread waits for it (the event loop
    keeps running), and the entry is stored once the file is free."""
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    recording = asyncio.create_task(sqlite_store.record(entry(time=7000.0)))
    for _ in range(20):
        await asyncio.sleep(0.01)  # the loop is not blocked
    assert not recording.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(recording, 5)
    assert [e.time for e in await sqlite_store.audit(AuditQuery())] == [7000.0]


async def test_sqlite_audit_entries_are_written_off_the_event_loop(sqlite_store: Store) -> None:
    """The INSERT and its commit run on the appender's thread, not the loop's (``sqlite3``
    lets go of the GIL meanwhile, so the loop goes on serving)."""
    from gateway.store.sqlite import SqliteStore

    assert isinstance(sqlite_store, SqliteStore) and sqlite_store._appender is not None
    threads: list[int] = []
    sqlite_store._appender._db.set_trace_callback(
        lambda sql: threads.append(threading.get_ident()) if sql.startswith("INSERT") else None
    )
    await sqlite_store.record(entry(time=7100.0), entry(time=7101.0))
    assert threads and threading.get_ident() not in threads
    assert len(await sqlite_store.audit(AuditQuery())) == 2


async def test_the_sqlite_wal_stays_small_under_sustained_appends(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """The appender's thread checkpoints between its own appends, so each checkpoint copies the
    whole WAL back and the WAL starts over: 12 MB of entries written back to back leave a WAL
    of about SQLite's 1,000-page checkpoint threshold (4 MB), not 12 MB."""
    pad = "x" * 2000
    for group in range(120):
        await sqlite_store.record(
            *(entry(time=10_000.0 + group * 50 + i, change={"pad": pad}) for i in range(50))
        )
    wal = tmp_path / "state.db-wal"
    assert wal.stat().st_size < 6_000_000
    assert len(await sqlite_store.audit(AuditQuery(limit=10_000))) == 6000


def _counting(store: Store) -> list[int]:
    """The size of each group ``store.record`` is called with, from now on."""
    calls: list[int] = []
    record = store.record

    async def counted(*entries: AuditEntry) -> None:
        calls.append(len(entries))
        await record(*entries)

    store.record = counted  # type: ignore[method-assign]
    return calls


async def _entry_of(auditor: Any, i: int) -> None:
    await auditor.record(account="orch", provider="uipath", operation="update",
                         webhook_id=str(i), change={"name": f"n{i}"}, started=0.0,
                         error=None)  # fmt: skip


async def test_the_auditor_commits_concurrent_entries_in_groups(store: Store) -> None:
    from gateway.store.audit import Auditor

    calls = _counting(store)
    auditor = Auditor(store)
    await auditor.open()
    await asyncio.gather(*(_entry_of(auditor, i) for i in range(50)))
    assert sum(calls) == 50 and len(calls) <= 3  # the first alone, then the rest together
    assert len(await store.audit(AuditQuery(limit=100))) == 50
    assert auditor.failures == 0


async def test_under_load_the_entries_of_a_window_after_a_commit_go_together(
    store: Store,
) -> None:
    from gateway.store.audit import Auditor

    calls = _counting(store)
    auditor = Auditor(store)
    auditor.window = 0.5  # (SQLite's is 5 ms: wide here so that the test does not race it)
    await auditor.open()
    await asyncio.wait_for(_entry_of(auditor, 0), 0.4)  # none committed before: no wait
    later = []
    for i in range(1, 4):  # each in a loop turn of its own, all within the window
        later.append(asyncio.create_task(_entry_of(auditor, i)))
        await asyncio.sleep(0.01)
    await asyncio.gather(*later)
    assert calls == [1, 3]
    assert len(await store.audit(AuditQuery(limit=10))) == 4


async def test_an_entry_whose_caller_is_cancelled_is_written_all_the_same(store: Store) -> None:
    from gateway.store.audit import Auditor

    auditor = Auditor(store)
    auditor.window = 0.2
    await auditor.open()
    await _entry_of(auditor, 0)
    gone = asyncio.create_task(_entry_of(auditor, 1))  # waits for the window
    await asyncio.sleep(0.01)
    gone.cancel()
    await _entry_of(auditor, 2)  # in the same group, after it
    assert gone.cancelled()
    assert sorted(e.webhook_id or "" for e in await store.audit(AuditQuery())) == ["0", "1", "2"]
    assert auditor.failures == 0


async def test_prune_drops_what_is_past_retention(store: Store) -> None:
    await store.record(entry(time=100.0))
    await store.record(entry(time=10_000.0))
    await store.claim("k", "old", "fp", now=0, lease=10)
    assert await store.prune(now=10_050.0, audit_retention=1000) == 2
    assert [e.time for e in await store.audit(AuditQuery())] == [10_000.0]


async def test_the_fingerprint_key_is_made_once_and_kept(store: Store) -> None:
    key = await store.secret_key()
    assert len(key) == 32 and await store.secret_key() == key


async def test_migrations_are_applied_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    for _ in range(2):  # reopening applies nothing again
        store = open_store(StateConfig(url=url))
        await store.open()
        await store.close()
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version")]
    assert versions == [v for v, _ in migrations("sqlite")]


async def test_a_newer_schema_refuses_to_open(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO schema_version VALUES (999)")
    store = open_store(StateConfig(url=f"sqlite:///{tmp_path}/state.db"))
    with pytest.raises(SchemaNewer, match="newer than this release"):
        await store.open()
    await store.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    stores = [open_store(StateConfig(url=postgres_url)) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    keys = {await s.secret_key() for s in stores}
    await asyncio.gather(*(s.close() for s in stores))
    assert len(keys) == 1
    conn = await asyncpg.connect(postgres_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_version")]
    finally:
        await conn.close()
    assert versions == [v for v, _ in migrations("postgresql")]


async def test_the_postgres_lock_excludes_across_stores_and_times_out(postgres_url: str) -> None:
    a, b = open_store(StateConfig(url=postgres_url)), open_store(StateConfig(url=postgres_url))
    await a.open()
    await b.open()
    try:
        order: list[str] = []

        async def hold(store: Store, name: str) -> None:
            async with store.lock("uipath/orch/1", wait=5):
                order.append(f"{name} in")
                await asyncio.sleep(0.2)
                order.append(f"{name} out")

        await asyncio.gather(hold(a, "a"), hold(b, "b"))
        assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
        async with a.lock("uipath/orch/2", wait=5):
            with pytest.raises(StateUnavailable, match="held elsewhere"):
                async with b.lock("uipath/orch/2", wait=0.2):
                    pass
            async with b.lock("uipath/orch/3", wait=0.2):  # another key is free
                pass
        # Released locks are gone, though connections go back to the pool without asyncpg's
        # reset query, and a lock whose holder failed is released too.
        with pytest.raises(RuntimeError):
            async with a.lock("uipath/orch/4", wait=5):
                raise RuntimeError("the locked work failed")
        conn = await asyncpg.connect(postgres_url)
        try:
            for _ in range(200):  # releases go with the next statement: soon, not at once
                held = await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                )
                if held == 0:
                    break
                await asyncio.sleep(0.01)
        finally:
            await conn.close()
        assert held == 0
    finally:
        await a.close()
        await b.close()


async def test_concurrent_postgres_locks_share_round_trips(postgres_url: str) -> None:
    """Fifty updates that lock at once cost a few statements on one connection, not two
    round trips and a pooled connection each; every lock is still exclusive across stores."""
    a, b = open_store(StateConfig(url=postgres_url)), open_store(StateConfig(url=postgres_url))
    await a.open()
    await b.open()
    statements = 0
    locks = a._locks  # type: ignore[attr-defined]
    connect = locks._connect

    class Counting:
        """The lock connection, counting its statements."""

        def __init__(self, conn: Any) -> None:
            self._conn = conn

        def __getattr__(self, name: str) -> Any:
            return getattr(self._conn, name)

        async def fetchrow(self, *args: Any) -> Any:
            nonlocal statements
            statements += 1
            return await self._conn.fetchrow(*args)

    async def counting() -> Any:
        return Counting(await connect())

    locks._connect = counting
    try:
        inside = 0
        most = 0

        async def update(i: int) -> None:
            nonlocal inside, most
            async with a.lock(f"uipath/orch/{i}", wait=5):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.05)
                inside -= 1

        await asyncio.gather(*(update(i) for i in range(50)))
        assert most == 50  # distinct keys: all held together
        assert statements <= 6, statements  # 50 locks and 50 releases in a few statements
        # The other store still cannot take one this store holds.
        async with a.lock("uipath/orch/7", wait=5):
            with pytest.raises(StateUnavailable, match="held elsewhere"):
                async with b.lock("uipath/orch/7", wait=0.1):
                    pass
    finally:
        await a.close()
        await b.close()


async def test_a_lost_lock_connection_frees_its_locks_and_is_opened_again(
    postgres_url: str,
) -> None:
    a, b = open_store(StateConfig(url=postgres_url)), open_store(StateConfig(url=postgres_url))
    await a.open()
    await b.open()
    try:
        async with a.lock("uipath/orch/1", wait=5):
            pid = a._locks._conn.get_server_pid()  # type: ignore[attr-defined]
            admin = await asyncpg.connect(postgres_url)
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
            # The server freed it with the connection: another replica may take it now.
            async with b.lock("uipath/orch/1", wait=2):
                pass
        async with a.lock("uipath/orch/2", wait=2):  # a new connection, locks work again
            with pytest.raises(StateUnavailable):
                async with b.lock("uipath/orch/2", wait=0.1):
                    pass
    finally:
        await a.close()
        await b.close()


async def test_a_lock_granted_to_a_waiter_cancelled_meanwhile_is_let_go(
    postgres_url: str,
) -> None:
    """The lock is granted, then its waiter is cancelled before it runs again: the lock must
    not stay held by nobody."""
    from gateway.store.pg_locks import LockBatcher

    victim: list[asyncio.Task[int]] = []

    class Racing(LockBatcher):
        async def _flush(self) -> None:
            await super()._flush()  # the grant is set; the waiter has not run since
            if victim and not victim[0].done():
                victim[0].cancel()

    async def connect() -> Any:
        return await asyncpg.connect(postgres_url)

    locks = Racing(connect, (OSError,), lambda exc: StateUnavailable(str(exc)))
    victim.append(asyncio.create_task(locks.acquire(42, 5, "k")))
    with pytest.raises(asyncio.CancelledError):
        await victim[0]
    other = LockBatcher(connect, (OSError,), lambda exc: StateUnavailable(str(exc)))
    try:
        await other.acquire(42, 2, "k")  # free again: the cancelled waiter's grant went back
    finally:
        await locks.close()
        await other.close()


async def test_an_unreachable_postgres_is_state_unavailable_without_the_password() -> None:
    store = open_store(StateConfig(url="postgresql://u:hunter2@127.0.0.1:1/db"))
    with pytest.raises(StateUnavailable) as caught:
        await store.open()
    assert "hunter2" not in str(caught.value) and "hunter2" not in repr(store)


async def test_deliveries_are_queued_in_one_statement_and_replays_told_apart(
    store: Store,
) -> None:
    def delivery(event: str, *destinations: str) -> list[Relay]:
        return [Relay(event_id=event, destination=d, account="orch", event=b"{}")
                for d in destinations]  # fmt: skip

    await store.enqueue_relays(delivery("old", "https://a.example"), 100.0, 200.0)
    queued = await store.enqueue_many([
        (delivery("e1", "https://a.example", "https://b.example"), 101.0, 201.0),
        (delivery("old", "https://a.example"), 101.0, 201.0),  # relayed before: a replay
        (delivery("e2", "https://a.example"), 102.0, 202.0),
        (delivery("e2", "https://a.example"), 102.0, 202.0),  # the same, in the same group
    ])  # fmt: skip
    assert queued == [True, False, True, False]
    assert (await store.relay_counts()) == {"queued": 4}
    # held in batches, oldest first, each once: a second taking finds the rest
    first = await store.hold_due(150.0, 2, 500.0)
    assert [r.event_id for r in first] == ["old", "e1"]
    assert {r.next_at for r in first} == {500.0}  # held until then
    rest = await store.hold_due(150.0, 10, 500.0)
    assert sorted(r.event_id for r in rest) == ["e1", "e2"]
    assert {(r.event_id, r.destination) for r in first + rest} == {
        ("old", "https://a.example"),
        ("e1", "https://a.example"),
        ("e1", "https://b.example"),
        ("e2", "https://a.example"),
    }
    assert await store.hold_due(150.0, 10, 500.0) == []  # all held
    assert len(await store.hold_due(600.0, 10, 900.0)) == 4  # holds that ran out: due again


async def test_relays_settle_in_one_statement_and_leave_the_backlog(store: Store) -> None:
    """A group of outcomes is one UPDATE (each row its own state, attempts and time); the
    backlog counts queued relays alone; a relay queued with a ``next_at`` is stored held by
    its sender until then (not due for another)."""
    relays = [Relay(event_id=f"e{i}", destination="https://a.example", account="orch",
                    event=b"{}") for i in range(5)]  # fmt: skip
    held = Relay(event_id="mine", destination="https://a.example", account="orch",
                 event=b"{}", next_at=160.0)  # fmt: skip
    await store.enqueue_many([([r], 100.0, 200.0) for r in [*relays, held]])
    assert await store.queued_relays() == 6
    assert "mine" not in {r.event_id for r in await store.hold_due(150.0, 10, 500.0)}
    await store.settle_relays([
        (relays[0], "forwarded", 1, 101.0),
        (relays[1], "failed", 12, 102.0),
        (relays[2], "queued", 1, 300.0),  # an attempt failed: due again later
        (Relay(event_id="gone", destination="x", account="orch", event=b""), "forwarded", 1,
         0.0),  # (pruned meanwhile: nothing to settle, nothing fails)
    ])  # fmt: skip
    assert await store.relay_counts() == {"forwarded": 1, "failed": 1, "queued": 4}
    assert await store.queued_relays() == 4
    (again,) = [r for r in await store.due_relays(1000.0, 10) if r.event_id == "e2"]
    assert (again.attempts, again.next_at) == (1, 300.0)
    assert "mine" in {r.event_id for r in await store.due_relays(160.0, 10)}


async def test_two_stores_holding_at_once_never_take_one_relay_twice(postgres_url: str) -> None:
    stores = [open_store(StateConfig(url=postgres_url)) for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        relays = [Relay(event_id=f"e{i}", destination="https://a.example", account="orch",
                        event=b"{}") for i in range(300)]  # fmt: skip
        await stores[0].enqueue_many([([r], 100.0, 200.0) for r in relays])
        taken = await asyncio.gather(
            *(s.hold_due(150.0, 40, 500.0) for s in stores for _ in range(5))
        )
        ids = [r.event_id for batch in taken for r in batch]
        assert len(ids) == len(set(ids))  # (rows another taking has locked are skipped)
        ids += [r.event_id for r in await stores[1].hold_due(150.0, 300, 500.0)]
        assert sorted(ids) == sorted(r.event_id for r in relays)
    finally:
        for s in stores:
            await s.close()


async def test_rate_slots_follow_one_another_and_pauses_are_kept(store: Store) -> None:
    slots = await asyncio.gather(*(store.take_rate("orch", 100.0, 0.5) for _ in range(6)))
    assert sorted(s for s, _ in slots) == [100.0, 100.5, 101.0, 101.5, 102.0, 102.5]
    assert (await store.take_rate("orch", 200.0, 0.5))[0] == 200.0  # past ones do not bank
    assert await store.rate_paused("orch") == 0.0
    await store.pause_rate("orch", 300.0)
    await store.pause_rate("orch", 250.0)  # an earlier end does not shorten a pause
    assert await store.rate_paused("orch") == 300.0
    assert (await store.take_rate("orch", 201.0, 0.5))[1] == 300.0
    assert await store.rate_paused("other") == 0.0
