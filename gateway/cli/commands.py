"""The commands that work on accounts: each takes the gateway's operations (``gateway.cli.ops``:
the library locally, the proxy with ``--server``) and the parsed options, and returns what
``--json`` prints (or prints a table itself and returns None)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.access import grant_of_text
from gateway.cli.ops import Local, Ops
from gateway.cli.output import confirm, show, table
from gateway.errors import ConfigError, FieldProblem, InvalidRequest
from gateway.health.fresh import ago
from gateway.service import Gateway

__all__ = ["Handler"]

Handler = Callable[[Ops, argparse.Namespace], Coroutine[Any, Any, Any]]

WEBHOOK_COLUMNS = ("id", "name", "enabled", "suspended", "secret", "events", "url")


def _body(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON body of ``--body FILE`` (``-`` is stdin), or an empty object."""
    if not args.body:
        return {}
    try:
        text = sys.stdin.read() if args.body == "-" else open(args.body, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        raise InvalidRequest.at("--body", f"cannot read {args.body}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest.at("--body", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest.at("--body", "must hold a JSON object")
    return data


def _env_secret(variable: str, option: str) -> str:
    if variable not in os.environ:
        raise InvalidRequest.at(option, f"environment variable {variable} is not set")
    return os.environ[variable]


def _secret_from_env(args: argparse.Namespace, body: dict[str, Any]) -> None:
    # Secrets never go on the command line, where `ps` and shell history would show them.
    if args.secret_env:
        body["secret"] = _env_secret(args.secret_env, "--secret-env")
    if args.alert_secret_env:  # the failure handling's alert endpoint (Enterprise Core)
        handling = body.get("failure_handling")
        endpoint = handling.get("alert_endpoint") if isinstance(handling, dict) else None
        if not isinstance(endpoint, dict):
            raise InvalidRequest.at(
                "--alert-secret-env",
                "give the alert endpoint in --body (failure_handling.alert_endpoint.url)",
            )
        endpoint["secret"] = _env_secret(args.alert_secret_env, "--alert-secret-env")


def _headers(values: Sequence[str] | None, path: str) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for item in values or ():
        name, sep, value = item.partition(":")
        if not sep:
            raise InvalidRequest.at(path, f"{item!r} is not 'Name: value'")
        headers.setdefault(name.strip(), []).append(value.strip())
    return headers


# -- commands ---------------------------------------------------------------------------------


async def cmd_accounts(ops: Ops, args: argparse.Namespace) -> Any:
    found = await ops.accounts()
    if args.json:
        return found
    flat = [{**r, "operations": r["capabilities"]["operations"]} for r in found["items"]]
    table(flat, ("name", "provider", "title", "operations"), sys.stdout)
    return None


async def cmd_whoami(ops: Ops, args: argparse.Namespace) -> Any:
    return show(args.json, await ops.whoami())


async def cmd_transfer(ops: Ops, args: argparse.Namespace) -> Any:
    done = await ops.transfer(args.account, args.id, {"owner": args.to, "key": args.key})
    return show(args.json, done)


async def cmd_keys(ops: Ops, args: argparse.Namespace) -> Any:
    if args.action == "list":
        found = await ops.keys()
        if args.json:
            return found
        table(found["items"], ("id", "name", "team", "created_at", "expires_at", "last_used"),
              sys.stdout)  # fmt: skip
        return None
    if not args.target:
        raise InvalidRequest.at("target", f"keys {args.action} needs a key's "
                                f"{'name' if args.action == 'create' else 'id'}")  # fmt: skip
    if args.action == "revoke":
        await ops.revoke_key(args.target)
        return {"revoked": args.target} if args.json else None
    body: dict[str, Any] = {"name": args.target, "grants": [grant_of_text(g) for g in args.grant]}
    if args.team:
        body["team"] = args.team
    if args.expires_in_days is not None:
        body["expires_in_days"] = args.expires_in_days
    made = await ops.create_key(body)
    if args.json:
        return made
    show(False, made)
    sys.stderr.write("the key is shown this once: keep it now (it is stored only as a "
                     "digest)\n")  # fmt: skip
    return None


def _webhook_row(webhook: dict[str, Any]) -> dict[str, Any]:
    events = ["all"] if webhook.get("all_events") else webhook.get("events", [])
    # secret: set / unset / unknown, never it; events: "all" as the console says it
    return {**webhook, "secret": webhook["secret_state"], "events": events}


async def cmd_list(ops: Ops, args: argparse.Namespace) -> Any:
    filters = {
        "enabled": args.enabled,
        "suspended": args.suspended,
        "event": args.event,
        "name": args.name,
        "url": args.url,
    }
    found = await ops.list(args.account, filters)
    for error in found["errors"]:
        where = error.get("account") or "?"
        sys.stderr.write(f"warning: {where}: {error.get('detail')}\n")
    if args.json:
        return found
    columns = WEBHOOK_COLUMNS if args.account else ("account", *WEBHOOK_COLUMNS)
    table([_webhook_row(wh) for wh in found["items"]], columns, sys.stdout)
    return None


async def cmd_get(ops: Ops, args: argparse.Namespace) -> Any:
    return show(args.json, await ops.get(args.account, args.id))


async def cmd_create(ops: Ops, args: argparse.Namespace) -> Any:
    body = _body(args)
    for key in ("name", "url", "description"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    if args.event:
        body["events"] = [*body.get("events", []), *args.event]
    if args.all_events:
        body["all_events"] = True
    if args.disabled:
        body["enabled"] = False
    if args.header:
        body["headers"] = {**body.get("headers", {}), **_headers(args.header, "--header")}
    _secret_from_env(args, body)
    return show(args.json, await ops.create(args.account, body))


async def cmd_update(ops: Ops, args: argparse.Namespace) -> Any:
    body = _body(args)
    for key in ("name", "url", "description", "enabled"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    for key in ("add_events", "remove_events", "remove_headers"):
        if getattr(args, key):
            body[key] = [*body.get(key, []), *getattr(args, key)]
    if args.add_header:
        body["add_headers"] = {
            **body.get("add_headers", {}),
            **_headers(args.add_header, "--add-header"),
        }
    _secret_from_env(args, body)
    return show(args.json, await ops.update(args.account, args.id, body))


async def cmd_delete(ops: Ops, args: argparse.Namespace) -> Any:
    what = f"delete webhook {args.id} of {args.account}"
    if not args.yes and sys.stdin.isatty():  # asking: name what would go
        webhook = await ops.get(args.account, args.id)
        what = f"delete webhook {webhook['id']} {webhook['name']!r} of {args.account}"
    confirm(args, what, declined="not deleted")
    await ops.delete(args.account, args.id)
    return {"deleted": args.id} if args.json else sys.stdout.write(f"deleted {args.id}\n") and None


async def cmd_ping(ops: Ops, args: argparse.Namespace) -> Any:
    return show(args.json, await ops.ping(args.account, args.id))


async def cmd_event_types(ops: Ops, args: argparse.Namespace) -> Any:
    found = await ops.event_types(args.account)
    if args.json:
        return found
    table(found["items"], ("name", "group", "description"), sys.stdout)
    return None


async def cmd_diverted(ops: Ops, args: argparse.Namespace) -> Any:
    found = await ops.diverted(args.account, args.id)
    if args.json:
        return found
    columns = ("id", "failure_trigger", "failure_timestamp", "failure_message")
    table(found["items"], columns, sys.stdout)
    return None


async def cmd_resend(ops: Ops, args: argparse.Namespace) -> Any:
    result = await ops.resend(args.account, args.id, args.event)
    if args.json:
        return {"resent": args.event, "result": result}
    sys.stdout.write(f"resent {args.event}\n")
    return None


async def cmd_custom_event(ops: Ops, args: argparse.Namespace) -> Any:
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        raise InvalidRequest.at("--data", f"is not JSON ({exc})") from None
    event = await ops.trigger_custom(args.account, data)
    return show(args.json, event)


async def cmd_unsuspend(ops: Ops, args: argparse.Namespace) -> Any:
    await ops.unsuspend(args.account, args.id)
    return (
        {"unsuspended": args.id}
        if args.json
        else sys.stdout.write(f"unsuspended {args.id}\n") and None
    )


async def cmd_audit(ops: Ops, args: argparse.Namespace) -> Any:
    if args.webhook and not args.account:
        raise InvalidRequest.at("--webhook", "needs --account too (ids are per account)")
    if not 1 <= args.limit <= 500:
        raise InvalidRequest.at("--limit", "must be from 1 to 500")
    params = {"limit": str(args.limit)}
    for option, name in (("account", "account"), ("webhook", "webhook"), ("since", "since")):
        if getattr(args, option):
            params[name] = getattr(args, option)
    page = await ops.audit(params)
    if args.json:
        return page
    columns = ("time", "actor", "account", "webhook_id", "operation", "outcome", "request_id")
    table(page["items"], columns, sys.stdout)
    return None


async def cmd_health(ops: Ops, args: argparse.Namespace) -> Any:
    found = await ops.health(args.account)
    if args.json:
        return found
    rows = found["items"]
    for row in rows:
        row["since"] = datetime.fromtimestamp(row["changed_at"], UTC).isoformat(timespec="seconds")
        row["seen"] = ago(row["seen_at"]) + (" (stale)" if row.get("stale") else "")
    columns = ("account", "webhook_id", "name", "state", "diverted", "seen", "since", "by",
               "drift")  # fmt: skip
    table(rows, columns, sys.stdout)
    return None


async def cmd_watch(ops: Ops, args: argparse.Namespace) -> Any:
    """Look every ``--interval`` seconds (once with ``--once``); print each transition."""
    from gateway.health.watch import watch_once

    gw = local_gateway(ops, "watch")
    if gw.store is None:
        raise ConfigError(
            problems=[FieldProblem("state", "watching needs a state store: set [state] url")]
        )
    if args.reconcile and not (args.manifest or (gw.config.watch and gw.config.watch.manifest)):
        raise InvalidRequest.at("--reconcile", "needs --manifest (or [watch] manifest)")
    while True:
        result = await watch_once(gw, accounts=[args.account] if args.account else None,
                                  manifest=args.manifest,
                                  reconcile=True if args.reconcile else None)  # fmt: skip
        for d in result.drift:
            sys.stdout.write((json.dumps(d.to_json()) if args.json else
                              f"{d.account} {d.key} ({d.webhook_id or 'new'}): {d.change}: "
                              f"{d.summary}") + "\n")  # fmt: skip
        for t in result.transitions:
            by = f" by {t.by}" if t.by else ""
            states = f"({t.before or 'first seen'} -> {t.after or 'gone'})"
            sys.stdout.write((json.dumps(t.to_json()) if args.json else
                              f"{t.account} {t.webhook_id} {t.name!r}: {t.change} {states}{by}")
                             + "\n")  # fmt: skip
        for account, error in result.errors.items():
            sys.stderr.write(f"warning: {account}: {error}\n")
        sys.stdout.flush()
        if args.once:
            return None
        await asyncio.sleep(args.interval)


def local_gateway(ops: Ops, command: str) -> Gateway:
    """The ``Gateway`` of a local command; a command without a proxy route says so remotely."""
    if isinstance(ops, Local):
        return ops.gw
    raise InvalidRequest.at(
        "--server", f"{command} runs where the gateway runs (it has no HTTP route): leave out "
        "--server and WEBHOOK_GATEWAY_URL, with --config"
    )  # fmt: skip


async def cmd_rotate(ops: Ops, args: argparse.Namespace) -> Any:
    """Rotate a webhook's secret (gateway/health/rotation.py); the new one is shown only on
    request. Made here when not given, so that it can be shown (the API never shows it)."""

    def from_env(option: str, name: str | None) -> str | None:
        if name is None:
            return None
        if name not in os.environ:
            raise InvalidRequest.at(option, f"environment variable {name} is not set")
        return os.environ[name]

    if args.grace_hours == 0:
        confirm(args, f"rotate the secret of webhook {args.id} of {args.account} with no grace "
                "(deliveries signed with the current one fail at once)",
                declined="not rotated")  # fmt: skip
    if args.secret_env is None and not args.reveal:  # a secret nobody would ever see
        raise InvalidRequest.at("--reveal", "a secret made here is shown once, only with "
                                "--reveal: pass --reveal to see it, or --secret-env NAME to "
                                "rotate to your own; nothing was rotated")  # fmt: skip
    fresh = from_env("--secret-env", args.secret_env) or secrets.token_urlsafe(32)
    body: dict[str, Any] = {"secret": fresh, "grace_hours": args.grace_hours}
    previous = from_env("--previous-env", args.previous_env)
    if previous is not None:
        body["previous"] = previous
    rotated = await ops.rotate(args.account, args.id, body)
    shown = {**rotated, "secret": fresh if args.reveal else "***"}
    return show(args.json, shown)
