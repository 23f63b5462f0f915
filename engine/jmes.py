"""jmespath, compiled: a parsed expression turned into nested Python closures, once.

jmespath's own `search` walks the parsed tree with a visitor on every call and builds a new
interpreter each time; that costs about 50 times a hand-written getter. Here each node becomes a
small closure when the spec is compiled, so evaluating is plain function calls. The semantics
follow jmespath's TreeInterpreter node for node (equality that keeps 1 and true apart, ordering
only between numbers, projections dropping nulls, jmespath truthiness), and a property test
checks the two agree on random data. Nodes this compiler does not handle (slices, expression
references for sort_by & co.) make `compile_tree` return None, and the caller keeps jmespath's
interpreter for that expression.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .functions import REGISTRY, JmesFunctions

Fn = Callable[[Any], Any]
_FUNCTIONS = JmesFunctions()


class Unsupported(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


def _false(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals(x: Any, y: Any) -> bool:
    # jmespath keeps 0/1 and false/true apart, which Python's == does not.
    if isinstance(x, bool) != isinstance(y, bool) and (_is_number(x) or _is_number(y)):
        return False
    return bool(x == y)


_ORDER = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


def compile_tree(node: dict[str, Any]) -> Fn | None:
    """Closures for a parsed jmespath tree, or None if it uses a node we leave to jmespath."""
    try:
        return _compile(node)
    except Unsupported:
        return None


def _compile(node: dict[str, Any]) -> Fn:
    kind = node["type"]
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise Unsupported(kind)
    return builder(node)


def _field(node: dict[str, Any]) -> Fn:
    key = node["value"]

    def field(value: Any) -> Any:
        return value.get(key) if isinstance(value, dict) else None
    return field


def simple_path(node: dict[str, Any]) -> list[str | int] | None:
    """`a.b[0].c` as ['a', 'b', 0, 'c']; None for anything more than fields and indexes."""
    kind = node.get("type")
    if kind == "field":
        return [node["value"]]
    if kind == "subexpression":
        parts: list[str | int] = []
        for child in node["children"]:
            sub = simple_path(child)
            if sub is None:
                return None
            parts.extend(sub)
        return parts
    if kind == "index_expression":
        first, *rest = node["children"]  # `a[0][1]` has one child per index
        if any(child.get("type") != "index" for child in rest):
            return None
        sub = simple_path(first) if first.get("type") != "identity" else []
        return None if sub is None else [*sub, *(int(child["value"]) for child in rest)]
    return None


def path_getter(path: tuple[str | int, ...]) -> Fn:
    """Direct getters with jmespath's semantics: a missing key or a wrong type yields None."""
    if len(path) == 1 and isinstance(path[0], str):
        key = path[0]
        return lambda scope: scope.get(key) if isinstance(scope, dict) else None
    if len(path) == 2 and all(isinstance(p, str) for p in path):
        a, b = path

        def two(scope: Any) -> Any:
            first = scope.get(a) if isinstance(scope, dict) else None
            return first.get(b) if isinstance(first, dict) else None
        return two

    def walk(scope: Any) -> Any:
        value: Any = scope
        for part in path:
            if isinstance(part, str):
                if not isinstance(value, dict):
                    return None
                value = value.get(part)
            else:
                if not isinstance(value, list):
                    return None
                try:
                    value = value[part]
                except IndexError:
                    return None
        return value
    return walk


def _first_match(node: dict[str, Any]) -> Fn | None:
    """`list[?cond] | [0]`: the first element that matches, without building the whole list."""
    if node["type"] != "pipe" or len(node["children"]) != 2:
        return None
    left, right = node["children"]
    if left["type"] != "filter_projection" or left["children"][1]["type"] != "identity":
        return None
    if right["type"] != "index_expression" or right["children"][0]["type"] != "identity" \
            or right["children"][1]["type"] != "index" or right["children"][1]["value"] != 0:
        return None
    base_fn, condition = _compile(left["children"][0]), _compile(left["children"][2])

    def first_match(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, list):
            return None
        for element in base:
            if element is not None and not _false(condition(element)):
                return element
        return None
    return first_match


