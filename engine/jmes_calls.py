"""Function calls in compiled jmespath: the call with its argument types checked inline.

jmespath checks every argument's type through a generic loop before each call. Here the allowed
classes are worked out once, when the spec is compiled, and tested inline: one set lookup per
checked argument, no calls. An argument of another type goes through jmespath's own
call_function, so the error (or, for the few functions jmespath checks loosely, the result) is
exactly jmespath's. A few built-ins get exact, cheaper equivalents for their common arguments,
and the commonest call shapes are one closure each (jmes_fused.py).
Property tests (tests/engine/test_jmes_compiled.py) compare all of it with jmespath's interpreter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .functions import REGISTRY
from .jmes_fused import FUNCTIONS as _FUNCTIONS
from .jmes_fused import ON_TEXT, Fn, Shape, fast_to_string, fused

call_function = _FUNCTIONS.call_function  # jmespath's own checks, errors and messages


def allowed_classes(name: str) -> frozenset[type] | None:
    """The exact classes jmespath lets function `name` take as its first argument (None: any)."""
    spec = _FUNCTIONS.FUNCTION_TABLE[name]
    checks = _fast_check(spec["signature"])
    return checks[0] if checks else None


def compile_call(name: str, args: tuple[Fn, ...], shapes: tuple[Shape, ...] = ()) -> Fn:
    """A closure calling function `name` on the values of the compiled argument closures.

    `shapes` (one per argument) let the commonest calls fold their arguments in (jmes_fused.py)."""
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
        fused_call = fused(name, args, shapes, per_arg, direct, call)
        if fused_call is not None:
            return fused_call
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


# Exact equivalents of jmespath built-ins, for the common argument types (a property test checks).
_BUILTIN_FAST: dict[str, Callable[..., Any]] = {"to_string": fast_to_string}


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
        on_text = ON_TEXT.get(direct)
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
