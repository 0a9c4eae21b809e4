"""Where provider kinds come from: the ``webhook_gateway.providers`` entry-point group.

Every provider, the built-in ones included, is an entry point ``kind = "module:Class"`` in that
group (see pyproject.toml). Classes are imported only when a config names their kind, so a broken
or heavy provider costs nothing until it is used. ``Registry.add`` registers a class in-process,
for tests and for applications that build providers on the fly.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from gateway.errors import ConfigError, FieldProblem
from gateway.provider import Provider

__all__ = ["ENTRY_POINT_GROUP", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "webhook_gateway.providers"


class Registry:
    """Maps provider kinds to adapter classes, loading entry points lazily."""

    def __init__(self, *, discover: bool = True) -> None:
        self._entry_points: dict[str, EntryPoint] = (
            {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)} if discover else {}
        )
        self._loaded: dict[str, type[Provider[Any]]] = {}

    def add(self, cls: type[Provider[Any]]) -> None:
        """Register ``cls`` under ``cls.kind`` (replacing an entry point of that name)."""
        self._loaded[cls.kind] = cls

    def kinds(self) -> list[str]:
        """Every installed kind, sorted."""
        return sorted(set(self._entry_points) | set(self._loaded))

    def load(self, kind: str, *, path: str = "provider") -> type[Provider[Any]]:
        """The adapter class of ``kind``; ``ConfigError`` at ``path`` if there is none."""
        if kind in self._loaded:
            return self._loaded[kind]
        ep = self._entry_points.get(kind)
        if ep is None:
            raise ConfigError(
                problems=[
                    FieldProblem(
                        path, f"unknown provider {kind!r}; installed: {', '.join(self.kinds())}"
                    )
                ]
            )
        try:
            cls = ep.load()
        except ImportError as exc:
            raise ConfigError(
                problems=[FieldProblem(path, f"provider {kind!r} failed to import: {exc}")]
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ConfigError(
                problems=[FieldProblem(path, f"entry point {ep.value} is not a Provider subclass")]
            )
        self._loaded[kind] = cls
        return cls

    def classes(self) -> list[type[Provider[Any]]]:
        """Every installed adapter class, loaded, in kind order."""
        return [self.load(kind) for kind in self.kinds()]


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of installed providers (discovered once)."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
