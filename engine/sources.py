"""Source closures for `coalesce` and `cases`: a chain of small closures, one per alternative.

Each alternative is a closure that either gives the value or hands the scope to the next one, so
a field with two or three alternatives costs a call per alternative tried and nothing else: no
loop, no tuple unpacking, no call to test emptiness or truthiness for the usual text and boolean
values. A property test (tests/engine/test_sources.py) compares them with the plain loops they
replace, on random values.

One common shape is folded: a case `{when: "!is_empty(E)", from: "E"}` evaluates E once, not twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .expressions import truthy
from .functions import is_empty

Source = Callable[[Mapping[str, Any]], Any]
# (when or None for always, value, when is !is_empty(value)[, the value in a 1-tuple when it is a
# literal: given without a call])
Case = tuple[Source | None, Source, bool] | tuple[Source | None, Source, bool, tuple[Any] | None]


def _nothing(scope: Mapping[str, Any]) -> Any:
    return None


def coalesce_source(fns: tuple[Source, ...], paths: tuple[tuple[str, str] | None, ...] = ()) -> Source:
    """The first value that is not empty (null, blank text, [] or {}); None if all are.

    `paths` gives, per alternative, its two names when it is a plain `a.b` path: read inline."""
    if not fns:
        return _nothing
    *rest, last_fn = fns
    paths = paths or (None,) * len(fns)

    last_path = paths[-1]

    def last(scope: Mapping[str, Any]) -> Any:
        value = last_fn(scope)
        if value.__class__ is str:
            return value if value and not value.isspace() else None
        return None if is_empty(value) else value
    # Built from the end: each alternative hands the scope on to the chain after it.
    chain: Source = last if last_path is None else _nothing
    alternatives = list(zip(rest if last_path is None else fns, paths[:-1] if last_path is None else paths,
                            strict=True))
    while alternatives:
        fn, path = alternatives.pop()
        if path is not None and alternatives and alternatives[-1][1] is not None:
            earlier = alternatives.pop()[1]
            chain = _two_paths_or(*earlier, *path, chain)  # type: ignore[misc]
        elif path is not None:
            chain = _last_path(*path) if chain is _nothing else _non_empty_path_or(*path, chain)
        else:
            chain = _non_empty_or(fn, chain)
    return chain


def _last_path(a: str, b: str) -> Source:
    def last_path(scope: Mapping[str, Any]) -> Any:
        first = scope.get(a)
        value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        if value.__class__ is str:
            return value if value and not value.isspace() else None
        return None if is_empty(value) else value
    return last_path


def _two_paths_or(a1: str, b1: str, a2: str, b2: str, otherwise: Source) -> Source:
    """Two `a.b` alternatives in a row (`xml.searchCode`, `customer.SearchCode`): one call."""
    def two_paths(scope: Mapping[str, Any]) -> Any:
        first = scope.get(a1)
        value = first.get(b1) if first.__class__ is dict or isinstance(first, dict) else None
        if value.__class__ is str:
            if value and not value.isspace():
                return value
        elif value is not None and not is_empty(value):
            return value
        first = scope.get(a2)
        value = first.get(b2) if first.__class__ is dict or isinstance(first, dict) else None
        if value.__class__ is str:
            if value and not value.isspace():
                return value
        elif value is not None and not is_empty(value):
            return value
        return otherwise(scope)
    return two_paths


def _non_empty_path_or(a: str, b: str, otherwise: Source) -> Source:
    def non_empty_path(scope: Mapping[str, Any]) -> Any:
        first = scope.get(a)
        value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        if value.__class__ is str:
            if value and not value.isspace():
                return value
        elif value is not None and not is_empty(value):
            return value
        return otherwise(scope)
    return non_empty_path


def _non_empty_or(fn: Source, otherwise: Source) -> Source:
    def non_empty(scope: Mapping[str, Any]) -> Any:
        value = fn(scope)
        if value.__class__ is str:  # is_empty for text, inlined: the usual value
            if value and not value.isspace():
                return value
        elif value is not None and not is_empty(value):
            return value
        return otherwise(scope)
    return non_empty


def cases_source(cases: tuple[Case, ...]) -> Source:
    """The value of the first case whose `when` holds; a case without `when` always holds."""
    chain: Source = _nothing
    for case in reversed(cases):
        when, value, when_non_empty = case[:3]
        fixed = case[3] if len(case) > 3 else None
        if when_non_empty:
            chain = _non_empty_or(value, chain)
        elif when is None:
            chain = value  # later cases can never be reached
        elif fixed is not None:
            chain = _when_fixed_or(when, fixed[0], chain)
        else:
            chain = _when_or(when, value, chain)
    return chain


def _when_fixed_or(when: Source, fixed: Any, otherwise: Source) -> Source:
    def case_fixed(scope: Mapping[str, Any]) -> Any:
        holds = when(scope)
        if holds is True or (holds is not False and holds is not None and truthy(holds)):
            return fixed
        return otherwise(scope)
    return case_fixed


def _when_or(when: Source, value: Source, otherwise: Source) -> Source:
    def case(scope: Mapping[str, Any]) -> Any:
        holds = when(scope)
        if holds is True or (holds is not False and holds is not None and truthy(holds)):
            return value(scope)
        return otherwise(scope)
    return case


def non_empty_test(when: dict[str, Any], value: dict[str, Any]) -> bool:
    """Is the parsed `when` exactly `!is_empty(<value>)`? Then the case needs `value` only once."""
    if when.get("type") != "not_expression":
        return False
    call = when["children"][0]
    return call.get("type") == "function_expression" and call.get("value") == "is_empty" \
        and len(call["children"]) == 1 and call["children"][0] == value

