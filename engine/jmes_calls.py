"""Function calls in compiled jmespath: the call with its argument types checked inline.

jmespath checks every argument's type through a generic loop before each call. Here the allowed
classes are worked out once, when the spec is compiled, and tested inline: one set lookup per
checked argument, no calls. An argument of another type goes through jmespath's own
call_function, so the error (or, for the few functions jmespath checks loosely, the result) is
exactly jmespath's. A few built-ins get exact, cheaper equivalents for their common arguments.
Property tests (tests/engine/test_jmes_compiled.py) compare all of it with jmespath's interpreter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .functions import PREPARED_FIRST, PREPARED_SECOND, REGISTRY, JmesFunctions, is_empty, lower, trim, upper

Fn = Callable[[Any], Any]
_FUNCTIONS = JmesFunctions()


class Shape(NamedTuple):
    """A call's argument as the compiler sees it: a plain `a.b` path, a literal (in a 1-tuple:
    the literal may be null), or neither."""

    path2: tuple[str, str] | None = None
    literal: tuple[Any] | None = None
    name: str | None = None  # one name: a let, a step, `user`
    path2_or: tuple[str, str, Any] | None = None  # `a.b || literal` (`upper(x.Code || '')`): names, literal


call_function = _FUNCTIONS.call_function  # jmespath's own checks, errors and messages


def allowed_classes(name: str) -> frozenset[type] | None:
    """The exact classes jmespath lets function `name` take as its first argument (None: any)."""
    spec = _FUNCTIONS.FUNCTION_TABLE[name]
    checks = _fast_check(spec["signature"])
    return checks[0] if checks else None


def compile_call(name: str, args: tuple[Fn, ...], shapes: tuple[Shape, ...] = ()) -> Fn:
    """A closure calling function `name` on the values of the compiled argument closures.

    `shapes` (one per argument) let the commonest calls fold their arguments in: see `_fused`."""
    call = _FUNCTIONS.call_function  # jmespath's own checks and messages, for the unusual cases
    spec = _FUNCTIONS.FUNCTION_TABLE.get(name)
    checks = _fast_check(spec["signature"]) if spec else None
    variadic = bool(spec and spec["signature"] and spec["signature"][-1].get("variadic"))
    if spec is None or checks is None or (not variadic and len(checks) != len(args)) \
            or (variadic and len(args) < len(checks)):
        return lambda value: call(name, [a(value) for a in args])
    if name == "merge" and name not in REGISTRY and len(args) == 4:
        return _merge4(args, call)
    ours = REGISTRY.get(name)
    direct: Callable[..., Any] = ours.fn if ours is not None else \
        _BUILTIN_FAST.get(name) or getattr(_FUNCTIONS, f"_func_{name}")
    per_arg = tuple(checks[min(i, len(checks) - 1)] for i in range(len(args)))
    if len(shapes) == len(args):
        fused = _fused(name, args, shapes, per_arg, direct, call)
        if fused is not None:
            return fused
    return _caller(name, args, per_arg, direct, call)


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict, OrderedDict),
}


def _fast_check(signature: tuple[dict[str, Any], ...]) -> tuple[frozenset[type] | None, ...] | None:
    """Per argument, the exact classes jmespath allows (None: any); None if too subtle to check here.

    jmespath compares `type(arg).__name__`, not isinstance (a bool is no number), so exact
    classes are the same test; anything else (a subclass) takes the slow path and gets
    jmespath's own verdict.
    """
    checks: list[frozenset[type] | None] = []
    for arg in signature:
        names = arg.get("types") or []
        if not names:
            checks.append(None)
            continue
        if any(n not in _PY_TYPES for n in names):
            return None  # array-string, array-number, expref: leave the check to jmespath
        checks.append(frozenset(t for n in names for t in _PY_TYPES[n]))
    return tuple(checks)


def _to_string(arg: Any) -> Any:
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
    return _FUNCTIONS.call_function("to_string", [arg])


# Exact equivalents of jmespath built-ins, for the common argument types (a property test checks).
_BUILTIN_FAST: dict[str, Callable[..., Any]] = {"to_string": _to_string}
# Our text functions whose whole work on text is one str method: called directly, no frame of ours.
_ON_TEXT: dict[Callable[..., Any], Callable[[str], str]] = {upper: str.upper, lower: str.lower, trim: str.strip}


def _merge4(args: tuple[Fn, ...], call: Callable[[str, list[Any]], Any]) -> Fn:
    """merge(a, b, c, d) of four plain objects, as `{**a, **b, **c, **d}`: the same keys, order
    and later-wins as jmespath's update loop, at half its cost (a request body merging map steps)."""
    a0, a1, a2, a3 = args

    def merge4(value: Any) -> Any:
        w, x, y, z = a0(value), a1(value), a2(value), a3(value)
        if w.__class__ is dict and x.__class__ is dict and y.__class__ is dict and z.__class__ is dict:
            return {**w, **x, **y, **z}
        return call("merge", [w, x, y, z])
    return merge4


