"""``plan``, ``apply`` and ``export``: the manifest commands (gateway/plan/, docs/plan.md), through
the same local/remote seam as every other command (``gateway.cli.ops``).

The manifest is read here, its secrets resolved on the operator's machine (``secret_env``,
``secret_file``) and given to the operations as ``secret`` (write-only), locally or in the
request (``POST /v1/plan``, ``POST /v1/apply``). ``plan`` exits like ``terraform plan
-detailed-exitcode``: 0 no changes, 2 changes, 1 an account could not be planned. ``apply``
shows the plan, asks on a terminal (``--auto-approve`` elsewhere), then applies exactly that
plan (its fingerprint goes with it; a plan that changed meanwhile is refused, nothing written);
it exits 0 when every write succeeded, 1 when one failed (the others still ran: apply again to
converge). ``apply --plan FILE`` (a ``plan --out FILE``) goes on only if planning again gives
the same plan. Errors exit as every command's do (gateway/cli/output.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import attrs

from gateway.cli.ops import Ops
from gateway.config import read_toml
from gateway.errors import ConfigError, FieldProblem, InvalidRequest
from gateway.lifecycle import tune_gc

__all__ = ["Exit", "cmd_apply", "cmd_export", "cmd_plan", "manifest_accounts"]


@attrs.frozen
class Exit:
    """A command's answer with an exit status other than 0: ``data`` is printed as JSON (when
    not None), then the process exits with ``code``."""

    code: int
    data: Any = None


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "manifest")


def manifest_accounts(args: argparse.Namespace) -> list[str] | None:
    """The accounts a local manifest command reads (so that only their credentials are needed):
    ``--account``, else those the manifest names."""
    if getattr(args, "account", None):
        return [args.account]
    if getattr(args, "manifest", None) is None:
        return None
    try:
        named = set(_read(Path(args.manifest)).get("accounts") or {})
        configured = set(read_toml(args.config, "config").get("accounts", {}))
    except ConfigError:
        return None  # the loaders say what is wrong
    # An account the config lacks is the manifest's problem, which planning reports with the
    # manifest's others: the config is read without it.
    return sorted(named & configured)


def _body(args: argparse.Namespace, found: list[FieldProblem]) -> dict[str, Any]:
    """The plan request of the manifest file (``PlanRequest``'s JSON); what is wrong with its
    secrets is added to ``found`` (they are left out, the rest is planned)."""
    from gateway.plan.manifest import inline_references

    path = Path(args.manifest)
    data = _read(path)
    if args.account:
        accounts = data.get("accounts") or {}
        if args.account not in accounts:
            raise ConfigError(problems=[FieldProblem("--account",
                              f"the manifest has no [accounts.{args.account}]")])  # fmt: skip
        data = {**data, "accounts": {args.account: accounts[args.account]}}
    local: list[FieldProblem] = []
    manifest = inline_references(data, path.resolve().parent, found=local)
    found += [FieldProblem(f"manifest.{p.path}", p.message) for p in local]
    return {"manifest": manifest, "adopt": args.adopt, "prune": args.prune,
            "set_unknown_secrets": args.set_unknown_secrets}  # fmt: skip


async def _planned(ops: Ops, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request of the manifest and its plan; ``InvalidRequest`` with every problem of the
    manifest at once, those found here and those the operations found."""
    found: list[FieldProblem] = []
    body = _body(args, found)
    try:
        made = await ops.plan(body)
    except InvalidRequest as exc:
        raise InvalidRequest(problems=[*found, *exc.problems]) from None
    if found:
        raise InvalidRequest(problems=found)
    return body, made


def _failed(made: dict[str, Any]) -> bool:
    return any(a.get("error") for a in made["accounts"])


async def cmd_plan(ops: Ops, args: argparse.Namespace) -> Any:
    from gateway.plan.text import render

    # A plan of thousands of webhooks allocates much and keeps it: the collector settings of
    # a server (gateway.lifecycle) keep full collections from walking it over and over.
    tune_gc()
    _, made = await _planned(ops, args)
    if args.out:
        text = json.dumps(made, indent=1) + "\n"
        await asyncio.to_thread(Path(args.out).write_text, text, encoding="utf-8")
    if not args.json:
        sys.stdout.write(render(made))
    code = 1 if _failed(made) else 2 if made["changes"] else 0
    return Exit(code, made if args.json else None)


def _progress(total: int) -> Any:
    done = {"n": 0}

    def show(_outcome: Any) -> None:
        done["n"] += 1
        if sys.stderr.isatty():
            filled = 30 * done["n"] // total
            sys.stderr.write(f"\rapplying [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{done['n']}/{total}")  # fmt: skip
            if done["n"] == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return show


async def cmd_apply(ops: Ops, args: argparse.Namespace) -> Any:
    from gateway.plan.text import confirm_prompt, delete_confirmed, deletions, render

    tune_gc()
    body, made = await _planned(ops, args)
    if not args.json:
        sys.stdout.write(render(made))
    if _failed(made):
        return Exit(1)
    if args.plan:
        saved = json.loads(await asyncio.to_thread(Path(args.plan).read_text, "utf-8"))
        if saved.get("fingerprint") != made["fingerprint"]:
            sys.stderr.write(
                f"error: the plan in {args.plan} is out of date: the manifest or the "
                "accounts changed since it was made (the plan above is the current one); "
                "plan again\n"
            )
            return Exit(1)
    if not any(a["actions"] for a in made["accounts"]):
        return Exit(0)
    if not args.auto_approve:
        if not sys.stdin.isatty():
            sys.stderr.write("error: apply writes; confirm on a terminal or pass --auto-approve\n")
            return Exit(2)
        deleting, _ = deletions(made)
        if deleting:  # as a single delete asks for the webhook's name: the count typed
            typed = await asyncio.to_thread(input, confirm_prompt(made) + ": ")
            go = delete_confirmed(made, typed)
        else:
            typed = await asyncio.to_thread(input, "Apply these changes? Only 'yes' goes on: ")
            go = typed.strip() == "yes"
        if not go:
            sys.stdout.write("Nothing applied.\n")
            return Exit(0)
    total = sum(len(a["actions"]) for a in made["accounts"])
    request = {**body, "plan_fingerprint": made["fingerprint"], "parallelism": args.parallelism}
    answer = await ops.apply(request, progress=_progress(total))
    result = answer["report"]
    if not args.json:
        for outcome in result["outcomes"]:
            if not outcome["ok"]:
                what = outcome["key"] or outcome["id"]
                sys.stdout.write(f"failed: {outcome['account']} {outcome['action']} {what}: "
                                 f"{outcome['error']}\n")  # fmt: skip
        sys.stdout.write(f"Applied {result['applied']} of {len(result['outcomes'])}.\n")
    return Exit(1 if result["failed"] else 0, result if args.json else None)


async def cmd_export(ops: Ops, args: argparse.Namespace) -> Any:
    text = await ops.export(args.account)
    if args.output and args.output != "-":
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return None
