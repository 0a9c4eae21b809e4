"""Records with a few fields changed to any JSON value (or dropped): what property tests of the
wire readers feed them, to check that a reader's one-pass reading never accepts a record its
field-by-field reading refuses, nor reads one otherwise."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import hypothesis.strategies as st

from gateway.transport.answers import Unsure

__all__ = ["DROP", "Change", "agree", "changes_of", "mutated"]

DROP = object()
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "x", "***", "4xx", "2024-05-01T10:00:00Z"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "url", "EventType"]), inner, max_size=2)
    ),
    max_leaves=4,
)

Change = tuple[tuple[Any, ...], Any]


def changes_of(paths: Sequence[tuple[Any, ...]]) -> st.SearchStrategy[list[Change]]:
    """Up to three ``(path, new value or DROP)`` of the fields at ``paths``."""
    return st.lists(st.tuples(st.sampled_from(paths), JSON_VALUES | st.just(DROP)), max_size=3)


def mutated(record: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    """A copy of ``record`` with ``changes`` made (a path that no longer leads anywhere, as an
    earlier change replaced what held it, is left alone)."""
    found = copy.deepcopy(record)
    for path, value in changes:
        holder: Any = found
        for step in path[:-1]:
            holder = holder[step] if _has(holder, step) else None
        if _has(holder, path[-1]):
            if value is DROP:
                if isinstance(holder, dict):
                    del holder[path[-1]]
            else:
                holder[path[-1]] = value
    return found


def _has(holder: Any, step: Any) -> bool:
    if isinstance(holder, dict):
        return step in holder
    return isinstance(holder, list) and isinstance(step, int) and 0 <= step < len(holder)


def agree(read: tuple[Callable[[Any, str], Any], Callable[[Any, str], Any]], record: Any) -> None:
    """A record the one-pass reader (``read[0]``) accepts reads the same field by field
    (``read[1]``, which names what is wrong in the others): the one pass never accepts what
    the checks refuse, nor reads it otherwise."""
    plainly, checked = read
    try:
        plain = plainly(record, "acct")
    except Unsure:
        return
    assert plain == checked(record, "acct")
