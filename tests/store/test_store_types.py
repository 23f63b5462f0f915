"""Type fidelity: any valid customer document comes back exactly, on both databases.

"Exactly" means equal and of the same types, with the store's one normalisation: a field whose
value is null or an empty list/object is the same as an absent one, so the expected document
drops those. Leading zeros, booleans, ints versus floats, huge integers and odd text all survive.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.store import SqlStore
from engine.store.codec import CUSTOMER_SCHEMA

# PostgreSQL text cannot hold NUL characters; everything else in Unicode is fair game.
text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20)
codes = st.one_of(st.from_regex(r"\A0[0-9]{1,6}\Z"), text)  # "000042"-like codes, and anything
numbers = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))
free_value = st.one_of(st.none(), st.booleans(), numbers, text)
free_fields = st.one_of(st.none(), st.dictionaries(text, free_value, max_size=4))


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _props(schema: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy per property, from the JSON Schema's types, so new fields are covered too."""
    out: dict[str, st.SearchStrategy[Any]] = {}
    for name, prop in schema["properties"].items():
        if "enum" in prop:
            out[name] = st.sampled_from(prop["enum"])
            continue
        kinds = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        options = []
        for kind in kinds:
            options.append({
                "string": st.text(max_size=2) if prop.get("maxLength") == 2 else text,
                "number": numbers, "integer": st.integers(), "boolean": st.booleans(), "null": st.none(),
            }.get(kind, st.nothing()))
        out[name] = st.one_of(*options)
    return out


_top = _props({"properties": {k: v for k, v in CUSTOMER_SCHEMA["properties"].items()
                              if v.get("type") not in (["object", "null"], ["array", "null"])}})
_top["CustomerCode"] = maybe(codes)
address = st.fixed_dictionaries({}, optional=_props(CUSTOMER_SCHEMA["properties"]["Addresses"]["items"]))
address = address.map(lambda a: {**a, "AddressType": a.get("AddressType", "DEL")})
contact = st.fixed_dictionaries({}, optional=_props(CUSTOMER_SCHEMA["properties"]["ContactPersons"]["items"]))
documents = st.fixed_dictionaries({}, optional={
    **_top,
    "Addresses": maybe(st.lists(address, max_size=3)),
    "ContactPersons": maybe(st.lists(contact, max_size=3)),
    "FreeFields": free_fields, "DynamicFreeFields": free_fields, "UnknownElements": free_fields,
})


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the store promises to return it (written independently of the store)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, list):
            value = [{k: v for k, v in part.items() if v is not None} for part in value]
        if value is None or value == [] or value == {}:
            continue
        out[key] = value
    return out


def same_types(a: Any, b: Any) -> bool:
    """Equal, and every value of the same type (1 == 1.0 == True in Python, not here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_types(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_any_customer_document_round_trips_with_its_types(store: SqlStore, doc: dict[str, Any]) -> None:
    tenant = uuid.uuid4().hex  # each example in a fresh tenant of the same store
    assert store.upsert_customer(doc, tenant=tenant) == "created"
    if doc.get("CustomerGuid") or doc.get("CustomerCode"):  # else it cannot be matched: a new one
        assert store.upsert_customer(doc, tenant=tenant) == "unchanged"
    stored = next(store.iter_customers(tenant))
    assert same_types(stored, expected(doc)), (stored, expected(doc))
    # And through JSON, as export and the command line hand it on.
    assert same_types(json.loads(json.dumps(stored)), stored)


def test_values_that_look_like_other_types_stay_as_they_are(store: SqlStore) -> None:
    doc = {
        "CustomerCode": "000042", "Phone": "0031 6 1234",
        "UsesPriceField": "3", "Discount": 5.0,
        "FreeFields": {"zip": "0123", "int": 12345678901234567890123, "float": 1e300, "true": "true",
                       "bool": True, "one": 1, "one_float": 1.0, "null": None, "minus_zero": -0.0},
    }
    store.upsert_customer(doc)
    stored = store.get_customer(code="000042")
    assert same_types(stored, doc)