def _caller(name: str, args: tuple[Fn, ...], allowed: tuple[frozenset[type] | None, ...],
            direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn:
    """The call with its type checks inline: one set lookup per checked argument, no calls.

    An argument of a type the signature does not allow goes through jmespath's call_function,
    which raises jmespath's own error."""
    if len(args) == 1:
        (a0,), (t0,) = args, allowed
        if t0 is None:
            return lambda value: direct(a0(value))
        on_text = _ON_TEXT.get(direct)
        if on_text is not None and str in t0:
            def text_method(value: Any) -> Any:  # `upper(left(x, `4`))`
                x = a0(value)
                if x.__class__ is str:
                    return on_text(x)
                return direct(x) if x.__class__ in t0 else call(name, [x])
            return text_method

        def one(value: Any) -> Any:
            x = a0(value)
            return direct(x) if x.__class__ in t0 else call(name, [x])
        return one
    if len(args) == 2:
        (a0, a1), (t0, t1) = args, allowed
        if t0 is None and t1 is None:
            return lambda value: direct(a0(value), a1(value))
        if t0 is None:
            def two_second(value: Any) -> Any:
                x, y = a0(value), a1(value)
                return direct(x, y) if y.__class__ in t1 else call(name, [x, y])
            return two_second
        if t1 is None:
            def two_first(value: Any) -> Any:
                x, y = a0(value), a1(value)
                return direct(x, y) if x.__class__ in t0 else call(name, [x, y])
            return two_first

        def two(value: Any) -> Any:
            x, y = a0(value), a1(value)
            return direct(x, y) if x.__class__ in t0 and y.__class__ in t1 else call(name, [x, y])
        return two
    if len(args) == 3:
        (a0, a1, a2), (t0, t1, t2) = args, allowed
        if t0 is None and t1 is None and t2 is None:
            return lambda value: direct(a0(value), a1(value), a2(value))
        any0, any1, any2 = t0 is None, t1 is None, t2 is None  # constant: no set lookup for them

        def three(value: Any) -> Any:
            x, y, z = a0(value), a1(value), a2(value)
            if (any0 or x.__class__ in t0) and (any1 or y.__class__ in t1) and (any2 or z.__class__ in t2):  # type: ignore[operator]
                return direct(x, y, z)
            return call(name, [x, y, z])
        return three
    if not args:
        return lambda value: direct()  # now(), guid_empty(): called every time, never folded
    if allowed[0] is not None and all(t == allowed[0] for t in allowed):
        same = allowed[0]  # merge(a, b, c, d): one type for every argument

        def same_type(value: Any) -> Any:
            resolved = [a(value) for a in args]
            for x in resolved:
                if x.__class__ not in same:
                    return call(name, resolved)
            return direct(*resolved)
        return same_type
    pairs = tuple(zip(args, allowed, strict=True))

    def many(value: Any) -> Any:
        resolved = [a(value) for a in args]
        for x, (_, types) in zip(resolved, pairs, strict=True):
            if types is not None and x.__class__ not in types:
                return call(name, resolved)  # raises jmespath's own type error
        return direct(*resolved)
    return many


def _fused(name: str, args: tuple[Fn, ...], shapes: tuple[Shape, ...], allowed: tuple[frozenset[type] | None, ...],
           direct: Callable[..., Any], call: Callable[[str, list[Any]], Any]) -> Fn | None:
    """The commonest calls as one closure instead of one per argument: a lone `a.b` argument
    (`upper(customer.Name)`) read inline, and a literal argument (`left(x, `4`)`, a settings
    object folded into `get(lists, key)`) bound once, its type checked here, when the spec is
    compiled. A literal of a type the function refuses is left to `_caller`, which raises
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
    on_text = _ON_TEXT.get(direct)
    if on_text is not None and allowed is not None and str in allowed:
        def text_method_on_path(value: Any) -> Any:  # `upper(customer.Code)`
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x.__class__ is str:
                return on_text(x)
            return direct(x) if x.__class__ in allowed else call(name, [x])
        return text_method_on_path
    if direct is _to_string:
        def path_to_string(value: Any) -> Any:  # `to_string(customer.Code)`: text and integers here
            first = value.get(a) if value.__class__ is dict or isinstance(value, dict) else None
            x = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if x.__class__ is str:
                return x
            return str(x) if x.__class__ is int else _to_string(x)
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
    on_text = _ON_TEXT.get(direct)
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
    if direct is _to_string:
        def name_to_string(value: Any) -> Any:  # `to_string(new_code)`: text and integers here
            x = value.get(key) if value.__class__ is dict or isinstance(value, dict) else None
            if x.__class__ is str:
                return x
            return str(x) if x.__class__ is int else _to_string(x)
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
