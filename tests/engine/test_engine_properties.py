"""Hypothesis properties of the engine: loading never crashes, truncation is bounded, text stays
text, the fast path equals the explaining path, and path getters equal jmespath."""

from __future__ import annotations

import io
import json
from typing import Any
from xml.sax.saxutils import escape

import jmespath
import pytest
from engine_helpers import canonical
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import engine
from engine.errors import SpecbridgeError, SpecError, SpecErrors
from engine.expressions import compile_expr
from engine.functions import is_empty
from engine.load import load_text
from engine.validate import validate_structure

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that a careless engine would turn into a number, a boolean or null.
TRICKY = ["0123", "000042", "True", "true", "False", "1e3", "null", "None", " 7 ", "7", "1,5", "0x1F", "-0",
          "+1", "1_000", "NaN", "Infinity", "yes", "no", "on", "~", "[]", "{}", "0.10", "2024-01-01", "12:30"]


def _errors(exc: SpecError) -> list[SpecError]:
    return list(exc) if isinstance(exc, SpecErrors) else [exc]


def _assert_located(exc: SpecError) -> None:
    errors = _errors(exc)
    assert errors
    for error in errors:
        assert error.location is not None, error.render()
        assert error.location.line >= 1 and error.location.col >= 1, error.render()


# --- (i) loading never raises anything but a located SpecError -----------------------------------

KEYS = ["version", "name", "steps", "settings", "connections", "input", "result", "tests", "id", "kind",
        "fields", "from", "template", "value", "coalesce", "cases", "each", "items", "when", "unless", "values",
        "values_default", "default", "default_from", "type", "max_length", "required", "omit_empty", "let",
        "table", "where", "select", "connection", "method", "path", "json", "form", "body", "outcomes",
        "example", "sequence", "start", "keep", "that", "error", "key", "set", "format", "force_list", "schema",
        "base_url", "url", "auth", "retry", "headers", "paging", "records", "expect", "responses", "store",
        "ok_status", "status", "name", "index_by"]
WORDS = ["map", "send", "lookup", "fetch", "generate", "check", "filter", "writeback", "save", "parse", "http",
         "files", "input.A", "item.x", "{{ x }}", "{{", "{% if %}", "input.[", "!a.b", "settings.X", "json",
         "xml", "customers", "POST", "header", "bearer", "offset", "version", "", " "]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(WORDS),
                    st.text(max_size=8))
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=5)), inner,
                                            max_size=5)),
    max_leaves=25)
STEP = st.fixed_dictionaries(
    {"id": st.one_of(st.sampled_from(["a", "b", "input"]), TREES),
     "kind": st.one_of(st.sampled_from(WORDS[:10]), TREES)},
    optional={k: TREES for k in ("fields", "when", "connection", "method", "path", "json", "each", "table",
                                 "where", "select", "outcomes", "let", "key", "set", "from", "format")})
SPECS = st.fixed_dictionaries(
    {"version": st.sampled_from([1, 2, "1"]), "name": st.sampled_from(["x", "Bad Name"]),
     "steps": st.one_of(st.lists(STEP, max_size=3), TREES)},
    optional={"settings": TREES, "connections": TREES, "input": TREES, "result": TREES, "tests": TREES})


def _dump(document: Any) -> str:
    buffer = io.StringIO()
    YAML().dump(document, buffer)
    return buffer.getvalue()


@FAST
@given(st.text())
def test_any_text_compiles_or_gives_located_errors(text: str) -> None:
    try:
        engine.compile_text(text, "fuzz.yaml")
    except SpecError as exc:
        _assert_located(exc)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SPECS, TREES))
def test_any_yaml_document_loads_and_validates_with_located_errors(document: Any) -> None:
    try:
        loaded = load_text(_dump(document), "fuzz.yaml")
    except SpecError as exc:
        _assert_located(exc)
        return
    for error in validate_structure(loaded):
        _assert_located(error)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.generate])
@given(st.one_of(SPECS, TREES))
def test_any_yaml_document_compiles_or_gives_located_errors(document: Any) -> None:
    try:
        engine.compile_text(_dump(document), "fuzz.yaml")
    except SpecError as exc:
        _assert_located(exc)


