"""``plan``, ``apply`` and ``export``: the manifest commands (gateway/plan/, docs/plan.md).

``plan`` exits like ``terraform plan -detailed-exitcode``: 0 no changes, 2 changes, 1 error.
``apply`` asks before writing on a terminal, and needs ``--auto-approve`` elsewhere; it exits 0
when every write succeeded, 1 when one failed (the others still ran: apply again to converge).
``apply --plan FILE`` (a ``plan --out FILE``) goes on only if planning again gives the same plan.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from gateway.cli.output import report
from gateway.cli.remote_desired import remote_apply, remote_plan
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError
from gateway.lifecycle import tune_gc
from gateway.origin import acting_as
from gateway.plan import Outcome, Plan, apply_plan, export_manifest, load_manifest, make_plan
from gateway.plan.text import render
from gateway.service import Gateway

__all__ = ["apply", "export", "plan"]


def _remote(args: argparse.Namespace) -> tuple[str, str] | tuple[()] | None:
    """The ``(server, token)`` of a remote command; ``()`` after a usage error (reported)."""
    from gateway.cli.credentials import remote_of

    try:
        return remote_of(args)
    except ConfigError as exc:
        report(exc, as_json=getattr(args, "json", False))
        return ()


def _config_for(args: argparse.Namespace, manifest_path: str | None) -> GatewayConfig:
    """The config, with only the accounts the manifest (or ``--account``) names."""
    wanted = [args.account] if getattr(args, "account", None) else None
    if wanted is None and manifest_path is not None:
        try:
            raw = tomllib.loads(Path(manifest_path).read_text(encoding="utf-8"))
            configured = tomllib.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return load_config(args.config, server=False)  # let the loaders say what is wrong
        names = set(raw.get("accounts", {})) & set(configured.get("accounts", {}))
        wanted = sorted(names)
    return load_config(args.config, accounts=wanted, server=False)


async def _plan(args: argparse.Namespace) -> tuple[Gateway, Plan]:
    config = _config_for(args, args.manifest)
    manifest = load_manifest(args.manifest, config,
                             only=[args.account] if args.account else None)  # fmt: skip
    # A plan of thousands of webhooks allocates much and keeps it: the collector settings of
    # a server (gateway.lifecycle) keep full collections from walking it over and over.
    tune_gc()
    gw = Gateway(config)
    await gw.open()
    try:
        accounts = [args.account] if args.account else None
        made = await make_plan(gw, manifest, accounts=accounts, adopt=args.adopt,
                               prune=args.prune,
                               set_unknown_secrets=args.set_unknown_secrets)  # fmt: skip
    except BaseException:
        await gw.close()
        raise
    return gw, made


def plan(args: argparse.Namespace) -> int:
    import asyncio

    if (remote := _remote(args)) is not None:
        return remote_plan(args, *remote) if remote else 2

    async def run() -> Plan:
        gw, made = await _plan(args)
        await gw.close()
        return made

    try:
        made = asyncio.run(run())
    except Exception as exc:
        report(exc, as_json=args.json)
        return 1
    if args.out:
        Path(args.out).write_text(json.dumps(made.to_json(), indent=1) + "\n", encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(made.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render(made))
    if made.failed:
        return 1
    return 2 if made.changes else 0


def _progress(total: int) -> Any:
    done = {"n": 0}

    def show(_outcome: Outcome) -> None:
        done["n"] += 1
        if sys.stderr.isatty():
            filled = 30 * done["n"] // total
            sys.stderr.write(f"\rapplying [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{done['n']}/{total}")  # fmt: skip
            if done["n"] == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return show


def apply(args: argparse.Namespace) -> int:
    import asyncio

    if (remote := _remote(args)) is not None:
        return remote_apply(args, *remote) if remote else 2

    async def run() -> int:
        gw, made = await _plan(args)
        try:
            if not args.json:
                sys.stdout.write(render(made))
            if made.failed:
                return 1
            if args.plan:
                saved = json.loads(await asyncio.to_thread(Path(args.plan).read_text, "utf-8"))
                if saved.get("fingerprint") != made.fingerprint:
                    sys.stderr.write(
                        f"error: the plan in {args.plan} is out of date: the manifest or the "
                        "accounts changed since it was made (the plan above is the current "
                        "one); plan again\n"
                    )
                    return 1
            if made.changes == 0 and not any(a.actions for a in made.accounts):
                return 0
            if not args.auto_approve:
                if not sys.stdin.isatty():
                    sys.stderr.write("error: apply writes; confirm on a terminal or pass "
                                     "--auto-approve\n")  # fmt: skip
                    return 2
                answer = await asyncio.to_thread(input, "Apply these changes? Only 'yes' goes on: ")
                if answer.strip() != "yes":
                    sys.stdout.write("Nothing applied.\n")
                    return 0
            total = sum(len(a.actions) for a in made.accounts)
            with acting_as("cli"):
                result = await apply_plan(gw, made, concurrency=args.parallelism,
                                          progress=_progress(total))  # fmt: skip
        finally:
            await gw.close()
        if args.json:
            sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        else:
            for failure in result.failed:
                a = failure.action
                sys.stdout.write(f"failed: {a.account} {a.kind} {a.key or a.webhook_id}: "
                                 f"{failure.error}\n")  # fmt: skip
            applied = len(result.outcomes) - len(result.failed)
            sys.stdout.write(f"Applied {applied} of {len(result.outcomes)}.\n")
        return 1 if result.failed else 0

    try:
        return asyncio.run(run())
    except Exception as exc:
        report(exc, as_json=args.json)
        return 1


def export(args: argparse.Namespace) -> int:
    import asyncio

    if (remote := _remote(args)) is not None:
        if remote:
            sys.stderr.write("error: export reads the providers with the vendors' credentials: "
                             "run it where the gateway runs, with --config\n")  # fmt: skip
        return 2

    async def run() -> str:
        config = _config_for(args, None)
        async with Gateway(config) as gw:
            return await export_manifest(gw, accounts=[args.account] if args.account else None)

    try:
        text = asyncio.run(run())
    except Exception as exc:
        return report(exc, as_json=False)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