def _chain(node: dict[str, Any]) -> Fn:
    path = simple_path(node) if node["type"] != "pipe" else None
    if path is not None:
        return path_getter(tuple(path))
    first = _first_match(node)
    if first is not None:
        return first
    parts = tuple(_compile(child) for child in node["children"])
    if len(parts) == 2:
        first, second = parts
        return lambda value: second(first(value))

    def chain(value: Any) -> Any:
        for part in parts:
            value = part(value)
        return value
    return chain


def _index(node: dict[str, Any]) -> Fn:
    i = node["value"]

    def index(value: Any) -> Any:
        if not isinstance(value, list):
            return None
        try:
            return value[i]
        except IndexError:
            return None
    return index


def _literal(node: dict[str, Any]) -> Fn:
    constant = node["value"]
    return lambda value: constant


def _identity(node: dict[str, Any]) -> Fn:
    return lambda value: value


def _comparator(node: dict[str, Any]) -> Fn:
    op = node["value"]
    lnode, rnode = node["children"]
    if op in ("eq", "ne") and rnode["type"] == "literal" and isinstance(rnode["value"], str) \
            and simple_path(lnode) is not None:
        # `Type == 'VIS'` inside filters: against text, jmespath equality is plain ==.
        getter, text = path_getter(tuple(simple_path(lnode) or ())), rnode["value"]
        if op == "eq":
            return lambda value: getter(value) == text
        return lambda value: getter(value) != text
    left, right = _compile(lnode), _compile(rnode)
    if op == "eq":
        return lambda value: _equals(left(value), right(value))
    if op == "ne":
        return lambda value: not _equals(left(value), right(value))
    compare = _ORDER[op]

    def ordered(value: Any) -> Any:
        a, b = left(value), right(value)
        if not (_is_number(a) or isinstance(a, str)) or not (_is_number(b) or isinstance(b, str)):
            return None
        try:
            return compare(a, b)
        except TypeError:  # a number against text: jmespath itself would crash here
            return None
    return ordered


def _and(node: dict[str, Any]) -> Fn:
    left, right = (_compile(c) for c in node["children"])

    def and_(value: Any) -> Any:
        matched = left(value)
        return matched if _false(matched) else right(value)
    return and_


def _or(node: dict[str, Any]) -> Fn:
    left, right = (_compile(c) for c in node["children"])

    def or_(value: Any) -> Any:
        matched = left(value)
        return right(value) if _false(matched) else matched
    return or_


def _not(node: dict[str, Any]) -> Fn:
    child = _compile(node["children"][0])

    def not_(value: Any) -> Any:
        result = child(value)
        if _is_number(result) and result == 0:
            return False  # jmespath: !0 is false (0 is a value, not "empty")
        return not result
    return not_


def _projection(node: dict[str, Any]) -> Fn:
    base_fn, each_fn = (_compile(c) for c in node["children"])

    def projection(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, list):
            return None
        return [r for r in map(each_fn, base) if r is not None]
    return projection


def _value_projection(node: dict[str, Any]) -> Fn:
    base_fn, each_fn = (_compile(c) for c in node["children"])

    def value_projection(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, dict):
            return None
        return [r for r in map(each_fn, base.values()) if r is not None]
    return value_projection


def _filter_projection(node: dict[str, Any]) -> Fn:
    base_fn, each_fn, condition = (_compile(c) for c in node["children"])

    def filter_projection(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, list):
            return None
        out = []
        for element in base:
            if not _false(condition(element)):
                result = each_fn(element)
                if result is not None:
                    out.append(result)
        return out
    return filter_projection


def _flatten(node: dict[str, Any]) -> Fn:
    base_fn = _compile(node["children"][0])

    def flatten(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, list):
            return None
        out: list[Any] = []
        for element in base:
            if isinstance(element, list):
                out.extend(element)
            else:
                out.append(element)
        return out
    return flatten


