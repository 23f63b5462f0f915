"""docs/tutorial-new-erp.md stays true: its YAML is the Acme Books spec's, and the outputs it shows
are what the commands print."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "tutorial-new-erp.md").read_text(encoding="utf-8")
SPEC_PATH = ROOT / "mappings" / "acmebooks" / "create-customer.yaml"
SPEC = SPEC_PATH.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", PAGE, flags=re.MULTILINE | re.DOTALL)


def _text_block(starting: str) -> str:
    found = [body for lang, body in BLOCKS if lang == "text" and body.startswith(starting)]
    assert len(found) == 1, f"one text block starting {starting!r} expected"
    return found[0]


def _specbridge_in(folder: Path, spec_text: str, *args: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run `specbridge ARGS` in `folder`, on a copy of the spec changed as the page describes."""
    target = folder / "mappings" / "acmebooks" / "create-customer.yaml"
    target.parent.mkdir(parents=True)
    target.write_text(spec_text, encoding="utf-8")
    shutil.copytree(ROOT / "schemas", folder / "schemas")
    monkeypatch.chdir(folder)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False).stdout


def test_every_yaml_block_is_quoted_from_the_spec() -> None:
    quoted = [body for lang, body in BLOCKS if lang == "yaml"]
    assert len(quoted) >= 15
    for body in quoted:
        assert body in SPEC, f"not in {SPEC_PATH.relative_to(ROOT)}:\n{body}"


def test_the_fixture_run_shown_is_what_test_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out = CliRunner().invoke(cli, ["test", "-v", "mappings/acmebooks/"], catch_exceptions=False).stdout
    assert out == _text_block("PASS ")


def test_the_mistakes_shown_are_what_validate_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = SPEC.replace("required: true, max_length: 60,", "required: true, max_lenght: 60,", 1)
    broken = broken.replace("default_from: settings.DefaultLanguage", "default_from: settings.DefaultLanguge", 1)
    assert broken.count("max_lenght") == 1 and broken.count("DefaultLanguge") == 1
    out = _specbridge_in(tmp_path, broken, "validate", "mappings/acmebooks/create-customer.yaml",
                         monkeypatch=monkeypatch)
    assert out == _text_block("mappings/acmebooks/create-customer.yaml:")


def test_the_failing_fixture_shown_is_what_test_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = SPEC.replace("update.body.id], type: string,", "update.body.id],", 1)
    assert broken != SPEC
    out = _specbridge_in(tmp_path, broken, "test", "mappings/acmebooks/create-customer.yaml",
                         monkeypatch=monkeypatch)
    shown = _text_block("FAIL ")
    assert out.startswith(shown)


def test_the_files_it_names_exist() -> None:
    for relative in ("examples/acmebooks-settings.yaml", "examples/customer.json", "examples/store.json",
                     "docs/connectors/acmebooks-create-customer.md", "tests/workbench/test_acmebooks_e2e.py"):
        assert relative in PAGE and (ROOT / relative).is_file(), relative
