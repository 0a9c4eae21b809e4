"""Error answers of the HTTP proxy: ``application/problem+json`` (RFC 9457), one shape for all.

Every error the proxy sends has ``type``, ``title``, ``status``, ``detail`` and ``request_id``;
input errors add ``errors: [{path, message}]``; errors a provider reported add ``provider``,
``account``, ``provider_status``, ``code`` and ``trace_id``. A 429 carries ``Retry-After``.
Nothing else leaves the process: no stack trace, no exception text of an unexpected error.

How the gateway's errors become statuses (a provider's own 400 is 422: the request was valid
here, the provider refused it):

====================  ======  ==========================================================
error                 status  meaning
====================  ======  ==========================================================
InvalidRequest        400     bad input, found before anything was sent
InvalidRequest        422     the provider refused the input (it had a status of its own)
Unsupported           422     the provider lacks the operation or the setting
NotFound              404     no such account or webhook
PreconditionFailed    412     ``If-Match`` names no ETag the webhook has (``current_etag``)
Conflict              409     e.g. the name is taken at the provider
RateLimited           429     the provider asks us to wait (``Retry-After``)
AuthenticationFailed  502     the gateway's credentials for the provider were refused
PermissionDenied      502     the gateway's credentials lack a permission at the provider
ProviderUnavailable   503     the provider failed or is unreachable
ProviderError         503     the provider's answer could not be read (own problem type)
DeadlineExceeded      504     the call ran past ``http.total_timeout`` (own problem type)
OutcomeUnknown        504     a write was sent; whether it took effect is unknown (own type)
StateUnavailable      503     the state store failed; nothing was sent (own type)
====================  ======  ==========================================================
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aiohttp import web

from gateway.errors import (
    DeadlineExceeded,
    FieldProblem,
    GatewayError,
    InvalidRequest,
    OutcomeUnknown,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    StateUnavailable,
)
from gateway.proxy.logs import REQUEST_ID

__all__ = [
    "PROBLEM_TYPE",
    "ProblemError",
    "error_of_type",
    "from_error",
    "problem",
    "problem_body",
    "status_of",
]

PROBLEM_TYPE = "application/problem+json"
_DOCS = "https://github.com/webhook-gateway/webhook-gateway/blob/main/docs/http-api.md#errors"


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


#: Errors whose meaning a status alone does not carry get a problem type of their own: a 504
#: may be a deadline (nothing known to be written) or a write of unknown outcome.
_TYPES: dict[type[GatewayError], tuple[str, str]] = {
    OutcomeUnknown: ("outcome-unknown", "Outcome Unknown"),
    DeadlineExceeded: ("deadline-exceeded", "Deadline Exceeded"),
    ProviderError: ("provider-answer-unreadable", "Provider Answer Unreadable"),
    StateUnavailable: ("state-unavailable", "State Store Unavailable"),
}


def error_of_type(type_url: str) -> type[GatewayError] | None:
    """The error class of a problem ``type`` this module makes (None: one known by status)."""
    for error, (slug, _title) in _TYPES.items():
        if type_url == f"{_DOCS}-{slug}":
            return error
    return None


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
        "type": f"{_DOCS}-{slug}",
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
    if isinstance(error, InvalidRequest) and error.status is not None:
        return 422
    return error.http_status


def from_error(error: GatewayError) -> web.Response:
    """The problem response for a gateway error (its message never holds a secret)."""
    status = status_of(error)
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
        kind=_TYPES.get(type(error)),
        provider=error.provider,
        account=error.account,
        provider_status=error.status,
        code=error.code,
        trace_id=error.trace_id,
        current_etag=etag,
    )
