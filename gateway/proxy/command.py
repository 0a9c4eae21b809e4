"""``webhook-gateway serve``: run the proxy for a config file, or the embedded demo.

The command lives with what it runs: the command line (``gateway.cli``) knows it only as the
entry point ``serve`` of the ``webhook_gateway.commands`` group, so the command line's own
modules never import the proxy (they talk to a running one over HTTP, ``--server``). A
``GatewayError`` it raises is reported by the command line, as every command's is.
"""

from __future__ import annotations

import argparse
import sys

import attrs

from gateway.config import load_config
from gateway.lifecycle import plain_failures, run_fast

__all__ = ["serve"]


def serve(args: argparse.Namespace) -> int:
    from gateway import logs
    from gateway.transport.tracing import configure_from_environment

    logs.configure(args.log_level, fmt=args.log_format)
    configure_from_environment()  # OTEL_* (webhook-gateway[otel]); off without them
    if args.demo:
        port = 8080 if args.port is None else args.port
        with plain_failures(port, extra="demo") as code:
            from gateway.proxy.demo import run_demo

            run_demo(args.host or "127.0.0.1", port)
        return code()
    config = load_config(args.config)  # a bad one is reported by the command line
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

        # (a store that never came raises a GatewayError: one line from the command line, exit 5)
        run_fast(serve_forever(attrs.evolve(config, server=server),
                               reread=lambda: load_config(args.config)))  # fmt: skip
    return code()
