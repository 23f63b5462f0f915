"""The compiled schema check gives jsonschema's verdict, on our schemas and on random ones."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.schema_check import compile_validity
from engine.validate import schema_validator

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
    assert compile_validity({"type": "string", "pattern": "^a"}) is None
    assert compile_validity({"properties": {"a": {"minimum": 3}}}) is None
    assert compile_validity({"enum": [1, True]}) is None  # jsonschema's equality: left to it
    assert compile_validity({"items": [{"type": "string"}]}) is None
