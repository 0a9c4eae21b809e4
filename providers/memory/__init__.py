"""The in-memory reference provider (``provider = "memory"``)."""

from providers.memory.adapter import MemoryProvider, MemorySettings

__all__ = ["MemoryProvider", "MemorySettings"]
