"""Who is acting: the actor and request id the audit log records for each write.

The proxy sets ``key:<api key name>`` and the request id for each request, the command line
``cli:<os user>``; a program using the library is ``library:<os user>`` unless it says
otherwise with ``acting_as``.
"""

from __future__ import annotations

import contextvars
import functools
import getpass
import os

import attrs

__all__ = ["ORIGIN", "Origin", "acting_as", "current_origin"]


@attrs.frozen
class Origin:
    actor: str
    request_id: str | None = None
    #: The grant that allowed the writes (``access.grants[2]``, ``bootstrap key ci (write)``).
    grant: str | None = None


ORIGIN: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("origin", default=None)


def _os_user() -> str:
    """The OS user's name as ``getpass.getuser`` finds it (the first of its variables set, else
    the password database), looked up once for each value of those variables: the lookup in
    the password database cost a library write 30 us each time."""
    return _user_named(tuple(os.environ.get(name) for name in _USER_VARIABLES))


_USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")  # getpass.getuser's, in its order


@functools.lru_cache(maxsize=16)
def _user_named(_variables: tuple[str | None, ...]) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "unknown"


def current_origin() -> Origin:
    return ORIGIN.get() or Origin(actor=f"library:{_os_user()}")


def acting_as(actor: str, request_id: str | None = None, grant: str | None = None) -> _Acting:
    """Attribute the writes made inside the ``with`` block to ``actor`` (``cli`` and
    ``library`` actors get the OS user appended: ``cli:alice``), allowed by ``grant``."""
    if actor in ("cli", "library"):
        actor = f"{actor}:{_os_user()}"
    return _Acting(Origin(actor=actor, request_id=request_id, grant=grant))


class _Acting:
    """``acting_as``'s context manager: a class rather than a generator, as the proxy enters
    one per request and the generator machinery cost more than the request handling around
    it."""

    __slots__ = ("_token", "origin")

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    def __enter__(self) -> Origin:
        self._token = ORIGIN.set(self.origin)
        return self.origin

    def __exit__(self, *exc: object) -> None:
        ORIGIN.reset(self._token)
