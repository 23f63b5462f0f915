"""The closure compiler for jmespath agrees with jmespath's own interpreter, on random input."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jmespath import exceptions as jmes_errors

from engine.functions import JMESPATH_OPTIONS
from engine.jmes import compile_tree

KEYS = ["a", "b", "c"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["", "x", "0123", "True", "a", " A ", "X"]),
                    st.floats(allow_nan=False, allow_infinity=False, width=16))
data = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
                    max_leaves=12)
literal = st.sampled_from(["`1`", "`0`", "`true`", "`false`", "`null`", "'x'", "''", "`[]`", "`{}`", "`\"a\"`"])


def expressions() -> st.SearchStrategy[str]:
    base = st.one_of(st.sampled_from(KEYS), st.just("@"), literal)

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.builds(lambda a, k: f"{a}.{k}", inner.filter(lambda e: not e.startswith(("`", "'"))), st.sampled_from(KEYS)),
            st.builds(lambda a, i: f"{a}[{i}]", st.sampled_from(KEYS), st.integers(-2, 2)),
            st.builds(lambda a, b: f"{a}[*].{b}", st.sampled_from(KEYS), st.sampled_from(KEYS)),
            st.builds(lambda a: f"{a}[]", st.sampled_from(KEYS)),
            st.builds(lambda a, b: f"{a}.*.{b}", st.sampled_from(KEYS), st.sampled_from(KEYS)),
            st.builds(lambda a, c, b: f"{a}[?{c}].{b}", st.sampled_from(KEYS), inner, st.sampled_from(KEYS)),
            st.builds(lambda a, b, op: f"{a} {op} {b}", inner, inner, st.sampled_from(["==", "!=", "<", ">=", "&&", "||"])),
            st.builds(lambda a: f"!({a})", inner),
            st.builds(lambda a, b: f"{a} | {b}", inner, inner),
            st.builds(lambda a, c: f"{a}[?{c}] | [0]", st.sampled_from(KEYS), inner),
            st.builds(lambda a, k, t: f"{a}[?{k} == '{t}'] | [0]", st.sampled_from(KEYS), st.sampled_from(KEYS),
                      st.sampled_from(["x", "", "a"])),
            st.builds(lambda a, b: f"[{a}, {b}]", inner, inner),
            st.builds(lambda a, b: f"{{x: {a}, y: {b}}}", inner, inner),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["length", "is_empty", "to_string", "type",
                                                                  "first_non_empty", "upper", "not_null"]), inner),
            st.builds(lambda a, b: f"first_non_empty({a}, {b})", inner, inner),
            st.builds(lambda a, b: f"get({a}, {b})", inner, inner),
            # Two and three arguments, checked and unchecked: the inline type checks and the
            # fast built-ins must give jmespath's result, or its error, for every type.
            st.builds(lambda f, a, b: f"{f}({a}, {b})",
                      st.sampled_from(["in_list", "left", "merge", "contains", "starts_with", "ends_with"]),
                      inner, inner),
            st.builds(lambda a, b, c: f"choose({a}, {b}, {c})", inner, inner, inner),
            st.builds(lambda a, b, c: f"merge({a}, {b}, {c})", inner, inner, inner),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["values", "keys", "to_number", "abs", "lower"]), inner),
        )
    return st.recursive(base, extend, max_leaves=6)


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except jmes_errors.JMESPathError as exc:
        return "error", type(exc).__name__
    except (TypeError, ValueError):  # jmespath type-checks only the first of variadic arguments
        return "crash", None


@settings(max_examples=2000, deadline=None)
@given(expressions(), data)
def test_compiled_matches_interpreter(expression: str, value: Any) -> None:
    try:
        parsed = jmespath.compile(expression)
    except jmes_errors.JMESPathError:
        return
    compiled = compile_tree(parsed.parsed)
    assert compiled is not None, expression
    expected = outcome(lambda v: parsed.search(v, options=JMESPATH_OPTIONS), value)
    if expected[0] == "crash":
        return  # jmespath itself raises a raw error (ordering text against a number, merge('x', ...))
    got = outcome(compiled, value)
    assert got == expected, expression
    if got[0] == "ok":
        assert type(got[1]) is type(expected[1]), expression


def test_unsupported_nodes_fall_back() -> None:
    assert compile_tree(jmespath.compile("sort_by(a, &b)").parsed) is None
    assert compile_tree(jmespath.compile("a[1:2]").parsed) is None


class Text(str):
    """A str subclass: jmespath checks argument types by class name, so it refuses this one."""


# The values each fast path must tell apart: empty, blank, false, zero, a subclass and the rest.
EDGE_VALUES: list[Any] = ["", " ", None, False, True, 0, 7, 1.5, [], {}, "x", "A", ["x"], {"b": "x"},
                         [{"b": "y"}, "x", {"b": "x", "c": ""}, {"b": "x"}], Text("x"), Text("")]
EDGES = st.sampled_from(EDGE_VALUES)
FAST_CALLS = ["to_string(@)", "to_string(a)", "upper(@)", "left(@, `2`)", "left(a, b)", "in_list(a, b)",
              "choose(a, b, c)", "get(a, to_string(b))", "!is_empty(get(a, to_string(b)))", "a && b || c",
              "!a", "!(a && b)", "merge(a, b)", "a || ''", "a && 'x'", "a || `0`", "a && `[]`",
              "merge(a, b, c, @)", "merge(a, `{}`, c, b)", "guid_empty()",
              # fused shapes (jmes_calls._fused, jmes._path_or_literal): a lone `a.b` argument read
              # inline, a literal argument bound at compile time, including literals of a refused type
              "upper(a.b)", "to_string(a.c)", "is_empty(c.a)", "left(a.b, `2`)", "left(a, `2`)", "left(a.b, 'x')",
              "upper(left(a.b, `2`))", "in_list(a.b, `[\"x\", \"A\"]`)", "in_list(a, 'x, a')",
              "get(`{\"1\": \"x\", \"a\": 2}`, to_string(a))", "get(`[1]`, a)", "get(b, 'a')", "a.b || ''",
              "a.c || `0`", "upper(a.b || '')", "merge(a, `{}`)", "merge(`{\"x\": 1}`, a.b)",
              "!is_empty(a)", "!is_empty(a.b)", "!is_empty(upper(a))", "is_empty(a)", "a && b", "c && !is_empty(a)",
              "!is_empty(@)", "to_string(c)",
              # paths of three or four parts, unrolled (jmes._three_or_four)
              "a.b.c", "a.b[0]", "a.b[-1]", "a.b[0].c", "a.b[2].a", "b.a[1]", "a.b.c[0]",
              "a.b[0][1]", "c.a.b.c",
              # a literal second argument worked in once (functions.PREPARED_SECOND)
              "left(a, `2.7`)", "left(a.b, `-1`)", "left(a, `0`)", "in_list(a, `[1, \"x\", null, 2.0]`)",
              "in_list(a.b, ' A ,b,,')", "in_list(a, `null`)", "in_list(a, '')", "in_list(upper(a), 'X')",
              "get(`{\"x\": 1, \"true\": 2, \"2\": 3, \"null\": 4}`, a)", "get(`null`, a.b)", "get(`{}`, 'x')",
              # a one-argument call on `a.b || literal`
              "upper(a.b || '')", "upper(a.b || `1`)", "to_string(a.b || `[]`)", "is_empty(a.c || ' ')",
              # the first element matching, in a list read inline
              "a.b[?b == 'x'] | [0]", "a.b[?c == ''] | [0]", "b[?b == 'x'] | [0]",
              # is_empty and to_string of a.b decided inline
              "is_empty(a.b)", "to_string(a.b)", "get(`{\"1\": \"x\", \"x\": 2, \"null\": 3}`, to_string(a.b))",
              # a name and a literal (a setting folded in) in one closure
              "a && `true`", "(a && `true`) && !is_empty(b)", "a.b && `true`",
              # a text function that is one str method, called directly
              "lower(a.b || 'X')", "trim(a.b || `null`)", "upper(a.b || `1`)", "trim(a.c)", "lower(a)",
              "upper(left(a.b, `2`))", "trim(left(a, `3`))"]


@pytest.mark.parametrize("expression", FAST_CALLS)
@settings(max_examples=60, deadline=None)
@given(value=st.one_of(scalars, data, st.fixed_dictionaries({"a": data, "b": data, "c": data}),
                       st.fixed_dictionaries({"a": st.one_of(scalars, st.fixed_dictionaries({"b": scalars})),
                                              "b": scalars, "c": scalars}),
                       st.fixed_dictionaries({"a": st.fixed_dictionaries({"b": EDGES, "c": EDGES}), "b": EDGES,
                                              "c": EDGES})))
def test_fast_calls_match_interpreter(expression: str, value: Any) -> None:
    """Every argument type through the inline checks and fast built-ins, on each common shape."""
    parsed = jmespath.compile(expression)
    compiled = compile_tree(parsed.parsed)
    assert compiled is not None
    expected = outcome(lambda v: parsed.search(v, options=JMESPATH_OPTIONS), value)
    got = outcome(compiled, value)
    assert got == expected
    if got[0] == "ok":
        assert type(got[1]) is type(expected[1])


@pytest.mark.parametrize("expression", FAST_CALLS)
def test_fast_calls_match_interpreter_on_every_pair_of_edge_values(expression: str) -> None:
    """Every pair of edge values, at the top and one level down: random examples can miss the one
    blank string a fast path gets wrong."""
    parsed = jmespath.compile(expression)
    compiled = compile_tree(parsed.parsed)
    assert compiled is not None
    for x in EDGE_VALUES:
        for y in EDGE_VALUES:
            for value in ({"a": {"b": x, "c": y}, "b": x, "c": y}, {"a": x, "b": y, "c": x}):
                expected = outcome(lambda v: parsed.search(v, options=JMESPATH_OPTIONS), value)
                if expected[0] == "crash":
                    continue
                got = outcome(compiled, value)
                assert got == expected, value
                if got[0] == "ok":
                    assert type(got[1]) is type(expected[1]), value
