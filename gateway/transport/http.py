"""The HTTP transport: one ``aiohttp.ClientSession`` per Gateway, retries, and error mapping.

``Transport`` owns the session (with connect and read timeouts, and no cookie jar: accounts
share the session, and a cookie one provider account sets must not reach another). Each account
gets a ``ProviderHTTP``: the same session seen through that account's base URL and middlewares
(``RetryMiddleware`` outermost, then ``BearerAuth``), and its provider's error table.

Retries happen only where repeating cannot do harm:

* requests that never reached the server (connection refused, connect timeout): any method;
* idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE; PATCH only when the adapter says so)
  on a dropped connection, a read timeout, or a 429, 502, 503 or 504 answer;
* any request answered 429: it was not processed (RFC 6585), so a create is sent again too.

Backoff is exponential with jitter; a numeric or HTTP-date ``Retry-After`` is honoured; the
number of attempts and the total time are bounded. (Within one attempt aiohttp itself resends an
idempotent request once, at once, when a reused keep-alive connection turns out to be closed,
as RFC 9112 section 9.3.1 allows; so the wire may see up to twice ``max_attempts`` requests.)
A non-idempotent request whose answer was lost raises ``OutcomeUnknown`` rather than being sent
again; so does any write (PUT, PATCH, DELETE too) whose last attempt's answer was lost, since
an attempt may have taken effect: the account client then settles it by reading back.

Every call is bounded as a whole, retries included, by ``total_timeout`` (``read_timeout`` only
bounds one socket read, so a provider dribbling a byte at a time could otherwise hold a call
open indefinitely): ``DeadlineExceeded``, or ``OutcomeUnknown`` for a write. Answers are read
up to ``max_response_bytes``; an answer that is not JSON or too large is a ``ProviderError``,
one cut off is a lost answer (for a write the account client then reconciles: the write may
have been applied).
Provider error text is capped at ``MAX_ERROR_TEXT`` characters; the base URL and connection
details of a failure go to the log, never into the error (which proxy clients see).

Redirects are followed only within the origin (scheme, host and port) the request went to, at
most ``MAX_REDIRECTS`` hops; a redirect to another origin is a ``ProviderError`` naming where it
pointed, and nothing is sent there, so no token or ``Authorization`` header can follow it.
(aiohttp's own following is off: its client middlewares, our bearer auth among them, run again
for each hop, whatever the hop's host.)

Request bodies are encoded here, with orjson: a ``Secret`` in a body stays a ``Secret`` until
this moment (so no adapter frame ever holds its value), and the encoder is as strict as the
decoder (no unpaired surrogates; integers within 64 bits).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import attrs
import orjson
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from yarl import URL

from gateway.checks import check, each
from gateway.errors import (
    DeadlineExceeded,
    GatewayError,
    OutcomeUnknown,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    error_for_status,
)
from gateway.model import Secret
from gateway.transport.auth import BearerAuth, ClientCredentials, TokenSource
from gateway.transport.budget import RateBudget, RateQuota, SharedRates
from gateway.transport.tracing import ATTEMPT, ClientTracing, enabled

__all__ = [
    "HttpSettings",
    "ProviderHTTP",
    "RetryMiddleware",
    "RetryPolicy",
    "Transport",
    "parse_retry_after",
    "within",
]

log = logging.getLogger("gateway.transport.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Methods that change nothing: a lost answer to one of these is a plain failure, not an unknown.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Longest provider error text passed on (longer text is cut and marked so).
MAX_ERROR_TEXT = 2048
#: Same-origin redirects followed for one request, at most.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_JSON_HEADERS = {"Content-Type": "application/json"}

#: The loop time by which every provider call made now must be done (``within``), if any.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Every provider call made in the block, together, within ``seconds`` (a write and the
    look that reconciles it share one deadline; a nested block can only shorten it)."""
    end = asyncio.get_running_loop().time() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _postpone(seconds: float) -> None:
    """Move the deadline of the calls under way (``within``) on by ``seconds`` spent waiting
    for the rate budget: nothing was in flight meanwhile."""
    end = _DEADLINE.get()
    if seconds and end is not None:
        _DEADLINE.set(end + seconds)


