"""The command line's parser: one subcommand per operation, each with its own usage line, an
example in its ``--help``, ``--json`` and ``--config``; ``--version`` and shell completion
(``webhook-gateway --print-completion bash``, via shtab)."""

from __future__ import annotations

import argparse
import os
import re
from argparse import SUPPRESS
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal, NoReturn

import shtab

from gateway.checks import did_you_mean
from gateway.cli import desired
from gateway.cli.commands import (
    Handler,
    cmd_accounts,
    cmd_audit,
    cmd_create,
    cmd_custom_event,
    cmd_delete,
    cmd_diverted,
    cmd_event_types,
    cmd_get,
    cmd_health,
    cmd_keys,
    cmd_list,
    cmd_ping,
    cmd_resend,
    cmd_rotate,
    cmd_transfer,
    cmd_unsuspend,
    cmd_update,
    cmd_watch,
    cmd_whoami,
)
from gateway.cli.output import __doc__ as EXIT_CODES
from gateway.cli.output import report
from gateway.cli.servers import check_config, emulate, login, logout
from gateway.errors import GatewayError
from gateway.health.meanings import legend
from gateway.version import VERSION

__all__ = ["DEFAULT_CONFIG", "build_parser"]

DEFAULT_CONFIG = "gateway.toml"


def _bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


class _Given(argparse.Action):
    """Stores the value and notes that it was given on the command line (not a default)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def _config_option(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--config`` and ``--server``, before the command or after it: the command's own copy
    has no default, so it never hides one given before the command."""
    parser.add_argument(
        "--config",
        action=_Given,
        default=os.environ.get("WEBHOOK_GATEWAY_CONFIG", DEFAULT_CONFIG) if top else SUPPRESS,
        help="TOML config file (default: $WEBHOOK_GATEWAY_CONFIG or gateway.toml)",
    )
    parser.add_argument(
        "--server",
        action=_Given,
        default=None if top else SUPPRESS,
        metavar="URL",
        help="work through this gateway's HTTP API (default: $WEBHOOK_GATEWAY_URL); "
        "the API key: $WEBHOOK_GATEWAY_TOKEN or webhook-gateway login",
    )
    parser.add_argument(
        "--allow-http",
        action="store_true",
        default=False if top else SUPPRESS,
        help="let --server be plain http:// to another machine (the API key crosses the "
        "network in clear; default: https, or http to this machine only)",
    )


class Parser(argparse.ArgumentParser):
    """No option taken by a prefix of its name (``--enab`` is not ``--enabled``), and a
    "did you mean" for a misspelt command or option."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'([^']*)'", found.group(2))
            message += did_you_mean(found.group(1), choices).replace(";", ":", 1)
        super().error(message)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(parsed, "command", None)
            sub = self._commands.get(command) if command else None
            known = [o for o in (sub or self)._option_string_actions if o.startswith("--")]
            hints = [f"{e}{did_you_mean(e, known).replace(';', ':', 1)}"
                     for e in extras if e.startswith("-")]  # fmt: skip
            (sub or self).error("unrecognized arguments: " + " ".join(hints or extras))
        return parsed

    _commands: Mapping[str, argparse.ArgumentParser] = MappingProxyType({})


def _subparser(sub: Any, name: str, summary: str, example: str) -> argparse.ArgumentParser:
    """A command's parser: its own usage line, the summary and an example in ``--help``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(parser)
    return parser


def _command(
    sub: Any,
    name: str,
    handler: Handler,
    summary: str,
    example: str,
    *,
    webhook_id: bool,
    account: Literal["required", "optional", "none"] = "required",
    store_only: bool = False,
) -> argparse.ArgumentParser:
    """A command working on accounts. ``account``: its positional account argument (optional:
    all accounts when left out). ``store_only``: it reads the state store, no account."""
    parser = _subparser(sub, name, summary, example)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help="print JSON lines: a list's items one a line (for scripts)",
    )
    if account == "optional":
        parser.add_argument("account", nargs="?", help="a configured account (default: all)")
    elif account == "required":
        parser.add_argument("account", help="a configured account name")
    if webhook_id:
        parser.add_argument("id", help="the webhook's id at the provider")
    parser.set_defaults(handler=handler, store_only=store_only, accounts_of=None)
    return parser


