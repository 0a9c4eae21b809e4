"""Token sources and the bearer-auth client middleware.

A ``TokenSource`` hands out bearer tokens. ``CachedTokenSource`` is the base of every source that
fetches tokens: it caches the token, refreshes it before it expires, makes exactly one request
when many calls need a token at once, and forgets a token the provider rejected (401) so that the
next caller fetches a fresh one. Subclasses implement ``_fetch`` only: OAuth2 client credentials
here, MSAL in the Orchestry adapter.

``BearerAuth`` is the aiohttp client middleware that puts the token on each request and, on a 401,
refetches once and retries once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs

from gateway.errors import AuthenticationFailed, ProviderUnavailable
from gateway.model import Secret

__all__ = ["BearerAuth", "CachedTokenSource", "ClientCredentials", "StaticToken", "TokenSource"]

log = logging.getLogger(__name__)


class TokenSource:
    """Gives bearer tokens. ``refetchable`` says whether a rejected token can be replaced."""

    refetchable: bool = False

    async def token(self) -> Secret:
        raise NotImplementedError

    async def invalidate(self, stale: Secret) -> None:
        """Forget ``stale`` if it is still the current token (the provider rejected it)."""


class StaticToken(TokenSource):
    """A fixed token: a personal access token or API key."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    async def token(self) -> Secret:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(***)"


class CachedTokenSource(TokenSource):
    """Caches a fetched token until ``refresh_margin`` seconds before it expires.

    For short-lived tokens the margin shrinks to half the lifetime, so a token is always used
    for a while before it is replaced. ``fetches`` counts the token requests made.
    """

    refetchable = True

    def __init__(
        self, *, refresh_margin: float = 300.0, clock: Callable[[], float] = time.monotonic
    ):
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._token: Secret | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _fetch(self) -> tuple[Secret, float]:
        """Fetch a new token; return it and its lifetime in seconds."""
        raise NotImplementedError

    def _current(self) -> Secret | None:
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        return None

    async def token(self) -> Secret:
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            # Whoever held the lock before us may have fetched one already.
            token = self._current()
            if token is not None:
                return token
            self.fetches += 1
            token, lifetime = await self._fetch()
            margin = min(self._refresh_margin, lifetime / 2)
            self._token, self._refresh_at = token, self._clock() + lifetime - margin
            return token

    async def invalidate(self, stale: Secret) -> None:
        if self._token is not None and self._token == stale:
            self._token = None


class ClientCredentials(CachedTokenSource):
    """OAuth2 client credentials (RFC 6749 section 4.4): a form POST to ``token_url``.

    The request bypasses the auth middleware of the session (no recursion) but keeps retries.
    An OAuth error (``invalid_client``, ``invalid_scope``) becomes ``AuthenticationFailed``
    carrying the error code and description; the client secret is never part of any message.
    """

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        *,
        provider: str = "",
        account: str = "",
        middlewares: tuple[Any, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._where: dict[str, Any] = {"provider": provider, "account": account}
        self._middlewares = middlewares

    def __repr__(self) -> str:
        return f"ClientCredentials({self._url!r}, client_id={self._client_id!r}, client_secret=***)"

    async def _fetch(self) -> tuple[Secret, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.reveal(),
        }
        if self._scope:
            form["scope"] = self._scope
        try:
            async with self._session().post(
                self._url, data=form, middlewares=self._middlewares
            ) as resp:
                status = resp.status
                body: Any = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(
                f"token endpoint {self._url} unreachable: {type(exc).__name__}", **self._where
            ) from None
        except ValueError:
            raise ProviderUnavailable(
                f"token endpoint {self._url} answered {status} without JSON", **self._where
            ) from None
        body = body if isinstance(body, dict) else {}
        if status >= 500:
            raise ProviderUnavailable(
                f"token endpoint answered {status}", status=status, **self._where
            )
        token = body.get("access_token")
        if status != 200 or not isinstance(token, str):
            code = body.get("error") or "invalid_response"
            detail = body.get("error_description") or "no access_token in the answer"
            raise AuthenticationFailed(
                f"token request refused: {code}: {detail}", status=status, code=code, **self._where
            )
        log.info("fetched an access token", extra=self._where)
        return Secret(token), _lifetime(body.get("expires_in"))


def _lifetime(value: object) -> float:
    """``expires_in`` in seconds; some identity servers send it as a string. Default one hour."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 3600.0


class BearerAuth:
    """Client middleware: ``Authorization: Bearer <token>``; one refetch and retry on a 401."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    async def __call__(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        token = await self.source.token()
        req.headers[hdrs.AUTHORIZATION] = f"Bearer {token.reveal()}"
        resp = await handler(req)
        if resp.status != 401 or not self.source.refetchable:
            return resp
        resp.release()
        await self.source.invalidate(token)
        token = await self.source.token()
        req.headers[hdrs.AUTHORIZATION] = f"Bearer {token.reveal()}"
        return await handler(req)
