"""`FieldRule.fast`: a rule compiled into one closure that does only the stages it declares.

The flags below are fixed when the spec is compiled, so each `if` on them is a constant branch,
far cheaper than a call; this is what keeps a compiled field within a small factor of a
hand-written getter. The usual values (text, null, a number) take no call at all beyond the
source: a `from:` of one or two names (`customer.City`) is even read inline. Anything unusual
(an object where text belongs, a required value that is empty, a conversion) goes through the
rule's own stage methods, the ones `FieldRule.explain` uses, so the messages are the same.
A property test compares `fast` with `explain` for every combination of stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .expressions import truthy
from .fields import MISSING, OMIT, FieldRule, _blank, never

Fast = Callable[[Mapping[str, Any]], Any]

# In a field's `plain` shape (builder.py): null or blank text is for the field itself to decide.
DECIDE = object()

# Per `type:`, the classes its converter returns unchanged: no call needed for them.
_ALREADY = {"number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,)}
# Values never empty (0 and false are values): the default check needs no call for them.
_NEVER_BLANK = frozenset({int, float, bool})


def build_fast(rule: FieldRule) -> Fast:
    if rule.max_length is not None and rule.values is None and rule.default_from is None and rule.type is None:
        body = _text_body(rule)
        if rule.path2 is not None and not rule.required:
            body = _plain_text_body(rule, body)
    elif rule.values is None and rule.default is MISSING and rule.default_from is None and rule.type is None \
            and not (rule.required or rule.omit_empty):
        body = rule.source
    else:
        body = _general_body(rule)
    fixed = _folded(body) if rule.constant is not None and rule.default_from is None else MISSING
    if fixed is OMIT:
        body = never
    elif fixed is not MISSING:
        body = lambda scope: fixed  # noqa: E731
    return _guarded(rule, body, fixed)


def _folded(body: Fast) -> Any:
    """A source that is the same for every record (`value: "1"`, a folded setting) goes through
    its stages once, here: the value they give, or MISSING when they refuse it (left to fail on
    each record, naming it, as before)."""
    try:
        return body({})
    except Exception:  # noqa: BLE001 - whatever it is, it is raised again per record
        return MISSING


def _text_body(rule: FieldRule) -> Fast:
    """The common text field: [default], max_length (cut or refuse), [required], [omit_empty]."""
    source, inline = rule.source, rule.path2 is not None
    a, b = rule.path2 or ("", "")
    has_default, default = rule.default is not MISSING, rule.default
    n = rule.max_length
    assert n is not None
    cut = rule.too_long == "truncate"
    required, omit_empty = rule.required, rule.omit_empty
    check_empty = required or omit_empty
    require, fit = rule._require, rule._fit

    def not_text(value: Any, scope: Mapping[str, Any]) -> Any:
        """max_length and the stages after it for a value that is not plain text: a subclass of
        str is cut or refused like text, an object or list is refused."""
        if isinstance(value, str | dict | list):
            value = fit(value, scope)  # raises for an object or list
        if required:
            require(value, scope)
        return OMIT if omit_empty and _blank(value) else value

    def text_field(scope: Mapping[str, Any]) -> Any:
        if inline:
            first = scope.get(a)
            value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        else:
            value = source(scope)
        if value.__class__ is not str or (has_default and (not value or value.isspace())):
            if has_default and (value is None or _blank(value)):
                value = default
            if value.__class__ is not str:
                if value is None and not required:
                    return OMIT if omit_empty else None
                return not_text(value, scope)
        if len(value) > n:
            value = value[:n] if cut else fit(value, scope)
        if check_empty and (not value or value.isspace()):  # is_empty, inlined
            if required:
                require(value, scope)  # raises
            if omit_empty:
                return OMIT
        return value
    if inline:  # builder.py: text that fits is itself, whatever the other stages; the rest is ours
        text_field.plain = (a, b, n, DECIDE)  # type: ignore[attr-defined]
    return text_field


def _plain_text_body(rule: FieldRule, text_field: Fast) -> Fast:
    """The two commonest shapes, `a.b` read inline, with only the checks they need: sent only if
    not empty (omit_empty, no default) or always sent (a text default, no omit_empty). A value
    that is not plain text of the usual kind takes the full path, `text_field`."""
    a, b = rule.path2  # type: ignore[misc]
    n, cut, fit = rule.max_length, rule.too_long == "truncate", rule._fit
    assert n is not None
    if rule.omit_empty and rule.default is MISSING:
        def text_or_nothing(scope: Mapping[str, Any]) -> Any:
            first = scope.get(a)
            value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if value.__class__ is str:
                if len(value) > n:
                    value = value[:n] if cut else fit(value, scope)
                return value if value and not value.isspace() else OMIT
            return OMIT if value is None else text_field(scope)
        text_or_nothing.plain = (a, b, n, OMIT)  # type: ignore[attr-defined]  # builder.py: runs of these
        return text_or_nothing
    default = rule.default
    if not rule.omit_empty and default.__class__ is str and len(default) <= n:
        def text_or_default(scope: Mapping[str, Any]) -> Any:
            first = scope.get(a)
            value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
            if value.__class__ is str:
                if not value or value.isspace():
                    return default
                if len(value) > n:
                    return value[:n] if cut else fit(value, scope)
                return value
            return default if value is None else text_field(scope)
        text_or_default.plain = (a, b, n, default)  # type: ignore[attr-defined]
        return text_or_default
    return text_field


def _general_body(rule: FieldRule) -> Fast:
    """Any combination of stages, in the documented order; a constant branch per stage."""
    source, inline = rule.source, rule.path2 is not None
    a, b = rule.path2 or ("", "")
    table, has_values, lookup = rule.values or {}, rule.values is not None, rule._lookup
    values_default = rule.values_default
    has_default, default = rule.default is not MISSING, rule.default
    default_fn = rule.default_from.evaluate if rule.default_from is not None else None
    convert = rule._convert if rule.type is not None else None
    already = _ALREADY.get(rule.type or "", ())
    n = rule.max_length
    required, omit_empty = rule.required, rule.omit_empty
    require, fit = rule._require, rule._fit

    def field(scope: Mapping[str, Any]) -> Any:
        if inline:
            first = scope.get(a)
            value = first.get(b) if first.__class__ is dict or isinstance(first, dict) else None
        else:
            value = source(scope)
        if has_values:
            if value.__class__ is str:  # text is its own _text: one key to try
                if value in table:
                    value = table[value]
                elif values_default is not MISSING:
                    value = values_default
            else:
                value = lookup(value)[0]
        if has_default and value.__class__ not in _NEVER_BLANK and (value is None or _blank(value)):
            value = default
        if default_fn is not None and (value is None or _blank(value)):
            value = default_fn(scope)
        if convert is not None and value is not None and value.__class__ not in already:
            value = convert(value, scope)
        if n is not None:
            cls = value.__class__
            if (len(value) > n) if cls is str else isinstance(value, str | dict | list):
                value = fit(value, scope)  # cut, or refuse: only for the values that need it
        if required:
            require(value, scope)
        if omit_empty and (value is None or _blank(value)):
            return OMIT
        return value
    return field


def _guarded(rule: FieldRule, body: Fast, fixed: Any = MISSING) -> Fast:
    """`when` / `unless` around the body; conditions are mostly booleans, decided without a call."""
    when, unless = rule.when, rule.unless
    # In a plan specialised for its settings a condition may be decided already (engine/fold.py).
    when_open = when is not None and when.decided is None  # still evaluated per record, first: it may fail
    if (when is not None and when.decided is False) or (unless is not None and unless.decided is True
                                                        and not when_open):
        return never
    when_fn = when.evaluate if when_open else None
    unless_fn = unless.evaluate if unless is not None and (unless.decided is None or (unless.decided and when_open)) \
        else None
    if when_fn is None and unless_fn is None:
        return body
    if body is never:
        return never if when_fn is None and unless_fn is None else _guarded_never(when_fn, unless_fn)
    if unless_fn is None and when is not None and when.name is not None:
        return _when_name(when.name, body, fixed)
    if when_fn is None and unless is not None and unless.name is not None:
        return _unless_name(unless.name, body, fixed)
    if unless_fn is None:
        def when_only(scope: Mapping[str, Any]) -> Any:
            condition = when_fn(scope)  # type: ignore[misc]
            if condition is True or (condition is not False and truthy(condition)):
                return body(scope)
            return OMIT
        return when_only
    if when_fn is None:
        def unless_only(scope: Mapping[str, Any]) -> Any:
            condition = unless_fn(scope)
            if condition is False or (condition is not True and not truthy(condition)):
                return body(scope)
            return OMIT
        return unless_only

    def guarded(scope: Mapping[str, Any]) -> Any:
        if not truthy(when_fn(scope)) or truthy(unless_fn(scope)):
            return OMIT
        return body(scope)
    return guarded



def _when_name(name: str, body: Fast, fixed: Any) -> Fast:
    """`when: is_update`: a let or a step read inline; a body folded to one value is not called."""
    if fixed is not MISSING:
        def when_name_value(scope: Mapping[str, Any]) -> Any:
            condition = scope.get(name)
            return fixed if condition is True or (condition is not False and truthy(condition)) else OMIT
        return when_name_value

    def when_name(scope: Mapping[str, Any]) -> Any:
        condition = scope.get(name)
        if condition is True or (condition is not False and truthy(condition)):
            return body(scope)
        return OMIT
    return when_name


def _unless_name(name: str, body: Fast, fixed: Any) -> Fast:
    if fixed is not MISSING:
        def unless_name_value(scope: Mapping[str, Any]) -> Any:
            condition = scope.get(name)
            return fixed if condition is False or (condition is not True and not truthy(condition)) else OMIT
        return unless_name_value

    def unless_name(scope: Mapping[str, Any]) -> Any:
        condition = scope.get(name)
        if condition is False or (condition is not True and not truthy(condition)):
            return body(scope)
        return OMIT
    return unless_name



def _guarded_never(when_fn: Fast | None, unless_fn: Fast | None) -> Fast:
    """Omitted whatever the record, but its conditions still run as before: they may fail."""
    def evaluated_then_omitted(scope: Mapping[str, Any]) -> Any:
        if (when_fn is None or truthy(when_fn(scope))) and unless_fn is not None:
            unless_fn(scope)
        return OMIT
    return evaluated_then_omitted
