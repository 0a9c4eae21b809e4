"""Orchestry's tokens: Microsoft identity platform client credentials through MSAL.

One ``msal.ConfidentialClientApplication`` per account, created on first use and reused, so
MSAL's own token cache works. MSAL is synchronous (its constructor even fetches the authority's
discovery document), so every call runs in a worker thread: never on the event loop, which may
be the one serving the token endpoint (calling MSAL there deadlocks).

``CachedTokenSource`` in front of MSAL makes concurrent callers share one acquisition; after a
401 the rejected token is also removed from MSAL's cache, or MSAL would hand it out again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import msal
import requests

from gateway.errors import AuthenticationFailed, ProviderUnavailable
from gateway.model import Secret
from gateway.transport.auth import CachedTokenSource

__all__ = ["MICROSOFT_HOSTS", "MsalTokenSource"]

log = logging.getLogger(__name__)

#: Authorities MSAL knows; any other host gets ``instance_discovery=False``.
MICROSOFT_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
)


class MsalTokenSource(CachedTokenSource):
    """Client-credentials tokens from MSAL for one account."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: Secret,
        authority: str,
        scope: str,
        ca_bundle: str | None = None,
        timeout: tuple[float, float] = (10.0, 30.0),
        provider: str = "",
        account: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = authority.rstrip("/")
        self._scope = scope
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._where: dict[str, Any] = {"provider": provider, "account": account}
        self._app: msal.ConfidentialClientApplication | None = None
        self._app_lock = threading.Lock()
        self._forget = False
        self._http_client: requests.Session | None = None

    def __repr__(self) -> str:
        return (
            f"MsalTokenSource(authority={self._authority!r}, client_id={self._client_id!r}, "
            "client_secret=***)"
        )

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._app_lock:
            if self._app is None:
                host = self._authority.split("/")[2].lower()
                http_client = None
                if self._ca_bundle:
                    # Its own session: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE would override verify.
                    http_client = requests.Session()
                    http_client.trust_env = False
                    http_client.verify = self._ca_bundle
                    self._http_client = http_client
                self._app = msal.ConfidentialClientApplication(
                    self._client_id,
                    client_credential=self._client_secret.reveal(),
                    authority=self._authority,
                    instance_discovery=host in MICROSOFT_HOSTS,
                    http_client=http_client,
                    timeout=self._timeout,
                )
            return self._app

    def _acquire(self, forget: bool) -> dict[str, Any]:
        app = self._application()
        if forget:
            cache = app.token_cache
            for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)
        result: dict[str, Any] = app.acquire_token_for_client(scopes=[self._scope])
        return result

    async def _fetch(self) -> tuple[Secret, float]:
        forget, self._forget = self._forget, False
        try:
            result = await asyncio.to_thread(self._acquire, forget)
        except (requests.RequestException, ValueError) as exc:
            # ValueError: MSAL could not read the authority's discovery document.
            raise ProviderUnavailable(
                f"identity platform {self._authority} unreachable: {type(exc).__name__}",
                **self._where,
            ) from None
        token = result.get("access_token")
        if not isinstance(token, str):
            code = result.get("error") or "invalid_response"
            detail = (result.get("error_description") or "no access_token").splitlines()[0]
            raise AuthenticationFailed(
                f"token request refused: {code}: {detail}",
                code=code,
                trace_id=result.get("correlation_id"),
                **self._where,
            )
        log.info("fetched an access token through MSAL", extra=self._where)
        return Secret(token), float(result.get("expires_in", 3600))

    def close(self) -> None:
        """Close MSAL's own HTTP session, if we gave it one."""
        with self._app_lock:
            if self._http_client is not None:
                self._http_client.close()
                self._http_client = None

    async def invalidate(self, stale: Secret) -> None:
        if self._current() == stale:
            self._forget = True
        await super().invalidate(stale)
