"""Helpers shared by the engine tests: run a spec text the way fixtures do, compare strictly.

Imported by basename (pytest puts this folder on sys.path); tests/engine has no __init__.py on
purpose, because a package named `engine` here would shadow the real one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import engine
from engine.errors import SpecbridgeError, SpecError, SpecErrors
from engine.fixtures import answerer
from engine.runtime import Result, Services
from engine.settings import resolve

FIXED_NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
SPEC_FILE = "spec.yaml"


def spec_errors(text: str, file: str = SPEC_FILE) -> list[str]:
    """Every load/compile error of a spec text as `LINE:COL: message`, in file order; [] if it compiles."""
    try:
        engine.compile_text(text, file)
    except SpecErrors as exc:
        return [_strip_file(e.render(), file) for e in exc]
    except SpecError as exc:
        return [_strip_file(exc.render(), file)]
    return []


def _strip_file(line: str, file: str) -> str:
    prefix = f"{file}:"
    assert line.startswith(prefix), f"error without a location: {line!r}"
    return line[len(prefix):]


def execute(plan: engine.Plan, record: Any, *, settings: Mapping[str, Any] | None = None,
            store: Mapping[str, Any] | None = None, responses: Mapping[str, Any] | None = None,
            user: str | None = "jdoe", tenant: str = "default", explain: bool = False,
            environ: Mapping[str, str] | None = None) -> tuple[Result | None, str | None, dict[str, Any]]:
    """Run one record like `specbridge test` does: fresh in-memory store, answers from `responses`.

    Returns (result, error, store customers after the run); error is `ErrorType: message`.
    """
    opened = engine.open_store("sqlite://")
    try:
        if store:
            opened.import_document(store, tenant)
        services = Services(store=opened, clock=lambda: FIXED_NOW, answer=answerer(responses or {}))
        try:
            resolved = resolve(plan.settings, settings, environ=environ if environ is not None else {})
            result = plan.execute(record, resolved, services, user=user, tenant=tenant, explain=explain)
        except SpecbridgeError as exc:
            return None, f"{type(exc).__name__}: {exc}", _customers(opened, tenant)
        return result, None, _customers(opened, tenant)
    finally:
        opened.close()


def _customers(store: Any, tenant: str) -> dict[str, Any]:
    return {c.get("CustomerGuid") or c.get("CustomerCode"): c for c in store.iter_customers(tenant)}


def canonical(value: Any) -> str:
    """JSON text that tells "1" from 1, 1 from 1.0 and 1 from true, and keeps key order."""
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def same(got: Any, want: Any) -> bool:
    return canonical(got) == canonical(want)
