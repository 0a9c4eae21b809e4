"""``Idempotency-Key`` on the proxy's writes (create and update a webhook).

The first request with a key runs; its answer is kept in the state store for
``[state] idempotency_retention_hours`` (24 h) and replayed, byte for byte with its status and
``Location``/``ETag``, to every retry with the same key and request, from any replica
(``Idempotent-Replayed: true`` marks a replay). Keys are per API key: two callers cannot see
each other's answers.

- the same key with a different request (method, path or body): 422;
- the same key while the first request still runs: 409 with ``Retry-After``;
- an answer that shows nothing was done (408, 429, 500, 502, 503) is not kept: a retry runs
  again. Everything else is kept, an unknown outcome (504) included, so that a retry can never
  create a second webhook; look the webhook up, or use a new key, to go on.

A claim whose replica died before answering expires after twice ``http.total_timeout`` plus 30
seconds, and the key may then be used again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from gateway.errors import GatewayError
from gateway.proxy.problems import ProblemError, problem
from gateway.store import Store, StoredAnswer

__all__ = ["HEADER", "run_once"]

log = logging.getLogger("gateway.proxy.idempotency")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
#: Answers that show the request did nothing: not kept, so a retry runs again.
_NOT_KEPT = frozenset({408, 429, 500, 502, 503})
_REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")


def _fingerprint(request: web.Request, body: bytes) -> str:
    # The same JSON, however it is spaced or ordered, is the same request.
    with contextlib.suppress(orjson.JSONDecodeError):
        body = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _key(request: web.Request) -> str:
    key = request.headers[HEADER]
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ProblemError(
            400, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


async def run_once(
    request: web.Request,
    store: Store | None,
    scope: str,
    retention: float,
    lease: float,
    run: Callable[[], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Answer ``request`` (which carries an ``Idempotency-Key``) by ``run``, at most once."""
    key = _key(request)
    if store is None:
        raise ProblemError(
            501,
            f"{HEADER} needs a state store, and this gateway has none: configure [state] url "
            "(docs/configuration.md)",
        )
    fingerprint = _fingerprint(request, await request.read())
    claim = await store.claim(scope, key, fingerprint, time.time(), lease)
    if claim.state == "mismatch":
        return problem(422, f"this {HEADER} was used with a different request; use a new key")
    if claim.state == "running":
        return problem(
            409,
            f"a request with this {HEADER} is still running; retry after it finishes",
            headers={"Retry-After": str(int(claim.retry_after or 1))},
        )
    if claim.state == "done":
        assert claim.answer is not None
        answer = claim.answer
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={**answer.headers, "Idempotent-Replayed": "true"},
        )
    try:
        response = await run()
    except BaseException:
        await _release(store, scope, key)
        raise
    if response.status in _NOT_KEPT or not isinstance(response, web.Response):
        await _release(store, scope, key)
        return response
    headers = {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers}
    body = response.body if isinstance(response.body, bytes) else b""
    try:
        await store.settle(
            scope, key, StoredAnswer(status=response.status, headers=headers, body=body),
            time.time(), retention,
        )  # fmt: skip
    except GatewayError as exc:  # the write is done: answer it; retries wait out the lease
        log.error("an idempotent answer could not be kept", extra={"error": exc.message})
    return response


async def _release(store: Store, scope: str, key: str) -> None:
    try:
        await store.release(scope, key)
    except GatewayError as exc:  # the claim expires with its lease
        log.error("an idempotency claim could not be released", extra={"error": exc.message})
