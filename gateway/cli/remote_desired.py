"""``plan`` and ``apply`` with ``--server``: the manifest is read here, its secrets resolved on
the operator's machine (``secret_env``, ``secret_file``) and sent write-only in the request
(``POST /v1/plan``, ``POST /v1/apply``); the gateway plans with its own credentials. ``apply``
shows the plan, asks (or takes ``--yes``), then applies exactly that plan: its
``plan_fingerprint`` goes with it, and a plan that changed meanwhile is refused (409), nothing
written. Exit statuses as locally: plan 0/2/1, apply 0/1 (and 2 unconfirmed)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from gateway.cli.output import report
from gateway.errors import ConfigError, FieldProblem

__all__ = ["remote_apply", "remote_plan"]


def _body(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.plan.manifest import inline_references

    path = Path(args.manifest)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if args.account:
        accounts = data.get("accounts") or {}
        if args.account not in accounts:
            raise ConfigError(problems=[FieldProblem("--account",
                              f"the manifest has no [accounts.{args.account}]")])  # fmt: skip
        data = {**data, "accounts": {args.account: accounts[args.account]}}
    manifest = inline_references(data, path.resolve().parent)
    return {"manifest": manifest, "adopt": args.adopt, "prune": args.prune,
            "set_unknown_secrets": args.set_unknown_secrets}  # fmt: skip


async def _call(server: str, token: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from gateway.cli.ops import Remote

    async with aiohttp.ClientSession() as session:
        remote = Remote(server, token, session)
        return await (remote.plan(body) if method == "plan" else remote.apply(body))


def remote_plan(args: argparse.Namespace, server: str, token: str) -> int:
    from gateway.plan.text import render

    try:
        made = asyncio.run(_call(server, token, "plan", _body(args)))
    except Exception as exc:
        report(exc, as_json=args.json)
        return 1
    if args.out:
        Path(args.out).write_text(json.dumps(made, indent=1) + "\n", encoding="utf-8")
    sys.stdout.write(json.dumps(made, indent=2) + "\n" if args.json else render(made))
    if any(a.get("error") for a in made["accounts"]):
        return 1
    return 2 if made["changes"] else 0


def remote_apply(args: argparse.Namespace, server: str, token: str) -> int:
    from gateway.plan.text import render

    try:
        body = _body(args)
        made = asyncio.run(_call(server, token, "plan", body))
    except Exception as exc:
        report(exc, as_json=args.json)
        return 1
    if not args.json:
        sys.stdout.write(render(made))
    if any(a.get("error") for a in made["accounts"]):
        return 1
    if not any(a["actions"] for a in made["accounts"]):
        return 0
    if not args.auto_approve:
        if not sys.stdin.isatty():
            sys.stderr.write("error: apply writes; confirm on a terminal or pass --yes\n")
            return 2
        if input("Apply these changes? Only 'yes' goes on: ").strip() != "yes":
            sys.stdout.write("Nothing applied.\n")
            return 0
    try:
        answer = asyncio.run(_call(server, token, "apply",
                                   {**body, "plan_fingerprint": made["fingerprint"]}))  # fmt: skip
    except Exception as exc:
        report(exc, as_json=args.json)
        return 1
    result = answer["report"]
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        for outcome in result["outcomes"]:
            if not outcome["ok"]:
                what = outcome["key"] or outcome["id"]
                sys.stdout.write(f"failed: {outcome['account']} {outcome['action']} {what}: "
                                 f"{outcome['error']}\n")  # fmt: skip
        sys.stdout.write(f"Applied {result['applied']} of {len(result['outcomes'])}.\n")
    return 1 if result["failed"] else 0