def _plugged(name: str) -> Any:
    """The command ``name`` of the ``webhook_gateway.commands`` entry points: a command that
    lives with what it runs (``serve``: the proxy), loaded only when it runs."""

    def run(args: argparse.Namespace) -> int:
        from importlib.metadata import entry_points

        (command,) = (ep for ep in entry_points(group=COMMANDS) if ep.name == name)
        try:
            code: int = command.load()(args)
        except GatewayError as exc:  # one line (a line per problem) and its exit status
            return report(exc, as_json=False)
        return code

    return run


def _state_command(name: str) -> Any:
    """The state store's command ``name`` (gateway/cli/state.py), loaded only when it runs."""

    def run(args: argparse.Namespace) -> int:
        from gateway.cli import state

        code: int = getattr(state, name)(args)
        return code

    return run


#: The entry-point group of commands that live outside the command line's package.
COMMANDS = "webhook_gateway.commands"


ALERT_ENV_HELP = (
    "the secret of --body's failure_handling.alert_endpoint, from this variable (Enterprise Core)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="webhook-gateway",
        description="Manage webhook subscriptions at several providers through one model.",
        epilog=_exit_codes_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"webhook-gateway {VERSION}")
    shtab.add_argument_to(parser, ["--print-completion"], help="print a shell completion script")
    _config_option(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser._commands = sub.choices

    check = sub.add_parser(
        "check-config",
        help="validate a config file and print every problem with its key path",
        description="Validate a config file; every problem is printed with its key path.\n\n"
        "example:\n  webhook-gateway check-config gateway.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "file",
        nargs="?",
        help="the config file (default: --config, $WEBHOOK_GATEWAY_CONFIG or gateway.toml)",
    )
    _config_option(check)
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(handler=None, run=check_config)

    mig = sub.add_parser(
        "migrate",
        help="apply the state store's pending migrations (--check: only say)",
        description="Apply the state store's pending migrations, one process at a time; "
        "--check changes nothing and exits 2 when some are pending.\n\nexample:\n"
        "  webhook-gateway migrate --check || webhook-gateway migrate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(mig)
    mig.add_argument("--check", action="store_true", help="exit 2 when migrations are pending")
    mig.add_argument("--json", action="store_true", help="print the result as JSON")
    mig.set_defaults(handler=None, run=_state_command("migrate"))

    st = sub.add_parser(
        "state",
        help="back up or restore the state store (SQLite; PostgreSQL: pg_dump)",
        description="Back up the SQLite state store while the gateway runs (a consistent copy), "
        "or restore a backup into a stopped gateway's store.\n\nexample:\n"
        "  webhook-gateway state backup /backups/state-$(date +%F).db",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(st)
    st.add_argument("action", choices=("backup", "restore"))
    st.add_argument("file", help="the backup file")
    st.add_argument("--replace", action="store_true", help="restore over an existing store")
    st.add_argument("--json", action="store_true", help="print the result as JSON")
    st.set_defaults(handler=None, run=_state_command("state"))

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
    srv.add_argument("--log-format", choices=("auto", "json", "text"), default="auto",
                     help="json lines, or a short line a request for people (auto: text on a "
                     "terminal, json otherwise)")  # fmt: skip
    srv.set_defaults(handler=None, run=_plugged("serve"))

    emu = sub.add_parser(
        "emulate",
        help="run one provider emulator alone",
        description="Run one provider's emulator on loopback (options after the name go to the "
        "emulator; see its --help).\n\nexample:\n"
        "  webhook-gateway emulate uipath --port 8101 --error-rate 0.1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Not argparse choices: knowing them loads every adapter (MSAL with Orchestry's), which
    # every command would pay for at start; ``emulate`` checks the kind when it runs.
    emu.add_argument("provider", help="a provider kind that has an emulator")
    emu.add_argument("options", nargs=argparse.REMAINDER, help="--port P, fault options, ...")
    emu.set_defaults(handler=None, run=emulate)

    _manifest_commands(sub)

    signin = sub.add_parser(
        "login",
        help="sign in to a gateway (--server): single sign-on, or an API key",
        description="Sign in with the gateway's single sign-on (it prints a URL and a code to "
        "confirm in a browser), or, with --key or where it has none, give an API key (not shown "
        "while typed; the gateway must accept it). Kept, mode 0600, in "
        "$XDG_CONFIG_HOME/webhook-gateway/credentials.json, for --server.\n\nexample:\n"
        "  webhook-gateway login --server https://gateway.internal.example.com",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(signin)
    signin.add_argument("--key", action="store_true", help="give an API key, not single sign-on")
    signin.add_argument("--browser", action="store_true",
                        help="sign in in a browser on this machine (the code flow back to "
                        "http://127.0.0.1:PORT/callback), not with a code")  # fmt: skip
    signin.add_argument(
        "--port",
        type=int,
        default=0,
        help="--browser: the loopback port the provider allows (default: any)",
    )
    signin.set_defaults(handler=None, run=login)

    signout = sub.add_parser(
        "logout",
        help="end your sign-in at a gateway (--server) and forget it",
        description="End the sign-in at --server and remove it from the credentials file."
        "\n\nexample:\n  webhook-gateway logout --server https://gateway.internal.example.com",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_option(signout)
    signout.set_defaults(handler=None, run=logout)

    _command(
        sub,
        "accounts",
        cmd_accounts,
        "list the configured accounts and what they can do",
        "webhook-gateway accounts --config gateway.toml",
        webhook_id=False,
        account="none",
    )

    _command(
        sub,
        "whoami",
        cmd_whoami,
        "say who the gateway takes you for, and what you may do",
        "webhook-gateway whoami --server https://gateway.internal.example.com",
        webhook_id=False,
        account="none",
    )

    transfer = _command(
        sub,
        "transfer",
        cmd_transfer,
        "hand a webhook to another owner's manifest (audited; needs [state])",
        "webhook-gateway transfer core-demo 01J0Z8Y5W9K6X3M2N4P7Q1R8S7 --to claims --key alerts",
        webhook_id=True,
    )
    transfer.add_argument(
        "--to",
        required=True,
        metavar="OWNER",
        help='the owner (team) whose manifest manages it from now ("": none)',
    )
    transfer.add_argument("--key", required=True, help="its key in that manifest")

    keys = _command(
        sub,
        "keys",
        cmd_keys,
        "issue keys to services, list them, revoke one (admin; needs [state])",
        "webhook-gateway keys create billing-svc --team billing --expires-in-days 30",
        webhook_id=False,
        account="none",  # (every account is read: a grant must name configured ones)
    )
    keys.add_argument("action", choices=("create", "list", "revoke"))
    keys.add_argument("target", nargs="?", help="create: the key's name; revoke: its id")
    keys.add_argument("--team", help="create: the team (group) whose grants apply to the key")
    keys.add_argument(
        "--grant", action="append", default=[], metavar="ACTIONS@ACCOUNTS[:WEBHOOKS]",
        help="create: a grant of the key's own (repeatable), e.g. write,delete@billing",
    )  # fmt: skip
    keys.add_argument("--expires-in-days", type=float, help="create: default 90")

    ls = _command(
        sub,
        "list",
        cmd_list,
        "list webhooks, of one account or of all (filters combine with and)",
        "webhook-gateway list uipath-prod --enabled true --event job.completed",
        webhook_id=False,
        account="optional",
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
    create.add_argument("--alert-secret-env", metavar="VAR", help=ALERT_ENV_HELP)

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
    update.add_argument("--alert-secret-env", metavar="VAR", help=ALERT_ENV_HELP)

    delete = _command(
        sub,
        "delete",
        cmd_delete,
        "delete a webhook (asks first on a terminal; elsewhere needs --yes)",
        "webhook-gateway delete uipath-prod 42 --yes",
        webhook_id=True,
    )
    delete.add_argument("--yes", action="store_true", help="do not ask: it is meant")
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
    custom = _command(
        sub,
        "custom-event",
        cmd_custom_event,
        "send a custom event through the provider to its webhooks that take custom events, to "
        "test a receiver end to end (UiPath)",
        "webhook-gateway custom-event uipath-prod --data '{\"order\": 42}'",
        webhook_id=False,
    )
    custom.add_argument("--data", default="{}", metavar="JSON",
                        help="the event's data, a JSON object (default: {})")  # fmt: skip
    audit = _command(
        sub,
        "audit",
        cmd_audit,
        "show the audit log of writes, newest first (needs [state] in the config)",
        "webhook-gateway audit --account uipath-prod --webhook 42 --since 2026-11-01",
        webhook_id=False,
        account="none",
        store_only=True,
    )
    audit.add_argument("--account", help="only this account's writes")
    audit.add_argument("--webhook", help="only this webhook's writes (needs --account)")
    audit.add_argument("--since", help="ISO 8601 time or epoch seconds")
    audit.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    rotate = _command(
        sub,
        "rotate",
        cmd_rotate,
        "set a new secret; keep the previous one valid for verification (needs secrets_key)",
        "webhook-gateway rotate core-prod 01HZY... --grace-hours 24 --reveal",
        webhook_id=True,
    )
    rotate.add_argument("--secret-env", metavar="VAR", help="the new secret (default: generated)")
    rotate.add_argument(
        "--previous-env", metavar="VAR", help="the current secret, where the provider hides it"
    )
    rotate.add_argument("--grace-hours", type=float, default=24.0, help="previous stays valid (24)")
    rotate.add_argument("--reveal", action="store_true", help="print the new secret")
    rotate.add_argument("--yes", action="store_true", help="with --grace-hours 0: do not ask")
    health = _command(
        sub,
        "health",
        cmd_health,
        "show each webhook's health as watch last saw it (needs [state])\n\nstates:\n" + legend(),
        "webhook-gateway health --account core-prod",
        webhook_id=False,
        account="none",
        store_only=True,
    )
    health.add_argument("--account", help="only this account")
    health.epilog = "states:\n" + legend()
    watch = _command(
        sub,
        "watch",
        cmd_watch,
        "watch the webhooks' health: record it, print each change (needs [state])",
        "webhook-gateway watch --interval 300",
        webhook_id=False,
        account="none",
    )
    watch.add_argument("--account", help="only this account")
    watch.add_argument("--interval", type=float, default=300.0, help="seconds between looks")
    watch.add_argument("--once", action="store_true", help="look once, then stop")
    watch.add_argument(
        "--manifest", metavar="FILE", help="also plan this manifest: report its drift"
    )
    watch.add_argument(
        "--reconcile", action="store_true", help="also apply that plan (bounded writes a look)"
    )
    return parser


def _manifest_commands(sub: Any) -> None:
    def command(name: str, summary: str, example: str, handler: Handler) -> argparse.ArgumentParser:
        parser = _subparser(sub, name, summary, example)
        parser.add_argument("--account", help="only this account")
        parser.set_defaults(
            handler=handler, store_only=False, accounts_of=desired.manifest_accounts
        )
        return parser

    for name, summary, example, handler in (
        ("plan", "show what applying a manifest would change (exit 0: nothing, 2: changes, "
         "1: error)", "webhook-gateway plan webhooks.toml", desired.cmd_plan),
        ("apply", "apply a manifest: plan, confirm, write", "webhook-gateway apply "
         "webhooks.toml --auto-approve", desired.cmd_apply),
    ):  # fmt: skip
        parser = command(name, summary, example, handler)
        parser.add_argument("manifest", help="the manifest (TOML; docs/plan.md)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--adopt", action="store_true", help="take over unmanaged webhooks of the same name"
        )
        parser.add_argument(
            "--prune", action="store_true", help="also delete webhooks no manifest key matches"
        )
        parser.add_argument(
            "--set-unknown-secrets",
            action="store_true",
            help="write the manifest's secret where the provider's is unknown (adopted ones)",
        )
        if name == "plan":
            parser.add_argument(
                "--out", metavar="FILE", help="also write the plan's JSON here (for apply --plan)"
            )
        else:
            parser.add_argument(
                "--auto-approve", "--yes", dest="auto_approve", action="store_true",
                help="do not ask",
            )  # fmt: skip
            parser.add_argument(
                "--plan",
                metavar="FILE",
                help="apply only if the plan is still this one (plan --out)",
            )
            parser.add_argument(
                "--parallelism", type=int, default=4, help="writes at a time per account (4)"
            )
    export = command(
        "export",
        "write a manifest of what the accounts have now (secrets as placeholders)",
        "webhook-gateway export --account uipath-prod -o webhooks.toml",
        desired.cmd_export,
    )
    export.set_defaults(accounts_of=None, json=False)
    export.add_argument("-o", "--output", help="the file to write (default: standard output)")


def _exit_codes_epilog() -> str:
    """The exit status table of gateway/cli/output.py, for ``--help``."""
    assert EXIT_CODES is not None
    rows = [line for line in EXIT_CODES.splitlines() if line[:1].isdigit()]
    return "exit status:\n" + "\n".join(f"  {row}" for row in rows)
