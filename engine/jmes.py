"""jmespath, compiled: a parsed expression turned into nested Python closures, once.

jmespath's own `search` walks the parsed tree with a visitor on every call and builds a new
interpreter each time; that costs about 50 times a hand-written getter. Here each node becomes a
small closure when the spec is compiled, so evaluating is plain function calls. The semantics
follow jmespath's TreeInterpreter node for node (equality that keeps 1 and true apart, ordering
only between numbers, projections dropping nulls, jmespath truthiness), and a property test
checks the two agree on random data. Nodes this compiler does not handle (slices, expression
references for sort_by & co.) make `compile_tree` return None, and the caller keeps jmespath's
interpreter for that expression. Function calls are compiled in jmes_calls.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from .functions import REGISTRY, is_empty
from .jmes_calls import allowed_classes, call_function, compile_call
from .jmes_fused import Shape
from .jmes_fused import jmes_false as _false

Fn = Callable[[Any], Any]


class Unsupported(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


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
        return value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
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
        return lambda scope: scope.get(key) if scope.__class__ is dict or isinstance(scope, dict) else None
    if len(path) == 2 and all(isinstance(p, str) for p in path):
        a, b = path

        # `x.__class__ is dict` first: a third cheaper than isinstance for the plain dicts data is made of
        def two(scope: Any) -> Any:
            first = scope.get(a) if scope.__class__ is dict or isinstance(scope, dict) else None
            return first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        return two

    if len(path) in (3, 4) and isinstance(path[0], str) and isinstance(path[1], str):
        return _three_or_four(path)
    parts = tuple((part, isinstance(part, str)) for part in path)  # key or index: decided once

    def walk(scope: Any) -> Any:
        value: Any = scope
        for part, is_key in parts:
            if is_key:
                if value.__class__ is not dict and not isinstance(value, dict):
                    return None
                value = value.get(part)
            else:
                if value.__class__ is not list and not isinstance(value, list):
                    return None
                try:
                    value = value[part]
                except IndexError:
                    return None
        return value
    return walk


def _three_or_four(path: tuple[str | int, ...]) -> Fn:
    """`a.b.c`, `a.b[0]`, `a.b[0].c` (a first contact's e-mail), `a.b.c[0]`: unrolled, no loop per
    part; whether a part is a key or an index is decided here, so each test is a constant branch."""
    a, b, third = path[0], path[1], path[2]
    last = path[3] if len(path) == 4 else None
    third_key, last_key, four = isinstance(third, str), isinstance(last, str), len(path) == 4

    def three_or_four(scope: Any) -> Any:
        value = scope.get(a) if scope.__class__ is dict or isinstance(scope, dict) else None
        value = value.get(b) if value.__class__ is dict or isinstance(value, dict) else None
        if third_key:
            value = value.get(third) if value.__class__ is dict or isinstance(value, dict) else None
        elif value.__class__ is list or isinstance(value, list):
            try:
                value = value[third]  # type: ignore[index]
            except IndexError:
                return None
        else:
            return None
        if not four:
            return value
        if last_key:
            return value.get(last) if value.__class__ is dict or isinstance(value, dict) else None
        if value.__class__ is list or isinstance(value, list):
            try:
                return value[last]  # type: ignore[index]
            except IndexError:
                return None
        return None
    return three_or_four


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
    if _calls_function(left["children"][2]):
        return None  # jmespath tests every element, and a function may raise on a later one
    base_fn, cond = _compile(left["children"][0]), left["children"][2]
    key_text = _field_equals_text(cond)
    base_shape = _arg_shape(left["children"][0])
    if key_text is not None and base_shape.path2 is not None:
        key, text = key_text
        a, b = base_shape.path2

        def first_in_path_with(value: Any) -> Any:  # `customer.Addresses[?AddressType=='VIS'] | [0]`
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            base = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if base.__class__ is not list and not isinstance(base, list):
                return None
            for element in base:
                if (element.__class__ is dict or isinstance(element, dict)) and element.get(key) == text:
                    return element
            return None
        return first_in_path_with
    if key_text is not None:
        key, text = key_text

        def first_with(value: Any) -> Any:
            # `[?Type == 'VIS'] | [0]`: an element that is not an object has no Type, and null is never text
            base = base_fn(value)
            if not isinstance(base, list):
                return None
            for element in base:
                if isinstance(element, dict) and element.get(key) == text:
                    return element
            return None
        return first_with
    condition = _compile(cond)

    def first_match(value: Any) -> Any:
        base = base_fn(value)
        if not isinstance(base, list):
            return None
        for element in base:
            if element is not None and not _false(condition(element)):
                return element
        return None
    return first_match


def _field_equals_text(node: dict[str, Any]) -> tuple[str, str] | None:
    """`name == 'text'` as (name, text); None for any other condition."""
    if node["type"] != "comparator" or node["value"] != "eq":
        return None
    lnode, rnode = node["children"]
    if lnode["type"] != "field" or rnode["type"] != "literal" or not isinstance(rnode["value"], str):
        return None
    return lnode["value"], rnode["value"]


def _calls_function(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    return node.get("type") == "function_expression" or any(map(_calls_function, node.get("children", ())))


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
    lpath = simple_path(node["children"][0])
    one_name = lpath is not None and len(lpath) == 1 and isinstance(lpath[0], str)
    if node["children"][1]["type"] == "literal":
        constant = node["children"][1]["value"]
        if one_name:
            name = lpath[0]  # type: ignore[index]

            def name_and_literal(value: Any) -> Any:  # `is_new && true`, a setting folded in
                matched = value.get(name) if value.__class__ is dict or isinstance(value, dict) else None
                return matched if matched is False or matched is None or _false(matched) else constant
            return name_and_literal

        def and_literal(value: Any) -> Any:
            matched = left(value)
            return matched if matched is False or matched is None or _false(matched) else constant
        return and_literal

    if one_name:
        key = lpath[0]  # type: ignore[index]

        def name_and(value: Any) -> Any:  # `is_new && ...`: a let or a step read inline
            matched = value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
            if matched is True:
                return right(value)
            return matched if matched is False or matched is None or _false(matched) else right(value)
        return name_and

    def and_(value: Any) -> Any:
        matched = left(value)
        if matched is True:  # conditions mostly give booleans: decided without a call
            return right(value)
        return matched if matched is False or matched is None or _false(matched) else right(value)
    return and_


def _or(node: dict[str, Any]) -> Fn:
    left, right = (_compile(c) for c in node["children"])
    if node["children"][1]["type"] == "literal":  # `x || ''`: the fallback needs no call
        constant = node["children"][1]["value"]
        path = simple_path(node["children"][0])
        if path is not None and len(path) == 2 and isinstance(path[0], str) and isinstance(path[1], str):
            return _path_or_literal(path[0], path[1], constant)

        def or_literal(value: Any) -> Any:
            matched = left(value)
            if matched is None or matched is False:
                return constant
            return matched if matched is True or not _false(matched) else constant
        return or_literal

    def or_(value: Any) -> Any:
        matched = left(value)
        if matched is None or matched is False:
            return right(value)
        return matched if matched is True or not _false(matched) else right(value)
    return or_


def _path_or_literal(a: str, b: str, constant: Any) -> Fn:
    """`customer.Code || ''` in one closure: the path read inline, text decided without a call."""
    def path_or_literal(value: Any) -> Any:
        first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
        matched = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        if matched.__class__ is str:
            return matched or constant
        if matched is None or matched is False:
            return constant
        return matched if matched is True or not _false(matched) else constant
    return path_or_literal


def _not(node: dict[str, Any]) -> Fn:
    inner = node["children"][0]
    if inner["type"] == "function_expression" and inner["value"] == "is_empty" and len(inner["children"]) == 1 \
            and "is_empty" in REGISTRY and REGISTRY["is_empty"].fn is is_empty:
        return _not_empty(inner["children"][0])
    child = _compile(inner)

    def not_(value: Any) -> Any:
        result = child(value)
        if result is True or result is False or result is None:
            return not result
        if _is_number(result) and result == 0:
            return False  # jmespath: !0 is false (0 is a value, not "empty")
        return not result
    return not_


def _not_empty(node: dict[str, Any]) -> Fn:
    """`!is_empty(x)`, the commonest condition in specs, in one closure: text decided inline. A
    value of a class jmespath does not allow (a subclass of str) gets its type error, as ever."""
    allowed, call = allowed_classes("is_empty"), call_function
    shape = _arg_shape(node)
    if shape.path2 is not None:
        a, b = shape.path2

        def path_not_empty(value: Any) -> Any:
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x.__class__ is str:
                return bool(x) and not x.isspace()
            return not (is_empty(x) if allowed is None or x.__class__ in allowed else call("is_empty", [x]))
        return path_not_empty
    if shape.name is not None:
        key = shape.name

        def name_not_empty(value: Any) -> Any:  # `!is_empty(user)`
            x = value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
            if x.__class__ is str:
                return bool(x) and not x.isspace()
            return not (is_empty(x) if allowed is None or x.__class__ in allowed else call("is_empty", [x]))
        return name_not_empty
    arg = _compile(node)

    def not_empty(value: Any) -> Any:
        x = arg(value)
        if x.__class__ is str:
            return bool(x) and not x.isspace()
        return not (is_empty(x) if allowed is None or x.__class__ in allowed else call("is_empty", [x]))
    return not_empty


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


def _function(node: dict[str, Any]) -> Fn:
    if any(c["type"] == "expref" for c in node["children"]):
        raise Unsupported("expref")  # sort_by & co. need jmespath's own expression objects
    children = node["children"]
    return compile_call(node["value"], tuple(_compile(c) for c in children), tuple(map(_arg_shape, children)))


def _arg_shape(node: dict[str, Any]) -> Shape:
    """What a call's argument is, so the call can read a plain `a.b` inline or bind a literal."""
    if node["type"] == "literal":
        return Shape(None, (node["value"],))
    path = simple_path(node)
    if path is not None and len(path) == 2 and isinstance(path[0], str) and isinstance(path[1], str):
        return Shape((path[0], path[1]), None)
    if path is not None and len(path) == 1 and isinstance(path[0], str):
        return Shape(name=path[0])
    if node["type"] == "or_expression" and node["children"][1]["type"] == "literal":
        left = simple_path(node["children"][0])
        if left is not None and len(left) == 2 and isinstance(left[0], str) and isinstance(left[1], str):
            return Shape(path2_or=(left[0], left[1], node["children"][1]["value"]))
    return Shape()


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
