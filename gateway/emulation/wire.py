"""What an emulator's answers are made of: compact JSON, ids (trace ids, ULIDs), a JSON-object
request body or the provider's 400, and a middleware answering the emulator's own error type."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

__all__ = [
    "Handler",
    "dumps",
    "error_middleware",
    "is_json_type",
    "json_object",
    "trace_id",
    "ulid",
]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


E = TypeVar("E", bound=Exception)


def error_middleware(kind: type[E], render: Callable[[E], web.Response]) -> Any:
    """A web middleware answering the emulator's own error type ``kind`` with ``render``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except kind as exc:
            return render(exc)

    return middleware


async def json_object(request: web.Request, refuse: Callable[[str], Exception]) -> dict[str, Any]:
    """The request's JSON object body; otherwise raise ``refuse(message)``, the emulator's 400."""
    try:
        body = await request.json()
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError alike
        raise refuse("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise refuse("The request body must be a JSON object.")
    return body


def is_json_type(value: Any, kind: type[Any]) -> bool:
    """Whether ``value`` is a JSON ``kind`` (a boolean is not a number or a string here)."""
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def dumps(data: Any) -> bytes:
    """Compact JSON bytes, as a provider sends them (the signature covers exactly these)."""
    return json.dumps(data, separators=(",", ":")).encode()


def trace_id() -> str:
    return uuid.uuid4().hex


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(now: float | None = None) -> str:
    """A new ULID: 48 bits of milliseconds, 80 random bits, Crockford Base32 (26 characters)."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))