BASE = "version: 1\nname: x\n"
MAP = "steps: [{id: m, kind: map, fields: {a: input.a}}]\n"
KNOWN_COMPILE_CRASHES = {
    "input.force_list not a list": BASE + "input: {force_list: 3}\n" + MAP,
    "step id not text": BASE + "steps:\n- id: {a: 1}\n",
    "steps not a list": BASE + "steps: 5\n",
    "fixture responses not a mapping": BASE + MAP + "tests:\n- name: t\n  responses: 3.5\n  expect: {}\n",
    "connection auth not a mapping": BASE + "connections: {api: {kind: http, base_url: x, auth: 5}}\n" + MAP,
    "connection headers not a mapping": BASE + "connections: {api: {kind: http, base_url: x, headers: [a]}}\n" + MAP,
    "connection retry not a mapping": BASE + "connections: {api: {kind: http, base_url: x, retry: [a]}}\n" + MAP,
}


@pytest.mark.parametrize("text", KNOWN_COMPILE_CRASHES.values(), ids=KNOWN_COMPILE_CRASHES.keys())
def test_known_malformed_specs_give_located_errors(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        engine.compile_text(text, "bad.yaml")
    _assert_located(caught.value)


# --- (ii) truncation never exceeds max_length -------------------------------------------------------

def _map_plan(rule: str, extra: str = "") -> engine.Plan:
    return engine.compile_text(f"version: 1\nname: p\n{extra}steps:\n  - id: out\n    kind: map\n"
                               f"    fields:\n      f: {rule}\n", "p.yaml")


@FAST
@given(st.text(), st.integers(min_value=1, max_value=60))
def test_truncation_is_bounded(text: str, length: int) -> None:
    plan = _map_plan(f"{{from: input.S, max_length: {length}}}")
    out = plan.preview({"S": text}).outputs["out"]["f"]
    assert isinstance(out, str)
    assert len(out) <= length
    assert out == text[:length]


@SOME
@given(st.text(max_size=80), st.text(max_size=80), st.integers(min_value=1, max_value=40))
def test_truncation_of_templates_and_defaults_is_bounded(first: str, second: str, length: int) -> None:
    plan = engine.compile_text(
        "version: 1\nname: p\nsteps:\n  - id: out\n    kind: map\n    fields:\n"
        f"      t: {{template: '{{{{ input.A }}}}-{{{{ input.B }}}}', max_length: {length}}}\n"
        f"      d: {{from: input.A, default_from: input.B, max_length: {length}}}\n"
        f"      s: {{from: input.N, type: string, max_length: {length}}}\n", "p.yaml")
    out = plan.preview({"A": first, "B": second, "N": 10**length}).outputs["out"]
    assert len(out["t"]) <= length and out["t"] == f"{first}-{second}"[:length]
    assert out["d"] is None or len(out["d"]) <= length
    assert len(out["s"]) == length


# --- (iii) text stays text ------------------------------------------------------------------------

FIDELITY = engine.compile_text("""\
version: 1
name: fidelity
steps:
  - id: out
    kind: map
    let:
      s: input.S
    fields:
      from: input.S
      let: s
      template: {template: "{{ input.S }}"}
      coalesce: {coalesce: [input.Missing, input.S]}
      default: {from: input.S, default: "0123"}
      default_from: {from: input.Missing, default_from: input.S}
      values_miss: {from: input.S, values: {"__never__": x}}
      values_hit: {from: input.K, values: {K: "0123", L: "1e3", M: "True", N: " 7 "}}
      fields: {fields: {inner: input.S}}
      each: {each: input.List, fields: {inner: item}}
      items: {items: [input.S]}
      cases: {cases: [{when: input.Missing, value: 1}, {from: input.S}]}
      typed: {from: input.S, type: string}
""", "fidelity.yaml")

JSON_TEXT = st.one_of(st.sampled_from(TRICKY), st.text())
XML_TEXT = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFFFD, exclude_categories=("Cs", "Cc", "Cn"))))


