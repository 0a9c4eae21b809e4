"""Text for a terminal: what a provider or a ``--server`` sent is printed, never obeyed.

Webhook names, URLs, error texts and plans come from providers and servers the operator does
not control; printed raw, an ``ESC``/``CSI``/``OSC`` sequence in them retitles the window,
clears the screen, rewrites earlier lines or sets the clipboard (OSC 52), and bidirectional
overrides reorder what the operator reads. ``visible`` spells every control character out
(``\\x1b``, ``\\u202e``) but newline and tab; ``Visible`` does it to everything a command prints
for people. JSON output needs none of it: ``json.dumps`` already escapes control characters,
so it stays exact. Written by hand: no library does this one translation.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["Visible", "visible", "visible_output"]

#: Kept as they are: what our own output uses (``\r``: apply's progress bar, redrawn in place).
_KEPT = frozenset("\n\t\r")


def _spelled(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _table() -> dict[int, str]:
    controls = (*range(0x20), *range(0x7F, 0xA0))  # Unicode's "Cc": C0, DEL and C1
    found = {c: _spelled(chr(c)) for c in controls if chr(c) not in _KEPT}
    for code in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)):
        found[code] = _spelled(chr(code))  # marks and overrides of text direction
    return found


_TABLE = _table()


def visible(text: str) -> str:
    """``text`` with its control characters spelled out (newline, tab and ``\\r`` kept)."""
    if text.isprintable():
        return text  # the common case
    return text.translate(_TABLE)


class Visible:
    """A text stream that writes what it is given through ``visible``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(visible(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def visible_output() -> Iterator[None]:
    """Within the block, stdout and stderr spell control characters out."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Visible(sys.stdout), Visible(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
