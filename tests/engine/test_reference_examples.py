"""docs/spec-reference.md: every complete example spec loads and passes its own fixtures, and every
key of the spec language (schemas/spec.schema.json) is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import engine
from engine.fixtures import run_fixtures

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "spec-reference.md"
SCHEMA = json.loads((ROOT / "schemas" / "spec.schema.json").read_text(encoding="utf-8"))
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[int, str]]:
    text = PAGE.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in FENCE.finditer(text)]


SPECS = [pytest.param(block, id=f"line {line}") for line, block in _blocks() if block.startswith("version: 1\n")]


def test_the_page_has_examples() -> None:
    assert len(SPECS) >= 15


@pytest.mark.parametrize("text", SPECS)
def test_example_spec_compiles_and_passes_its_fixtures(text: str) -> None:
    plan = engine.compile_text(text, "example.yaml")
    failed = [f"{r.name}: {'; '.join(r.problems)}" for r in run_fixtures(plan) if not r.passed]
    assert failed == []


def test_every_yaml_block_is_yaml() -> None:
    for line, block in _blocks():
        try:
            YAML(typ="safe").load(block)
        except Exception as exc:  # noqa: BLE001 - report which block
            pytest.fail(f"the yaml block at line {line} does not parse: {exc}")


# --- completeness: every key of the schema is named in the reference ---------------------------------

def _properties(schema: Any, defs: dict[str, Any]) -> set[str]:
    """Property names of a schema, following $ref, allOf/then and anyOf."""
    found: set[str] = set()
    if not isinstance(schema, dict):
        return found
    if "$ref" in schema:
        return _properties(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    found |= set(schema.get("properties", {}))
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found |= _properties(sub, defs)
            found |= _properties(sub.get("then"), defs) if isinstance(sub, dict) else set()
    return found


def _enum_values(name: str) -> set[str]:
    defs = SCHEMA["$defs"]
    values: set[str] = set()
    for part in ("kind",):
        prop = defs[name]["properties"].get(part, {})
        values |= set(prop.get("enum", []))
    return values


def test_every_key_is_documented() -> None:
    page = PAGE.read_text(encoding="utf-8")
    defs = SCHEMA["$defs"]
    keys = set(SCHEMA["properties"])
    for name in defs:
        keys |= _properties(defs[name], defs)
    keys |= _enum_values("step") | _enum_values("auth") | _enum_values("connection")
    keys |= set(defs["fixture"]["properties"]["expect"]["properties"])
    keys |= set(defs["fixtureResponse"]["properties"]["error"]["enum"])
    keys |= set(defs["ruleObject"]["properties"]["type"]["enum"])
    keys |= set(defs["setting"]["properties"]["type"]["enum"])
    missing = sorted(k for k in keys if f"`{k}`" not in page and f"`{k}:" not in page)
    assert missing == [], f"keys of the spec language not in docs/spec-reference.md: {missing}"
