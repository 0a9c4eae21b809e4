"""The ``webhook-gateway`` command line: the library's operations, one command each.

Every command that talks to a provider reads ``--config`` (default: ``$WEBHOOK_GATEWAY_CONFIG``,
else ``gateway.toml``), prints a readable table, or JSON with ``--json``, and reports errors on
stderr. Exit status: 0 done, 1 the provider or gateway refused (not found, conflict, unavailable,
unsupported...), 2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TextIO

import attrs

from gateway.codec import (
    capabilities_to_json,
    change_from_json,
    diverted_to_json,
    event_type_to_json,
    ping_to_json,
    spec_from_json,
    webhook_to_json,
)
from gateway.config import load_config
from gateway.errors import ConfigError, FieldProblem, GatewayError, InvalidRequest, Unsupported
from gateway.lifecycle import run_fast
from gateway.model import Webhook
from gateway.origin import acting_as
from gateway.proxy.audit import entry_to_json, since_to_epoch
from gateway.service import Account, Gateway
from gateway.store import AuditQuery

__all__ = ["main"]

DEFAULT_CONFIG = "gateway.toml"
Handler = Callable[[Gateway, argparse.Namespace], Coroutine[Any, Any, Any]]


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(map(str, value)) or "-"
        if value is None or value == "":
            return "-"
        return str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for line in [[c.upper() for c in columns], *cells]:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n")


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


def _secret_from_env(args: argparse.Namespace, body: dict[str, Any]) -> None:
    # Secrets never go on the command line, where `ps` and shell history would show them.
    if args.secret_env:
        if args.secret_env not in os.environ:
            raise InvalidRequest.at(
                "--secret-env", f"environment variable {args.secret_env} is not set"
            )
        body["secret"] = os.environ[args.secret_env]


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
    _table(flat, ("name", "provider", "title", "operations"), sys.stdout)
    return None


def _webhook_row(webhook: Webhook) -> dict[str, Any]:
    row = webhook_to_json(webhook)
    return {**row, "secret": row["secret_state"]}  # set / unset / unknown, never the value


async def cmd_list(gw: Gateway, args: argparse.Namespace) -> Any:
    acct = gw.account(args.account)
    listing = acct.list(
        enabled=args.enabled,
        suspended=args.suspended,
        event=args.event,
        name=args.name,
        url=args.url,
    )
    webhooks = [wh async for wh in listing]
    for record in listing.unreadable:
        sys.stderr.write(
            f"warning: record {record.id or '?'} could not be read: {record.problem}\n"
        )
    if args.json:
        return [webhook_to_json(wh) for wh in webhooks]
    _table([_webhook_row(wh) for wh in webhooks], WEBHOOK_COLUMNS, sys.stdout)
    return None


def _show_webhook(args: argparse.Namespace, body: dict[str, Any]) -> Any:
    if args.json:
        return body
    width = max(map(len, body))
    for key, value in body.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else value
        sys.stdout.write(f"{key.ljust(width)}  {'-' if shown is None else shown}\n")
    return None


async def cmd_get(gw: Gateway, args: argparse.Namespace) -> Any:
    return _show_webhook(args, webhook_to_json(await gw.account(args.account).get(args.id)))


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
    return _show_webhook(args, webhook_to_json(webhook))


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
    return _show_webhook(args, webhook_to_json(webhook))


async def cmd_delete(gw: Gateway, args: argparse.Namespace) -> Any:
    await gw.account(args.account).delete(args.id)
    return {"deleted": args.id} if args.json else sys.stdout.write(f"deleted {args.id}\n") and None


async def cmd_ping(gw: Gateway, args: argparse.Namespace) -> Any:
    result = ping_to_json(await gw.account(args.account).ping(args.id))
    return result if args.json else _show_webhook(args, result)


async def cmd_event_types(gw: Gateway, args: argparse.Namespace) -> Any:
    rows = [event_type_to_json(t) for t in await gw.account(args.account).event_types()]
    if args.json:
        return rows
    _table(rows, ("name", "group", "description"), sys.stdout)
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
    _table(rows, columns, sys.stdout)
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
    _table(rows, columns, sys.stdout)
    return None


def serve(args: argparse.Namespace) -> int:
    from gateway.proxy import logs

    logs.configure(args.log_level)
    if args.demo:
        from gateway.demo import run_demo

        run_demo(args.host or "127.0.0.1", 8080 if args.port is None else args.port)
        return 0
    from gateway.proxy.server import serve_forever

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    server = attrs.evolve(
        config.server,
        host=args.host or config.server.host,
        port=config.server.port if args.port is None else args.port,
    )
    if not server.api_keys:
        sys.stderr.write("error: server.api_keys: configure at least one API key\n")
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        run_fast(serve_forever(attrs.evolve(config, server=server)))
    return 0


EMULATORS = {
    "uipath": "providers.uipath.emulator",
    "orchestry": "providers.orchestry.emulator",
    "enterprise_core": "providers.enterprise_core.emulator",
}


def emulate(args: argparse.Namespace) -> int:
    module = importlib.import_module(EMULATORS[args.provider])
    module.main(args.options)
    return 0


def check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        sys.stderr.write(f"{args.file}: invalid configuration\n")
        for line in [str(p) for p in exc.problems] or [exc.message]:
            sys.stderr.write(f"  {line}\n")
        return 2
    sys.stdout.write(
        f"{args.file}: ok ({len(config.accounts)} account(s): "
        f"{', '.join(f'{n} ({a.provider})' for n, a in config.accounts.items()) or 'none'})\n"
    )
    return 0


# -- parser -----------------------------------------------------------------------------------


def _bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=os.environ.get("WEBHOOK_GATEWAY_CONFIG", DEFAULT_CONFIG),
        help="TOML config file (default: $WEBHOOK_GATEWAY_CONFIG or gateway.toml)",
    )


def _command(
    sub: Any, name: str, handler: Handler, summary: str, example: str, *, webhook_id: bool
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    if name not in ("accounts", "audit"):
        parser.add_argument("account", help="a configured account name")
    if webhook_id:
        parser.add_argument("id", help="the webhook's id at the provider")
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="webhook-gateway",
        description="Manage webhook subscriptions at several providers through one model.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser(
        "check-config",
        help="validate a config file and print every problem with its key path",
        description="Validate a config file; every problem is printed with its key path.\n\n"
        "example:\n  webhook-gateway check-config gateway.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file")
    check.set_defaults(handler=None, run=check_config)

    srv = sub.add_parser(
        "serve",
        help="run the HTTP proxy (or the embedded demo with --demo)",
        description="Run the HTTP proxy for a config file, or the embedded demo: every provider "
        "emulator on loopback, seeded, behind the proxy.\n\nexample:\n"
        "  webhook-gateway serve --demo\n  webhook-gateway serve --config gateway.toml --port 8080",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(srv)
    srv.add_argument("--demo", action="store_true", help="run the embedded demo instead")
    srv.add_argument("--host", help="listen address (default: the config's, or 127.0.0.1)")
    srv.add_argument("--port", type=int, help="listen port (0: any free port)")
    srv.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    srv.set_defaults(handler=None, run=serve)

    emu = sub.add_parser(
        "emulate",
        help="run one provider emulator alone",
        description="Run one provider's emulator on loopback (options after the name go to the "
        "emulator; see its --help).\n\nexample:\n"
        "  webhook-gateway emulate uipath --port 8101 --error-rate 0.1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    emu.add_argument("provider", choices=sorted(EMULATORS))
    emu.add_argument("options", nargs=argparse.REMAINDER, help="--port P, fault options, ...")
    emu.set_defaults(handler=None, run=emulate)

    _command(
        sub,
        "accounts",
        cmd_accounts,
        "list the configured accounts and what they can do",
        "webhook-gateway accounts --config gateway.toml",
        webhook_id=False,
    )

    ls = _command(
        sub,
        "list",
        cmd_list,
        "list an account's webhooks (filters combine with and)",
        "webhook-gateway list uipath-prod --enabled true --event job.completed",
        webhook_id=False,
    )
    ls.add_argument("--enabled", type=_bool, help="true or false")
    ls.add_argument("--suspended", type=_bool, help="true or false")
    ls.add_argument("--event", help="subscribed to this event (case-insensitive)")
    ls.add_argument("--name", help="exact name")
    ls.add_argument("--url", help="exact URL")

    _command(
        sub,
        "get",
        cmd_get,
        "show one webhook",
        "webhook-gateway get uipath-prod 42",
        webhook_id=True,
    )

    create = _command(
        sub,
        "create",
        cmd_create,
        "create a webhook",
        "HOOK_SECRET=... webhook-gateway create uipath-prod --name jobs "
        "--url https://hooks.example.com/jobs --event job.completed --secret-env HOOK_SECRET",
        webhook_id=False,
    )
    create.add_argument("--name")
    create.add_argument("--url")
    create.add_argument("--event", action="append", help="an event to subscribe to (repeatable)")
    create.add_argument("--all-events", action="store_true", help="subscribe to every event")
    create.add_argument("--description")
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    create.add_argument("--header", action="append", help="'Name: value' (repeatable)")
    create.add_argument("--secret-env", metavar="VAR", help="take the secret from this variable")
    create.add_argument("--body", metavar="FILE", help="JSON webhook spec (- for stdin)")

    update = _command(
        sub,
        "update",
        cmd_update,
        "change a webhook (add/remove events and headers, set fields)",
        "webhook-gateway update uipath-prod 42 --add-event job.faulted --remove-event job.started",
        webhook_id=True,
    )
    update.add_argument("--name")
    update.add_argument("--url")
    update.add_argument("--description")
    update.add_argument("--enabled", type=_bool, help="true or false")
    update.add_argument("--add-event", dest="add_events", action="append")
    update.add_argument("--remove-event", dest="remove_events", action="append")
    update.add_argument("--add-header", action="append", help="'Name: value' (repeatable)")
    update.add_argument("--remove-header", dest="remove_headers", action="append")
    update.add_argument(
        "--secret-env", metavar="VAR", help="take the new secret from this variable"
    )
    update.add_argument("--body", metavar="FILE", help="JSON change (- for stdin)")

    _command(
        sub,
        "delete",
        cmd_delete,
        "delete a webhook",
        "webhook-gateway delete uipath-prod 42",
        webhook_id=True,
    )
    _command(
        sub,
        "ping",
        cmd_ping,
        "send a test event to a webhook's URL",
        "webhook-gateway ping uipath-prod 42",
        webhook_id=True,
    )
    _command(
        sub,
        "event-types",
        cmd_event_types,
        "list the events an account can deliver",
        "webhook-gateway event-types uipath-prod",
        webhook_id=False,
    )
    _command(
        sub,
        "unsuspend",
        cmd_unsuspend,
        "resume deliveries to a suspended webhook",
        "webhook-gateway unsuspend core-prod 01HZY...",
        webhook_id=True,
    )
    _command(
        sub,
        "diverted",
        cmd_diverted,
        "list the events whose delivery failed and that the provider kept (Enterprise Core)",
        "webhook-gateway diverted core-prod 01HZY...",
        webhook_id=True,
    )
    resend = _command(
        sub,
        "resend",
        cmd_resend,
        "deliver a diverted event again (Enterprise Core)",
        "webhook-gateway resend core-prod 01HZY... 01J0A...",
        webhook_id=True,
    )
    resend.add_argument("event", help="the diverted event's id (its locator)")
    audit = _command(
        sub,
        "audit",
        cmd_audit,
        "show the audit log of writes, newest first (needs [state] in the config)",
        "webhook-gateway audit --account uipath-prod --webhook 42 --since 2026-11-01",
        webhook_id=False,
    )
    audit.add_argument("--account", help="only this account's writes")
    audit.add_argument("--webhook", help="only this webhook's writes (needs --account)")
    audit.add_argument("--since", help="ISO 8601 time or epoch seconds")
    audit.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    return parser


async def _run(args: argparse.Namespace) -> Any:
    with acting_as("cli"):
        async with Gateway.from_config(args.config) as gw:
            return await args.handler(gw, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.handler is None:
        code: int = args.run(args)
        return code
    try:
        result = asyncio.run(_run(args))
    except (ConfigError, InvalidRequest) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except GatewayError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    if result is not None:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
