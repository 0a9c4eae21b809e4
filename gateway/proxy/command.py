"""``webhook-gateway serve``: run the proxy for a config file, or the embedded demo.

The command lives with what it runs: the command line (``gateway.cli``) knows it only as the
entry point ``serve`` of the ``webhook_gateway.commands`` group, so the command line's own
modules never import the proxy (they talk to a running one over HTTP, ``--server``).
"""

from __future__ import annotations

import argparse
import sys

import attrs

from gateway.config import load_config
from gateway.errors import GatewayError, exit_code
from gateway.lifecycle import plain_failures, run_fast

__all__ = ["serve"]


def serve(args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.transport.tracing import configure_from_environment

    logs.configure(args.log_level)
    configure_from_environment()  # OTEL_* (webhook-gateway[otel]); off without them
    if args.demo:
        port = 8080 if args.port is None else args.port
        with plain_failures(port, extra="demo") as code:
            from gateway.proxy.demo import run_demo

            run_demo(args.host or "127.0.0.1", port)
        return code()
    try:
        config = load_config(args.config)
    except GatewayError as exc:
        return _report(exc)
    server = attrs.evolve(
        config.server,
        host=args.host or config.server.host,
        port=config.server.port if args.port is None else args.port,
    )
    if not server.api_keys:
        sys.stderr.write("error: server.api_keys: configure at least one API key\n")
        return 2
    with plain_failures(server.port) as code:
        from gateway.proxy.server import serve_forever

        try:
            run_fast(serve_forever(attrs.evolve(config, server=server)))
        except GatewayError as exc:  # the store never came, say: one line, exit 5
            return _report(exc)
    return code()


def _report(error: GatewayError) -> int:
    """One line per problem on stderr (as the command line reports), and the exit status."""
    problems = list(getattr(error, "problems", ()))
    if problems:
        sys.stderr.write("error: invalid configuration\n")
        for problem in problems:
            sys.stderr.write(f"  {problem}\n")
    else:
        sys.stderr.write(f"error: {error}\n")
    return exit_code(error)
