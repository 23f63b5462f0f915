"""A JSON Schema compiled to closures that answer one question: is this document valid?

jsonschema walks the schema for every document: about half a millisecond for one App4Sales
customer, which an outbound flow checks on every record, and about 40% of the time to load a
spec, which is checked against schemas/spec.schema.json. The keywords our schemas use are
compiled, like jmespath expressions, into nested closures once. The answer is only yes or no:
when it is no, jsonschema itself runs and explains, so every message stays jsonschema's. A
schema with any other keyword, or a `$ref` that is not local, is not compiled at all
(`compile_validity` returns None) and jsonschema does all the work. Property tests keep both
verdicts equal, keyword by keyword, following jsonschema's own rules (Draft 2020-12).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

Check = Callable[[Any], bool]

# Keywords that never change a verdict ($defs only holds what `$ref` points at).
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
                          "deprecated", "readOnly", "writeOnly", "then", "else"})
_KEYWORDS = frozenset({"type", "enum", "const", "maxLength", "minLength", "pattern", "minimum", "maximum",
                       "exclusiveMinimum", "exclusiveMaximum", "properties", "required", "additionalProperties",
                       "propertyNames", "minProperties", "maxProperties", "items", "minItems", "maxItems",
                       "allOf", "anyOf", "oneOf", "not", "if", "$ref"})


class _Unsupported(Exception):  # noqa: N818 - internal signal, never leaves this module
    pass


def compile_validity(schema: Any) -> Check | None:
    """`document -> bool` for a schema, or None when it uses a keyword this module leaves to jsonschema."""
    try:
        return _Compiler(schema).compile(schema)
    except _Unsupported:
        return None


def _is_integer(value: Any) -> bool:
    # Draft 2020-12: 1.0 is an integer, and a boolean is not a number at all (jsonschema's rules).
    cls = value.__class__
    if cls is int:
        return True
    if isinstance(value, bool):
        return False
    return (isinstance(value, float) and value.is_integer()) or isinstance(value, int)


def _is_number(value: Any) -> bool:
    cls = value.__class__
    return cls is int or cls is float or (isinstance(value, numbers.Number) and not isinstance(value, bool))


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: v.__class__ is bool,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "integer": _is_integer,
    "number": _is_number,
}


def json_equal(one: Any, two: Any) -> bool:
    """jsonschema's equality for enum and const: 1 == 1.0, but True is neither 1 nor 1.0."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and json_equal(value, two[key]) for key, value in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return one.__class__ is two.__class__ and one == two
    return bool(one == two)


