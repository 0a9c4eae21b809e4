"""API keys of the HTTP proxy: who may call it, and whether they may write.

Keys come from ``[[server.api_keys]]``, as the plain value (``key``) or its hex SHA-256
(``key_sha256``, so the config file need not hold the key itself). A presented key is hashed and
compared with every configured digest in constant time, without stopping at the first match, so
timing tells nothing about which keys exist. A key is a ``Principal``; what its scope allows is
decided by the operations (``gateway.operations``), for every front door alike.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from gateway.access import Grant
from gateway.config import ApiKey
from gateway.operations import Principal
from gateway.proxy.problems import ProblemError

__all__ = ["ApiKeys", "KeyMatch"]


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@attrs.frozen
class KeyMatch:
    """A configured key that was presented: its name, scope, and ``ref``, which names the key
    itself (a digest of its digest) where a console session keeps it: a session lives only as
    long as its key does, by value, whatever the key is named."""

    name: str
    scope: str
    ref: str = attrs.field(repr=False)

    #: The config's grants (``[[access.grants]]``), those naming this key among them.
    grants: tuple[Grant, ...] = attrs.field(default=(), repr=False)

    def principal(self) -> Principal:
        scope: Literal["read", "write"] = "write" if self.scope == "write" else "read"
        return Principal.key(self.name, scope, self.grants)


def _ref(digest: bytes) -> str:
    return hashlib.sha256(b"webhook-gateway console session\0" + digest).hexdigest()


class ApiKeys:
    """The configured keys, each as its sha256 digest and its ``KeyMatch`` (name, scope, ref:
    worked out once, here, not on each request)."""

    def __init__(self, keys: Iterable[ApiKey], grants: Sequence[Grant] = ()) -> None:
        self._keys: list[tuple[bytes, KeyMatch]] = []
        for k in keys:
            digest = (
                _digest(k.key.reveal()) if k.key is not None else bytes.fromhex(k.key_sha256 or "")
            )
            self._keys.append((digest, KeyMatch(k.name, k.scope, _ref(digest), tuple(grants))))

    def __repr__(self) -> str:
        return f"ApiKeys({[match.name for _, match in self._keys]})"

    def identify(self, presented: str) -> KeyMatch | None:
        """The configured key ``presented`` is, or None."""
        digest = _digest(presented)
        found = None
        for expected, match in self._keys:
            if hmac.compare_digest(digest, expected):
                found = match
        return found

    def by_ref(self, ref: str) -> KeyMatch | None:
        """The configured key whose ``KeyMatch.ref`` is ``ref`` now, or None (removed)."""
        found = None
        for _, match in self._keys:
            if ref and hmac.compare_digest(match.ref, ref):
                found = match
        return found

    def authenticate(self, header: str | None) -> Principal:
        """Who the ``Authorization`` header says the caller is, or a 401 problem that says
        why not. What the caller may do is the operations' to decide
        (``gateway.operations.Principal``)."""
        challenge = {"WWW-Authenticate": 'Bearer realm="webhook-gateway"'}
        scheme, _, presented = (header or "").partition(" ")
        if not header:
            raise ProblemError(401, "send Authorization: Bearer <api key>", challenge)
        if scheme.lower() != "bearer" or not presented.strip():
            raise ProblemError(
                401, "the Authorization header must be 'Bearer <api key>'", challenge
            )
        key = self.identify(presented.strip()) if presented.isascii() else None
        if key is None:  # (a key is ASCII: bytes that are not cannot be one)
            raise ProblemError(401, "the API key is not valid", challenge)
        return key.principal()
