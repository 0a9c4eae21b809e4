"""Who is asking: the principal every operation takes first.

A front door says who the caller is, the operation decides what that caller may do. Today a
principal is an API key of the proxy's config (``key:NAME`` with its ``read`` or ``write``
scope; a console session is its key's), the person at a local command line (``cli:<os user>``,
who holds the config's vendor credentials and so may do everything), or the gateway itself
(``system:NAME``: watch's own writes). The audit log records ``actor``; the rules of what a
scope allows live in ``require`` and ``sees_credentials``, nowhere else.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from gateway.errors import Forbidden
from gateway.logs import REQUEST_ID
from gateway.origin import acting_as

__all__ = ["Action", "Principal"]

#: What an operation does, as far as who may do it is concerned.
Action = Literal["read", "write"]


@attrs.frozen
class Principal:
    """A caller: ``kind`` (``key``, ``cli``, ``library``, ``system``), ``name`` and ``scope``."""

    kind: Literal["key", "cli", "library", "system"]
    name: str
    scope: Literal["read", "write"] = "write"

    @classmethod
    def key(cls, name: str, scope: Literal["read", "write"]) -> Principal:
        """An API key of the proxy (or a console session opened with it)."""
        return cls("key", name, scope)

    @classmethod
    def local(cls, kind: Literal["cli", "library"] = "cli") -> Principal:
        """The person running the command line (or a program) with the config's credentials:
        whoever holds those may do everything, so nothing is refused here."""
        actor = acting_as(kind).origin.actor  # cli:<os user>
        return cls(kind, actor.partition(":")[2] or "unknown", "write")

    @property
    def actor(self) -> str:
        """The audit log's name of this caller (``key:deployer``, ``cli:alice``)."""
        return f"{self.kind}:{self.name}"

    @property
    def sees_credentials(self) -> bool:
        """Whether answers may show credentials (in webhook URLs, ``user:password@`` and
        ``?token=``; header values), and plans compare them: for callers that may write, who
        could set them anyway."""
        return self.scope == "write"

    def may(self, action: Action) -> bool:
        return action == "read" or self.scope == "write"

    def require(self, action: Action, what: str) -> None:
        """Refuse (``Forbidden``: nothing is done) unless this caller may ``action``."""
        if not self.may(action):
            raise Forbidden(f"the API key {self.name!r} may only read; {what} needs a write key")

    def acting(self) -> Any:
        """The writes inside the ``with`` block are this caller's in the audit log (with the
        request id a front door set, if any)."""
        return acting_as(self.actor, REQUEST_ID.get())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "actor": self.actor,
            "scope": self.scope,
            "can": ["read", "write"] if self.scope == "write" else ["read"],
        }
