"""specbridge: ERP connectors as YAML specs, run by one generic interpreter.

Embedding the engine::

    import engine
    plan = engine.load_spec("mappings/acme/create-customer.yaml")   # load, validate, compile once
    store = engine.open_store("sqlite:///specbridge.db")
    result = plan.run(customer, settings={...}, store=store, user="jdoe")
    print(result.message)

`Plan` is immutable and thread-safe: compile once, then `preview`/`run`/`run_many` many records.
Every error is a `SpecbridgeError`; spec mistakes are `SpecError`s with file:line:col.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .compile import compile_spec
from .errors import (
    AuthError,
    ConnectError,
    FlowError,
    InputError,
    Location,
    RemoteError,
    SettingsError,
    SpecbridgeError,
    SpecError,
    SpecErrors,
    StoreError,
    TransportError,
    UncertainOutcome,
)
from .load import load_file, load_text
from .plan import Plan
from .runtime import Result

__all__ = [
    "AuthError", "ConnectError", "FlowError", "InputError", "Location", "Plan", "RemoteError", "Result",
    "SettingsError", "SpecError", "SpecErrors", "SpecbridgeError", "StoreError", "TransportError",
    "UncertainOutcome", "compile_text", "find_specs", "load_spec", "open_store",
]


def load_spec(path: str | Path) -> Plan:
    """Load, validate and compile one spec file. Raises SpecErrors listing every mistake."""
    return compile_spec(load_file(path))


def compile_text(text: str, file: str = "<spec>") -> Plan:
    """Compile a spec given as YAML text (for tests and tools)."""
    return compile_spec(load_text(text, file))


def find_specs(paths: list[str | Path]) -> list[Path]:
    """Every spec under the given files and folders: *.yaml files that start a spec (version:)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.yaml") if _looks_like_spec(p)))
        else:
            found.append(path)
    return found


def _looks_like_spec(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        return True
    return any(line.startswith("version:") for line in head.splitlines())


def open_store(url: str = "sqlite:///specbridge.db") -> Any:
    """Open the App4Sales store (SQLite file by default, PostgreSQL by URL)."""
    from .store import open_store as _open
    return _open(url)
