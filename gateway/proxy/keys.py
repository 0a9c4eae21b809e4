"""API keys of the HTTP proxy: who may call it.

Bootstrap keys come from ``[[server.api_keys]]``, as the plain value (``key``) or its hex
SHA-256 (``key_sha256``, so the config file need not hold the key itself). A presented key is
hashed and compared with every configured digest in constant time, without stopping at the first
match, so timing tells nothing about which keys exist. A key that is none of them is looked up by
its digest among the keys issued at run time (``POST /v1/keys``, kept in the state store): on
every request, so that a key revoked on one replica is refused by every other at once, and an
expired one is refused. A key is a ``Principal``; what it may do is decided by the operations
(``gateway.operations``), for every front door alike.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from gateway.access import Grant
from gateway.config import ApiKey
from gateway.operations import Principal
from gateway.proxy.device import person_of
from gateway.proxy.problems import ProblemError
from gateway.store import IssuedKey, Store

__all__ = ["TOUCH_EVERY", "ApiKeys", "KeyMatch", "grant_of"]

#: Seconds between two notes of an issued key's last use (one write a minute, not a request).
TOUCH_EVERY = 60.0


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@attrs.frozen
class KeyMatch:
    """A key that was presented: its name, scope (``issued`` for a key issued at run time),
    and ``ref``, which names the key itself (a digest of its digest; ``issued:`` and its digest
    for an issued key) where a console session keeps it: a session lives only as long as its
    key does, by value, whatever the key is named."""

    name: str
    scope: str
    ref: str = attrs.field(repr=False)
    #: The config's grants (``[[access.grants]]``), those naming this key among them.
    grants: tuple[Grant, ...] = attrs.field(default=(), repr=False)
    issued: IssuedKey | None = attrs.field(default=None, repr=False)
    #: A person's sign-in at the command line (``gateway.proxy.device``): who.
    person: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    #: A bootstrap key's principal, made once per set of grants (not on each request).
    prepared: Principal | None = attrs.field(default=None, repr=False, eq=False)

    def principal(self) -> Principal:
        if self.prepared is not None:
            return self.prepared
        if self.person is not None:
            p = self.person
            return Principal.user(p["subject"], email=p.get("email"), name=p.get("name"),
                                  groups=p.get("groups", []), grants=self.grants)  # fmt: skip
        if self.issued is not None:
            own = tuple(grant_of(g, f"key {self.name}") for g in self.issued.grants)
            return Principal.issued_key(self.name, key_id=self.issued.id, own=own,
                                        team=self.issued.team, grants=self.grants)  # fmt: skip
        scope: Literal["read", "write"] = "write" if self.scope == "write" else "read"
        return Principal.key(self.name, scope, self.grants)


def grant_of(data: Mapping[str, Any], label: str) -> Grant:
    """A grant kept with an issued key (``{can, accounts, webhooks}``)."""
    webhooks = data.get("webhooks")
    return Grant(who=(), can=frozenset(data["can"]), accounts=tuple(data.get("accounts", ["*"])),
                 webhooks=None if webhooks is None else tuple(webhooks), label=label)  # fmt: skip


def _ref(digest: bytes) -> str:
    return hashlib.sha256(b"webhook-gateway console session\0" + digest).hexdigest()


class ApiKeys:
    """The configured keys, each as its sha256 digest and its ``KeyMatch`` (name, scope, ref:
    worked out once, here, not on each request)."""

    def __init__(
        self, keys: Iterable[ApiKey], grants: Sequence[Grant] = (), store: Store | None = None
    ) -> None:
        self._store = store
        self._configured = tuple(keys)
        self.use_grants(grants)

    @property
    def grants(self) -> tuple[Grant, ...]:
        """The config's grants (``[[access.grants]]``) as they are now."""
        return self._grants

    def use_grants(self, grants: Sequence[Grant]) -> None:
        """Decide with ``grants`` from now on (``[[access.grants]]`` read again: SIGHUP)."""
        self._grants = tuple(grants)
        keys: list[tuple[bytes, KeyMatch]] = []
        for k in self._configured:
            digest = (
                _digest(k.key.reveal()) if k.key is not None else bytes.fromhex(k.key_sha256 or "")
            )
            match = KeyMatch(k.name, k.scope, _ref(digest), self._grants)
            keys.append((digest, attrs.evolve(match, prepared=match.principal())))
        self._keys = keys

    def use_store(self, store: Store | None) -> None:
        """Look up keys issued at run time in ``store`` (the gateway's, once it is open)."""
        self._store = store

    def __repr__(self) -> str:
        return f"ApiKeys({[match.name for _, match in self._keys]})"

    async def identify(self, presented: str, now: float | None = None) -> KeyMatch | None:
        """The key ``presented`` is (configured, or issued and not expired), or None."""
        digest = _digest(presented)
        found = None
        for expected, match in self._keys:
            if hmac.compare_digest(digest, expected):
                found = match
        if found is not None or self._store is None:
            return found
        if presented.startswith("wgu_"):  # a person signed in at the command line
            signed = await person_of(self._store, digest.hex(), now)  # (hashed once, above)
            if signed is None:
                return None
            name = signed.person.get("email") or signed.person["subject"]
            return KeyMatch(name, "person", "", self._grants, person=signed.person)
        return await self._issued(digest.hex(), now)

    async def _issued(self, digest: str, now: float | None) -> KeyMatch | None:
        assert self._store is not None
        issued = await self._store.issued_key(digest)
        now = time.time() if now is None else now
        if issued is None or issued.expired(now):
            return None
        if issued.last_used is None or now - issued.last_used >= TOUCH_EVERY:
            await self._store.touch_key(issued.id, now)
        return KeyMatch(issued.name, "issued", f"issued:{digest}", self._grants, issued)

    async def by_ref(self, ref: str) -> KeyMatch | None:
        """The key whose ``KeyMatch.ref`` is ``ref`` now, or None (removed, revoked or
        expired)."""
        if ref.startswith("issued:"):
            return await self._issued(ref.removeprefix("issued:"), None) if self._store else None
        found = None
        for _, match in self._keys:
            if ref and hmac.compare_digest(match.ref, ref):
                found = match
        return found

    async def authenticate(self, header: str | None) -> Principal:
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
        key = await self.identify(presented.strip()) if presented.isascii() else None
        if key is None:  # (a key is ASCII: bytes that are not cannot be one)
            raise ProblemError(401, "the API key is not valid", challenge)
        return key.principal()
