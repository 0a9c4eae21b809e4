"""Single sign-on: the gateway as an OpenID Connect client of the company's provider.

The console's "Sign in with <provider>" is the authorization code flow with PKCE (S256), a
``state`` and a ``nonce``: ``start`` makes the provider's authorization URL and what the
callback must see again (``Pending``, kept by the browser in a signed, short-lived cookie, so
any replica can finish); ``finish`` exchanges the code (``client_secret_basic``) and checks the
ID token: its signature against the provider's JWKS (fetched again once when a key id is
unknown: the provider rotated its keys), ``iss``, ``aud`` (and ``azp`` when there are several),
``exp``, ``iat`` and the ``nonce``. A code is good once at the provider, and the pending cookie
once here.

What is written here is the protocol's few HTTP steps on aiohttp (the gateway's HTTP client);
the JOSE (signatures, keys, claims) is joserfc's, never by hand.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import ssl
import time
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import attrs
import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption

from gateway.config import OidcConfig
from gateway.errors import NotAuthenticated, ProviderUnavailable, Unsupported

__all__ = ["ALGORITHMS", "OidcClient", "Pending", "Person"]

#: The ID token signatures accepted (never ``none``, never HMAC with the client secret).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA"]  # fmt: skip
#: The device authorization grant (RFC 8628).
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: How long a sign-in may take between the console's redirect and the provider's callback.
PENDING_SECONDS = 600
#: Seconds of clock difference with the provider tolerated on ``exp`` and ``iat``.
LEEWAY = 60


@attrs.frozen
class Pending:
    """What the callback must match: the ``state``, the ``nonce``, the PKCE verifier."""

    state: str
    nonce: str
    verifier: str = attrs.field(repr=False)
    started: float
    #: Where the provider sends the code back (a command line's loopback; the console's is
    #: its own callback).
    redirect_uri: str = ""

    def seal(self, key: bytes) -> str:
        """This, as a cookie value signed with ``key``."""
        body = base64.urlsafe_b64encode(orjson.dumps(attrs.asdict(self))).decode()
        return f"{body}.{_mac(key, body)}"

    @classmethod
    def unseal(cls, value: str, key: bytes, now: float | None = None) -> Pending | None:
        body, _, mac = value.partition(".")
        if not body or not hmac.compare_digest(mac, _mac(key, body)):
            return None
        try:
            pending = cls(**orjson.loads(base64.urlsafe_b64decode(body)))
        except (ValueError, TypeError):
            return None
        if (now or time.time()) - pending.started > PENDING_SECONDS:
            return None
        return pending


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, b"oidc-pending\0" + body.encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class Person:
    """Who signed in, as the ID token says."""

    subject: str
    email: str | None
    name: str | None
    groups: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "email": self.email, "name": self.name,
                "groups": list(self.groups)}  # fmt: skip


class OidcClient:
    """One provider (``[auth.oidc]``): its metadata and keys, fetched when first needed."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=config.ca_bundle) if config.ca_bundle else True
        )

    async def _get(self, url: str) -> Any:
        timeout = aiohttp.ClientTimeout(total=15)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.get(url, ssl=self._ssl) as response,
            ):
                if response.status != 200:
                    raise ProviderUnavailable(f"the identity provider answered {response.status} "
                                              f"to GET {url}")  # fmt: skip
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider could not be read at {url}: "
                                      f"{type(exc).__name__}") from None  # fmt: skip

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (checked: its issuer is the configured one)."""
        async with self._lock:
            if self._metadata is None:
                url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
                found = await self._get(url)
                if not isinstance(found, dict) or found.get("issuer") != self.config.issuer:
                    raise ProviderUnavailable("the identity provider's discovery document names "
                                              "another issuer than [auth.oidc] issuer")  # fmt: skip
                self._metadata = found
            return self._metadata

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            metadata = await self.metadata()
            self._keys = KeySet.import_key_set(await self._get(metadata["jwks_uri"]))
        return self._keys

    async def start(self, redirect_uri: str) -> tuple[str, Pending]:
        """The provider's authorization URL for a new sign-in, and what its callback needs."""
        metadata = await self.metadata()
        pending = Pending(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                          verifier=secrets.token_urlsafe(48), started=time.time())  # fmt: skip
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(pending.verifier.encode()).digest()
        ).rstrip(b"=")
        query = urlencode({
            "response_type": "code", "client_id": self.config.client_id,
            "redirect_uri": redirect_uri, "scope": " ".join(self.config.scopes),
            "state": pending.state, "nonce": pending.nonce,
            "code_challenge": challenge.decode(), "code_challenge_method": "S256",
        })  # fmt: skip
        return f"{metadata['authorization_endpoint']}?{query}", pending

    async def finish(self, code: str, pending: Pending, redirect_uri: str) -> Person:
        """Exchange ``code`` and check its ID token; ``NotAuthenticated`` saying why not."""
        return await self.verify(await self.exchange(code, pending, redirect_uri), pending.nonce)

    async def exchange(self, code: str, pending: Pending, redirect_uri: str) -> str:
        """The ID token the provider gives for ``code`` (not yet checked)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier}  # fmt: skip
        status, answer = await self._post("token_endpoint", form)
        if status != 200 or "id_token" not in answer:
            error = answer.get("error")
            raise NotAuthenticated(f"the identity provider refused the sign-in ({error or status})")
        return str(answer["id_token"])

    async def _post(self, endpoint: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST ``form`` to the provider's ``endpoint`` (a metadata name) as this client."""
        metadata = await self.metadata()
        url = metadata.get(endpoint)
        if not isinstance(url, str):
            raise Unsupported("the identity provider", endpoint.removesuffix("_endpoint"))
        # client_secret_basic: each part form-encoded first (RFC 6749, 2.3.1)
        auth = aiohttp.encode_basic_auth(
            quote(self.config.client_id, safe=""),
            quote(self.config.client_secret.reveal(), safe=""),
        )
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
                http.post(
                    url, data=form, headers={"Authorization": auth}, ssl=self._ssl
                ) as response,  # fmt: skip
            ):
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderUnavailable(f"the identity provider's {endpoint} failed: "
                                      f"{type(exc).__name__}") from None  # fmt: skip
        return status, answer if isinstance(answer, dict) else {}

    async def device_start(self) -> dict[str, Any]:
        """A device authorization (RFC 8628) for a person at a command line: ``device_code``,
        ``user_code``, ``verification_uri`` (``_complete``), ``interval``, ``expires_in``."""
        status, answer = await self._post("device_authorization_endpoint",
                                          {"scope": " ".join(self.config.scopes)})  # fmt: skip
        if status != 200 or "device_code" not in answer:
            raise ProviderUnavailable(f"the identity provider refused a device sign-in "
                                      f"({answer.get('error') or status})")  # fmt: skip
        return answer

    async def device_poll(self, device_code: str) -> Person | str:
        """The person, once they approved the device sign-in; else the provider's word for
        "not yet" (``authorization_pending``, ``slow_down``). ``NotAuthenticated`` when it was
        refused or expired."""
        status, answer = await self._post("token_endpoint", {
            "grant_type": DEVICE_GRANT, "device_code": device_code})  # fmt: skip
        error = answer.get("error")
        if error in ("authorization_pending", "slow_down"):
            return str(error)
        if status != 200 or "id_token" not in answer:
            raise NotAuthenticated(f"the identity provider refused the sign-in ({error or status})")
        return await self.verify(str(answer["id_token"]), None)

    async def verify(self, id_token: str, nonce: str | None) -> Person:
        """The person an ID token names, if it is the provider's, for us, current, and this
        sign-in's (``nonce``)."""
        try:
            try:
                token = jwt.decode(id_token, await self._key_set(), algorithms=ALGORITHMS)
            except (JoseError, ValueError):  # a key the provider rotated in since we looked
                token = jwt.decode(id_token, await self._key_set(refresh=True),
                                   algorithms=ALGORITHMS)  # fmt: skip
            metadata = await self.metadata()
            options: dict[str, ClaimsOption] = {
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": self.config.client_id},
                "sub": {"essential": True},
                "exp": {"essential": True},
                "iat": {"essential": True},
            }
            if nonce is not None:  # the code flow's; the device flow has none (its code binds)
                options["nonce"] = {"essential": True, "value": nonce}
            registry = jwt.JWTClaimsRegistry(leeway=LEEWAY)
            registry.options = options
            registry.validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise NotAuthenticated(f"the ID token is not valid: {exc}") from None
        claims = token.claims
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get(
                "azp") != self.config.client_id:  # fmt: skip
            raise NotAuthenticated("the ID token is not valid: azp is not this client")
        groups = claims.get(self.config.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        return Person(
            subject=str(claims["sub"]),
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            groups=tuple(str(g) for g in groups if isinstance(g, str | int)),
        )
