"""The ``webhook-gateway`` command line: the library's operations, one command each.

Locally, every command that talks to a provider reads ``--config`` (default:
``$WEBHOOK_GATEWAY_CONFIG``, else ``gateway.toml``), and only the parts of it that it uses:
``list uipath-prod`` needs the environment variables of that account, not of the others or of
``[server]``. Writes are audited as ``cli:<os user>``.

With ``--server URL`` (or ``$WEBHOOK_GATEWAY_URL``) the same commands work through that
gateway's HTTP API with an API key (``$WEBHOOK_GATEWAY_TOKEN``, or ``webhook-gateway login``):
no vendor credential on the operator's machine, and the proxy's rules hold (a read key cannot
write, the destination policy, the audit log names the key). ``--config`` and ``--server`` are
exclusive. Both modes print the same tables and JSON (lists: ``{"items", "errors",
"next_cursor"}``) and exit with the same statuses (the table in ``gateway/cli/output.py``, also
at the end of ``webhook-gateway --help``). Output into a closed pipe ends quietly (status 141).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from gateway.cli.credentials import remote_of
from gateway.cli.desired import Exit
from gateway.cli.output import EXIT, log_to_stderr, report
from gateway.cli.parser import build_parser
from gateway.cli.terminal import visible_output
from gateway.config import load_config
from gateway.health.fresh import drain
from gateway.origin import acting_as
from gateway.service import Gateway

__all__ = ["build_parser", "main"]

#: The exit status of a process whose output pipe was closed (128 + SIGPIPE), as Unix tools.
CLOSED_PIPE = 141


async def _run(args: argparse.Namespace, remote: tuple[str, str] | None) -> Any:
    from gateway.cli.ops import Local, Remote
    from gateway.store.catalogs import FileCatalogs

    if remote is not None:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            return await args.handler(Remote(*remote, session), args)
    config = load_config(args.config, accounts=_accounts_read(args), server=False)
    with acting_as("cli"):  # what runs outside the operations (watch) is the person's too
        # Without a state store, event catalogs are kept in the user's cache directory, so a
        # second run does not read them again (gateway.store.catalogs).
        catalogs = FileCatalogs() if config.state is None else None
        async with Gateway(config, catalogs=catalogs) as gw:
            try:
                return await args.handler(Local(gw), args)
            finally:
                await drain(gw)  # the sinks' deliveries of the refreshed health (notify_own)


def _accounts_read(args: argparse.Namespace) -> list[str] | None:
    """The accounts a local command reads, so that only their credentials need be set (None:
    all of them)."""
    if args.store_only:
        return []
    if args.accounts_of is not None:
        wanted: list[str] | None = args.accounts_of(args)
        return wanted
    account = getattr(args, "account", None)
    return [account] if account else None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        _quiet_stdout()
        return CLOSED_PIPE


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that the interpreter's last flush at
    exit does not fail (and print) again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "jsonl", False):
        args.json = True  # the handlers answer data; it is printed as JSON lines
    if args.handler is None:
        code: int = args.run(args)
        return code
    # What people read spells control characters out (a provider's or a server's text is
    # printed, never obeyed: gateway.cli.terminal); JSON is escaped by json.dumps already.
    with contextlib.nullcontext() if args.json else visible_output():
        return _command(args)


def _command(args: Any) -> int:
    try:
        with log_to_stderr(args.json):
            remote = remote_of(args)
            result = asyncio.run(_run(args, remote))
    except KeyboardInterrupt:
        return EXIT["interrupted"]
    except BrokenPipeError:
        raise
    except Exception as exc:  # every failure is one message and an exit status, never a trace
        return report(exc, as_json=args.json)
    code = EXIT["ok"]
    if isinstance(result, Exit):
        result, code = result.data, result.code
    if result is not None and getattr(args, "jsonl", False):
        # JSON lines: a list's items one a line (``head -1`` works), anything else one line
        items = result["items"] if isinstance(result, dict) and "items" in result else [result]
        for item in items:
            sys.stdout.write(json.dumps(item, separators=(",", ":")) + "\n")
    elif result is not None:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    sys.stdout.flush()  # a closed pipe shows here, not at exit
    return code
