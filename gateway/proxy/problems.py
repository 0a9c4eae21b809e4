"""Error answers of the HTTP proxy: ``application/problem+json`` (RFC 9457), one shape for all.

Every error the proxy sends has ``type``, ``title``, ``status``, ``detail`` and ``request_id``;
input errors add ``errors: [{path, message}]``; errors a provider reported add ``provider``,
``account``, ``provider_status``, ``code`` and ``trace_id``. A 429 carries ``Retry-After``.
Nothing else leaves the process: no stack trace, no exception text of an unexpected error.

How the gateway's errors become statuses and problem types: ``gateway.errors.ERROR_TABLE``, the
one table every front door reads (the command line's exit statuses too). A provider's own 400
is 422: the request was valid here, the provider refused it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import (
    FieldProblem,
    GatewayError,
    InvalidRequest,
    PreconditionFailed,
    RateLimited,
    kind_of,
    problem_type,
)
from gateway.logs import REQUEST_ID

__all__ = [
    "PROBLEM_TYPE",
    "ProblemError",
    "from_error",
    "problem",
    "problem_body",
    "status_of",
]

PROBLEM_TYPE = "application/problem+json"


class ProblemError(Exception):
    """Raised by the proxy's own checks (authentication, ...): answered as a problem."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers

    def response(self) -> web.Response:
        response = problem(self.status, self.detail, headers=self.headers)
        if self.status == 408:
            response.force_close()  # the rest of the request may still be on its way
        return response


def problem_body(
    status: int,
    detail: str,
    *,
    errors: Sequence[FieldProblem] = (),
    kind: tuple[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A problem+json body, carrying the current request id. ``kind`` is ``(type slug, title)``
    for errors with a problem type of their own (default: by status)."""
    slug, title = kind or (str(status), HTTPStatus(status).phrase)
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"path": p.path, "message": p.message} for p in errors]
    body |= {k: v for k, v in extra.items() if v is not None}
    body["request_id"] = REQUEST_ID.get()
    return body


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[FieldProblem] = (),
    headers: dict[str, str] | None = None,
    kind: tuple[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """A problem+json response (``problem_body``)."""
    body = problem_body(status, detail, errors=errors, kind=kind, **extra)
    return web.Response(
        body=orjson.dumps(body), status=status, content_type=PROBLEM_TYPE, headers=headers
    )


def status_of(error: GatewayError) -> int:
    return kind_of(error).status


def from_error(error: GatewayError) -> web.Response:
    """The problem response for a gateway error (its message never holds a secret)."""
    kind = kind_of(error)
    status = kind.status
    headers = None
    if isinstance(error, RateLimited) and error.retry_after is not None:
        headers = {"Retry-After": str(max(1, math.ceil(error.retry_after)))}
    etag = error.etag if isinstance(error, PreconditionFailed) else None
    if etag is not None:
        headers = {"ETag": etag}
    problems = error.problems if isinstance(error, InvalidRequest) else ()
    return problem(
        status,
        error.message,
        errors=problems,
        headers=headers,
        kind=None if kind.slug.isdigit() else (kind.slug, kind.title),
        provider=error.provider,
        account=error.account,
        provider_status=error.status,
        code=error.code,
        trace_id=error.trace_id,
        current_etag=etag,
    )