def _multi_list(node: dict[str, Any]) -> Fn:
    parts = tuple(_compile(c) for c in node["children"])
    return lambda value: None if value is None else [p(value) for p in parts]


def _multi_dict(node: dict[str, Any]) -> Fn:
    pairs = tuple((c["value"], _compile(c["children"][0])) for c in node["children"])
    return lambda value: None if value is None else {k: f(value) for k, f in pairs}


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict,),
}


def _fast_check(signature: tuple[dict[str, Any], ...]) -> tuple[tuple[type, ...] | None, ...] | None:
    """Per argument, the Python types jmespath allows (None: any); None if too subtle to check here."""
    checks: list[tuple[type, ...] | None] = []
    for arg in signature:
        names = arg.get("types") or []
        if not names:
            checks.append(None)
            continue
        if any(n not in _PY_TYPES for n in names):
            return None  # array-string, array-number, expref: leave the check to jmespath
        checks.append(tuple(t for n in names for t in _PY_TYPES[n]))
    return tuple(checks)


def _function(node: dict[str, Any]) -> Fn:
    if any(c["type"] == "expref" for c in node["children"]):
        raise Unsupported("expref")  # sort_by & co. need jmespath's own expression objects
    name = node["value"]
    args = tuple(_compile(c) for c in node["children"])
    call = _FUNCTIONS.call_function  # jmespath's own checks and messages, for the unusual cases
    spec = _FUNCTIONS.FUNCTION_TABLE.get(name)
    checks = _fast_check(spec["signature"]) if spec else None
    variadic = bool(spec and spec["signature"] and spec["signature"][-1].get("variadic"))
    if spec is None or checks is None or (not variadic and len(checks) != len(args)) \
            or (variadic and len(args) < len(checks)):
        return lambda value: call(name, [a(value) for a in args])
    function = spec["function"]
    ours = REGISTRY.get(name)
    direct: Callable[..., Any] = ours.fn if ours is not None else (lambda *a: function(_FUNCTIONS, *a))
    per_arg = tuple(checks[min(i, len(checks) - 1)] for i in range(len(args)))
    # bool is an int in Python but not a number in jmespath: such arguments go the slow way.
    strict = tuple(t is not None and int in t and bool not in t for t in per_arg)

    def bad(arg: Any, allowed: tuple[type, ...] | None, no_bool: bool) -> bool:
        return allowed is not None and (not isinstance(arg, allowed) or (no_bool and arg.__class__ is bool))

    if len(args) == 1:
        (a0,), (t0,), (s0,) = args, per_arg, strict

        def one(value: Any) -> Any:
            x = a0(value)
            return call(name, [x]) if bad(x, t0, s0) else direct(x)
        return one
    if len(args) == 2:
        (a0, a1), (t0, t1), (s0, s1) = args, per_arg, strict

        def two(value: Any) -> Any:
            x, y = a0(value), a1(value)
            return call(name, [x, y]) if bad(x, t0, s0) or bad(y, t1, s1) else direct(x, y)
        return two
    triples = tuple(zip(args, per_arg, strict, strict=True))

    def many(value: Any) -> Any:
        resolved = [a(value) for a in args]
        for x, (_, allowed, no_bool) in zip(resolved, triples, strict=True):
            if bad(x, allowed, no_bool):
                return call(name, resolved)  # raises jmespath's own type error
        return direct(*resolved)
    return many


_BUILDERS: dict[str, Callable[[dict[str, Any]], Fn]] = {
    "field": _field,
    "subexpression": _chain,
    "index_expression": _chain,
    "pipe": _chain,
    "index": _index,
    "literal": _literal,
    "current": _identity,
    "identity": _identity,
    "comparator": _comparator,
    "and_expression": _and,
    "or_expression": _or,
    "not_expression": _not,
    "projection": _projection,
    "value_projection": _value_projection,
    "filter_projection": _filter_projection,
    "flatten": _flatten,
    "multi_select_list": _multi_list,
    "multi_select_dict": _multi_dict,
    "function_expression": _function,
}
