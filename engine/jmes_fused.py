"""The commonest jmespath calls as one closure each (jmes_calls.compile_call's fast shapes).

A call such as `upper(customer.Name)` is otherwise three closures: one per argument, one for
the call. Here a lone `a.b` or name argument is read inline, a literal argument is bound (or
prepared, functions.PREPARED_*) when the spec is compiled, and text takes the shortest exact
way (`upper` on text is `str.upper` itself). Every closure checks argument classes as jmespath
does and hands anything unusual to jmespath's own call_function, so results and errors are
jmespath's; tests/engine/test_jmes_compiled.py checks each shape on every pair of edge values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .functions import PREPARED_FIRST, PREPARED_SECOND, REGISTRY, JmesFunctions, is_empty, lower, trim, upper

Fn = Callable[[Any], Any]
FUNCTIONS = JmesFunctions()  # jmespath's function table with ours: one for the whole compiler


class Shape(NamedTuple):
    """A call's argument as the compiler sees it: a plain `a.b` path, a literal (in a 1-tuple:
    the literal may be null), or neither."""

    path2: tuple[str, str] | None = None
    literal: tuple[Any] | None = None
    name: str | None = None  # one name: a let, a step, `user`
    path2_or: tuple[str, str, Any] | None = None  # `a.b || literal` (`upper(x.Code || '')`): names, literal


def fast_to_string(arg: Any) -> Any:
    """jmespath's to_string without json.dumps for text, integers (json writes an int as str does),
    null and booleans (their JSON)."""
    cls = arg.__class__
    if cls is str:
        return arg
    if cls is int:
        return str(arg)
    if arg is None:
        return "null"
    if cls is bool:
        return "true" if arg else "false"
    return FUNCTIONS.call_function("to_string", [arg])


# Our text functions whose whole work on text is one str method: called directly, no frame of ours.
ON_TEXT: dict[Callable[..., Any], Callable[[str], str]] = {upper: str.upper, lower: str.lower, trim: str.strip}


def fused(name: str, args: tuple[Fn, ...], shapes: tuple[Shape, ...], allowed: tuple[frozenset[type] | None, ...],
          direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn | None:
    """The commonest calls as one closure instead of one per argument: a lone `a.b` argument
    (`upper(customer.Name)`) read inline, and a literal argument (`left(x, `4`)`, a settings
    object folded into `get(lists, key)`) bound once, its type checked here, when the spec is
    compiled. A literal of a type the function refuses is left to jmes_calls._caller, which raises
    jmespath's own error on every call, as jmespath does. None for any other shape."""
    if len(args) == 1 and shapes[0].path2 is not None:
        return _path_call(name, shapes[0].path2, allowed[0], direct, call)
    if len(args) == 1 and shapes[0].name is not None:
        return _name_call(name, shapes[0].name, allowed[0], direct, call)
    if len(args) == 1 and shapes[0].path2_or is not None:
        return _path_or_call(name, shapes[0].path2_or, allowed[0], direct, call)
    if len(args) != 2:
        return None
    first, second = shapes
    if second.literal is not None and first.literal is None and _fits(second.literal[0], allowed[1]):
        return _constant_second(name, args[0], first.path2, allowed[0], second.literal[0], direct, call)
    if first.literal is not None and second.literal is None and _fits(first.literal[0], allowed[0]):
        return _constant_first(name, first.literal[0], args[1], allowed[1], direct, call)
    return None


def _fits(value: Any, allowed: frozenset[type] | None) -> bool:
    return allowed is None or value.__class__ in allowed


