"""An object built from compiled field closures: what a map step (or a nested `fields:`) does.

The loop calls each field's closure (`FieldRule.fast`) and leaves out the omitted ones. One shape
gets more: a run of consecutive plain text fields reading the same object (`customer.Phone`,
`customer.Fax`, ... or the visit address's parts) is written by one closure that reads the object
once and decides the usual values (text that fits, null, blank) inline. The rest (a value too
long, not plain text, an empty one a required field refuses, an object that is not one) goes to
the field's own closure, so the result and every error are the field's. It saves a call and a
scope lookup per field, a third of what such a field costs. tests/engine/test_builder.py
compares it with the rules' explain path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .fast import DECIDE
from .fields import OMIT, FieldRule, never

Source = Callable[[Mapping[str, Any]], Any]
Build = Callable[[Mapping[str, Any]], dict[str, Any]]
Writer = Callable[[Mapping[str, Any], dict[str, Any]], None]
# (key, second name, max_length, what null or blank text gives (OMIT: nothing; DECIDE: ask the
# field, a required one fails), the field's closure)
PlainField = tuple[str, str, int, Any, Source]


def object_builder(rules: tuple[FieldRule, ...], lets: tuple[tuple[str, Source], ...] = (),
                   lets_in_place: bool = False) -> Build:
    """Build an object from rules, in rule order, leaving out omitted fields; `lets` are computed
    first, into a copy of the scope or, where the compiler allows it, into the scope itself.
    One closure for a map step's whole work: per record, a call and its lookups saved per step."""
    entries = _entries(rules)
    copy = not lets_in_place
    # Two loops on purpose: without runs, the per-field test for one is left out of the hottest loop.
    if not any(key is None for key, _ in entries):
        pairs: tuple[tuple[str, Source], ...] = entries  # type: ignore[assignment]

        def build(scope: Mapping[str, Any]) -> dict[str, Any]:
            if lets:
                if copy:
                    scope = dict(scope)
                for name, evaluate in lets:
                    scope[name] = evaluate(scope)  # type: ignore[index]
            out: dict[str, Any] = {}
            for key, fn in pairs:
                value = fn(scope)
                if value is not OMIT:
                    out[key] = value
            return out
        return build

    def build_in_runs(scope: Mapping[str, Any]) -> dict[str, Any]:
        if lets:
            if copy:
                scope = dict(scope)
            for name, evaluate in lets:
                scope[name] = evaluate(scope)  # type: ignore[index]
        out: dict[str, Any] = {}
        for key, fn in entries:
            if key is None:
                fn(scope, out)  # type: ignore[call-arg]  # a run of plain fields writes its own
                continue
            value = fn(scope)
            if value is not OMIT:
                out[key] = value
        return out
    return build_in_runs


def _entries(rules: tuple[FieldRule, ...]) -> tuple[tuple[str | None, Any], ...]:
    """(key, closure) per field, with each run of two or more plain fields reading the same
    object as one (None, writer)."""
    entries: list[tuple[str | None, Any]] = []
    run: list[PlainField] = []
    root = None

    def close() -> None:
        if len(run) >= 2:
            entries.append((None, _plain_run(root, tuple(run))))  # type: ignore[arg-type]
        else:
            entries.extend((key, fn) for key, _, _, _, fn in run)
        run.clear()
    for rule in rules:
        if rule.fast is never:
            continue
        key = rule.name.rsplit(".", 1)[-1]
        plain = getattr(rule.fast, "plain", None)  # set by fast._plain_text_body
        if plain is None or plain[0] != root:
            close()
        if plain is None:
            entries.append((key, rule.fast))
            root = None
            continue
        root = plain[0]
        run.append((key, plain[1], plain[2], plain[3], rule.fast))
    close()
    return tuple(entries)


def _plain_run(root: str, fields: tuple[PlainField, ...]) -> Writer:
    def write_plain_run(scope: Mapping[str, Any], out: dict[str, Any]) -> None:
        first = scope.get(root)
        if first.__class__ is not dict and not isinstance(first, dict):
            for key, _, _, _, fn in fields:  # no object: each field says what that gives
                value = fn(scope)
                if value is not OMIT:
                    out[key] = value
            return
        for key, name, n, empty, fn in fields:
            value = first.get(name)
            if value.__class__ is str and len(value) <= n:
                if value and not value.isspace():
                    out[key] = value
                    continue
                if empty is not DECIDE:  # blank
                    if empty is not OMIT:
                        out[key] = empty
                    continue
            elif value is None and empty is not DECIDE:
                if empty is not OMIT:
                    out[key] = empty
                continue
            value = fn(scope)  # too long, not text, or required: the field's own closure decides
            if value is not OMIT:
                out[key] = value
    return write_plain_run
