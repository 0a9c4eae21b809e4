"""The ``webhook-gateway`` command line: the library's operations, one command each.

Every command that talks to a provider reads ``--config`` (default: ``$WEBHOOK_GATEWAY_CONFIG``,
else ``gateway.toml``), and only the parts of it that it uses: ``list uipath-prod`` needs the
environment variables of that account, not of the others or of ``[server]``. It prints a
readable table, or JSON with ``--json``; errors go to stderr, as JSON too with ``--json``, and
the exit status says what kind of failure it was (the table in ``gateway/cli/output.py``, also
at the end of ``webhook-gateway --help``). Writes are audited as ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from gateway.cli.output import EXIT, log_to_stderr, report
from gateway.cli.parser import build_parser
from gateway.config import load_config
from gateway.origin import acting_as
from gateway.service import Gateway

__all__ = ["build_parser", "main"]


async def _run(args: argparse.Namespace) -> Any:
    account = getattr(args, "account", None)
    wanted = [] if args.store_only else [account] if account else None
    config = load_config(args.config, accounts=wanted, server=False)
    with acting_as("cli"):
        async with Gateway(config) as gw:
            return await args.handler(gw, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.handler is None:
        code: int = args.run(args)
        return code
    try:
        with log_to_stderr(args.json):
            result = asyncio.run(_run(args))
    except KeyboardInterrupt:
        return EXIT["interrupted"]
    except Exception as exc:  # every failure is one message and an exit status, never a trace
        return report(exc, as_json=args.json)
    if result is not None:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return EXIT["ok"]
