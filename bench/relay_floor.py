"""The relay's intake floor: the least an aiohttp app can do and keep the relay's promise for a
UiPath delivery (verified, stored durably, answered 202).

``POST /v1/inbound/{account}`` reads the body, checks its ``X-UiPath-Signature`` (Base64 of
HMAC-SHA256 under the secret, compared in constant time), inserts the body under its
``EventId`` into an SQLite file in WAL mode (``synchronous=NORMAL``, as the gateway's store),
commits, and answers 202 ``{"queued": <event id>}``; a replay of an event id is 202 too,
nothing stored. No model, no CloudEvent, no destinations, no metrics or logs. It runs as
``serve`` runs the gateway (uvloop when installed, the same GC settings).

    python bench/relay_floor.py --secret S [--state FILE] [--port 0]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import sqlite3
import sys
import tempfile
from pathlib import Path

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.passthrough import serve_baseline
from gateway.lifecycle import run_fast


def app(secret: str, state: str) -> web.Application:
    db = sqlite3.connect(state, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE IF NOT EXISTS outbox (event_id TEXT PRIMARY KEY, body BLOB)")
    key = secret.encode()

    async def inbound(request: web.Request) -> web.Response:
        body = await request.read()
        offered = request.headers.get("X-UiPath-Signature", "")
        expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(offered, expected):
            return web.json_response({"title": "does not verify"}, status=401)
        event_id = str(orjson.loads(body).get("EventId"))
        db.execute("INSERT INTO outbox VALUES (?, ?) ON CONFLICT DO NOTHING", (event_id, body))
        return web.json_response({"queued": event_id}, status=202)

    application = web.Application()
    application.router.add_post("/v1/inbound/{account}", inbound)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", required=True)
    parser.add_argument("--state", help="the SQLite file (default: one in a temporary folder)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = args.state or str(Path(tmp) / "floor.db")
        with contextlib.suppress(KeyboardInterrupt):
            run_fast(serve_baseline(app(args.secret, state), "relay floor", args.port))


if __name__ == "__main__":
    main()