# Set by ProviderHTTP.request for the duration of one call: whether the adapter declared the
# request idempotent (None: decide by method). Middlewares run in the caller's task, so they see it.
_IDEMPOTENT: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "webhook_gateway_idempotent", default=None
)


_seconds = check(lambda v: 0 < v <= 3600, "must be a number of seconds > 0 and at most 3600")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Bounds of the retry loop. ``max_attempts`` counts the first try."""

    max_attempts: int = attrs.field(
        default=4, validator=check(lambda v: 1 <= v <= 20, "must be from 1 to 20")
    )
    max_elapsed: float = attrs.field(
        default=30.0, validator=check(lambda v: 0 <= v <= 3600, "must be from 0 to 3600")
    )
    backoff_base: float = attrs.field(
        default=0.25, validator=check(lambda v: 0 <= v <= 60, "must be from 0 to 60")
    )
    backoff_max: float = attrs.field(
        default=8.0, validator=check(lambda v: 0 <= v <= 600, "must be from 0 to 600")
    )
    #: How long one provider call waits, in all, for its account's rate budget (a 429's
    #: ``Retry-After``, a configured ``rate_limit``) before it fails ``RateLimited``; not
    #: counted in ``total_timeout`` (gateway.transport.budget).
    rate_wait: float = attrs.field(
        default=300.0, validator=check(lambda v: 0 <= v <= 86400, "must be from 0 to 86400")
    )
    statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 502, 503, 504}),
        validator=each(lambda v: 400 <= v <= 599, "must be HTTP error statuses, 400-599"),
    )

    def backoff(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): exponential, half of it random."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


@attrs.frozen(kw_only=True)
class HttpSettings:
    """Transport settings (the ``[http]`` table of the config)."""

    connect_timeout: float = attrs.field(default=10.0, validator=_seconds)
    read_timeout: float = attrs.field(default=30.0, validator=_seconds)
    #: Bound of one provider call as a whole, retries and token fetches included.
    total_timeout: float = attrs.field(default=60.0, validator=_seconds)
    #: Largest provider answer read; a larger one is a ``ProviderError``.
    max_response_bytes: int = attrs.field(
        default=16 * 1024 * 1024, validator=check(lambda v: v > 0, "must be > 0")
    )
    max_connections: int = attrs.field(
        default=100, validator=check(lambda v: 1 <= v <= 10_000, "must be from 1 to 10000")
    )
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryMiddleware:
    """Client middleware that retries what is safe to retry (see the module docstring)."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        idempotent: bool | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        budgeted: bool = False,
    ) -> None:
        self.policy = policy
        self._idempotent = idempotent  # fixed for every request (token endpoints), else per call
        self._sleep = sleep
        self.retries = 0
        #: A 429 is the account's rate budget's to wait out (``ProviderHTTP.request``), by
        #: time rather than by attempts: answered as it came.
        self._statuses = policy.statuses - {429} if budgeted else policy.statuses

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        declared = _IDEMPOTENT.get() if self._idempotent is None else self._idempotent
        idempotent = req.method in IDEMPOTENT_METHODS if declared is None else declared
        started = time.monotonic()
        attempt = 1
        while True:
            ATTEMPT.set(attempt)  # for the attempt's span (gateway.transport.tracing)
            try:
                resp = await handler(req)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
                # Nothing reached the server: safe to repeat whatever the method.
                delay = self._delay(attempt, started, None)
                if delay is None:
                    raise
            except (aiohttp.ClientConnectionError, TimeoutError):
                delay = self._delay(attempt, started, None) if idempotent else None
                if delay is None:
                    raise
            else:
                # A 429 says the request was not processed (RFC 6585): safe to send again,
                # whatever the method. Other statuses are retried for idempotent requests only.
                if resp.status not in self._statuses or (not idempotent and resp.status != 429):
                    return resp
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                delay = self._delay(attempt, started, retry_after)
                if delay is None:
                    return resp
                resp.release()
                log.warning("provider call answered %s: sent again in %.2f s", resp.status, delay,
                            extra={"method": req.method, "attempt": attempt + 1})  # fmt: skip
            self.retries += 1
            attempt += 1
            await self._sleep(delay)

    def _delay(self, attempt: int, started: float, retry_after: float | None) -> float | None:
        """How long to wait before the next attempt, or None when the budget is spent."""
        if attempt >= self.policy.max_attempts:
            return None
        delay = retry_after if retry_after is not None else self.policy.backoff(attempt)
        if time.monotonic() - started + delay > self.policy.max_elapsed:
            return None
        return delay


