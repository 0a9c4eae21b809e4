"""Reading provider answers: typed field access that fails as a ``ProviderError``, never a
``KeyError`` or ``TypeError``.

Wire modules read a provider's JSON through ``Answer``::

    a = Answer(record, provider="uipath", account="prod", what="webhook")
    id = a.required("Id", int | str)
    name = a.optional("Name", str, "")

A missing or mistyped field raises ``ProviderError`` naming the provider, the account, what was
being read and the field ("uipath:prod: webhook 7: Events must be an array, got a string"), so
the proxy answers 503 with that text instead of 500, and a list can report one unreadable record
and go on (``UnreadableRecord``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from gateway.errors import ProviderError

__all__ = [
    "UNSURE",
    "Answer",
    "PlainFields",
    "UnreadableRecord",
    "Unsure",
    "json_type",
    "parse_time",
    "plain_fields",
    "read_fast",
]


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    list: "an array",
    dict: "an object",
}


def _is(value: Any, kind: Any) -> bool:
    if type(value) is kind:  # what orjson makes: exact types (and bool is not int here)
        return True
    if kind is str or kind is bool or kind is list:  # the common cases, first and fast
        return isinstance(value, kind)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    kinds = getattr(kind, "__args__", None) or (kind,)
    for k in kinds:
        if k is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if k is dict and isinstance(value, Mapping):
            return True
        if k not in (int, dict) and isinstance(value, k):
            return True
    return False


def _name(kind: Any) -> str:
    kinds = getattr(kind, "__args__", None) or (kind,)
    return " or ".join(_NAMES.get(k, k.__name__) for k in kinds)


@attrs.frozen(kw_only=True)
class UnreadableRecord:
    """One record of a list that could not be read; the list goes on without it."""

    id: str | None
    problem: str
    provider: str = ""
    account: str = ""


class Answer:
    """A JSON object from a provider, read field by field (see the module docstring)."""

    __slots__ = ("_what", "account", "data", "provider")

    def __init__(
        self, value: Any, *, provider: str, account: str = "", what: str | tuple[Any, ...]
    ) -> None:
        self.provider, self.account, self._what = provider, account, what
        if type(value) is not dict and not isinstance(value, Mapping):
            raise self.error(f"{self.what} must be a JSON object, got {json_type(value)}")
        self.data: Mapping[str, Any] = value

    @property
    def what(self) -> str:
        """What is being read, for messages (``webhook 7: Events[0]``); spelled out only when
        a message needs it (an answer's items are named ``(parent, key, index)``, its
        children ``(parent, key)``)."""
        what = self._what
        if isinstance(what, tuple):
            if len(what) == 3:
                parent, key, index = what
                what = f"{parent.what}: {key}[{index}]"
            else:
                parent, key = what
                what = f"{parent.what}.{key}"
            self._what = what
        return what

    def error(self, message: str) -> ProviderError:
        return ProviderError(message, provider=self.provider, account=self.account or None)

    def named(self, what: str) -> Answer:
        """The same answer, named more precisely in messages (e.g. with its id)."""
        self._what = what
        return self

    def required(self, key: str, kind: Any) -> Any:
        value = self.data.get(key)
        if value is None:
            raise self.error(f"{self.what}: {key} is missing")
        if type(value) is not kind and not _is(value, kind):
            raise self.error(f"{self.what}: {key} must be {_name(kind)}, got {json_type(value)}")
        return value

    def optional(self, key: str, kind: Any, default: Any = None) -> Any:
        value = self.data.get(key)
        if value is None:
            return default
        if type(value) is not kind and not _is(value, kind):
            raise self.error(f"{self.what}: {key} must be {_name(kind)}, got {json_type(value)}")
        return value

    def strings(self, key: str) -> list[str]:
        """An optional array of strings (absent or null: empty)."""
        values = self.optional(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.error(f"{self.what}: {key} must be an array of strings")
        return list(values)

    def objects(self, key: str) -> list[Answer]:
        """An optional array of objects, each an ``Answer``."""
        return [
            Answer(v, provider=self.provider, account=self.account, what=(self, key, i))
            for i, v in enumerate(self.optional(key, list, []))
        ]

    def child(self, key: str, *, required: bool = False) -> Answer | None:
        value = self.required(key, dict) if required else self.optional(key, dict)
        if value is None:
            return None
        return Answer(value, provider=self.provider, account=self.account, what=(self, key))

    def time(self, key: str) -> datetime | None:
        value = self.optional(key, str)
        return parse_time(value, lambda: self.error(f"{self.what}: {key} is not a timestamp"))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.data)


class Unsure(Exception):
    """A one-pass reader leaves a record to its field-by-field reader (``read_fast``)."""


#: The one instance a one-pass reader raises (no traceback kept between records).
UNSURE = Unsure()

T = TypeVar("T")


def read_fast(
    plainly: Callable[[Any, str], T], checked: Callable[[Any, str], T], record: Any, account: str
) -> T:
    """``plainly(record, account)``, a reading in one pass over plain dicts that checks each
    field's exact type and raises ``UNSURE`` at anything else; then ``checked(record, account)``,
    the reading through ``Answer`` that names what is wrong (or reads what the one pass was too
    strict for). A list page reads a hundred records and a plan thousands: the one pass costs
    about a third. Both must build the model the same way; each adapter's wire tests check
    that they agree (tests/wire_mutations.py)."""
    try:
        return plainly(record, account)
    except Unsure:
        return checked(record, account)


#: ``(key, exact type, required)`` of each field ``plain_fields`` reads.
PlainFields = tuple[tuple[str, type, bool], ...]


def plain_fields(data: Any, fields: PlainFields) -> list[Any]:
    """For one-pass readers: the values of ``fields`` in a plain dict (None for an absent or
    null optional one), or ``UNSURE`` when ``data`` is no dict or a value is not exactly its
    type (what ``Answer.required``/``optional`` would accept, or refuse with a message)."""
    if type(data) is not dict:
        raise UNSURE
    get = data.get
    values = []
    for key, kind, required in fields:
        value = get(key)
        if value is None:
            if required:
                raise UNSURE
        elif type(value) is not kind:
            raise UNSURE
        values.append(value)
    return values


def parse_time(value: str | None, error: Any = None) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` and up to 7 fractional digits accepted); None stays None."""
    if not value:
        return None
    text = value
    head, dot, rest = text.partition(".")
    if dot:  # keep 6 fractional digits: .NET writes 7
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        if error is None:
            raise
        raise error() from None
