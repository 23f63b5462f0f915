"""A JSON Schema compiled to closures that answer one question: is this document valid?

jsonschema walks the schema for every document and costs about half a millisecond for one
App4Sales customer; an outbound flow checks its input on every record. The schemas we ship use
a small set of keywords (types, enum, maxLength, properties, required, additionalProperties,
items), so those are compiled, like jmespath expressions, into nested closures once. The answer
is only yes or no: when it is no, jsonschema itself runs and explains, so every message stays
jsonschema's. A schema with any other keyword is not compiled at all (`compile_validity` returns
None) and jsonschema does all the work. A property test keeps both verdicts equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that never change a verdict.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default",
                          "deprecated", "readOnly", "writeOnly"})
_KEYWORDS = frozenset({"type", "enum", "maxLength", "properties", "required", "additionalProperties", "items"})


class _Unsupported(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


def compile_validity(schema: Any) -> Check | None:
    """`document -> bool` for a schema, or None when it uses a keyword this module leaves to jsonschema."""
    try:
        return _compile(schema)
    except _Unsupported:
        return None


def _is_integer(value: Any) -> bool:
    # Draft 2020-12: 1.0 is an integer, and a boolean is not a number at all.
    cls = value.__class__
    return cls is int or (cls is float and value.is_integer()) or (isinstance(value, int) and cls is not bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and value.__class__ is not bool


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: v.__class__ is bool,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "integer": _is_integer,
    "number": _is_number,
}


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, Mapping) or not set(schema) <= _KEYWORDS | _ANNOTATIONS:
        raise _Unsupported(schema)
    checks = [c for c in (_type(schema), _enum(schema), _max_length(schema), _object(schema),
                          _items(schema)) if c is not None]
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _type(schema: Mapping[str, Any]) -> Check | None:
    if "type" not in schema:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not names or any(n not in _TYPES for n in names):
        raise _Unsupported(names)
    if names == ["string", "null"] or names == ["null", "string"]:
        return lambda v: v is None or isinstance(v, str)  # most fields of our schemas
    tests = tuple(_TYPES[n] for n in names)
    return lambda v: any(test(v) for test in tests)


def _enum(schema: Mapping[str, Any]) -> Check | None:
    if "enum" not in schema:
        return None
    members = schema["enum"]
    if not isinstance(members, list) or not all(isinstance(m, str | None) for m in members):
        raise _Unsupported(members)  # numbers and booleans: jsonschema's equality rules apply
    allowed = frozenset(members)
    return lambda v: (v is None or isinstance(v, str)) and v in allowed


def _max_length(schema: Mapping[str, Any]) -> Check | None:
    if "maxLength" not in schema:
        return None
    n = schema["maxLength"]
    if not isinstance(n, int) or isinstance(n, bool):
        raise _Unsupported(n)
    return lambda v: not isinstance(v, str) or len(v) <= n


def _object(schema: Mapping[str, Any]) -> Check | None:
    if not {"properties", "required", "additionalProperties"} & set(schema):
        return None
    properties = {name: _compile(sub) for name, sub in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra)

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = properties.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is not None and not extra_check(item):
                return False
        return True
    return check


def _items(schema: Mapping[str, Any]) -> Check | None:
    if "items" not in schema:
        return None
    if isinstance(schema["items"], list):
        raise _Unsupported("items as a list")  # earlier drafts' tuple form; 2020-12 says prefixItems
    each = _compile(schema["items"])
    return lambda value: not isinstance(value, list) or all(map(each, value))
