"""The public API of `import engine` is exactly what __all__ says, and nothing leaks by accident."""

from __future__ import annotations

from pathlib import Path

import engine

PUBLIC = [
    "AuthError", "ConnectError", "FlowError", "InputError", "Location", "Plan", "RemoteError", "Result",
    "SettingsError", "SpecError", "SpecErrors", "SpecbridgeError", "StoreError", "TransportError",
    "UncertainOutcome", "compile_text", "find_specs", "load_spec", "open_store",
]


def test_all_is_pinned() -> None:
    assert engine.__all__ == PUBLIC


def test_every_name_in_all_exists() -> None:
    for name in engine.__all__:
        assert hasattr(engine, name), name


def test_every_error_is_a_specbridge_error() -> None:
    errors = [getattr(engine, n) for n in PUBLIC if n.endswith("Error") or n in ("SpecErrors", "UncertainOutcome")]
    for error in errors:
        assert issubclass(error, engine.SpecbridgeError), error


def test_embedding_example_from_the_docstring(tmp_path: Path) -> None:
    spec = tmp_path / "flow.yaml"
    spec.write_text("version: 1\nname: flow\nsteps:\n  - id: out\n    kind: map\n    fields:\n"
                    "      name: {from: input.CustomerName, max_length: 4}\nresult: \"{{ out.name }}\"\n",
                    encoding="utf-8")
    plan = engine.load_spec(spec)
    store = engine.open_store("sqlite://")
    try:
        result = plan.run({"CustomerName": "Bakkerij"}, settings={}, store=store, user="jdoe")
    finally:
        store.close()
    assert result.message == "Bakk"
    assert engine.find_specs([tmp_path]) == [spec]