def _check_fidelity(record: Any, text: str, key: str) -> None:
    out = FIDELITY.preview(record).outputs["out"]
    assert type(text) is str
    expected_default = text if not is_empty(text) else "0123"
    wanted = {"from": text, "let": text, "template": text,
              "coalesce": text if not is_empty(text) else None,
              "default": expected_default, "default_from": text,
              "values_miss": text, "fields": {"inner": text}, "each": [{"inner": text}], "items": [text],
              "cases": text, "typed": text}
    for name, want in wanted.items():
        assert canonical(out[name]) == canonical(want), name
    assert out["values_hit"] == {"K": "0123", "L": "1e3", "M": "True", "N": " 7 "}[key]
    assert type(out["values_hit"]) is str


@FAST
@given(JSON_TEXT, st.sampled_from("KLMN"))
def test_text_stays_text_from_data(text: str, key: str) -> None:
    _check_fidelity({"S": text, "K": key, "List": [text]}, text, key)


@FAST
@given(JSON_TEXT, st.sampled_from("KLMN"))
def test_text_stays_text_from_json_input(text: str, key: str) -> None:
    _check_fidelity(json.dumps({"S": text, "K": key, "List": [text]}), text, key)


XML_FIDELITY = engine.compile_text("""\
version: 1
name: fidelity-xml
input:
  format: xml
  force_list: [Item]
steps:
  - id: out
    kind: map
    fields:
      from: input.r.S
      template: {template: "{{ input.r.S }}"}
      coalesce: {coalesce: [input.r.Missing, input.r.S]}
      default: {from: input.r.S, default: "0123"}
      each: {each: input.r.Item, fields: {inner: item}}
      attribute: input.r."@a"
""", "fidelity-xml.yaml")


@FAST
@given(XML_TEXT)
def test_text_stays_text_from_xml_input(text: str) -> None:
    body = escape(text)
    attribute = escape(text, {'"': "&quot;"})
    document = f'<r a="{attribute}"><S>{body}</S><Item>{body}</Item></r>'
    out = XML_FIDELITY.preview(document).outputs["out"]
    assert out["from"] == text and type(out["from"]) is str
    assert out["template"] == text
    assert out["coalesce"] == (text if not is_empty(text) else None)
    assert out["default"] == (text if not is_empty(text) else "0123")
    assert out["each"] == [{"inner": text}]
    # XML normalises whitespace in attribute values (tab/newline become spaces); compare after that.
    assert out["attribute"] == text.replace("\t", " ").replace("\n", " ")


# --- (iv) the fast closures equal the explaining path -------------------------------------------

EVERY_RULE = engine.compile_text("""\
version: 1
name: every-rule
settings:
  Fallback: {type: string, default: "0000"}
input:
  id: input.Id
steps:
  - id: out
    kind: map
    let:
      main: "input.Contacts[?Main] | [0]"
    fields:
      short: input.A
      from: {from: input.A}
      template: {template: "{{ input.B }}/{{ input.A }}"}
      value: {value: "0123"}
      coalesce: {coalesce: [input.A, input.B, input.C]}
      cases: {cases: [{when: "input.A == 'x'", value: ex}, {when: input.B, from: input.B}, {value: none}]}
      nested:
        fields:
          a: {from: input.A, omit_empty: true}
          b: {from: input.B, max_length: 3}
          c: {from: input.C, when: input.Flag}
      list:
        each: input.Contacts
        omit_empty: true
        fields:
          name: {from: item.Name, max_length: 4, default: "?"}
          main: {from: item.Main, values: {true: J}, values_default: N}
      fixed: {items: [input.A, {value: 1}, {from: input.B, when: input.Flag}]}
      when: {from: input.A, when: input.Flag}
      unless: {from: input.A, unless: input.Flag}
      values: {from: input.A, values: {x: ex, "1": one, "": empty}}
      values_default: {from: input.A, values: {x: ex}, values_default: other}
      default: {from: input.A, default: dflt}
      default_from: {from: input.A, default_from: settings.Fallback}
      integer: {from: input.N, type: integer}
      number: {from: input.D, type: number}
      boolean: {from: input.Flag, type: boolean}
      string: {from: input.N, type: string, max_length: 3}
      max_length: {from: input.B, max_length: 2}
      required: {from: input.B, default: r, required: true}
      omit_empty: {from: input.C, omit_empty: true}
      main: main.Name
""", "every-rule.yaml")

TEXTS = st.one_of(st.sampled_from(TRICKY + ["x", "", " ", "Ann"]), st.text(max_size=10))
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
              TEXTS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXTS, inner, max_size=3)),
    max_leaves=8)
