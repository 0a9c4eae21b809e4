"""``$filter`` and ``$orderby`` for the emulator: parsed by ``odata-query``, evaluated on records.

Supported: ``eq ne gt ge lt le``, ``and or not``, parentheses, string/int/bool/null literals, and
the string functions ``contains startswith endswith tolower toupper``. Anything else (lambdas,
arithmetic, unknown properties) is an ``ODataError`` that the emulator answers with
400 / errorCode 1000, as Orchestrator does for an invalid query option. So is a filter of more
than ``MAX_NODES`` nodes (ASP.NET OData's default ``MaxNodeCount``; assumed to be Orchestrator's).

``key_lookup`` recognizes the filters a database answers from its primary key instead of a scan
(``Id eq 4 or Id eq 7``); the emulator uses it so that such reads cost a lookup per key, as
they would at the provider. Its answer equals the general evaluation's (tested).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

__all__ = ["MAX_NODES", "ODataError", "compile_filter", "key_lookup", "sort_key"]

#: The most nodes a ``$filter`` may have (ASP.NET OData's default ``MaxNodeCount``).
MAX_NODES = 100

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]


class ODataError(ValueError):
    """An invalid ``$filter`` or ``$orderby``."""


_COMPARE: dict[type[Any], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": lambda s, sub: s is not None and sub in s,
    "startswith": lambda s, p: s is not None and s.startswith(p),
    "endswith": lambda s, p: s is not None and s.endswith(p),
    "tolower": lambda s: s.lower() if s is not None else None,
    "toupper": lambda s: s.upper() if s is not None else None,
}


class _Compiler:
    def __init__(self, properties: Collection[str]) -> None:
        self.properties = properties

    def value(self, node: Any) -> Callable[[Record], Any]:
        if isinstance(node, ast.Identifier):
            if node.namespace or node.name not in self.properties:
                raise ODataError(f"Could not find a property named '{_full(node)}'")
            name = node.name
            return lambda r: r.get(name)
        if isinstance(node, ast.Boolean):
            flag = node.val.lower() == "true"
            return lambda r: flag
        if isinstance(node, ast.Null | ast.Integer | ast.String | ast.Float):
            literal = node.py_val
            return lambda r: literal
        if isinstance(node, ast.Call):
            name = node.func.name.lower()
            fn = _FUNCTIONS.get(name)
            if fn is None or node.func.namespace:
                raise ODataError(f"Unsupported function '{_full(node.func)}'")
            args = [self.value(a) for a in node.args]
            try:
                fn(*(["x"] * len(args)))
            except TypeError:
                raise ODataError(f"Wrong number of arguments for '{name}'") from None
            return lambda r: fn(*(a(r) for a in args))
        return self.predicate(node)

    def predicate(self, node: Any) -> Predicate:
        if isinstance(node, ast.BoolOp):
            left, right = self.predicate(node.left), self.predicate(node.right)
            if isinstance(node.op, ast.And):
                return lambda r: left(r) and right(r)
            return lambda r: left(r) or right(r)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.predicate(node.operand)
            return lambda r: not inner(r)
        if isinstance(node, ast.Compare) and type(node.comparator) in _COMPARE:
            compare = _COMPARE[type(node.comparator)]
            left, right = self.value(node.left), self.value(node.right)

            def test(r: Record) -> bool:
                a, b = left(r), right(r)
                if a is None or b is None:  # null compares equal only to null
                    if compare is operator.eq:
                        return a is b
                    return compare is operator.ne and a is not b
                try:
                    return bool(compare(a, b))
                except TypeError:
                    return False

            return test
        if isinstance(node, ast.Call):
            call = self.value(node)
            return lambda r: bool(call(r))
        raise ODataError(f"Unsupported expression {type(node).__name__}")


def _full(identifier: ast.Identifier) -> str:
    return ".".join((*identifier.namespace, identifier.name))


def compile_filter(text: str, properties: Collection[str]) -> Predicate:
    """A predicate on records for the ``$filter`` expression ``text``."""
    try:
        tree = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataException as exc:
        raise ODataError(f"The query specified in the URI is not valid: {exc}") from None
    if _nodes(tree) > MAX_NODES:
        raise ODataError(_too_many())
    return _Compiler(properties).predicate(tree)


def _nodes(node: Any) -> int:
    """How many nodes the expression tree ``node`` has (operators are part of their node)."""
    if isinstance(node, list | tuple):
        return sum(_nodes(n) for n in node)
    if not isinstance(node, ast._Node) or isinstance(node, _OPERATORS):
        return 0
    return 1 + sum(_nodes(getattr(node, f)) for f in node.__dataclass_fields__)


_OPERATORS = (ast._Comparator, ast._BoolOpToken, ast._UnaryOpToken, ast._BinOpToken)


def _too_many() -> str:
    return (
        f"The node count limit of '{MAX_NODES}' has been exceeded. To increase the limit, set "
        "the 'MaxNodeCount' property on EnableQueryAttribute or ODataValidationSettings."
    )


_KEY_EQUALS = re.compile(r"\(?\s*Id\s+eq\s+(\d{1,19})\s*\)?")
_OR = re.compile(r"\s+or\s+")


def key_lookup(text: str) -> list[int] | None:
    """The ``Id`` values of a filter that only compares ``Id`` for equality with integers,
    joined by ``or`` (``Id eq 4 or Id eq 7``); None for any other filter. ``ODataError`` when it
    has more than ``MAX_NODES`` nodes (three a comparison, one an ``or``)."""
    keys = []
    for part in _OR.split(text.strip()):
        match = _KEY_EQUALS.fullmatch(part)
        if match is None:
            return None
        keys.append(int(match[1]))
    if 4 * len(keys) - 1 > MAX_NODES:
        raise ODataError(_too_many())
    return keys


def sort_key(text: str, properties: Collection[str]) -> list[tuple[str, bool]]:
    """``[(property, descending)]`` of an ``$orderby`` value such as ``Name desc,Id``."""
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"Invalid $orderby clause '{part.strip()}'")
        if words[0] not in properties:
            raise ODataError(f"Could not find a property named '{words[0]}'")
        keys.append((words[0], len(words) == 2 and words[1] == "desc"))
    return keys
