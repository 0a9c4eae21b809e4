"""The commands that work on accounts: each takes the open ``Gateway`` and the parsed options,
and returns what ``--json`` prints (or prints a table itself and returns None)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.cli.output import show, table
from gateway.codec import (
    capabilities_to_json,
    change_from_json,
    diverted_to_json,
    event_type_to_json,
    ping_to_json,
    record_error_to_json,
    spec_from_json,
    webhook_to_json,
)
from gateway.errors import ConfigError, FieldProblem, GatewayError, InvalidRequest, Unsupported
from gateway.model import Webhook
from gateway.proxy.audit import entry_to_json, since_to_epoch
from gateway.service import Account, Gateway
from gateway.store import AuditQuery

__all__ = ["Handler"]

Handler = Callable[[Gateway, argparse.Namespace], Coroutine[Any, Any, Any]]

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


async def cmd_accounts(gw: Gateway, args: argparse.Namespace) -> Any:
    rows: list[dict[str, Any]] = [
        {
            "name": a.name,
            "provider": a.provider,
            "title": a.title,
            "capabilities": capabilities_to_json(a.capabilities),
        }
        for a in gw.accounts()
    ]
    if args.json:
        return rows
    flat = [{**r, "operations": r["capabilities"]["operations"]} for r in rows]
    table(flat, ("name", "provider", "title", "operations"), sys.stdout)
    return None


def _webhook_row(webhook: Webhook) -> dict[str, Any]:
    row = webhook_to_json(webhook)
    return {**row, "secret": row["secret_state"]}  # set / unset / unknown, never the value


async def cmd_list(gw: Gateway, args: argparse.Namespace) -> Any:
    filters = {
        "enabled": args.enabled,
        "suspended": args.suspended,
        "event": args.event,
        "name": args.name,
        "url": args.url,
    }
    names = [args.account] if args.account else [info.name for info in gw.accounts()]

    async def one(name: str) -> tuple[list[Webhook], list[dict[str, Any]]]:
        account = gw.account(name)
        listing = account.list(**filters)
        try:
            found = [wh async for wh in listing]
        except InvalidRequest as exc:
            if args.account or exc.status is not None or not args.event:
                raise
            return [], []  # not an event of this account's catalog: nothing matches here
        except GatewayError as exc:
            if args.account:
                raise
            return [], [_account_error(name, account.kind, exc)]
        return found, [record_error_to_json(r) for r in listing.unreadable]

    results = await asyncio.gather(*(one(name) for name in names))
    webhooks = [wh for found, _ in results for wh in found]
    errors = [e for _, found_errors in results for e in found_errors]
    for error in errors:
        where = error.get("account") or "?"
        sys.stderr.write(f"warning: {where}: {error.get('detail')}\n")
    if args.json:
        items = [webhook_to_json(wh) for wh in webhooks]
        return items if args.account else {"items": items, "errors": errors}
    columns = WEBHOOK_COLUMNS if args.account else ("account", *WEBHOOK_COLUMNS)
    table([_webhook_row(wh) for wh in webhooks], columns, sys.stdout)
    return None


def _account_error(name: str, kind: str, exc: GatewayError) -> dict[str, Any]:
    return {
        "account": name,
        "provider": kind,
        "error": type(exc).__name__,
        "detail": exc.message,
        "status": exc.status,
    }


async def cmd_get(gw: Gateway, args: argparse.Namespace) -> Any:
    return show(args.json, webhook_to_json(await gw.account(args.account).get(args.id)))


async def cmd_create(gw: Gateway, args: argparse.Namespace) -> Any:
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
    webhook = await gw.account(args.account).create(spec_from_json(body))
    return show(args.json, webhook_to_json(webhook))


async def cmd_update(gw: Gateway, args: argparse.Namespace) -> Any:
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
    webhook = await gw.account(args.account).update(args.id, change_from_json(body))
    return show(args.json, webhook_to_json(webhook))


async def cmd_delete(gw: Gateway, args: argparse.Namespace) -> Any:
    await gw.account(args.account).delete(args.id)
    return {"deleted": args.id} if args.json else sys.stdout.write(f"deleted {args.id}\n") and None


async def cmd_ping(gw: Gateway, args: argparse.Namespace) -> Any:
    result = ping_to_json(await gw.account(args.account).ping(args.id))
    return result if args.json else show(args.json, result)


async def cmd_event_types(gw: Gateway, args: argparse.Namespace) -> Any:
    rows = [event_type_to_json(t) for t in await gw.account(args.account).event_types()]
    if args.json:
        return rows
    table(rows, ("name", "group", "description"), sys.stdout)
    return None


def _extra(gw: Gateway, args: argparse.Namespace, name: str) -> Account:
    account = gw.account(args.account)
    if not account.has_extra(name):
        raise Unsupported(account.kind, name.replace("_", " "), account=account.name)
    return account


async def cmd_diverted(gw: Gateway, args: argparse.Namespace) -> Any:
    account = _extra(gw, args, "list_diverted")
    rows = [diverted_to_json(e) async for e in account.ex_list_diverted(args.id)]
    if args.json:
        return rows
    columns = ("id", "failure_trigger", "failure_timestamp", "failure_message")
    table(rows, columns, sys.stdout)
    return None


async def cmd_resend(gw: Gateway, args: argparse.Namespace) -> Any:
    account = _extra(gw, args, "resend_diverted")
    result = await account.ex_resend_diverted(args.id, args.event)
    if args.json:
        return {"resent": args.event, "result": result}
    sys.stdout.write(f"resent {args.event}\n")
    return None


async def cmd_unsuspend(gw: Gateway, args: argparse.Namespace) -> Any:
    await gw.account(args.account).unsuspend(args.id)
    return (
        {"unsuspended": args.id}
        if args.json
        else sys.stdout.write(f"unsuspended {args.id}\n") and None
    )


async def cmd_audit(gw: Gateway, args: argparse.Namespace) -> Any:
    if gw.store is None:
        raise ConfigError(
            problems=[FieldProblem("state", "the audit log needs a state store: set [state] url")]
        )
    if args.webhook and not args.account:
        raise InvalidRequest.at("--webhook", "needs --account too (ids are per account)")
    if not 1 <= args.limit <= 500:
        raise InvalidRequest.at("--limit", "must be from 1 to 500")
    query = AuditQuery(
        account=args.account,
        webhook_id=args.webhook,
        since=since_to_epoch(args.since) if args.since else None,
        limit=args.limit,
    )
    rows = [entry_to_json(e) for e in await gw.store.audit(query)]
    if args.json:
        return rows
    columns = ("time", "actor", "account", "webhook_id", "operation", "outcome", "request_id")
    table(rows, columns, sys.stdout)
    return None


async def cmd_health(gw: Gateway, args: argparse.Namespace) -> Any:
    if gw.store is None:
        raise ConfigError(
            problems=[FieldProblem("state", "health needs a state store: set [state] url")]
        )
    from gateway.health.watch import health_rows

    rows = await health_rows(gw, args.account)
    if args.json:
        return rows
    for row in rows:
        row["since"] = datetime.fromtimestamp(row["changed_at"], UTC).isoformat(timespec="seconds")
    columns = ("account", "webhook_id", "name", "state", "diverted", "since", "by", "drift")
    table(rows, columns, sys.stdout)
    return None


async def cmd_watch(gw: Gateway, args: argparse.Namespace) -> Any:
    """Look every ``--interval`` seconds (once with ``--once``); print each transition."""
    from gateway.health.watch import watch_once

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
            sys.stdout.write((json.dumps(t.to_json()) if args.json else
                              f"{t.account} {t.webhook_id} {t.name!r}: {t.change} "
                              f"({t.before or ''} -> {t.after or ''}){by}") + "\n")  # fmt: skip
        for account, error in result.errors.items():
            sys.stderr.write(f"warning: {account}: {error}\n")
        sys.stdout.flush()
        if args.once:
            return None
        await asyncio.sleep(args.interval)


async def cmd_rotate(gw: Gateway, args: argparse.Namespace) -> Any:
    """Rotate a webhook's secret (gateway/health/rotation.py); the new one is shown only on
    request."""
    from gateway.health.rotation import rotate_secret

    def from_env(option: str, name: str | None) -> str | None:
        if name is None:
            return None
        if name not in os.environ:
            raise InvalidRequest.at(option, f"environment variable {name} is not set")
        return os.environ[name]

    rotated = await rotate_secret(
        gw, args.account, args.id,
        new=from_env("--secret-env", args.secret_env),
        previous=from_env("--previous-env", args.previous_env),
        grace=args.grace_hours * 3600,
    )  # fmt: skip
    until = rotated.previous_valid_until
    shown = {
        "rotated": args.id,
        "previous_valid_until": datetime.fromtimestamp(until, UTC).isoformat() if until else None,
        "secret": rotated.secret.reveal() if args.reveal else "***",
    }
    return show(args.json, shown)
