"""What each health state means, and what to do next: one text for the command line's
``health --help``, the console's legend and the docs (configuration.md, "Watching health")."""

from __future__ import annotations

__all__ = ["MEANINGS", "legend"]

#: ``(state, what it means, what to do next)``, in the order people meet them.
MEANINGS: tuple[tuple[str, str, str], ...] = (
    ("active", "enabled and delivering", "nothing"),
    ("disabled", "not delivering: turned off by a person (the audit log says who) or by the "
     "provider's breaker after failures (UiPath: an hour, or the account's breaker_seconds)",
     "fix the receiver, then enable it (auto_unsuspend does it for the breaker)"),
    ("suspended", "not delivering: the provider stopped it after failed deliveries "
     "(Enterprise Core)", "fix the receiver, then unsuspend"),
    ("diverting", "delivering, but events that failed are kept by the provider (Enterprise "
     "Core's divert)", "look at the receiver, then resend the diverted events"),
    ("drift", "it differs from the manifest that manages it", "plan the manifest and apply "
     "it, or change the manifest"),
    ("deleted", "gone at the provider since watch last saw it", "recreate it from the "
     "manifest (apply) if that was not meant"),
)  # fmt: skip


def legend() -> str:
    """The meanings as lines of text (``state: meaning; next: what to do``)."""
    return "\n".join(f"  {state}: {meaning}; next: {todo}" for state, meaning, todo in MEANINGS)
