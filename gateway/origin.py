"""Who is acting: the actor and request id the audit log records for each write.

The proxy sets ``key:<api key name>`` and the request id for each request, the command line
``cli:<os user>``; a program using the library is ``library:<os user>`` unless it says
otherwise with ``acting_as``.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
from collections.abc import Iterator

import attrs

__all__ = ["ORIGIN", "Origin", "acting_as", "current_origin"]


@attrs.frozen
class Origin:
    actor: str
    request_id: str | None = None


ORIGIN: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("origin", default=None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "unknown"


def current_origin() -> Origin:
    return ORIGIN.get() or Origin(actor=f"library:{_os_user()}")


@contextlib.contextmanager
def acting_as(actor: str, request_id: str | None = None) -> Iterator[Origin]:
    """Attribute the writes made inside the block to ``actor`` (``cli`` and ``library``
    actors get the OS user appended: ``cli:alice``)."""
    if actor in ("cli", "library"):
        actor = f"{actor}:{_os_user()}"
    origin = Origin(actor=actor, request_id=request_id)
    token = ORIGIN.set(origin)
    try:
        yield origin
    finally:
        ORIGIN.reset(token)
