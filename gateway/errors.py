"""The one error hierarchy of webhook-gateway.

::

    GatewayError                 every error the gateway raises on purpose
    ├── InvalidRequest           bad input; caught before any network call where possible,
    │                            or the provider's own "400" (carries field paths)
    ├── ConfigError              a configuration problem, found at start (carries key paths)
    ├── Unsupported              the provider lacks this operation or setting
    ├── NotFound                 no such webhook (or account)
    ├── Conflict                 the provider refused because of existing state (duplicate name)
    ├── AuthenticationFailed     credentials missing, wrong or expired (401, OAuth errors)
    ├── PermissionDenied         authenticated but not allowed (403)
    ├── RateLimited              the provider asked us to slow down (429); ``retry_after`` seconds
    ├── PreconditionFailed       the webhook changed since the caller read it (``If-Match``)
    ├── StateUnavailable         the state store (``[state]``) failed or could not be reached
    └── ProviderUnavailable      the provider failed or could not be reached (5xx, timeouts)
        ├── ProviderError        its answer could not be read (not JSON, cut off, wrong shape)
        ├── DeadlineExceeded     the call and its retries ran past the total deadline
        └── OutcomeUnknown       a write was sent but whether it took effect cannot be told

Errors that come from a provider keep what the provider said: ``provider`` (kind), ``account``,
``status`` (HTTP), ``code`` (the provider's own error code), ``message`` and ``trace_id``.
Nothing puts a secret or a token into an error: messages are built from field names and
provider-supplied text only, and ``Secret`` renders as ``***`` wherever it is formatted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "AuthenticationFailed",
    "ConfigError",
    "Conflict",
    "DeadlineExceeded",
    "FieldProblem",
    "GatewayError",
    "InvalidRequest",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "PreconditionFailed",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "StateUnavailable",
    "Unsupported",
    "error_for_status",
]


@attrs.frozen
class FieldProblem:
    """One thing wrong with an input, and where: ``path`` is dotted (``events.0``, ``url``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    #: HTTP status the proxy answers with for this error class.
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        account: str | None = None,
        status: int | None = None,
        code: str | int | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.account = account
        self.status = status
        self.code = code
        self.trace_id = trace_id

    def __str__(self) -> str:
        where = ":".join(x for x in (self.provider, self.account) if x)
        text = f"{where}: {self.message}" if where else self.message
        extras = [
            f"{label} {value}"
            for label, value in (
                ("status", self.status),
                ("code", self.code),
                ("trace id", self.trace_id),
            )
            if value is not None
        ]
        return f"{text} ({', '.join(extras)})" if extras else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequest(GatewayError):
    """Bad input. ``problems`` lists each ``FieldProblem`` (path + message)."""

    http_status = 400

    def __init__(
        self,
        message: str | None = None,
        *,
        problems: Iterable[FieldProblem] = (),
        **kwargs: Any,
    ) -> None:
        self.problems: Sequence[FieldProblem] = tuple(problems)
        if message is None:
            message = "; ".join(str(p) for p in self.problems) or "invalid request"
        super().__init__(message, **kwargs)

    @classmethod
    def at(cls, path: str, message: str, **kwargs: Any) -> InvalidRequest:
        """One problem at one path: ``InvalidRequest.at("url", "must be absolute")``."""
        return cls(problems=[FieldProblem(path, message)], **kwargs)


class ConfigError(GatewayError):
    """A configuration problem. ``problems`` carry the key path of each."""

    def __init__(
        self, message: str | None = None, *, problems: Iterable[FieldProblem] = ()
    ) -> None:
        self.problems: Sequence[FieldProblem] = tuple(problems)
        if message is None:
            message = "\n".join(str(p) for p in self.problems) or "invalid configuration"
        super().__init__(message)


class Unsupported(GatewayError):
    """The provider lacks an operation or cannot store a setting."""

    http_status = 422

    def __init__(self, provider: str, operation: str, detail: str | None = None, **kw: Any):
        text = f"{provider} does not support {operation}"
        super().__init__(f"{text}: {detail}" if detail else text, provider=provider, **kw)
        self.operation = operation


class NotFound(GatewayError):
    """No such webhook (or account)."""

    http_status = 404


class Conflict(GatewayError):
    """The provider refused because of existing state, such as a duplicate name."""

    http_status = 409


class AuthenticationFailed(GatewayError):
    """Credentials missing, wrong or expired."""

    http_status = 502


class PermissionDenied(GatewayError):
    """Authenticated, but the provider does not allow this call."""

    http_status = 502


class RateLimited(GatewayError):
    """The provider asked us to slow down; ``retry_after`` is in seconds when it said."""

    http_status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PreconditionFailed(GatewayError):
    """The webhook is not in the state the caller expected (its ETag differs from
    ``If-Match``); ``etag`` is the current one (None: the webhook is gone)."""

    http_status = 412

    def __init__(self, message: str, *, etag: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.etag = etag


class StateUnavailable(GatewayError):
    """The state store failed, could not be reached, or a lock in it was not granted in time;
    nothing was sent to the provider."""

    http_status = 503


class ProviderUnavailable(GatewayError):
    """The provider failed (5xx) or could not be reached in time."""

    http_status = 503


class ProviderError(ProviderUnavailable):
    """The provider answered, but with something the gateway cannot read: not JSON, cut off,
    or JSON of the wrong shape (a missing or mistyped field). The message names what was wrong.
    """


class DeadlineExceeded(ProviderUnavailable):
    """A provider call, retries included, ran past its total deadline (``http.total_timeout``)."""

    http_status = 504


class OutcomeUnknown(ProviderUnavailable):
    """A write was sent but whether it took effect cannot be told (its answer was lost or
    unreadable, and looking did not settle it).

    The gateway never resends such a request blindly: ``create`` looks the webhook up and
    ``update`` reads it back first; this error is raised only when that did not decide.
    """

    http_status = 504


_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidRequest,
    429: RateLimited,
}


def error_for_status(status: int) -> type[GatewayError]:
    """The shared class for a provider's HTTP status (5xx and anything unknown: unavailable)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 400 <= status < 500:
        return InvalidRequest
    return ProviderUnavailable