def _path_call(name: str, path: tuple[str, str], allowed: frozenset[type] | None,
               direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    a, b = path
    every = allowed is None
    if direct is is_empty and allowed is not None and {str, type(None)} <= allowed:
        def path_is_empty(value: Any) -> Any:  # `is_empty(known.code)`: text and null decided here
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x is None:
                return True
            if x.__class__ is str:
                return not x or x.isspace()
            return direct(x) if x.__class__ in allowed else call(name, [x])
        return path_is_empty
    on_text = ON_TEXT.get(direct)
    if on_text is not None and allowed is not None and str in allowed:
        def text_method_on_path(value: Any) -> Any:  # `upper(customer.Code)`
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x.__class__ is str:
                return on_text(x)
            return direct(x) if x.__class__ in allowed else call(name, [x])
        return text_method_on_path
    if direct is fast_to_string:
        def path_to_string(value: Any) -> Any:  # `to_string(customer.Code)`: text without a call
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            return x if x.__class__ is str else fast_to_string(x)
        return path_to_string

    def call_on_path(value: Any) -> Any:
        first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
        x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        return direct(x) if every or x.__class__ in allowed else call(name, [x])  # type: ignore[operator]
    return call_on_path


def _path_or_call(name: str, path_or: tuple[str, str, Any], allowed: frozenset[type] | None,
                  direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    a, b, otherwise = path_or
    every = allowed is None
    on_text = ON_TEXT.get(direct)
    if on_text is not None and allowed is not None and str in allowed:
        def text_method_on_path_or(value: Any) -> Any:  # `upper(customer.LanguageCode || '')`
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x.__class__ is str and x:
                return on_text(x)
            if x is None or x is False or (x is not True and jmes_false(x)):
                x = otherwise  # jmespath's ||: false, null, "", [] and {} give way
            if x.__class__ is str:
                return on_text(x)
            return direct(x) if x.__class__ in allowed else call(name, [x])
        return text_method_on_path_or

    def call_on_path_or(value: Any) -> Any:
        first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
        x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        if x.__class__ is str:
            x = x or otherwise
        elif x is None or x is False or (x is not True and jmes_false(x)):
            x = otherwise  # jmespath's ||: false, null, "", [] and {} give way
        return direct(x) if every or x.__class__ in allowed else call(name, [x])  # type: ignore[operator]
    return call_on_path_or


def jmes_false(value: Any) -> bool:
    """jmespath's falsiness: null, false, "", [] and {} (0 is true)."""
    return value is None or value is False or value == "" or value == [] or value == {}


def _name_call(name: str, key: str, allowed: frozenset[type] | None,
               direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    every = allowed is None
    if direct is fast_to_string:
        def name_to_string(value: Any) -> Any:  # `to_string(new_code)`: text without a call
            x = value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
            return x if x.__class__ is str else fast_to_string(x)
        return name_to_string

    def call_on_name(value: Any) -> Any:
        x = value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
        return direct(x) if every or x.__class__ in allowed else call(name, [x])  # type: ignore[operator]
    return call_on_name


def _constant_second(name: str, fn: Fn, path: tuple[str, str] | None, allowed: frozenset[type] | None,
                     constant: Any, direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    every = allowed is None
    prepared = _prepared(name, constant, direct)
    if prepared is not None:
        return _call_prepared(name, fn, path, allowed, constant, prepared, call)
    if path is not None:
        a, b = path

        def path_and_constant(value: Any) -> Any:
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            return direct(x, constant) if every or x.__class__ in allowed else call(name, [x, constant])  # type: ignore[operator]
        return path_and_constant

    def and_constant(value: Any) -> Any:
        x = fn(value)
        return direct(x, constant) if every or x.__class__ in allowed else call(name, [x, constant])  # type: ignore[operator]
    return and_constant


def _prepared(name: str, constant: Any, direct: Callable[..., Any],
              forms: dict[str, Callable[[Any], Callable[[Any], Any]]] = PREPARED_SECOND) -> Callable[[Any], Any] | None:
    """The function with its literal argument worked in (functions.PREPARED_SECOND, _FIRST), if
    it has such a form, the name is ours and the literal is one it can take."""
    prepare = forms.get(name)
    if prepare is None or REGISTRY.get(name) is None or REGISTRY[name].fn is not direct:
        return None
    try:
        return prepare(constant)
    except (TypeError, ValueError, OverflowError):
        return None  # the plain call then fails on each record, as it would have


def _call_prepared(name: str, fn: Fn, path: tuple[str, str] | None, allowed: frozenset[type] | None,
                   constant: Any, prepared: Callable[[Any], Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    every = allowed is None
    if path is not None:
        a, b = path

        def path_prepared(value: Any) -> Any:
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            return prepared(x) if every or x.__class__ in allowed else call(name, [x, constant])  # type: ignore[operator]
        return path_prepared

    def call_prepared(value: Any) -> Any:
        x = fn(value)
        return prepared(x) if every or x.__class__ in allowed else call(name, [x, constant])  # type: ignore[operator]
    return call_prepared


def _constant_first(name: str, constant: Any, fn: Fn, allowed: frozenset[type] | None,
                    direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    every = allowed is None
    prepared = _prepared(name, constant, direct, PREPARED_FIRST)
    if prepared is not None:
        def prepared_and(value: Any) -> Any:
            y = fn(value)
            return prepared(y) if every or y.__class__ in allowed else call(name, [constant, y])  # type: ignore[operator]
        return prepared_and

    def constant_and(value: Any) -> Any:
        y = fn(value)
        return direct(constant, y) if every or y.__class__ in allowed else call(name, [constant, y])  # type: ignore[operator]
    return constant_and
