"""Every combination of a rule's stages: `FieldRule.fast` (the specialised closure) gives exactly
what `FieldRule.explain` (the generic stages) gives, or raises the same error, rule by rule."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import InputError

SOURCES = [
    {"from": "input.A"},                     # a two-name path: read inline
    {"from": "a"},                           # a let: one name
    {"from": "input.R.S"},                   # a longer path
    {"from": "upper(input.A)"},              # a function (jmespath errors for non-text)
    {"coalesce": ["input.A", "input.B"]},
    {"cases": [{"when": "input.Flag", "from": "input.A"}, {"from": "input.B"}]},
    # the same for every record: the stages are applied once, when compiling (fast._folded)
    {"value": "abcdef"}, {"value": " "}, {"value": 0}, {"value": ["x"]},
]
DEFAULTS = [{}, {"default": ""}, {"default": "dflt"}, {"default": 0}, {"default": None}, {"default": []}]
LENGTHS = [{}, {"max_length": 3}, {"max_length": 3, "too_long": "error"}]
CHECKS = [{}, {"required": True}, {"omit_empty": True}, {"required": True, "omit_empty": True}]
EXTRAS = [{}, {"type": "number"}, {"type": "string"}, {"type": "integer"}, {"type": "boolean"},
          {"values": {"x": "ex", "1": "one", "": "empty"}, "values_default": ""},
          {"values": {"x": "ex"}}, {"default_from": "input.B"}, {"when": "input.Flag"}, {"unless": "input.Flag"},
          {"when": "a"}, {"unless": "a"}]  # a condition that is one name is read inline

RULES = [{**s, **d, **n, **c, **e} for s, d, n, c, e in itertools.product(SOURCES, DEFAULTS, LENGTHS, CHECKS, EXTRAS)]
PLAN = engine.compile_text(
    "version: 1\nname: field-fast\nsteps:\n  - id: out\n    kind: map\n    let: {a: input.A}\n    fields:\n"
    + "".join(f"      f{i}: {json.dumps(rule)}\n" for i, rule in enumerate(RULES)), "field-fast.yaml")
COMPILED = PLAN.steps[0].rules  # type: ignore[attr-defined]

class Text(str):
    """A subclass of str (what some parsers hand over): cut, refused and defaulted like text."""


TEXTS = st.sampled_from(["", " ", "x", "ab", "abcd", " abcdef ", "1", "0123", "2.5", "true", "\u00a0",
                         Text("abcdef"), Text(" "), Text("ab")])
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False), TEXTS)
VALUES = st.one_of(LEAVES, st.lists(LEAVES, max_size=2), st.dictionaries(st.sampled_from("ab"), LEAVES, max_size=2))


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        value = fn()
    except InputError as exc:
        return "error", str(exc)
    except Exception as exc:  # a jmespath error: the same type and text from both paths
        return "raised", f"{type(exc).__name__}: {exc}"
    return "ok", (type(value), repr(value))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, VALUES, VALUES, VALUES)
def test_fast_equals_explain_for_every_combination(a: Any, b: Any, s: Any, flag: Any) -> None:
    scope = {"input": {"A": a, "B": b, "R": {"S": s}, "Flag": flag}, "a": a}
    assert len(COMPILED) == len(RULES)
    for rule in COMPILED:
        assert _outcome(lambda r=rule: r.fast(scope)) == _outcome(lambda r=rule: r.explain(scope, [])), rule.name
