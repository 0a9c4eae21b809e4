"""The commands that run something or read no account: ``emulate`` (one provider emulator),
``check-config`` and ``login`` (``serve`` lives with the proxy it runs, registered as the
``serve`` entry point of ``webhook_gateway.commands``).

A port already in use is one line naming it and the option to change it, and a part whose
extra is not installed names the ``pip install`` that adds it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from gateway.checks import did_you_mean
from gateway.cli.output import EXIT, report
from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError
from gateway.lifecycle import plain_failures

__all__ = ["check_config", "emulate", "emulators", "login"]


def emulators() -> dict[str, str]:
    """Each provider kind that has an emulator, and its module (``Provider.emulator``)."""
    from gateway.registry import default_registry

    registry = default_registry()
    found = {}
    for kind in registry.kinds():
        try:
            module = registry.load(kind).emulator
        except GatewayError:  # a broken third-party entry point: not this command's business
            continue
        if module:
            found[kind] = module
    return found


def emulate(args: argparse.Namespace) -> int:
    known = emulators()
    if args.provider not in known:
        hint = did_you_mean(args.provider, known)
        sys.stderr.write(f"error: no emulator for provider {args.provider!r}{hint} (there are: "
                         f"{', '.join(sorted(known))})\n")  # fmt: skip
        return EXIT["usage"]
    port = _option_value(args.options, "--port")
    with plain_failures(int(port) if port and port.isdigit() else None) as code:
        module = importlib.import_module(known[args.provider])
        module.main(args.options, prog=f"webhook-gateway emulate {args.provider}")
    return code()


def _option_value(options: list[str], name: str) -> str | None:
    for i, option in enumerate(options):
        if option == name and i + 1 < len(options):
            return options[i + 1]
        if option.startswith(f"{name}="):
            return option.split("=", 1)[1]
    return None


def check_config(args: argparse.Namespace) -> int:
    args.file = args.file or args.config
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        if args.json:
            return report(exc, as_json=True, out=sys.stdout)
        sys.stderr.write(f"{args.file}: invalid configuration\n")
        for line in [str(p) for p in exc.problems] or [exc.message]:
            sys.stderr.write(f"  {line}\n")
        return EXIT["usage"]
    accounts = ", ".join(f"{n} ({a.provider})" for n, a in config.accounts.items()) or "none"
    if args.json:
        sys.stdout.write(json.dumps({"ok": True, "accounts": list(config.accounts)}) + "\n")
        return EXIT["ok"]
    sys.stdout.write(f"{args.file}: ok ({len(config.accounts)} account(s): {accounts})\n")
    return EXIT["ok"]


def login(args: argparse.Namespace) -> int:
    """``webhook-gateway login [--server URL] [--key]``: sign in to ``--server`` (single
    sign-on, else an API key the gateway accepts) and keep it."""
    from gateway.cli.credentials import login as keep

    try:
        path = keep(args.server, key=args.key, browser=args.browser, port=args.port)
    except GatewayError as exc:
        return report(exc, as_json=False)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nnothing was saved\n")
        return EXIT["interrupted"]
    sys.stdout.write(f"saved in {path} (mode 0600)\n")
    return EXIT["ok"]


def logout(args: argparse.Namespace) -> int:
    """``webhook-gateway logout [--server URL]``: end the sign-in and forget it."""
    from gateway.cli.credentials import logout as forget

    try:
        ended = forget(args.server)
    except GatewayError as exc:
        return report(exc, as_json=False)
    sys.stdout.write("signed out\n" if ended else "not signed in there\n")
    return EXIT["ok"]