#: Reads a provider's error body: (status, parsed JSON or None) -> (code, message, trace id).
ErrorReader = Callable[[int, Any], tuple[str | int | None, str | None, str | None]]


def _no_details(status: int, body: Any) -> tuple[str | int | None, str | None, str | None]:
    return None, None, None


class ProviderHTTP:
    """One account's view of the shared session: base URL, middlewares and error mapping."""

    def __init__(
        self,
        transport: Transport,
        *,
        provider: str,
        account: str,
        base_url: str,
        auth: TokenSource | None = None,
        read_error: ErrorReader = _no_details,
        codes: Mapping[str | int, type[GatewayError]] | None = None,
        ssl: Any = True,
    ) -> None:
        self._transport = transport
        self.provider = provider
        self.account = account
        self.base_url = base_url.rstrip("/")
        self._where: dict[str, Any] = {"provider": provider, "account": account}  # for errors
        self.retry = RetryMiddleware(transport.settings.retry, budgeted=True)
        self.auth = auth
        self.middlewares: tuple[Any, ...] = (
            (self.retry, BearerAuth(auth)) if auth else (self.retry,)
        )
        #: The same with a client span per attempt, used while tracing is on (asked per request,
        #: so a tracer provider set later counts; off, the chain has no tracing layer at all).
        self.traced_middlewares = (
            self.retry,
            ClientTracing(provider, account),
            *self.middlewares[1:],
        )
        self._read_error = read_error
        self._codes = dict(codes or {})
        self._ssl = ssl

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        ok: Collection[int] = (200, 201, 204),
    ) -> Any:
        """Send one request; return the parsed JSON body (None if empty) or raise a typed error.

        The account's rate budget admits it first (``gateway.transport.budget``); a 429 pauses
        the budget and the request is sent again once it may, while the call may still wait
        (``retry.rate_wait``). The waits do not count against the call's deadline."""
        budget = self._transport.budget(self.account)
        policy = self._transport.settings.retry
        # (``max_attempts = 1`` turns every retry off, a 429's included)
        limit = policy.rate_wait if policy.max_attempts > 1 else 0.0
        refused: RateLimited | None = None  # the provider's last 429 of this call
        while True:
            try:
                waited = await budget.admit(limit)
            except RateLimited:
                if refused is not None:  # the provider's own answer says more than ours
                    raise refused from None
                raise
            limit -= waited
            _postpone(waited)
            try:
                answer = await self._send(method, path, params, json_body, headers, idempotent, ok)
            except RateLimited as limited:
                delay = await budget.refused(limited.retry_after)
                if limit <= 0 or delay > limit:
                    raise
                refused = limited
                self.retry.retries += 1
                if delay > 0:  # a passing refusal: this request alone waits
                    log.warning("provider call answered 429: sent again in %.2f s", delay,
                                extra={"account": self.account, "method": method})  # fmt: skip
                    await asyncio.sleep(delay)
                    limit -= delay
                    _postpone(delay)
            except GatewayError as failed:
                if failed.status is not None:  # answered: the provider took it
                    budget.accepted()
                raise
            else:
                budget.accepted()
                return answer

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
        ok: Collection[int],
    ) -> Any:
        url = self.base_url + path
        # A write whose answer never came may have taken effect, retried or not: the account
        # client reconciles an OutcomeUnknown by looking.
        writes = method not in READ_METHODS
        data = None
        if json_body is not None:
            data = orjson.dumps(json_body, default=_reveal)
            headers = {**_JSON_HEADERS, **(headers or {})}
        settings = self._transport.settings
        seconds = settings.total_timeout
        end = _DEADLINE.get()
        if end is not None:  # part of a larger call (``within``): what is left of it
            seconds = min(seconds, end - asyncio.get_running_loop().time())
            if seconds <= 0:
                raise DeadlineExceeded(f"{method} {_shown(path)}: not sent, the total deadline "
                                       f"of {settings.total_timeout:g} s was spent",
                                       **self._where)  # fmt: skip
        token = _IDEMPOTENT.set(idempotent)
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                for _hop in range(MAX_REDIRECTS + 1):
                    async with self._transport.session.request(
                        method,
                        url,
                        params=params,
                        data=data,
                        headers=headers,
                        middlewares=self.traced_middlewares if enabled() else self.middlewares,
                        ssl=self._ssl,
                        allow_redirects=False,
                    ) as resp:
                        status, answer_headers = resp.status, resp.headers
                        raw = await _read_limited(resp, settings.max_response_bytes)
                        target = resp.url
                    if status not in _REDIRECTS or "Location" not in answer_headers:
                        break
                    url = self._redirected(target, answer_headers["Location"], method, path)
                    params = None  # the Location carries its own query
                    if status == 303 or (status in (301, 302) and method not in READ_METHODS):
                        method, data = "GET", None  # as browsers and aiohttp do
                else:
                    raise self._unreadable(
                        method, path, f"redirected more than {MAX_REDIRECTS} times"
                    )
        except _TooLarge as exc:
            raise self._unreadable(method, path, f"answered more than {exc.limit} bytes") from None
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            self._log_failure(method, path, exc)
            raise ProviderUnavailable(
                f"cannot reach {self.provider} for account {self.account} "
                f"({_kind_of_failure(exc)})",
                **self._where,
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._log_failure(method, path, exc)
            if deadline.expired():
                what = f"no answer within the total deadline of {settings.total_timeout:g} s"
                cls: type[ProviderUnavailable] = OutcomeUnknown if writes else DeadlineExceeded
            else:
                what = f"the answer was lost ({_kind_of_failure(exc)})"
                cls = OutcomeUnknown if writes else ProviderUnavailable
            raise cls(f"{method} {_shown(path)}: {what}", **self._where) from None
        finally:
            _IDEMPOTENT.reset(token)
        body = _parse_json(raw)
        if status in ok:
            if raw and body is _INVALID:
                raise self._unreadable(method, path, f"answered {status} with invalid JSON")
            return body
        retry_after = parse_retry_after(answer_headers.get("Retry-After"))
        raise self._error(status, None if body is _INVALID else body, retry_after, method, path)

    def _redirected(self, origin: URL, location: str, method: str, path: str) -> str:
        """Where a redirect from ``origin`` points, if it stays within that origin; else a
        ``ProviderError`` naming it (scheme, host, port and path: no query, no user info)."""
        try:
            target = origin.join(URL(location))
        except ValueError:
            raise self._unreadable(method, path, "redirected to an unreadable Location") from None
        if (target.scheme, target.host, target.port) != (origin.scheme, origin.host, origin.port):
            shown = f"{target.scheme}://{target.host}:{target.port}{target.path}"
            raise self._unreadable(
                method,
                path,
                f"redirected to another origin ({_cap(shown, 200)}): not followed, "
                "so no credential is sent there",
            )
        return str(target)

    def _unreadable(self, method: str, path: str, what: str) -> ProviderError:
        # ProviderError for writes too: the account client reconciles a write whose answer it
        # could not read, so the error says "unreadable", not merely "unknown".
        return ProviderError(f"{method} {_shown(path)} {what}", **self._where)

    def _log_failure(self, method: str, path: str, exc: BaseException) -> None:
        log.warning(
            "provider call failed",
            extra={**self._where, "method": method, "url": self.base_url + path,
                   "error": _describe(exc)},
        )  # fmt: skip

    def _error(
        self, status: int, body: Any, retry_after: float | None, method: str, path: str
    ) -> GatewayError:
        try:
            code, message, trace_id = self._read_error(status, body)
        except (KeyError, TypeError, ValueError, AttributeError):
            code, message, trace_id = None, None, None
        code = code if isinstance(code, str | int) and not isinstance(code, bool) else None
        message = _cap(message) if isinstance(message, str) and message else None
        trace_id = _cap(trace_id, 200) if isinstance(trace_id, str) else None
        cls = (self._codes.get(code) if code is not None else None) or error_for_status(status)
        text = message or f"{method} {_shown(path)} answered HTTP {status}"
        kwargs: dict[str, Any] = {
            **self._where,
            "status": status,
            "code": code,
            "trace_id": trace_id,
        }
        if issubclass(cls, RateLimited):
            return RateLimited(text, retry_after=retry_after, **kwargs)
        return cls(text, **kwargs)


_INVALID = object()


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


async def _read_limited(resp: ClientResponse, limit: int) -> bytes:
    """The whole body, or ``_TooLarge`` as soon as it is known to exceed ``limit`` bytes."""
    if resp.content_length is not None:  # declared: aiohttp reads no more than that
        if resp.content_length > limit:
            raise _TooLarge(limit)
        return await resp.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _reveal(value: Any) -> Any:
    """orjson's fallback: a ``Secret`` becomes its value here, at the last moment."""
    if isinstance(value, Secret):
        return value.reveal()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _cap(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + " ... (cut)"


def _shown(path: str) -> str:
    """A request path as errors show it: short, and only the part after the base URL."""
    return _cap(path, 200)


def _kind_of_failure(exc: BaseException) -> str:
    """What went wrong, without addresses or other detail that belongs in the log only."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return "connection refused or timed out"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the answer was cut off"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "read timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "the answer was not valid HTTP"
    return type(exc).__name__


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except ValueError:
        return _INVALID


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Transport:
    """Owns the one ``aiohttp.ClientSession`` of a Gateway; hands out per-account clients."""

    def __init__(
        self, settings: HttpSettings | None = None, session: aiohttp.ClientSession | None = None
    ) -> None:
        self.settings = settings or HttpSettings()
        self._session = session
        self._owns_session = session is None
        #: Each account's rate budget at its provider (gateway.transport.budget).
        self.budgets: dict[str, RateBudget] = {}

    def budget(self, account: str) -> RateBudget:
        """``account``'s rate budget (one learned from 429s alone until ``configure_budget``)."""
        found = self.budgets.get(account)
        if found is None:
            found = self.budgets[account] = RateBudget(account)
        return found

    def configure_budget(
        self, account: str, quota: RateQuota | None, shared: SharedRates | None
    ) -> None:
        """``account``'s budget: at most ``quota`` (None: as the provider's 429s teach), kept
        with every replica through ``shared`` (the state store; None: in this process)."""
        self.budgets[account] = RateBudget(account, quota, shared)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self.settings.connect_timeout,
                    sock_read=self.settings.read_timeout,
                ),
                connector=aiohttp.TCPConnector(limit=self.settings.max_connections),
                # Every account shares this session, and two accounts may share a host: no
                # cookie a provider sets is kept, or it would be sent on another's requests.
                cookie_jar=aiohttp.DummyCookieJar(),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def client(self, **kwargs: Any) -> ProviderHTTP:
        """A ``ProviderHTTP`` on this transport (keyword arguments as ``ProviderHTTP``)."""
        return ProviderHTTP(self, **kwargs)

    def client_credentials(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        *,
        provider: str = "",
        account: str = "",
    ) -> ClientCredentials:
        """An OAuth2 client-credentials token source whose requests retry like any other."""
        return ClientCredentials(
            lambda: self.session,
            token_url,
            client_id,
            client_secret,
            scope,
            provider=provider,
            account=account,
            # A token request changes nothing at the provider: safe to repeat.
            middlewares=(
                RetryMiddleware(self.settings.retry, idempotent=True),
                ClientTracing(provider, account),
            ),
        )
