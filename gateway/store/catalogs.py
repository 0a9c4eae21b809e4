"""Event catalogs kept between runs and shared by replicas.

Every create, plan and event filter spells its event names the way the provider's catalog does,
so the first of them in a process used to cost one catalog request (UiPath's
``GetEventTypes``), every command-line run anew. The account client now keeps the catalog it
read (``Account.event_types``):

* in the state store when there is one (``event_catalogs``: every replica and every command
  using that store shares one read);
* else, for the command line, in a file of the user's cache directory (``FileCatalogs``:
  ``$XDG_CACHE_HOME/webhook-gateway/catalogs``, else ``~/.cache/...``), one JSON file an account.

A kept catalog is used while younger than ``[state] catalog_max_age`` (an hour by default), and
read again from the provider after; a name it lacks makes the account read the provider's
catalog again at once (at most once a minute: a tenant's new event is found without waiting an
hour, and a stream of misspelt names costs the provider one read a minute).

The key is the account's name, its provider kind and a digest of its settings as their repr
shows them (secrets masked): another tenant or base URL is another catalog.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import orjson

from gateway.model import EventType

__all__ = ["CatalogKeeper", "FileCatalogs", "catalog_key", "decode_catalog", "encode_catalog"]

log = logging.getLogger("gateway.store")


class CatalogKeeper(Protocol):
    """Where catalogs are kept: the state store, or ``FileCatalogs``."""

    async def catalog(self, key: str) -> tuple[bytes, float] | None: ...
    async def save_catalog(self, key: str, types: bytes, read_at: float) -> None: ...


def catalog_key(kind: str, account: str, settings: Any) -> str:
    digest = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]
    return f"{kind}:{account}:{digest}"


def encode_catalog(types: list[EventType]) -> bytes:
    return orjson.dumps([[t.name, t.group, t.description] for t in types])


def decode_catalog(data: bytes) -> list[EventType] | None:
    """The event types ``encode_catalog`` wrote; None for anything else (then it is read
    from the provider again)."""
    try:
        rows = orjson.loads(data)
        return [EventType(name=n, group=g, description=d) for n, g, d in rows]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "webhook-gateway" / "catalogs"


class FileCatalogs:
    """Catalogs kept as files in ``folder`` (the user's cache directory by default), for a
    command line without a state store. A file that cannot be read or written is logged and
    left: the catalog is then read from the provider, as before."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or _cache_dir()

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    async def catalog(self, key: str) -> tuple[bytes, float] | None:
        path = self._path(key)
        try:
            return path.read_bytes(), path.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("a kept event catalog could not be read", extra={"error": str(exc)})
            return None

    async def save_catalog(self, key: str, types: bytes, read_at: float) -> None:
        path = self._path(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            # written whole, then renamed: a run reading it meanwhile sees the old or the new
            with tempfile.NamedTemporaryFile(dir=self.folder, delete=False) as file:
                file.write(types)
            os.utime(file.name, (read_at, read_at))
            os.replace(file.name, path)
        except OSError as exc:
            log.warning("an event catalog could not be kept", extra={"error": str(exc)})
