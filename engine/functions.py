"""The registry of named functions a spec may call, from jmespath expressions and Jinja templates.

Each function is written once, as plain Python, and registered with its argument types, a one
line description and an example; the same table feeds jmespath (a `Functions` subclass built from
it), Jinja (globals and filters), the load-time check for unknown names, and docs/functions.md.
Functions are pure: the only clock they read is the run's (`now`), set by the engine per run.

To add one: write it below and decorate it with `@register(...)`. Nothing else changes.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jmespath.functions

GUID_EMPTY = "00000000-0000-0000-0000-000000000000"

# The run's clock. The engine sets it per record so fixtures and previews are deterministic.
CLOCK: contextvars.ContextVar[Callable[[], dt.datetime]] = contextvars.ContextVar(
    "specbridge_clock", default=lambda: dt.datetime.now(dt.UTC))

ANY = ["string", "number", "boolean", "array", "object", "null"]
STR = ["string", "null"]
NUM = ["number", "null"]


@dataclass(frozen=True)
class Function:
    name: str
    fn: Callable[..., Any]
    args: tuple[tuple[str, list[str]], ...]  # (name, jmespath types)
    variadic: bool
    doc: str
    example: str

    def jmespath_signature(self) -> tuple[dict[str, Any], ...]:
        sig = [{"types": list(types)} for _, types in self.args]
        if self.variadic and sig:
            sig[-1]["variadic"] = True
        return tuple(sig)


REGISTRY: dict[str, Function] = {}


def register(*args: tuple[str, list[str]], variadic: bool = False, doc: str, example: str
             ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[fn.__name__.rstrip("_")] = Function(
            fn.__name__.rstrip("_"), fn, tuple(args), variadic, doc, example)
        return fn
    return decorate


def is_empty(value: Any) -> bool:
    """Empty means: null, "", whitespace only, [] or {}. 0 and false are values, not empty."""
    if value is None:
        return True
    if value.__class__ is str:  # the usual case first; isspace is strip's notion of whitespace
        return not value or value.isspace()
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | dict):
        return len(value) == 0
    return False


# --- text ------------------------------------------------------------------------------------

@register(("text", STR), ("length", ["number"]),
          doc="The first `length` characters of `text`; null stays null.",
          example="truncate('Bakkerij de Gouden Korenaar', `10`) -> 'Bakkerij d'")
def truncate(text: str | None, length: float) -> str | None:
    return None if text is None else text[: max(0, int(length))]


@register(("text", STR), ("length", ["number"]),
          doc="Same as truncate: the leftmost `length` characters.",
          example="left('Acme', `2`) -> 'Ac'")
def left(text: str | None, length: float) -> str | None:
    return None if text is None else text[: max(0, int(length))]  # truncate's body: one call less


@register(("text", STR), doc="Upper case; null stays null.", example="upper('acme') -> 'ACME'")
def upper(text: str | None) -> str | None:
    return None if text is None else text.upper()


@register(("text", STR), doc="Lower case; null stays null.", example="lower('ACME') -> 'acme'")
def lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


@register(("text", STR), doc="Whitespace removed at both ends; null stays null.",
          example="trim('  a b ') -> 'a b'")
def trim(text: str | None) -> str | None:
    return None if text is None else text.strip()


@register(("text", STR), ("old", ["string"]), ("new", ["string"]),
          doc="Every `old` in `text` replaced by `new`.", example="replace('a-b', '-', '') -> 'ab'")
def replace(text: str | None, old: str, new: str) -> str | None:
    return None if text is None else text.replace(old, new)


@register(("parts", ANY), variadic=True,
          doc="The parts joined as text; nulls count as empty, numbers keep their digits.",
          example="concat('C', `42`) -> 'C42'")
def concat(*parts: Any) -> str:
    return "".join(_text(p) for p in parts)


@register(("text", STR), ("separator", ["string"]),
          doc="Split on `separator`, trim each part, drop empty parts.",
          example="split('Klant, Leverancier', ',') -> [\"Klant\", \"Leverancier\"]")
def split(text: str | None, separator: str) -> list[str]:
    if not text:
        return []
    return [p.strip() for p in text.split(separator) if p.strip()]


@register(("value", ANY), ("list", ["string", "array", "null"]),
          doc="True when `value` is one of a comma-separated list (or array), compared as trimmed, "
              "case-insensitive text.",
          example="in_list('B2', 'B1, B2') -> true")
def in_list(value: Any, items: str | list[Any] | None) -> bool:
    if value is None or items is None:
        return False
    needle = (value if value.__class__ is str else _text(value)).strip().lower()
    for candidate in split(items, ",") if isinstance(items, str) else items:
        if needle == (candidate if candidate.__class__ is str else _text(candidate)).strip().lower():
            return True
    return False


@register(("values", ["array", "string", "null"]), ("list", ["string", "array", "null"]),
          doc="True when any of `values` is in `list` (compared like in_list).",
          example="any_in(`[\"Klant\", \"Leverancier\"]`, 'Klant') -> true")
def any_in(values: list[Any] | str | None, items: str | list[Any] | None) -> bool:
    if values is None:
        return False
    return any(in_list(v, items) for v in (values if isinstance(values, list) else [values]))


@register(("text", STR), doc="MD5 of the UTF-8 text, as 32 lower-case hex digits (for request signatures).",
          example="md5('abc') -> '900150983cd24fb0d6963f7d28e17f72'")
def md5(text: str | None) -> str:
    return hashlib.md5((text or "").encode("utf-8"), usedforsecurity=False).hexdigest()


# --- values ------------------------------------------------------------------------------------

@register(("values", ANY), variadic=True,
          doc="The first argument that is not empty (null, blank text, [] or {}); null if all are.",
          example="first_non_empty(input.Email, input.ContactPersons[0].Email) -> 'a@b.nl'")
def first_non_empty(*values: Any) -> Any:
    for value in values:
        if not is_empty(value):
            return value
    return None


register(("value", ANY), doc="True when the value is null, blank text, [] or {}.",
         example="is_empty('  ') -> true")(is_empty)  # the helper itself: no call in between


@register(("condition", ANY), ("if_true", ANY), ("if_false", ANY),
          doc="`if_true` when the condition is truthy (jmespath truthiness), else `if_false`.",
          example="choose(input.VatLiable, 'Y', 'N') -> 'Y'")
def choose(condition: Any, if_true: Any, if_false: Any) -> Any:
    return if_true if _truthy(condition) else if_false


@register(("object", ["object", "null"]), ("key", ["string", "number", "null"]),
          doc="The value under `key` in an object (e.g. a table indexed by a lookup step); null when absent.",
          example="get(countries, 'NL').id -> '3fa8...'")
def get(obj: dict[str, Any] | None, key: Any) -> Any:
    if obj is None or key is None:
        return None
    return obj.get(key if isinstance(key, str) else _text(key))


@register(("object", ["object", "null"]), ("key_name", ["string"]), ("value_name", ["string"]),
          doc="An object as a list of {key_name: key, value_name: value} pairs, in order.",
          example="to_entries(`{\"A\": \"C\"}`, 'Name', 'Type') -> [{\"Name\": \"A\", \"Type\": \"C\"}]")
def to_entries(obj: dict[str, Any] | None, key_name: str, value_name: str) -> list[dict[str, Any]]:
    return [{key_name: k, value_name: v} for k, v in (obj or {}).items()]


@register(("object", ["object", "null"]), ("keys", ["array"]),
          doc="The values of `object` for each of `keys`, in that order (null where absent).",
          example="values_of(`{\"a\": 1, \"b\": 2}`, ['b', 'a']) -> [2, 1]")
def values_of(obj: dict[str, Any] | None, keys: list[Any]) -> list[Any]:
    obj = obj or {}
    return [obj.get(k) for k in keys]


@register(("object", ["object", "null"]), ("keys", ["array"]),
          doc="A copy of `object` with only `keys` that it has, in the order of `keys`.",
          example="pick(`{\"a\": 1, \"b\": 2}`, ['b', 'c']) -> {\"b\": 2}")
def pick(obj: dict[str, Any] | None, keys: list[Any]) -> dict[str, Any]:
    obj = obj or {}
    return {k: obj[k] for k in keys if isinstance(k, str) and k in obj}


@register(("list", ["array", "null"]), ("index", ["number"]), ("patch", ["object"]),
          doc="A copy of `list` whose item at `index` is merged with `patch` (an object); "
              "the list is unchanged when it has no such item.",
          example="with_item(`[{\"a\": 1}]`, `0`, `{\"b\": 2}`) -> [{\"a\": 1, \"b\": 2}]")
def with_item(items: list[Any] | None, index: float, patch: dict[str, Any]) -> list[Any]:
    out = list(items or [])
    i = int(index)
    if -len(out) <= i < len(out) and isinstance(out[i], dict):
        out[i] = {**out[i], **patch}
    return out


@register(("list", ["array", "null"]), ("key_name", ["string"]), ("value_name", ["string"]),
          doc="The inverse of to_entries: a list of {key_name: k, value_name: v} as an object {k: v}; "
              "items without a key are skipped, a later duplicate wins.",
          example="from_entries(`[{\"naam\": \"Kleur\", \"waarde\": \"rood\"}]`, 'naam', 'waarde') -> {\"Kleur\": \"rood\"}")
def from_entries(items: list[Any] | None, key_name: str, value_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if isinstance(item, dict) and not is_empty(item.get(key_name)):
            out[_text(item[key_name])] = item.get(value_name)
    return out


@register(("object", ["object", "null"]), ("renames", ["string", "object", "null"]),
          doc="Keys renamed by a table: an object {old: new} or text 'old=new;old2=new2' (also , or newline "
              "separated). Keys not in the table are dropped; an empty table keeps every key as it is.",
          example="rename_keys(`{\"Kleur\": \"rood\", \"X\": 1}`, 'Kleur=Colour') -> {\"Colour\": \"rood\"}")
def rename_keys(obj: dict[str, Any] | None, renames: str | dict[str, Any] | None) -> dict[str, Any]:
    obj = obj or {}
    table = parse_pairs(renames) if isinstance(renames, str) else {k: _text(v) for k, v in (renames or {}).items()}
    if not table:
        return dict(obj)
    return {table[k]: v for k, v in obj.items() if k in table}


def parse_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.replace("\n", ";").replace(",", ";").split(";"):
        if "=" in part:
            old, new = part.split("=", 1)
            if old.strip() and new.strip():
                pairs[old.strip()] = new.strip()
    return pairs


@register(("object", ["object", "null"]), ("prefix", ["string"]),
          doc="The keys that start with `prefix`, with the prefix removed.",
          example="prefixed(`{\"FreeField:Segment\": \"A\", \"City\": \"B\"}`, 'FreeField:') -> {\"Segment\": \"A\"}")
def prefixed(obj: dict[str, Any] | None, prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in (obj or {}).items() if k.startswith(prefix) and len(k) > len(prefix)}


@register(("object", ["object", "null"]),
          doc="A copy without empty values (null, blank text, [] or {}).",
          example="drop_empty(`{\"a\": \"\", \"b\": 1}`) -> {\"b\": 1}")
def drop_empty(obj: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (obj or {}).items() if not is_empty(v)}


@register(("number", NUM), ("digits", ["number"]),
          doc="The number rounded to `digits` decimals; null stays null.", example="round(`2.345`, `2`) -> 2.35")
def round_(number: float | None, digits: float) -> float | None:
    return None if number is None else round(number, int(digits))


_MESSAGE_KEYS = ("message", "Message", "ErrorMessage", "error_description", "errorMessage", "detail", "title", "error")


@register(("body", ANY),
          doc="Human-readable text from a typical error body: a list of objects with a message, an object "
              "with message/Message/ErrorMessage/error_description/detail/error, or plain text.",
          example="error_text(`[{\"message\": \"naam is too long\"}]`) -> 'naam is too long'")
def error_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, str):
        return body.strip()[:500]
    if isinstance(body, list):
        return "; ".join(t for t in (error_text(item) for item in body) if t)
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            if not is_empty(body.get(key)):
                value = body[key]
                return value.strip() if isinstance(value, str) else error_text(value)
        return ", ".join(f"{k}: {_text(v)}" for k, v in body.items() if isinstance(v, str | int | float))[:500]
    return _text(body)


@register(doc="The all-zero GUID, for an id that could not be found.",
          example="guid_empty() -> '00000000-0000-0000-0000-000000000000'")
def guid_empty() -> str:
    return GUID_EMPTY


@register(doc="The run's current time in UTC, ISO 8601 with seconds (fixtures may fix it).",
          example="now() -> '2026-11-21T10:00:00Z'")
def now() -> str:
    return iso(CLOCK.get()())


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# A call whose second argument is a literal (`left(x, `4`)`, `in_list(code, 'A, B')`) is prepared
# once, when the spec is compiled (jmes_fused._constant_second): the literal's share of the work
# is done here, not per record. Each gives exactly the function's result (a property test checks).
def _left_prepared(length: float) -> Callable[[str | None], str | None]:
    n = max(0, int(length))
    return lambda text: None if text is None else text[:n]


def _in_list_prepared(items: str | list[Any] | None) -> Callable[[Any], bool]:
    if items is None:
        return lambda value: False
    wanted = frozenset((c if c.__class__ is str else _text(c)).strip().lower()
                       for c in (split(items, ",") if isinstance(items, str) else items))

    def in_prepared_list(value: Any) -> bool:
        return value is not None and (value if value.__class__ is str else _text(value)).strip().lower() in wanted
    return in_prepared_list


PREPARED_SECOND: dict[str, Callable[[Any], Callable[[Any], Any]]] = {
    "left": _left_prepared, "in_list": _in_list_prepared}


def _get_prepared(obj: dict[str, Any] | None) -> Callable[[Any], Any]:
    if obj is None:
        return lambda key: None
    find = obj.get

    def get_in_prepared(key: Any) -> Any:
        if key.__class__ is str:
            return find(key)
        return None if key is None else find(_text(key))
    return get_in_prepared


# The same for a literal first argument: `get(price_lists, code)` with price_lists settled by settings.
PREPARED_FIRST: dict[str, Callable[[Any], Callable[[Any], Any]]] = {"get": _get_prepared}


def _truthy(value: Any) -> bool:
    return not (value is None or value is False or value == "" or value == [] or value == {})


# --- adapters ----------------------------------------------------------------------------------

def _jmespath_method(function: Function) -> Callable[..., Any]:
    def method(self: Any, *args: Any) -> Any:
        return function.fn(*args)
    method.signature = function.jmespath_signature()  # type: ignore[attr-defined]
    return method


JmesFunctions = type(
    "JmesFunctions", (jmespath.functions.Functions,),
    {f"_func_{name}": _jmespath_method(f) for name, f in REGISTRY.items()},
)
JMESPATH_OPTIONS = jmespath.Options(custom_functions=JmesFunctions())
JMESPATH_NAMES = frozenset(JmesFunctions.FUNCTION_TABLE)  # ours plus jmespath's built-ins


def jinja_callables() -> dict[str, Callable[..., Any]]:
    """Name -> callable for Jinja globals and filters (filters receive the value first)."""
    return {name: f.fn for name, f in REGISTRY.items()}