class _Compiler:
    """One per root schema: `$ref`s point into it, and each is compiled once (recursion included)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Check | None] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, Mapping) or not set(schema) <= _KEYWORDS | _ANNOTATIONS:
            raise _Unsupported(schema)
        if "$id" in schema and schema is not self.root:
            raise _Unsupported("$id below the root: it changes what `#` means")
        checks = [c for c in (self._ref(schema), _type(schema), _enum(schema), _const(schema), _text(schema),
                              _number(schema), self._object(schema), self._array(schema), self._logic(schema))
                  if c is not None]
        if not checks:
            return lambda value: True
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def _ref(self, schema: Mapping[str, Any]) -> Check | None:
        ref = schema.get("$ref")
        if ref is None:
            return None
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise _Unsupported(ref)  # only JSON pointers into this schema (`#name` is an anchor)
        if ref not in self.refs:
            self.refs[ref] = None  # being compiled: a recursive reference reads it at run time
            self.refs[ref] = self.compile(self._resolve(ref))
        compiled = self.refs[ref]
        if compiled is not None:
            return compiled
        refs = self.refs
        return lambda value: refs[ref](value)  # type: ignore[misc]

    def _resolve(self, ref: str) -> Any:
        target = self.root
        for part in unquote(ref[1:]).split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and str(int(part)) == part and int(part) < len(target):
                target = target[int(part)]
            else:
                raise _Unsupported(ref)  # jsonschema reports an unresolvable reference itself
        return target

    def _object(self, schema: Mapping[str, Any]) -> Check | None:
        keys = {"properties", "required", "additionalProperties", "propertyNames", "minProperties", "maxProperties"}
        if not keys & set(schema):
            return None
        properties = {name: self.compile(sub) for name, sub in (schema.get("properties") or {}).items()}
        required = tuple(schema.get("required") or ())
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)
        names = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        least, most = _bound(schema, "minProperties", 0), _bound(schema, "maxProperties", None)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            if len(value) < least or (most is not None and len(value) > most):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                if names is not None and not names(name):
                    return False
                sub = properties.get(name)
                if sub is not None:
                    if not sub(item):
                        return False
                elif extra_check is not None and not extra_check(item):
                    return False
            return True
        return check

    def _array(self, schema: Mapping[str, Any]) -> Check | None:
        if not {"items", "minItems", "maxItems"} & set(schema):
            return None
        if isinstance(schema.get("items"), list):
            raise _Unsupported("items as a list")  # earlier drafts' tuple form; 2020-12 says prefixItems
        each = self.compile(schema["items"]) if "items" in schema else None
        least, most = _bound(schema, "minItems", 0), _bound(schema, "maxItems", None)

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return True
            if len(value) < least or (most is not None and len(value) > most):
                return False
            return each is None or all(map(each, value))
        return check

    def _logic(self, schema: Mapping[str, Any]) -> Check | None:
        checks: list[Check] = []
        for keyword in ("allOf", "anyOf", "oneOf"):
            if keyword in schema:
                subs = schema[keyword]
                if not isinstance(subs, list) or not subs:
                    raise _Unsupported(keyword)
                compiled = tuple(self.compile(sub) for sub in subs)
                checks.append(_COMBINE[keyword](compiled))
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda value: not negated(value))
        if "if" in schema:
            condition = self.compile(schema["if"])
            then = self.compile(schema.get("then", True))
            otherwise = self.compile(schema.get("else", True))
            checks.append(lambda value: then(value) if condition(value) else otherwise(value))
        if not checks:
            return None
        return checks[0] if len(checks) == 1 else (lambda value: all(check(value) for check in checks))


_COMBINE: dict[str, Callable[[tuple[Check, ...]], Check]] = {
    "allOf": lambda subs: lambda value: all(sub(value) for sub in subs),
    "anyOf": lambda subs: lambda value: any(sub(value) for sub in subs),
    "oneOf": lambda subs: lambda value: sum(1 for sub in subs if sub(value)) == 1,
}


def _bound(schema: Mapping[str, Any], keyword: str, absent: int | None) -> Any:
    if keyword not in schema:
        return absent
    n = schema[keyword]
    if not isinstance(n, int) or isinstance(n, bool):
        raise _Unsupported(n)
    return n


def _type(schema: Mapping[str, Any]) -> Check | None:
    if "type" not in schema:
        return None
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not names or any(n not in _TYPES for n in names):
        raise _Unsupported(names)
    if names == ["string", "null"] or names == ["null", "string"]:
        return lambda v: v is None or isinstance(v, str)  # most fields of our schemas
    if len(names) == 1:
        return _TYPES[names[0]]
    tests = tuple(_TYPES[n] for n in names)
    return lambda v: any(test(v) for test in tests)


def _enum(schema: Mapping[str, Any]) -> Check | None:
    if "enum" not in schema:
        return None
    members = schema["enum"]
    if not isinstance(members, list):
        raise _Unsupported(members)
    if all(isinstance(m, str | None) for m in members):
        allowed = frozenset(members)  # the usual case: a set lookup, for text and null only
        return lambda v: (v is None or isinstance(v, str)) and v in allowed
    return lambda v: any(json_equal(v, m) for m in members)


def _const(schema: Mapping[str, Any]) -> Check | None:
    if "const" not in schema:
        return None
    expected = schema["const"]
    return lambda v: json_equal(v, expected)


def _text(schema: Mapping[str, Any]) -> Check | None:
    if not {"maxLength", "minLength", "pattern"} & set(schema):
        return None
    least, most = _bound(schema, "minLength", 0), _bound(schema, "maxLength", None)
    if "pattern" in schema and not isinstance(schema["pattern"], str):
        raise _Unsupported(schema["pattern"])
    try:
        search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    except re.error as error:
        raise _Unsupported(schema["pattern"]) from error  # jsonschema reports a broken pattern itself
    # jsonschema counts code points, as len() does.
    return lambda v: not isinstance(v, str) or (
        least <= len(v) and (most is None or len(v) <= most) and (search is None or search(v) is not None))


def _number(schema: Mapping[str, Any]) -> Check | None:
    limits = [(k, schema[k]) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in schema]
    if not limits:
        return None
    if any(not _is_number(limit) for _, limit in limits):
        raise _Unsupported(limits)
    low = schema.get("minimum")
    high = schema.get("maximum")
    low_x = schema.get("exclusiveMinimum")
    high_x = schema.get("exclusiveMaximum")

    def check(v: Any) -> bool:
        if not _is_number(v):
            return True
        # Written as jsonschema's failures (`v < low` fails), so that NaN passes as it does there.
        return not ((low is not None and v < low) or (high is not None and v > high)
                    or (low_x is not None and v <= low_x) or (high_x is not None and v >= high_x))
    return check
