"""Customer documents <-> table rows, and the canonical form both sides agree on.

The canonical form is the document as the store gives it back: only fields that have a value
(None and absent are the same thing; empty lists and objects are absent), keys and types exactly
as given otherwise. A free field whose value is null is kept: the field exists, it is just empty.
Its sha256 is the `content_hash` column, so "is this save a change?" is one comparison.

Type checks here are the cheap subset of the JSON Schema that keeps stored values faithful
(SQLite would quietly store the int 42 in a TEXT column as "42"): the allowed types, enums and
known keys, read from schemas/app4sales/customer.schema.json itself so the two cannot disagree.
Full validation against the schema (lengths and all) is `documents.validate_document`, run on imports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from math import isfinite
from pathlib import Path
from typing import Any

from engine.errors import InputError
from engine.store.tables import ADDRESS_FIELDS, CONTACT_FIELDS, CUSTOMER_SCALARS, FREE_FIELD_KINDS

CUSTOMER_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "app4sales" / "customer.schema.json"
CUSTOMER_SCHEMA: dict[str, Any] = json.loads(CUSTOMER_SCHEMA_PATH.read_text(encoding="utf-8"))

# Identity fields an incoming document may not know: App4Sales sends a new customer with an
# empty code, the ERP's code is written back later, and the next document from App4Sales still
# has no code. Saving it must not forget the code (the next flow would create the customer twice).
IDENTITY_FIELDS = ("CustomerGuid", "CustomerCode", "InternalCode")

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "null": (type(None),), "object": (dict,), "array": (list,),
}
_SCALAR_VALUE = frozenset((str, int, float, bool, type(None)))


def _types(prop: Mapping[str, Any]) -> tuple[frozenset[type], frozenset[Any] | None]:
    names = prop.get("type", [])
    names = [names] if isinstance(names, str) else names
    allowed = frozenset(t for name in names for t in _JSON_TYPES[name])
    enum = frozenset(prop["enum"]) if "enum" in prop else None
    return allowed or _SCALAR_VALUE, enum


def _field_types(properties: Mapping[str, Any]) -> dict[str, tuple[frozenset[type], frozenset[Any] | None]]:
    return {name: _types(prop) for name, prop in properties.items()}


_PROPS = CUSTOMER_SCHEMA["properties"]
_SCALAR_TYPES = _field_types({name: _PROPS[name] for name in CUSTOMER_SCALARS})
_ADDRESS_TYPES = _field_types(_PROPS["Addresses"]["items"]["properties"])
_CONTACT_TYPES = _field_types(_PROPS["ContactPersons"]["items"]["properties"])
_KNOWN_KEYS = frozenset(CUSTOMER_SCALARS) | {"Addresses", "ContactPersons", *FREE_FIELD_KINDS}


def describe(doc: Mapping[str, Any], fallback: str = "") -> str:
    """How errors name a customer: its code, else its GUID, else the caller's position text."""
    for key in ("CustomerCode", "CustomerGuid"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return f"{key} {value}"
    return fallback or "customer without code or GUID"


def _check(value: Any, spec: tuple[frozenset[type], frozenset[Any] | None], field: str) -> None:
    """The slow path: called only when the value's exact type is not listed, or for enums."""
    allowed, enum = spec
    # bool is a subclass of int, and True must not pass as a number; other subclasses may.
    if type(value) not in allowed and (isinstance(value, bool) or not isinstance(value, tuple(allowed))):
        raise InputError(f"{type(value).__name__} value {value!r} is not allowed here", field=field)
    if enum is not None and value not in enum:
        raise InputError(f"{value!r} is not one of {sorted(enum)}", field=field)


Specs = tuple[tuple[str, frozenset[Any], bool, tuple[frozenset[type], frozenset[Any] | None]], ...]


def _specs(fields: tuple[str, ...], types: Mapping[str, tuple[frozenset[type], frozenset[Any] | None]]) -> Specs:
    # (name, what passes without further checks, is it a text enum, full spec for the slow path).
    # Saving runs this on every field of every customer, so the common case is one set
    # membership: of the value's exact type, or for a text enum of the value itself.
    return tuple((name, types[name][1] or types[name][0], bool(types[name][1]), types[name]) for name in fields)


def _passes(value: Any, fast: frozenset[Any], enum: bool) -> bool:
    return (type(value) is str and value in fast) if enum else type(value) in fast


_SCALAR_SPECS = _specs(CUSTOMER_SCALARS, _SCALAR_TYPES)
_PART_SPECS = {"Addresses": _specs(ADDRESS_FIELDS, _ADDRESS_TYPES),
               "ContactPersons": _specs(CONTACT_FIELDS, _CONTACT_TYPES)}
_PART_KEYS = {"Addresses": frozenset(ADDRESS_FIELDS), "ContactPersons": frozenset(CONTACT_FIELDS)}


def _parts(items: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise InputError(f"expected a list, got {type(items).__name__}", field=key)
    specs, known = _PART_SPECS[key], _PART_KEYS[key]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputError(f"expected an object, got {type(item).__name__}", field=f"{key}[{i}]")
        if not known.issuperset(item):
            raise InputError("unknown field", field=f"{key}[{i}].{sorted(set(item) - known)[0]}")
        part = {}
        for name, fast, enum, spec in specs:
            value = item.get(name)
            if value is not None:
                if not _passes(value, fast, enum):
                    _check(value, spec, f"{key}[{i}].{name}")
                part[name] = value
        out.append(part)
    return out


def canonical(doc: Mapping[str, Any], record: str | None = None) -> dict[str, Any]:
    """The canonical form of a customer document; InputError naming record and field if unusable.

    `record` names the document in errors; by default its code or GUID (see `describe`).
    """
    try:
        return _canonical(doc)
    except InputError as e:  # name the record only on failure: building names costs on every save
        name = record or (describe(doc) if isinstance(doc, Mapping) else "customer")
        raise InputError(e.message, name, e.field) from None


def _canonical(doc: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(doc, Mapping):
        raise InputError(f"a customer must be an object, got {type(doc).__name__}")
    if not _KNOWN_KEYS.issuperset(doc):
        raise InputError("unknown field", field=sorted(doc.keys() - _KNOWN_KEYS)[0])
    out: dict[str, Any] = {}
    get = doc.get
    for name, fast, enum, spec in _SCALAR_SPECS:
        value = get(name)
        if value is not None:
            if not _passes(value, fast, enum):
                _check(value, spec, name)
            out[name] = value
    discount = out.get("Discount")
    if type(discount) is float and not isfinite(discount):  # JSON has no NaN or infinity
        raise InputError(f"{discount!r} is not a JSON number", field="Discount")
    for key in ("Addresses", "ContactPersons"):
        items = get(key)
        if items and (parts := _parts(items, key)):
            out[key] = parts
    for kind in FREE_FIELD_KINDS:
        fields = get(kind)
        if not fields:
            continue
        if not isinstance(fields, Mapping):
            raise InputError(f"expected an object, got {type(fields).__name__}", field=kind)
        for name, value in fields.items():
            if type(value) not in _SCALAR_VALUE or not isinstance(name, str):
                raise InputError(f"free field values must be text, numbers, booleans or null, "
                                 f"got {type(value).__name__}", field=f"{kind}.{name}")
            if type(value) is float and not isfinite(value):
                raise InputError(f"{value!r} is not a JSON number", field=f"{kind}.{name}")
        out[kind] = dict(fields)
    return out


# Keys sorted: two equal documents hash equally whatever order their free fields came in.
_HASH_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False)


def content_hash(canon: Mapping[str, Any]) -> str:
    return hashlib.sha256(_HASH_ENCODER.encode(canon).encode("utf-8")).hexdigest()


def customer_values(canon: Mapping[str, Any]) -> tuple[Any, ...]:
    """The scalar columns of a canonical document, in CUSTOMER_SCALARS order (absent = None)."""
    return tuple(map(canon.get, CUSTOMER_SCALARS))


# Column order of the tuples child_rows makes.
CHILD_COLUMNS: tuple[tuple[str, ...], ...] = (
    ("customer_id", "position", *ADDRESS_FIELDS),
    ("customer_id", "position", *CONTACT_FIELDS),
    ("customer_id", "position", "kind", "name", "value"),
)


def child_rows(customer_id: int, canon: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], ...]:
    """(addresses, contacts, free fields) rows of one customer as CHILD_COLUMNS tuples.

    Tuples built with map() rather than dicts: this runs for every row of a bulk save.
    """
    addresses = [(customer_id, i, *map(a.get, ADDRESS_FIELDS)) for i, a in enumerate(canon.get("Addresses", ()))]
    contacts = [(customer_id, i, *map(c.get, CONTACT_FIELDS)) for i, c in enumerate(canon.get("ContactPersons", ()))]
    free = [(customer_id, i, kind, name, value) for i, (kind, name, value) in enumerate(
        (kind, name, value) for kind in FREE_FIELD_KINDS for name, value in canon.get(kind, {}).items())]
    return addresses, contacts, free


def document(row: Mapping[str, Any], addresses: list[Mapping[str, Any]],
             contacts: list[Mapping[str, Any]], free: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The canonical document from a customer row and its child rows (each in position order)."""
    doc = {name: value for name in CUSTOMER_SCALARS if (value := row[name]) is not None}
    if addresses:
        doc["Addresses"] = [{f: v for f in ADDRESS_FIELDS if (v := a[f]) is not None} for a in addresses]
    if contacts:
        doc["ContactPersons"] = [{f: v for f in CONTACT_FIELDS if (v := c[f]) is not None} for c in contacts]
    for f in free:
        doc.setdefault(f["kind"], {})[f["name"]] = f["value"]
    return doc
