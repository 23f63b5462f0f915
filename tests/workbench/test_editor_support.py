"""Editor support is committed: VS Code maps the specs to the schema and recommends the YAML
extension (docs/editor.md), and the scaffold writes the modeline the seed specs start with."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / ".vscode"


def test_workspace_maps_specs_to_the_schema() -> None:
    settings = json.loads((VSCODE / "settings.json").read_text(encoding="utf-8"))
    schemas = settings["yaml.schemas"]
    assert schemas == {"./schemas/spec.schema.json": ["mappings/**/*.yaml"]}
    assert (ROOT / "schemas" / "spec.schema.json").is_file()


def test_workspace_recommends_the_yaml_extension() -> None:
    extensions = json.loads((VSCODE / "extensions.json").read_text(encoding="utf-8"))
    assert "redhat.vscode-yaml" in extensions["recommendations"]


def test_validate_task_matches_validate_output() -> None:
    tasks = json.loads((VSCODE / "tasks.json").read_text(encoding="utf-8"))["tasks"]
    matchers = [t["problemMatcher"]["pattern"]["regexp"] for t in tasks if t["problemMatcher"]]
    line = ("mappings/acme/create.yaml:7:40: steps[0].fields.Name.max_lenght: unknown key 'max_lenght' "
            "(hint: did you mean 'max_length'?)")
    for regexp in matchers:
        match = re.match(regexp, line)
        assert match is not None and match.groups()[:3] == ("mappings/acme/create.yaml", "7", "40")
        assert re.match(regexp, "1 valid, 0 invalid") is None


def test_editor_page_names_what_it_relies_on() -> None:
    page = (ROOT / "docs" / "editor.md").read_text(encoding="utf-8")
    for needed in ("redhat.vscode-yaml", "# yaml-language-server: $schema=../../schemas/spec.schema.json",
                   ".vscode/settings.json", ".vscode/extensions.json", "mappings/**/*.yaml", "2020-12"):
        assert needed in page, needed
