"""The commands that run something or read no account: ``serve`` (the proxy or the demo),
``emulate`` (one provider emulator) and ``check-config``.

A port already in use is one line naming it and the option to change it, and a part whose
extra is not installed names the ``pip install`` that adds it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import sys
from collections.abc import Callable, Iterator

import attrs

from gateway.cli.output import EXIT, report
from gateway.config import load_config
from gateway.errors import ConfigError, GatewayError
from gateway.lifecycle import run_fast

__all__ = ["EMULATORS", "check_config", "emulate", "serve"]

EMULATORS = {
    "uipath": "providers.uipath.emulator",
    "orchestry": "providers.orchestry.emulator",
    "enterprise_core": "providers.enterprise_core.emulator",
}
#: The extra that installs each optional module.
_EXTRAS = {
    "prometheus_client": "server",
    "trustme": "emulators",
    "odata_query": "emulators",
    "asyncpg": "postgres",
}


@contextlib.contextmanager
def _plain_failures(port: int | None, extra: str | None = None) -> Iterator[Callable[[], int]]:
    """Turn a busy port or a missing extra (``extra``: the one to name, default: the one
    that installs the missing module) into one line on stderr; yields the exit status."""
    status = {"code": EXIT["ok"]}
    try:
        yield lambda: status["code"]
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        which = f"port {port}" if port is not None else "the port"
        sys.stderr.write(f"error: {which} is in use; pass --port (0: any free port)\n")
        status["code"] = EXIT["usage"]
    except ModuleNotFoundError as exc:
        needed = _EXTRAS.get((exc.name or "").split(".")[0])
        if needed is None:
            raise
        extra = extra or needed
        sys.stderr.write(
            f"error: this needs the {extra!r} extra: pip install 'webhook-gateway[{extra}]'\n"
        )
        status["code"] = EXIT["usage"]
    except KeyboardInterrupt:
        pass


def serve(args: argparse.Namespace) -> int:
    from gateway.proxy import logs
    from gateway.transport.tracing import configure_from_environment

    logs.configure(args.log_level)
    configure_from_environment()  # OTEL_* (webhook-gateway[otel]); off without them
    if args.demo:
        port = 8080 if args.port is None else args.port
        with _plain_failures(port, extra="demo") as code:
            from gateway.emulation.demo import run_demo

            run_demo(args.host or "127.0.0.1", port)
        return code()
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return report(exc, as_json=False)
    server = attrs.evolve(
        config.server,
        host=args.host or config.server.host,
        port=config.server.port if args.port is None else args.port,
    )
    if not server.api_keys:
        sys.stderr.write("error: server.api_keys: configure at least one API key\n")
        return EXIT["usage"]
    with _plain_failures(server.port) as code:
        from gateway.proxy.server import serve_forever

        try:
            run_fast(serve_forever(attrs.evolve(config, server=server)))
        except GatewayError as exc:  # the store never came, say: one line, exit 5
            return report(exc, as_json=False)
    return code()


def emulate(args: argparse.Namespace) -> int:
    port = _option_value(args.options, "--port")
    with _plain_failures(int(port) if port and port.isdigit() else None) as code:
        module = importlib.import_module(EMULATORS[args.provider])
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
    """``webhook-gateway login [--server URL]``: keep an API key for ``--server``."""
    from gateway.cli.credentials import login as keep

    try:
        path = keep(args.server)
    except ConfigError as exc:
        return report(exc, as_json=False)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nnothing was saved\n")
        return EXIT["interrupted"]
    sys.stdout.write(f"saved in {path} (mode 0600)\n")
    return EXIT["ok"]
