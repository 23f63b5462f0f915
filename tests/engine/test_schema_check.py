"""The compiled schema check gives jsonschema's verdict, on our schemas and on random ones."""

from __future__ import annotations

import copy
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.load import load_file
from engine.schema_check import compile_validity, json_equal
from engine.validate import schema_validator

REPO = Path(__file__).resolve().parents[2]

CUSTOMER = schema_validator("app4sales/customer").schema
FIELDS = list(CUSTOMER["properties"])

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=5)), inner, max_size=4)),
    max_leaves=10)


def _address_or_contact() -> st.SearchStrategy[dict[str, Any]]:
    keys = [*CUSTOMER["properties"]["Addresses"]["items"]["properties"],
            *CUSTOMER["properties"]["ContactPersons"]["items"]["properties"], "Other"]
    return st.dictionaries(st.sampled_from(keys), json_values, max_size=6)


customers = st.dictionaries(
    st.sampled_from([*FIELDS, "Unknown"]),
    st.one_of(json_values, st.text(max_size=300), st.sampled_from(["DEL", "VIS", "INV", "del"]),
              st.lists(_address_or_contact(), max_size=3)),
    max_size=12)


@settings(max_examples=600, deadline=None)
@given(document=st.one_of(customers, json_values))
def test_the_customer_schema_verdict_equals_jsonschemas(document: Any) -> None:
    check = compile_validity(CUSTOMER)
    assert check is not None, "the shipped customer schema should compile"
    assert check(document) == Draft202012Validator(CUSTOMER).is_valid(document)


type_names = st.sampled_from(["string", "null", "boolean", "object", "array", "integer", "number"])
schemas = st.recursive(
    st.fixed_dictionaries({}, optional={
        "type": st.one_of(type_names, st.lists(type_names, min_size=1, max_size=3, unique=True)),
        "maxLength": st.integers(0, 5),
        "enum": st.lists(st.one_of(st.none(), st.text(max_size=2)), min_size=1, max_size=3),
        "title": st.text(max_size=3)}),
    lambda inner: st.fixed_dictionaries({}, optional={
        "type": type_names,
        "properties": st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
        "required": st.lists(st.sampled_from(["a", "b", "c"]), max_size=2, unique=True),
        "additionalProperties": st.one_of(st.booleans(), inner),
        "items": st.one_of(st.booleans(), inner)}),
    max_leaves=6)
small_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([1.0, 1.5, -0.0]), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=3)),
    max_leaves=8)


@settings(max_examples=800, deadline=None)
@given(schema=schemas, value=small_values)
def test_random_schemas_give_jsonschemas_verdict(schema: dict[str, Any], value: Any) -> None:
    check = compile_validity(schema)
    assert check is not None
    assert check(value) == Draft202012Validator(schema).is_valid(value)


def test_keywords_it_does_not_know_are_left_to_jsonschema() -> None:
    assert compile_validity({"type": "string", "format": "email"}) is None
    assert compile_validity({"properties": {"a": {"patternProperties": {"^x": True}}}}) is None
    assert compile_validity({"$ref": "https://example.com/other.json"}) is None  # not in this schema
    assert compile_validity({"$ref": "#/$defs/missing"}) is None  # jsonschema reports it
    assert compile_validity({"pattern": "("}) is None  # a broken pattern: jsonschema reports it
    assert compile_validity({"items": [{"type": "string"}]}) is None
    assert compile_validity({"$ref": "#name"}) is None  # an anchor, not a pointer
    assert compile_validity({"$ref": "#/$defs//a", "$defs": {"a": True}}) is None  # points nowhere
    empty_key = compile_validity({"$ref": "#/$defs//a", "$defs": {"": {"a": {"type": "string"}}}})
    assert empty_key is not None and not empty_key(5) and empty_key("x")  # "" is a key, as in RFC 6901
    # An $id below the root changes what `#` means there: left to jsonschema.
    assert compile_validity({"properties": {"a": {"$id": "http://other/x", "$ref": "#/$defs/y",
                                                   "$defs": {"y": {"type": "string"}}}}}) is None


# The keywords the spec schema adds: text, number and size limits, const, logic, if/then/else, $ref.
def _logic_of(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "allOf": st.lists(inner, min_size=1, max_size=2), "anyOf": st.lists(inner, min_size=1, max_size=2),
        "oneOf": st.lists(inner, min_size=1, max_size=3), "not": inner, "if": inner, "then": inner, "else": inner,
        "$ref": st.sampled_from(["#/$defs/text", "#/$defs/node"]),
        "properties": st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
        "propertyNames": inner, "items": inner})


