"""The installed package's version (from its metadata; ``0+unknown`` when run from a source tree
that was never installed)."""

from __future__ import annotations

from importlib import metadata

__all__ = ["VERSION"]

try:
    VERSION = metadata.version("webhook-gateway")
except metadata.PackageNotFoundError:  # pragma: no cover - a bare source tree
    VERSION = "0+unknown"
