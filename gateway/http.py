"""The HTTP transport: one ``aiohttp.ClientSession`` per Gateway, retries, and error mapping.

``Transport`` owns the session (with connect and read timeouts, and no cookie jar: accounts
share the session, and a cookie one provider account sets must not reach another). Each account
gets a ``ProviderHTTP``: the same session seen through that account's base URL and middlewares
(``RetryMiddleware`` outermost, then ``BearerAuth``), and its provider's error table.

Retries happen only where repeating cannot do harm:

* requests that never reached the server (connection refused, connect timeout): any method;
* idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE; PATCH only when the adapter says so)
  on a dropped connection, a read timeout, or a 429, 502, 503 or 504 answer.

Backoff is exponential with jitter; a numeric or HTTP-date ``Retry-After`` is honoured; the
number of attempts and the total time are bounded. (Within one attempt aiohttp itself resends an
idempotent request once, at once, when a reused keep-alive connection turns out to be closed,
as RFC 9112 section 9.3.1 allows; so the wire may see up to twice ``max_attempts`` requests.)
A non-idempotent request whose answer was lost raises ``OutcomeUnknown`` rather than being sent
again.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import attrs
import orjson
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

from gateway.auth import BearerAuth, ClientCredentials, TokenSource
from gateway.errors import (
    GatewayError,
    OutcomeUnknown,
    ProviderUnavailable,
    RateLimited,
    error_for_status,
)
from gateway.model import Secret

__all__ = [
    "HttpSettings",
    "ProviderHTTP",
    "RetryMiddleware",
    "RetryPolicy",
    "Transport",
    "parse_retry_after",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Set by ProviderHTTP.request for the duration of one call: whether the adapter declared the
# request idempotent (None: decide by method). Middlewares run in the caller's task, so they see it.
_IDEMPOTENT: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "webhook_gateway_idempotent", default=None
)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Bounds of the retry loop. ``max_attempts`` counts the first try."""

    max_attempts: int = 4
    max_elapsed: float = 30.0
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def backoff(self, retry: int) -> float:
        """Delay before retry number ``retry`` (1-based): exponential, half of it random."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not crypto


@attrs.frozen(kw_only=True)
class HttpSettings:
    """Transport settings (the ``[http]`` table of the config)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_connections: int = 100
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
    ) -> None:
        self.policy = policy
        self._idempotent = idempotent  # fixed for every request (token endpoints), else per call
        self._sleep = sleep
        self.retries = 0

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        declared = _IDEMPOTENT.get() if self._idempotent is None else self._idempotent
        idempotent = req.method in IDEMPOTENT_METHODS if declared is None else declared
        started = time.monotonic()
        attempt = 1
        while True:
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
                if resp.status not in self.policy.statuses or not idempotent:
                    return resp
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                delay = self._delay(attempt, started, retry_after)
                if delay is None:
                    return resp
                resp.release()
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
        self.retry = RetryMiddleware(transport.settings.retry)
        self.auth = auth
        self.middlewares: tuple[Any, ...] = (
            (self.retry, BearerAuth(auth)) if auth else (self.retry,)
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
        """Send one request; return the parsed JSON body (None if empty) or raise a typed error."""
        url = self.base_url + path
        token = _IDEMPOTENT.set(idempotent)
        try:
            async with self._transport.session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=headers,
                middlewares=self.middlewares,
                ssl=self._ssl,
            ) as resp:
                status, raw, answer_headers = resp.status, await resp.read(), resp.headers
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ProviderUnavailable(
                f"cannot reach {self.base_url}: {_describe(exc)}",
                **self._where,
            ) from None
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            sent_blind = not (method in IDEMPOTENT_METHODS if idempotent is None else idempotent)
            cls = OutcomeUnknown if sent_blind else ProviderUnavailable
            raise cls(
                f"{method} {path} failed: {_describe(exc)}",
                **self._where,
            ) from None
        finally:
            _IDEMPOTENT.reset(token)
        body = _parse_json(raw)
        if status in ok:
            if raw and body is _INVALID:
                raise ProviderUnavailable(
                    f"{method} {path} answered {status} with invalid JSON",
                    **self._where,
                )
            return body
        retry_after = parse_retry_after(answer_headers.get("Retry-After"))
        raise self._error(status, None if body is _INVALID else body, retry_after, method, path)

    def _error(
        self, status: int, body: Any, retry_after: float | None, method: str, path: str
    ) -> GatewayError:
        code, message, trace_id = self._read_error(status, body)
        cls = (self._codes.get(code) if code is not None else None) or error_for_status(status)
        text = message or f"{method} {path} answered HTTP {status}"
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
            middlewares=(RetryMiddleware(self.settings.retry, idempotent=True),),
        )
