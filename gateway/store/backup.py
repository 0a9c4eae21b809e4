"""Back up and restore an SQLite state store, online.

SQLite's online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot page by
page while the gateway keeps writing: the copy is of one moment, WAL included, never a torn
file (copying ``state.db`` with ``cp`` while it is in use can miss what the WAL holds). The
copy is written beside the target and renamed over it, so a backup interrupted halfway leaves
no half-written file. A restore checks that the file is a gateway state store this release
can run, then copies it into the (stopped) gateway's store the same way. PostgreSQL has its
own tools for this (``pg_dump``/``pg_restore``: docs/deploy.md), which this module does not
replace.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from gateway.errors import InvalidRequest, SchemaNewer, StateUnavailable
from gateway.store.sql import migrations, newer_message

__all__ = ["backup_sqlite", "restore_sqlite", "schema_of"]

#: Pages copied per step: small steps let the gateway's writes in between.
PAGES_PER_STEP = 256


def _copy(source: sqlite3.Connection, target_path: Path) -> None:
    """``source`` into a new file beside ``target_path``, then renamed over it."""
    partial = target_path.with_name(target_path.name + ".partial")
    partial.unlink(missing_ok=True)
    target = sqlite3.connect(partial)
    try:
        source.backup(target, pages=PAGES_PER_STEP)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        target.close()
    os.replace(partial, target_path)


def backup_sqlite(database: str, file: str) -> int:
    """Copy the state store at ``database`` to ``file``, consistently while in use; the
    schema version copied."""
    if not Path(database).exists():
        raise StateUnavailable(f"no state store at {database}")
    source = sqlite3.connect(database, timeout=30)  # (read-only would need the WAL's index)
    try:
        _copy(source, Path(file))
    finally:
        source.close()
    return schema_of(file)


def schema_of(file: str) -> int:
    """The schema version of the state store in ``file``; ``InvalidRequest`` when it is not
    one."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.Error as exc:
        raise InvalidRequest.at("FILE", f"{file} is not a gateway state store ({exc})") from None
    return int(row[0] or 0)


def restore_sqlite(file: str, database: str, *, replace: bool = False) -> int:
    """Restore the backup ``file`` into the state store at ``database`` (``replace``: over one
    that exists; the gateway using it must be stopped); the schema version restored."""
    version = schema_of(file)
    known = migrations("sqlite")[-1][0]
    if version > known:
        raise SchemaNewer(newer_message(version, known))
    target = Path(database)
    if target.exists() and target.stat().st_size and not replace:
        raise InvalidRequest.at("--replace", f"{database} holds a state store already: pass "
                                "--replace to overwrite it (stop the gateway first)")  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):  # the old store's log must not replay over the copy
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        _copy(source, target)
    finally:
        source.close()
    return version