leaf_schemas = st.one_of(st.booleans(), st.fixed_dictionaries({}, optional={
    "type": type_names,
    "const": small_values,
    "enum": st.lists(small_values, min_size=1, max_size=3),
    "minLength": st.integers(0, 3), "maxLength": st.integers(0, 5), "pattern": st.sampled_from(["^a", "b$", "[0-9]", "^$"]),
    "minimum": st.sampled_from([0, 1, 1.5, -2]), "maximum": st.sampled_from([0, 2, 2.5]),
    "exclusiveMinimum": st.sampled_from([0, 1]), "exclusiveMaximum": st.sampled_from([1, 2.0]),
    "minItems": st.integers(0, 2), "maxItems": st.integers(0, 2),
    "minProperties": st.integers(0, 2), "maxProperties": st.integers(0, 2), "required": st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True)}))
logic_schemas = st.recursive(leaf_schemas, _logic_of, max_leaves=6)
DEFS = {"text": {"type": "string", "minLength": 1},
        "node": {"type": ["object", "string"], "properties": {"a": {"$ref": "#/$defs/node"}}, "additionalProperties": False}}


class _Float(float):
    pass


# Numbers YAML, JSON or an embedding service may hand over that are not plain int or float.
ODD_NUMBERS = [math.nan, math.inf, -math.inf, _Float(2.0), _Float(2.5), Decimal(1), Decimal("2.5"), Fraction(1, 2), (1,)]


@settings(max_examples=800, deadline=None)
@given(schema=logic_schemas, value=st.one_of(small_values, st.sampled_from(ODD_NUMBERS)))
def test_the_other_keywords_give_jsonschemas_verdict(schema: Any, value: Any) -> None:
    if isinstance(schema, dict):
        schema = {**schema, "$defs": DEFS}  # the $refs (recursive ones included) point here
    check = compile_validity(schema)
    assert check is not None, schema
    assert check(value) == Draft202012Validator(schema).is_valid(value), (schema, value)


@pytest.mark.parametrize("one,two,same", [(1, 1.0, True), (True, 1, False), (False, 0.0, False), ([1], [1.0], True),
                                          ({"a": [True]}, {"a": [True]}, True), ({"a": 1}, {"a": 1, "b": 2}, False),
                                          ("1", 1, False), (None, None, True), ([], {}, False)])
def test_json_equal_is_jsonschemas_equality(one: Any, two: Any, same: bool) -> None:
    assert json_equal(one, two) is same
    assert Draft202012Validator({"const": one}).is_valid(two) is same


SPEC_VALIDATOR = schema_validator("spec")
SPEC = SPEC_VALIDATOR.schema
SEED_SPECS = [load_file(p).data for p in sorted((REPO / "mappings").rglob("*.yaml"))]


def test_the_spec_schema_compiles_and_passes_every_seed_spec() -> None:
    check = compile_validity(SPEC)
    assert check is not None, "the spec schema should compile, or every load pays jsonschema's walk"
    for data in SEED_SPECS:
        assert check(data) and SPEC_VALIDATOR.is_valid(data)


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """A seed spec with a few mistakes a consultant makes: a value of the wrong kind, a key
    missing, an unknown key, another step's value."""
    spec = copy.deepcopy(draw(st.sampled_from(SEED_SPECS)))
    steps = copy.deepcopy(spec["steps"])
    for _ in range(draw(st.integers(1, 3))):
        parent, key = _pick(draw, spec)
        action = draw(st.sampled_from(["replace", "delete", "add", "swap"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["when", "kind", "from", "max_length", "nonsense"]))] = draw(json_values)
        elif action == "swap":
            parent[key] = copy.deepcopy(draw(st.sampled_from(steps)))
        else:
            parent[key] = draw(st.one_of(json_values, st.sampled_from(["map", "send", "http", -1, 0, 2, "", "x" * 300])))
    return spec


def _pick(draw: st.DrawFn, node: Any) -> tuple[Any, Any]:
    """A (container, key) somewhere in the document, at any depth."""
    parent, key = None, None
    while isinstance(node, dict | list) and node and (parent is None or draw(st.booleans())):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, draw(st.sampled_from(keys))
        node = parent[key]
    if parent is None:
        return {"root": node}, "root"
    return parent, key


@settings(max_examples=400, deadline=None)
@given(spec=mutated_specs())
def test_a_spec_with_mistakes_gets_jsonschemas_verdict(spec: Any) -> None:
    check = compile_validity(SPEC)
    assert check is not None
    assert check(spec) == SPEC_VALIDATOR.is_valid(spec)
