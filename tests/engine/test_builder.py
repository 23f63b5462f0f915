"""engine/builder.py: a map step's object, built with runs of plain text fields written by one
closure, is exactly what the rules' explain path builds, value for value, key order included,
and fails with the same error where that fails."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.builder import _entries
from engine.errors import InputError
from engine.fields import explain_object

# Runs of plain text fields over `c` and `v` (cut, refused, defaulted, left out when empty, required),
# broken by fields of other shapes, so runs start and end everywhere.
SPEC = """\
version: 1
name: builder
steps:
  - id: out
    kind: map
    let: {c: input.c, v: input.v}
    fields:
      a1: {from: c.A, default: "", max_length: 3}
      a2: {from: c.B, default: "-", max_length: 3}
      a3: {from: c.C, omit_empty: true, max_length: 3}
      a4: {from: c.D, omit_empty: true, max_length: 3, too_long: error}
      b1: {from: v.A, default: "", max_length: 3}
      b2: {from: v.B, omit_empty: true, max_length: 3}
      other: {from: c.A}
      c1: {from: c.B, default: "", max_length: 3, too_long: error}
      c2: {from: c.C, default: "", max_length: 3}
      lone: {from: v.C, default: "", max_length: 3}
      d1: {from: c.D, omit_empty: true, max_length: 3}
      d2: {from: c.A, omit_empty: true, max_length: 3}
      cond: {from: c.B, default: "", max_length: 3, when: input.flag}
      e1: {from: v.A, default: "", max_length: 3}
      e2: {from: v.D, default: "", max_length: 3}
      f1: {from: c.A, required: true, max_length: 3}
      f2: {from: c.B, default: "d", omit_empty: true, max_length: 3, too_long: error}
      f3: {from: c.C, default: "dflt", max_length: 3}
      f4: {from: c.D, required: true, omit_empty: true, max_length: 3}
"""
PLAN = engine.compile_text(SPEC, "builder.yaml")
STEP = PLAN.steps[0]

class Text(str):
    pass


TEXTS = st.sampled_from(["", " ", "   ", "     ", "x", "abc", "abcd", " abcdef ", "\u00a0", "  x  ",
                         Text("abcdef"), Text(" "), Text("ab")])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), TEXTS)
VALUES = st.one_of(LEAVES, st.lists(LEAVES, max_size=2), st.dictionaries(st.sampled_from("AB"), LEAVES, max_size=2))
OBJECTS = st.one_of(st.fixed_dictionaries({}, optional={k: VALUES for k in "ABCD"}), VALUES)


def test_the_runs_are_found() -> None:
    keys = [key for key, _ in _entries(STEP.rules)]  # type: ignore[attr-defined]
    # a1-a4 (c), b1-b2 (v), other, c1-c2 (c), lone, d1-d2 (c), cond (guarded), e1-e2 (v), f1-f4 (c:
    # required, or a default too long to be given as it is: the field decides empty values)
    assert keys == [None, None, "other", None, "lone", None, "cond", None, None]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        built = fn()
    except InputError as exc:
        return "error", str(exc)
    return "ok", [(k, type(v), repr(v)) for k, v in built.items()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=OBJECTS, v=OBJECTS, flag=st.booleans())
def test_built_in_runs_equals_explained(c: Any, v: Any, flag: bool) -> None:
    record = {"c": c, "v": v, "flag": flag}
    fast = _outcome(lambda: STEP._build({"input": record}))  # type: ignore[attr-defined]

    def explained() -> dict[str, Any]:
        scope: dict[str, Any] = {"input": record}
        for name, expr in STEP.lets:  # type: ignore[attr-defined]
            scope[name] = expr.evaluate(scope)
        return explain_object(STEP.rules, scope, [])  # type: ignore[attr-defined]
    assert fast == _outcome(explained)
