"""Field rules: compiled once into small closures that build one target value per record.

A rule is applied in a fixed order, the same order docs/spec-reference.md documents:

    when/unless  ->  source (from | template | value | coalesce | fields | each | items)
    ->  values table  ->  default / default_from  ->  type  ->  max_length  ->  required  ->  omit_empty

`FieldRule.fast` is the specialised closure the runner uses (built in fast.py): stages a rule
does not declare are not in it, literals are folded at compile time. `FieldRule.explain` walks
the same stages generically and records why each value came out as it did; property tests keep
both equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .expressions import EvaluationError, Expr, Template, truthy
from .functions import _text, is_empty


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()       # the field is not sent at all
MISSING: Any = object()   # a rule key that was not given


def never(scope: Mapping[str, Any]) -> Any:
    """A field whose condition can never hold (in a specialised plan): builders leave it out."""
    return OMIT

Source = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class RecordRef:
    """Names the record in errors; evaluated lazily because most records never fail."""

    expr: Expr | None

    def name(self, scope: Mapping[str, Any]) -> str | None:
        if self.expr is None:
            return None
        try:
            value = self.expr.evaluate(scope)
        except EvaluationError:
            return None
        return None if is_empty(value) else _text(value)


@dataclass(frozen=True)
class FieldRule:
    name: str                       # dotted target path, e.g. "vestigingsAdres.straat"
    source_kind: str                # from | template | value | coalesce | fields | each | items | none
    source_text: str                # the expression/template text, for docs and traces
    source: Source = field(repr=False, compare=False)
    when: Expr | None = None
    unless: Expr | None = None
    values: Mapping[Any, Any] | None = None
    values_default: Any = MISSING
    default: Any = MISSING
    default_from: Expr | None = None
    type: str | None = None
    max_length: int | None = None
    too_long: str = "truncate"  # or "error": an identifier must never be cut short silently
    required: bool = False
    omit_empty: bool = False
    notes: str | None = None
    doc_source: str | None = None
    children: tuple[FieldRule, ...] = ()
    each: Expr | None = None
    # For a `from:` that is a plain two-name path (`visit.City`): the names, so the compiled
    # closure can read them inline instead of calling a getter (the hottest path of a mapping).
    path2: tuple[str, str] | None = None
    # The source's value in a 1-tuple when it is the same for every record (a `value:`, or a
    # `from:` folded to a literal): fast.py applies the stages to it once, when compiling.
    constant: tuple[Any] | None = field(default=None, repr=False)  # may hold a secret setting: never shown
    record: RecordRef = RecordRef(None)
    fast: Callable[[Mapping[str, Any]], Any] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    # --- the stages, shared by the fast and the explaining path ------------------------------
    def _lookup(self, value: Any) -> tuple[Any, bool]:
        table = self.values
        assert table is not None
        for key in (value, _text(value)) if value is not None else (None,):
            try:
                if key in table:
                    return table[key], True
            except TypeError:  # unhashable (a list or object): never in a value table
                break
        return (value if self.values_default is MISSING else self.values_default), False

    def _convert(self, value: Any, scope: Mapping[str, Any]) -> Any:
        if value is None or self.type is None:
            return value
        try:
            return CONVERTERS[self.type](value)
        except (TypeError, ValueError):
            raise InputError(f"cannot convert {value!r} to {self.type}", self.record.name(scope),
                             self.name) from None

    def _fit(self, value: Any, scope: Mapping[str, Any]) -> Any:
        """The max_length stage: text is cut (or refused); an object or list is not text at all."""
        n = self.max_length
        assert n is not None
        if isinstance(value, str):
            if len(value) <= n:
                return value
            if self.too_long == "error":
                raise InputError(f"{value!r} is {len(value)} characters, more than the {n} allowed",
                                 self.record.name(scope), self.name)
            return value[:n]
        if isinstance(value, dict | list):
            raise InputError(f"expected text of at most {n} characters, got {'an object' if isinstance(value, dict) else 'a list'}",
                             self.record.name(scope), self.name)
        return value

    def _require(self, value: Any, scope: Mapping[str, Any]) -> None:
        if is_empty(value):
            raise InputError("required value is empty", self.record.name(scope), self.name)

    def explain(self, scope: Mapping[str, Any], trace: list[dict[str, Any]]) -> Any:
        """Apply the rule like `fast`, appending one trace entry saying what happened."""
        entry: dict[str, Any] = {"field": self.name, "rule": f"{self.source_kind}: {self.source_text}"}
        trace.append(entry)
        if self.when is not None and not truthy(self.when.evaluate(scope)):
            entry["outcome"] = f"omitted: when {self.when.source} is false"
            return OMIT
        if self.unless is not None and truthy(self.unless.evaluate(scope)):
            entry["outcome"] = f"omitted: unless {self.unless.source} is true"
            return OMIT
        if self.source_kind == "fields":
            value: Any = explain_object(self.children, scope, trace)
        elif self.source_kind == "each" and self.each is not None:
            items = self.each.evaluate(scope)
            value = [explain_object(self.children, {**scope, "item": it}, trace)
                     for it in (items if isinstance(items, list) else [])]
        elif self.source_kind == "items":
            value = [None if (v := c.explain(scope, trace)) is OMIT else v for c in self.children]
        else:
            value = self.source(scope)
        notes = []
        if self.values is not None:
            before = value
            value, hit = self._lookup(value)
            notes.append(f"value table {'hit' if hit else 'miss'}: {_shown(before)} -> {_shown(value)}")
        if self.default is not MISSING and is_empty(value):
            value = self.default
            notes.append(f"default used: {_shown(value)}")
        if self.default_from is not None and is_empty(value):
            value = self.default_from.evaluate(scope)
            notes.append(f"default from {self.default_from.source}: {_shown(value)}")
        value = self._convert(value, scope)
        if self.max_length is not None:
            fitted = self._fit(value, scope)
            if fitted is not value:
                notes.append(f"truncated from {len(value)} to {self.max_length} characters")
            value = fitted
        if self.required:
            self._require(value, scope)
        if self.omit_empty and is_empty(value):
            entry["outcome"] = "omitted because empty"
            return OMIT
        entry["value"] = value
        if notes:
            entry["outcome"] = "; ".join(notes)
        return value


def _blank(value: Any) -> bool:
    """is_empty, with the common cases first and no call for them."""
    if value is None:
        return True
    cls = value.__class__
    if cls is str:
        return not value or value.isspace()
    if cls is list or cls is dict:
        return not value
    if cls is int or cls is float or cls is bool:  # 0 and false are values, not empty
        return False
    return is_empty(value)


def _shown(value: Any) -> str:
    """A value as a consultant writes it in a spec or sees it in a payload: JSON, not Python."""
    import json
    return json.dumps(value, ensure_ascii=False, default=str)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "y", "on", "ja", "j"}:
        return True
    if text in {"false", "0", "no", "n", "off", "nee", ""}:
        return False
    raise ValueError(value)


def _to_text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise ValueError(value)  # an object or a list is not text; never Python's repr
    return _text(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(str(value).strip()) if not isinstance(value, int) else value


def _to_number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return value
    text = str(value).strip().replace(",", ".")
    number = float(text)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(value)  # NaN and infinity are not JSON numbers
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _to_text,
    "integer": _to_int,
    "number": _to_number,
    "boolean": _to_bool,
}


def explain_object(rules: tuple[FieldRule, ...], scope: Mapping[str, Any],
                   trace: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rule in rules:
        value = rule.explain(scope, trace)
        if value is not OMIT:
            out[rule.name.rsplit(".", 1)[-1]] = value
    return out


def template_source(template: Template) -> Source:
    if template.constant is not None:
        constant = template.constant
        return lambda scope: constant
    return template.render
