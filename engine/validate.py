"""Stage 2: check a loaded spec against schemas/spec.schema.json, reporting located errors.

jsonschema reports paths into the document; the source map turns each into `file:line:col`.
An unknown key is reported at the key itself, with the closest known key as a hint. Errors under
anyOf/if-then are unwrapped so the consultant sees the concrete mistake, not "is not valid under
any of the given schemas".
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .load import LoadedSpec
from .schema_check import compile_validity

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, ValidationError

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


@cache
def schema_document(name: str) -> Any:
    """schemas/<name>.schema.json, read once."""
    return json.loads((SCHEMAS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """jsonschema's validator for schemas/<name>.schema.json, built once, when a verdict needs
    explaining: jsonschema is imported only then, as it takes about 90 ms to import."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema_document(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def schema_validity(name: str) -> Callable[[Any], bool]:
    """A fast yes/no for schemas/<name>.schema.json (see schema_check.py); jsonschema's own
    `is_valid` when the schema uses keywords that module does not compile."""
    compiled = compile_validity(schema_document(name))
    return compiled if compiled is not None else schema_validator(name).is_valid


def validate_structure(spec: LoadedSpec) -> list[SpecError]:
    if not isinstance(spec.data, dict):
        return [SpecError("a spec must be a mapping with version, name and steps",
                          spec.source.locate(()), "start from `specbridge new ERP FLOW`")]
    if schema_validity("spec")(spec.data):
        return []  # the compiled yes/no: jsonschema's walk is about 40% of a spec's load time
    errors: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    for error in schema_validator("spec").iter_errors(spec.data):
        for leaf in _leaves(error):
            located = _locate(spec, leaf)
            marker = (str(located.location), located.message)
            if marker not in seen:
                seen.add(marker)
                errors.append(located)
    return errors


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The concrete errors behind an anyOf (the branch matching the value's type)."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        wanted = [e for e in error.context if _branch_matches(e, error.instance)]
        branch = wanted or error.context
        deepest = max(len(e.absolute_path) for e in branch)
        for sub in branch:
            if len(sub.absolute_path) == deepest or wanted:
                yield from _leaves(sub)
        return
    yield error


def _branch_matches(error: ValidationError, instance: Any) -> bool:
    """Does this anyOf branch describe the instance's type? (then its errors are the real ones)"""
    schema_type = error.schema.get("type") if isinstance(error.schema, dict) else None
    if isinstance(instance, dict):
        return schema_type == "object" or "properties" in (error.schema or {}) or error.validator != "type"
    if isinstance(instance, str):
        return schema_type == "string"
    return True


def _path_text(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _locate(spec: LoadedSpec, error: ValidationError) -> SpecError:
    path = list(error.absolute_path)
    where = _path_text(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list((error.schema or {}).get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        if extras:
            extra = extras[0]
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
            return SpecError(f"{_path_text([*path, extra])}: unknown key '{extra}'",
                             spec.source.locate_key([*path, extra]), hint)
    if error.validator == "required":
        return SpecError(f"{where}: {error.message}", spec.source.locate(path))
    if error.validator in ("enum", "const"):
        options = error.validator_value if error.validator == "enum" else [error.validator_value]
        shown = ", ".join(json.dumps(o) for o in options)
        return SpecError(f"{where}: {json.dumps(error.instance)} is not one of {shown}",
                         spec.source.locate(path))
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return SpecError(f"{where}: expected {_article(expected)}, got {json.dumps(error.instance)}",
                         spec.source.locate(path),
                         "quote text values" if expected == "string" else None)
    if error.validator == "pattern":
        return SpecError(f"{where}: {json.dumps(error.instance)} does not match {error.validator_value}",
                         spec.source.locate(path if not isinstance(error.instance, str) or path else path))
    return SpecError(f"{where}: {error.message}", spec.source.locate(path))


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
