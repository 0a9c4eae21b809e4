"""Validators for settings classes (``attrs`` fields), with messages in the user's words.

``check(predicate, message)`` validates one field; ``SettingProblem`` names the field. Settings
with rules across fields raise ``ConfigError(problems=[...])`` from ``__attrs_post_init__``,
naming every broken key at once (``all_present``). The configuration loader runs every field's
validator separately first, so one run reports every problem (gateway/config.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from gateway.errors import ConfigError, FieldProblem

__all__ = ["SettingProblem", "check", "did_you_mean", "each", "raise_problems"]


class SettingProblem(ValueError):
    """Raised by a settings validator: what is wrong with which field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check(predicate: Callable[[Any], bool], message: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator for settings: ``field(validator=check(lambda v: v > 0, "..."))``."""

    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not predicate(value):
            raise SettingProblem(attribute.name, message)

    return validate


def each(predicate: Callable[[Any], bool], message: str) -> Callable[[Any, Any, Any], None]:
    """Like ``check``, for every item of a collection (the message names the first bad one)."""

    def validate(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        for item in value or ():
            if not predicate(item):
                raise SettingProblem(attribute.name, f"{message} ({item!r} is not)")

    return validate


def raise_problems(problems: Iterable[FieldProblem]) -> None:
    """Raise every problem at once, if there is any."""
    found = list(problems)
    if found:
        raise ConfigError(problems=found)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to a misspelt ``name``, or
    ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
