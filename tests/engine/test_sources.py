"""The chained `coalesce` and `cases` sources agree with the plain loops they replace, on random
values, and a compiled `cases` rule (with its folded `!is_empty(E)` / `from: E` case) agrees
with jmespath's own interpreter evaluating every `when` and `from` in turn."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.expressions import truthy
from engine.functions import JMESPATH_OPTIONS, is_empty
from engine.sources import Source, cases_source, coalesce_source

SOME = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.sampled_from(["", " ", "\t\n", "x", " x ", "0", "\u00a0", "\u2003"])
NESTED = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=False, width=16), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.sampled_from("ab"), inner, max_size=2)),
    max_leaves=4)
VALUES = st.one_of(TEXT, st.none(), NESTED)  # text and null first: recursive draws are mostly containers


def reference_coalesce(fns: tuple[Source, ...], scope: Any) -> Any:
    for fn in fns:
        value = fn(scope)
        if not is_empty(value):
            return value
    return None


def reference_cases(cases: list[tuple[Source | None, Source]], scope: Any) -> Any:
    for when, value in cases:
        if when is None or truthy(when(scope)):
            return value(scope)
    return None


def _getter(i: int) -> Source:
    return lambda scope: scope[i]


@SOME
@given(st.lists(VALUES, min_size=0, max_size=4))
def test_coalesce_chain_equals_loop(values: list[Any]) -> None:
    fns = tuple(_getter(i) for i in range(len(values)))
    got, want = coalesce_source(fns)(values), reference_coalesce(fns, values)
    assert got is want or (got == want and type(got) is type(want))


@SOME
@given(st.lists(st.tuples(st.booleans(), VALUES), min_size=1, max_size=4), st.sampled_from(["dict", "dict", "dict", None, " ", 1, []]))
def test_coalesce_chain_with_inline_paths_equals_loop(alternatives: list[tuple[bool, Any]], record: Any) -> None:
    # An alternative is either `r.k<i>` (read inline) or a getter; `r` may be no object at all.
    r = {f"k{i}": value for i, (_, value) in enumerate(alternatives)} if record == "dict" else record
    scope = {"r": r, "v": [value for _, value in alternatives]}
    getters = tuple(
        (lambda s, i=i: s["r"].get(f"k{i}") if isinstance(s["r"], dict) else None) if inline
        else (lambda s, i=i: s["v"][i]) for i, (inline, _) in enumerate(alternatives))
    paths = tuple(("r", f"k{i}") if inline else None for i, (inline, _) in enumerate(alternatives))
    got, want = coalesce_source(getters, paths)(scope), reference_coalesce(getters, scope)
    assert got is want or (got == want and type(got) is type(want))


KINDS = st.sampled_from(["always", "when", "non_empty", "when_fixed"])


@SOME
@given(st.lists(st.tuples(KINDS, VALUES, VALUES), min_size=0, max_size=4))
def test_cases_chain_equals_loop(spec: list[tuple[str, Any, Any]]) -> None:
    # scope: [when value, then value] per case; a non_empty case tests its own value.
    scope = [v for _, when, value in spec for v in (when, value)]
    chained, reference = [], []
    for i, (kind, _, _) in enumerate(spec):
        when, value = _getter(2 * i), _getter(2 * i + 1)
        if kind == "always":
            chained.append((None, value, False))
            reference.append((None, value))
        elif kind == "when":
            chained.append((when, value, False))
            reference.append((when, value))
        elif kind == "when_fixed":  # a literal value: given without a call
            fixed = scope[2 * i + 1]
            chained.append((when, lambda s: pytest.fail("a literal case value is not called"), False, (fixed,)))
            reference.append((when, value))
        else:
            chained.append((None, value, True))
            reference.append((lambda s, v=value: not is_empty(v(s)), value))
    got, want = cases_source(tuple(chained))(scope), reference_cases(reference, scope)
    assert got is want or (got == want and type(got) is type(want))


CASES = [
    {"when": "in_list(input.k, t)", "from": "to_string(input.k)"},
    {"when": "!is_empty(get(t2, to_string(input.k)))", "from": "get(t2, to_string(input.k))"},
    {"when": "!is_empty(input.a)", "from": "input.a"},
    {"when": "!is_empty(input.a)", "from": "input.b"},  # not the folded shape: tests a, gives b
    {"when": "input.b", "value": "fixed"},  # a literal: given without a call
    {"from": "t[0]"},
]
RULES = engine.compile_text("""\
version: 1
name: cases
steps:
  - id: out
    kind: map
    let:
      t: input.t
      t2: input.t2
    fields:
""" + "".join(f"      f{i}: {{cases: {CASES[i:]!r}}}\n".replace("'", '"') for i in range(len(CASES))), "cases.yaml")
STEP = RULES.steps[0]


def _interpreted(cases: list[dict[str, str]], scope: dict[str, Any]) -> Any:
    for case in cases:
        if "when" not in case or truthy(jmespath.search(case["when"], scope, options=JMESPATH_OPTIONS)):
            if "value" in case:
                return case["value"]
            return jmespath.search(case["from"], scope, options=JMESPATH_OPTIONS)
    return None


KEYS = st.one_of(VALUES, st.sampled_from(["1", "2", "P2", "p2 ", 1, 2, 2.0]))
TABLE = st.dictionaries(st.sampled_from(["1", "2", "3"]), st.one_of(st.sampled_from(["", "P1", "P2"]), VALUES), max_size=3)


@SOME
@given(KEYS, st.lists(st.sampled_from(["P1", "P2", "", "x"]), max_size=3), TABLE, VALUES, VALUES)
def test_compiled_cases_equal_jmespath(k: Any, t: list[str], t2: dict[str, Any], a: Any, b: Any) -> None:
    scope: dict[str, Any] = {"input": {"k": k, "t": t, "t2": t2, "a": a, "b": b}}
    scope |= {"t": t, "t2": t2}
    for i, rule in enumerate(STEP.rules):
        assert rule.source(scope) == _interpreted(CASES[i:], scope), rule.name
