"""``$filter`` and ``$orderby`` for the emulator: parsed by ``odata-query``, evaluated on records.

Supported: ``eq ne gt ge lt le``, ``and or not``, parentheses, string/int/bool/null literals, and
the string functions ``contains startswith endswith tolower toupper``. Anything else (lambdas,
arithmetic, unknown properties) is an ``ODataError`` that the emulator answers with
400 / errorCode 1000, as Orchestrator does for an invalid query option.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

__all__ = ["ODataError", "compile_filter", "sort_key"]

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
    return _Compiler(properties).predicate(tree)


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
