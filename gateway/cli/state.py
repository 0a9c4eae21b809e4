"""``webhook-gateway migrate`` and ``webhook-gateway state backup|restore``: the state store
as an operator looks after it (docs/deploy.md).

``migrate`` applies the pending migrations (one process at a time: PostgreSQL's advisory lock,
SQLite's write lock) and says from which version to which; ``migrate --check`` changes
nothing and exits 2 when some are pending (a deploy's gate), 1 when a later release migrated
the store. With ``[state] migrate = "manual"`` this is the only way a schema changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from gateway.cli.output import EXIT, report
from gateway.config import StateConfig, load_config
from gateway.errors import ConfigError, FieldProblem, GatewayError, InvalidRequest
from gateway.store import open_store
from gateway.store.backup import backup_sqlite, restore_sqlite

__all__ = ["migrate", "state"]


def _state_config(args: argparse.Namespace, what: str) -> StateConfig:
    """The config's ``[state]`` (only it and ``[http]`` are read: no account's variables);
    ``what`` needs it."""
    config = load_config(args.config, accounts=[], server=False)
    if config.state is None:
        raise ConfigError(problems=[FieldProblem("state", f"{what} a state store: set "
                                                 "[state] url")])  # fmt: skip
    return config.state


def migrate(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_migrate(args))
    except GatewayError as exc:
        return report(exc, as_json=args.json)


async def _migrate(args: argparse.Namespace) -> int:
    store = open_store(_state_config(args, "migrations need"))
    await store.open(migrate=False)
    try:
        current, expected = await store.schema()
        if current > expected:
            _say(args, f"the state store's schema is version {current}, newer than this "
                 f"release's {expected}: a later release migrated it",
                 current=current, expected=expected, pending=0)  # fmt: skip
            return EXIT["unexpected"]
        if args.check:
            pending = expected - current
            _say(args, f"{pending} migration(s) pending: version {current}, this release needs "
                 f"{expected}" if pending else f"up to date (schema version {current})",
                 current=current, expected=expected, pending=pending)  # fmt: skip
            return EXIT["usage"] if pending else EXIT["ok"]
        applied = await store.migrate()
        after, _ = await store.schema()
        _say(args, f"migrated: schema version {current} -> {after} ({applied} applied)"
             if applied else f"up to date (schema version {after})",
             current=after, expected=expected, applied=applied)  # fmt: skip
        return EXIT["ok"]
    finally:
        await store.close()


def _say(args: argparse.Namespace, text: str, **data: int) -> None:
    sys.stdout.write((json.dumps(data) if args.json else text) + "\n")


def state(args: argparse.Namespace) -> int:
    """``state backup FILE`` / ``state restore FILE [--replace]``."""
    try:
        url = _state_config(args, "this needs").url
        database = url.removeprefix("sqlite:///") if url.startswith("sqlite:") else ""
        if not database:
            tool = "pg_dump -Fc" if args.action == "backup" else "pg_restore --clean"
            raise InvalidRequest.at("[state] url", f"PostgreSQL is backed up with its own tools: "
                                    f"{tool} (docs/deploy.md, Backups)")  # fmt: skip
        if args.action == "backup":
            version = backup_sqlite(database, args.file)
            _say(args, f"backed up {database} to {args.file} (schema version {version})",
                 schema=version)  # fmt: skip
        else:
            version = restore_sqlite(args.file, database, replace=args.replace)
            _say(args, f"restored {args.file} into {database} (schema version {version}); "
                 "start the gateway (it migrates an older one)", schema=version)  # fmt: skip
    except GatewayError as exc:
        return report(exc, as_json=args.json)
    return EXIT["ok"]
