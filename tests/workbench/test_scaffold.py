"""`specbridge new ERP FLOW`: a commented spec that validates and passes its own fixtures as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import engine
from engine.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "spec.schema.json"


def specbridge(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_new_spec_validates_and_passes_its_fixtures(tmp_path: Path) -> None:
    made = specbridge("new", "acme-books", "create-customer", "--into", str(tmp_path))
    assert made.exit_code == 0, made.output
    spec = tmp_path / "acme-books" / "create-customer.yaml"
    assert made.stdout.splitlines() == [f"created {spec}", f"next: specbridge validate {spec}",
                                        f"      specbridge test {spec}"]

    validated = specbridge("validate", str(spec))
    assert validated.exit_code == 0, validated.output
    assert validated.stderr.strip() == "1 valid, 0 invalid"
    tested = specbridge("test", "-v", str(spec))
    assert tested.exit_code == 0, tested.output
    assert tested.stdout.splitlines()[-1] == "4 passed, 0 failed"
    assert specbridge("docs", str(spec)).exit_code == 0


def test_new_spec_has_every_part_the_brief_names(tmp_path: Path) -> None:
    assert specbridge("new", "acme", "create-customer", "--into", str(tmp_path)).exit_code == 0
    spec = tmp_path / "acme" / "create-customer.yaml"
    text = spec.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    assert (spec.parent / first.split("$schema=", 1)[1]).resolve() == SCHEMA
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 10, "the spec should explain itself"

    plan = engine.load_spec(spec)
    assert plan.name == "acme-create-customer" and plan.title == "Acme - Create customer"
    assert set(plan.settings) == {"BaseUrl", "ApiKey"} and plan.settings["ApiKey"].secret
    assert plan.spec["connections"]["erp"]["auth"]["kind"] == "header"
    kinds = [step["kind"] for step in plan.spec["steps"]]
    assert kinds == ["map", "send", "writeback"]
    send = plan.spec["steps"][1]
    assert send["outcomes"] and send["example"]
    assert plan.result is not None
    assert len(plan.fixtures) >= 4, "as many fixtures as tests/test_mappings.py asks of a spec in mappings/"


def test_new_writes_under_mappings_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    made = specbridge("new", "acme2", "sync-orders")
    assert made.exit_code == 0, made.output
    spec = tmp_path / "mappings" / "acme2" / "sync-orders.yaml"
    assert made.stdout.startswith("created mappings/acme2/sync-orders.yaml\n")
    assert specbridge("validate", str(spec)).exit_code == 0
    assert "--into" in specbridge("new", "--help").stdout


def test_new_never_overwrites(tmp_path: Path) -> None:
    spec = tmp_path / "acme" / "create-customer.yaml"
    spec.parent.mkdir()
    spec.write_text("# my work\n", encoding="utf-8")
    again = specbridge("new", "acme", "create-customer", "--into", str(tmp_path))
    assert again.exit_code == 1
    assert again.stderr == f"error: {spec} already exists; not overwritten (choose another flow name, or remove the file first)\n"
    assert spec.read_text(encoding="utf-8") == "# my work\n"


@pytest.mark.parametrize(("erp", "flow", "bad"), [
    ("Acme", "create-customer", "ERP 'Acme'"),
    ("acme_books", "create-customer", "ERP 'acme_books'"),
    ("acme books", "create-customer", "ERP 'acme books'"),
    ("-acme", "create-customer", "ERP '-acme'"),
    ("acme-", "create-customer", "ERP 'acme-'"),
    ("acme--books", "create-customer", "ERP 'acme--books'"),
    ("../acme", "create-customer", "ERP '../acme'"),
    ("", "create-customer", "ERP ''"),
    ("acme", "Create", "flow 'Create'"),
    ("acme", "create.customer", "flow 'create.customer'"),
    ("acme", "sub/flow", "flow 'sub/flow'"),
])
def test_names_are_lower_case_digits_and_dashes(tmp_path: Path, erp: str, flow: str, bad: str) -> None:
    made = specbridge("new", "--into", str(tmp_path), "--", erp, flow)
    assert made.exit_code == 1
    assert made.stderr == (f"error: {bad} must be lower case letters, digits and single dashes "
                           "(e.g. acme-books); it becomes a folder or file name\n")
    assert list(tmp_path.iterdir()) == []
