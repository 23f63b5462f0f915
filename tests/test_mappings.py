"""Every spec under mappings/ loads, compiles and passes its own fixtures; its docs render."""

from __future__ import annotations

from pathlib import Path

import pytest

import engine
from engine.docs import all_steps, render_markdown
from engine.fixtures import run_fixture
from engine.steps import MapStep

ROOT = Path(__file__).resolve().parent.parent
SPECS = engine.find_specs([ROOT / "mappings"])
FIXTURES = [(spec, i) for spec in SPECS for i in range(len(engine.load_spec(spec).fixtures))]


def test_there_are_specs_for_every_seed_flow() -> None:
    names = {engine.load_spec(p).name for p in SPECS}
    assert {"specter-create-customer", "snelstart-create-customer", "monitor-create-customer",
            "accountview-create-customer", "snelstart-customer-sync"} <= names


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_spec_starts_with_the_editor_modeline(spec: Path) -> None:
    first = spec.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=") and first.endswith("schemas/spec.schema.json")
    target = (spec.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == ROOT / "schemas" / "spec.schema.json"


@pytest.mark.parametrize(("spec", "index"), FIXTURES,
                         ids=lambda v: v.relative_to(ROOT).as_posix() if isinstance(v, Path) else str(v))
def test_fixture_passes(spec: Path, index: int) -> None:
    plan = engine.load_spec(spec)
    outcome = run_fixture(plan, plan.fixtures[index])
    assert outcome.passed, f"{outcome.name}:\n" + "\n".join(outcome.problems)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_spec_has_fixtures_and_docs(spec: Path) -> None:
    plan = engine.load_spec(spec)
    assert len(plan.fixtures) >= 4, "each seed flow needs fixtures for its rules and error paths"
    text = render_markdown(plan)
    assert text.startswith(f"# {plan.title}")
    has_table = "| Target field | Source | Logic / notes |" in text
    assert has_table == any(isinstance(s, MapStep) for s in all_steps(plan.steps))