CONTACT = st.fixed_dictionaries({}, optional={"Name": JSONISH, "Main": st.one_of(st.booleans(), JSONISH)})
RECORDS = st.fixed_dictionaries(
    {}, optional={"Id": st.one_of(TEXTS, st.integers()), "A": JSONISH, "B": JSONISH, "C": JSONISH,
                  "Flag": JSONISH, "N": st.one_of(st.integers(-999, 10**6), TEXTS, JSONISH),
                  "D": st.one_of(st.floats(allow_nan=False, allow_infinity=False), TEXTS, JSONISH),
                  "Contacts": st.one_of(st.lists(CONTACT, max_size=3), JSONISH)})


def _outcome(record: Any, explain: bool) -> tuple[str, str]:
    try:
        result = EVERY_RULE.preview(record, explain=explain)
    except SpecbridgeError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", canonical(result.outputs)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS)
def test_fast_path_equals_explain_path(record: dict[str, Any]) -> None:
    assert _outcome(record, explain=False) == _outcome(record, explain=True)


def test_explain_says_why() -> None:
    result = EVERY_RULE.preview({"A": "", "B": "abcdef", "Flag": False, "N": 12345, "Contacts": []}, explain=True)
    trace = {entry["field"]: entry for entry in result.trace or []}
    assert trace["when"]["outcome"] == "omitted: when input.Flag is false"
    assert trace["default"]["outcome"] == "default used: \"dflt\""
    assert trace["max_length"]["outcome"] == "truncated from 6 to 2 characters"
    assert trace["values_default"]["outcome"] == "value table miss: \"\" -> \"other\""
    assert trace["omit_empty"]["outcome"] == "omitted because empty"


# --- (v) simple-path getters equal jmespath --------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "_x", "A1"])
ODD_NAMES = st.text(min_size=0, max_size=4)
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3))
DATA = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(NAMES, ODD_NAMES), inner, max_size=4)),
    max_leaves=20)
# A part is a field, optionally followed by one index: `a.b[0].c`. Two indexes in a row (`a[0][1]`)
# are left out here because they crash the compiler: see test_chained_indexes_compile below.
PART = st.tuples(st.one_of(NAMES.map(lambda n: ("field", n)), ODD_NAMES.map(lambda n: ("quoted", n))),
                 st.one_of(st.none(), st.integers(-5, 5)))


def _path_text(first: tuple[str, Any], rest: list[tuple[tuple[str, str], int | None]]) -> str:
    def field(kind: str, name: str) -> str:
        return name if kind == "field" else json.dumps(name)
    text = field(*first)
    for (kind, name), index in rest:
        text += "." + field(kind, name) + ("" if index is None else f"[{index}]")
    return text


@settings(max_examples=500, deadline=None)
@given(DATA, st.one_of(NAMES.map(lambda n: ("field", n)), ODD_NAMES.map(lambda n: ("quoted", n))),
       st.lists(PART, max_size=5))
def test_simple_path_getters_equal_jmespath(data: Any, first: tuple[str, Any], rest: list[Any]) -> None:
    source = _path_text(first, rest)
    expr = compile_expr(source)
    assert expr.is_path, source
    assert canonical(expr.evaluate(data)) == canonical(jmespath.search(source, data)), source


@pytest.mark.parametrize(("source", "data"), [("a[0][1]", {"a": [[1, 2]]}),
                                            ("a.b[0][-1].c", {"a": {"b": [[{"c": 1}, {"c": 2}]]}})])
def test_chained_indexes_compile(source: str, data: Any) -> None:
    assert compile_expr(source).evaluate(data) == jmespath.search(source, data)


def test_a_step_with_a_chained_index_is_not_dropped_silently() -> None:
    text = "version: 1\nname: x\nsteps:\n  - id: out\n    kind: map\n    fields:\n      a: input.L[0][1]\n"
    try:
        plan = engine.compile_text(text, "x.yaml")
    except SpecError:
        return  # a located error is an acceptable answer too
    assert [step.id for step in plan.steps] == ["out"]
    assert plan.preview({"L": [[1, 2]]}).outputs["out"] == {"a": 2}
