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
    │   └── LockLost             a lock in it was lost while held: the write was not sent
    ├── NotAuthenticated         the gateway does not know the caller (no key, a wrong one)
    ├── Forbidden                the caller is known but may not do this (a read key's write)
    └── ProviderUnavailable      the provider failed or could not be reached (5xx, timeouts)
        ├── ProviderError        its answer could not be read (not JSON, cut off, wrong shape)
        ├── DeadlineExceeded     the call and its retries ran past the total deadline
        └── OutcomeUnknown       a write was sent but whether it took effect cannot be told

``ERROR_TABLE`` at the end maps each class once to what every front door makes of it: the
proxy's HTTP status and problem type, the command line's exit status; ``error_from_problem``
reads a problem answer back into the class (the remote command line), through the same table.

Errors that come from a provider keep what the provider said: ``provider`` (kind), ``account``,
``status`` (HTTP), ``code`` (the provider's own error code), ``message`` and ``trace_id``.
Nothing puts a secret or a token into an error: messages are built from field names and
provider-supplied text only, ``Secret`` renders as ``***`` wherever it is formatted, and the
credentials of any URL a message quotes (a provider's text may) are masked as it is made
(``gateway.masking.scrub``); the account client also masks the values it knows are secret
(a write's secret and header values) in the errors of that write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from gateway.masking import scrub

__all__ = [
    "ERROR_TABLE",
    "AuthenticationFailed",
    "ConfigError",
    "Conflict",
    "DeadlineExceeded",
    "ErrorKind",
    "FieldProblem",
    "Forbidden",
    "GatewayError",
    "InvalidRequest",
    "LockLost",
    "NotAuthenticated",
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
    "error_from_problem",
    "exit_code",
    "kind_of",
    "problem_type",
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
        message = scrub(message)  # no URL credentials in any error text (gateway.masking)
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

    def __init__(self, provider: str, operation: str, detail: str | None = None, **kw: Any):
        text = f"{provider} does not support {operation}"
        super().__init__(f"{text}: {detail}" if detail else text, provider=provider, **kw)
        self.operation = operation


class NotFound(GatewayError):
    """No such webhook (or account)."""


class Conflict(GatewayError):
    """The provider refused because of existing state, such as a duplicate name."""


class AuthenticationFailed(GatewayError):
    """Credentials missing, wrong or expired."""


class PermissionDenied(GatewayError):
    """Authenticated, but the provider does not allow this call."""


class RateLimited(GatewayError):
    """The provider asked us to slow down; ``retry_after`` is in seconds when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PreconditionFailed(GatewayError):
    """The webhook is not in the state the caller expected (its ETag differs from
    ``If-Match``); ``etag`` is the current one (None: the webhook is gone)."""

    def __init__(self, message: str, *, etag: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.etag = etag


class StateUnavailable(GatewayError):
    """The state store failed, could not be reached, or a lock in it was not granted in time;
    nothing was sent to the provider."""


class SchemaNewer(StateUnavailable):
    """The state store's schema is newer than this release knows: a later release migrated
    it. Waiting does not help; this release must not write to it."""


class LockLost(StateUnavailable):
    """A lock in the state store was lost while it was held (its connection dropped), so the
    write it guarded was not sent."""


class NotAuthenticated(GatewayError):
    """The gateway does not know the caller: no API key, an unknown or expired one."""


class Forbidden(GatewayError):
    """The caller is known but may not do this (a read key's write): nothing was done."""


class ProviderUnavailable(GatewayError):
    """The provider failed (5xx) or could not be reached in time."""


class ProviderError(ProviderUnavailable):
    """The provider answered, but with something the gateway cannot read: not JSON, cut off,
    or JSON of the wrong shape (a missing or mistyped field). The message names what was wrong.
    """


class DeadlineExceeded(ProviderUnavailable):
    """A provider call, retries included, ran past its total deadline (``http.total_timeout``)."""


class OutcomeUnknown(ProviderUnavailable):
    """A write was sent but whether it took effect cannot be told (its answer was lost or
    unreadable, and looking did not settle it).

    The gateway never resends such a request blindly: ``create`` looks the webhook up and
    ``update`` reads it back first; this error is raised only when that did not decide.
    """


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


# -- what each error is at the front doors ------------------------------------------------------


@attrs.frozen
class ErrorKind:
    """What an error class is at every front door: the proxy answers ``status`` with the problem
    type ``slug`` (``title``), the command line exits with ``exit``."""

    status: int
    slug: str
    title: str
    exit: int


#: Exit statuses of the command line (docs/cli.md): 0 done, 1 unexpected, 2 usage or
#: configuration, 3 not found, 4 refused, 5 unavailable, 6 outcome unknown, 130 interrupted.
EXIT_USAGE = 2

# fmt: off
#: Each class once, most specific first (a subclass not listed takes its nearest base's row).
#: Problem types by status (``slug`` the status) unless a status alone does not say what
#: happened: a 504 may be a deadline or a write of unknown outcome.
ERROR_TABLE: dict[type[GatewayError], ErrorKind] = {
    OutcomeUnknown:       ErrorKind(504, "outcome-unknown", "Outcome Unknown", 6),
    DeadlineExceeded:     ErrorKind(504, "deadline-exceeded", "Deadline Exceeded", 5),
    ProviderError:        ErrorKind(503, "provider-answer-unreadable",
                                    "Provider Answer Unreadable", 5),
    ProviderUnavailable:  ErrorKind(503, "503", "Service Unavailable", 5),
    StateUnavailable:     ErrorKind(503, "state-unavailable", "State Store Unavailable", 5),
    InvalidRequest:       ErrorKind(400, "400", "Bad Request", 4),
    ConfigError:          ErrorKind(501, "not-configured", "Not Configured", 2),
    Unsupported:          ErrorKind(422, "unsupported", "Unsupported", 4),
    NotFound:             ErrorKind(404, "404", "Not Found", 3),
    Conflict:             ErrorKind(409, "409", "Conflict", 4),
    PreconditionFailed:   ErrorKind(412, "412", "Precondition Failed", 4),
    RateLimited:          ErrorKind(429, "429", "Too Many Requests", 5),
    AuthenticationFailed: ErrorKind(502, "502", "Bad Gateway", 5),
    PermissionDenied:     ErrorKind(502, "502", "Bad Gateway", 5),
    NotAuthenticated:     ErrorKind(401, "401", "Unauthorized", 4),
    Forbidden:            ErrorKind(403, "403", "Forbidden", 4),
    GatewayError:         ErrorKind(500, "500", "Internal Server Error", 1),
}
# fmt: on

#: A provider's own refusal of valid input (an ``InvalidRequest`` with a provider status).
PROVIDER_REFUSED = ErrorKind(422, "422", "Unprocessable Content", 4)

_PROBLEM_BASE = (
    "https://github.com/webhook-gateway/webhook-gateway/blob/main/docs/http-api.md#errors"
)


def kind_of(error: GatewayError) -> ErrorKind:
    """``error``'s row of ``ERROR_TABLE``."""
    if isinstance(error, InvalidRequest) and error.status is not None:
        return PROVIDER_REFUSED  # valid here; the provider refused it
    for cls in type(error).__mro__:
        kind = ERROR_TABLE.get(cls)
        if kind is not None:
            return kind
    return ERROR_TABLE[GatewayError]


def problem_type(slug: str) -> str:
    """The problem ``type`` URI of ``slug`` (a status or a name of its own)."""
    return f"{_PROBLEM_BASE}-{slug}"


def exit_code(error: BaseException) -> int:
    """The command line's exit status for ``error`` (1 for anything not a ``GatewayError``)."""
    if not isinstance(error, GatewayError):
        return ERROR_TABLE[GatewayError].exit
    problems = getattr(error, "problems", ())
    if (
        isinstance(error, InvalidRequest)
        and problems
        and all(p.path.startswith("--") for p in problems)
    ):
        return EXIT_USAGE  # an option of the command line itself
    return kind_of(error).exit


def error_from_problem(status: int, problem: Any, server: str) -> GatewayError:
    """The error a problem+json answer (``problem``, its parsed body) stands for, read through
    ``ERROR_TABLE``: by its problem type where the type is one of the table's own names, else
    by its status. ``detail`` becomes the message; ``errors`` the field problems."""
    body = problem if isinstance(problem, dict) else {}
    detail = str(body.get("detail") or f"the gateway at {server} answered {status}")
    where: dict[str, Any] = {k: body.get(k) for k in ("provider", "account", "code", "trace_id")}
    where["status"] = body.get("provider_status")
    type_uri = str(body.get("type", ""))
    chosen: type[GatewayError] | None = None
    for cls, kind in ERROR_TABLE.items():
        if not kind.slug.isdigit() and type_uri == problem_type(kind.slug):
            chosen = cls
            break
    if chosen is None:
        # A row whose type is the status's own first, else any row of that status.
        same = [cls for cls, kind in ERROR_TABLE.items() if kind.status == status]
        own = [cls for cls in same if ERROR_TABLE[cls].slug.isdigit()]
        fallback = InvalidRequest if 400 <= status < 500 else ProviderUnavailable
        chosen = (own or same or [fallback])[0]
    if issubclass(chosen, InvalidRequest):
        problems = [FieldProblem(str(e.get("path", "")), str(e.get("message", "")))
                    for e in body.get("errors", []) if isinstance(e, dict)]  # fmt: skip
        return InvalidRequest(detail, problems=problems, **where)
    # The class, with the server's message as it is (constructors that compose one of their
    # own, such as Unsupported's, are not run again on it), and the fields of its own.
    error = chosen.__new__(chosen)
    GatewayError.__init__(error, detail, **where)
    own_fields: dict[type[GatewayError], dict[str, Any]] = {
        ConfigError: {"problems": ()},
        Unsupported: {"operation": ""},
        PreconditionFailed: {"etag": body.get("current_etag")},
        RateLimited: {"retry_after": None},
    }
    for cls, fields in own_fields.items():
        if isinstance(error, cls):
            vars(error).update(fields)
    return error
