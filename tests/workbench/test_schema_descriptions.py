"""schemas/spec.schema.json is also the editor's help: every property a consultant can type has a
description (shown on hover and in completion lists by the YAML extension, see docs/editor.md).

The walk starts at the root and follows every $ref, items, additionalProperties, allOf/anyOf and
if/then branch, so a property is checked wherever an editor can offer it. A property given as the
schema `true` (a placeholder that lets a key through `additionalProperties: false` in an if/then
branch) counts as described when the object that branches describes it; a property that is only a
$ref counts as described when its target is, unless the target only says how a value is written
(an expression, a template).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "spec.schema.json").read_text(encoding="utf-8"))


def _resolve(ref: str) -> tuple[str, Any]:
    assert ref.startswith("#/$defs/"), f"only local $defs references are expected, got {ref}"
    name = ref.removeprefix("#/$defs/")
    return name, SCHEMA["$defs"][name]


# Definitions that say how a value is written, not what it is for: a property using one needs
# its own description (`when: {$ref: expr}` must say what the condition decides).
HOW_WRITTEN = {"#/$defs/expr", "#/$defs/template"}


def _described(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if isinstance(schema.get("description"), str) and schema["description"].strip():
        return True
    return "$ref" in schema and schema["$ref"] not in HOW_WRITTEN and _described(_resolve(schema["$ref"])[1])


def _walk() -> tuple[list[str], set[str], int]:
    missing: list[str] = []
    reached: set[str] = set()
    seen: set[tuple[int, frozenset[str]]] = set()
    count = 0

    def visit(schema: Any, where: str, inherited: dict[str, Any]) -> None:
        nonlocal count
        if not isinstance(schema, dict):
            return
        key = (id(schema), frozenset(n for n, s in inherited.items() if _described(s)))
        if key in seen:
            return
        seen.add(key)
        if "$ref" in schema:
            name, target = _resolve(schema["$ref"])
            reached.add(name)
            visit(target, f"$defs.{name}", inherited)
        properties = schema.get("properties", {})
        for name, sub in properties.items():
            count += 1
            if sub is True:
                if not _described(inherited.get(name)):
                    missing.append(f"{where}.properties.{name} (true, and not described where it branches from)")
                continue
            if not _described(sub):
                missing.append(f"{where}.properties.{name}")
            visit(sub, f"{where}.{name}", {})
        # allOf members and if/then branches apply to the same object: they inherit its properties.
        branch_context = {**inherited, **properties}
        for keyword in ("allOf", "anyOf", "oneOf"):
            for i, sub in enumerate(schema.get(keyword, [])):
                visit(sub, f"{where}.{keyword}[{i}]", branch_context)
        if "then" in schema:
            visit(schema["then"], f"{where}.then", branch_context)
        for keyword in ("items", "additionalProperties", "not"):
            visit(schema.get(keyword), f"{where}.{keyword}", {})

    visit(SCHEMA, "(root)", {})
    return list(dict.fromkeys(missing)), reached, count


def test_every_property_has_a_description() -> None:
    missing, _, count = _walk()
    assert count > 150, "the walk should see every property of the language"
    assert missing == [], f"{len(missing)} properties without a description:\n" + "\n".join(missing)


def test_the_walk_reaches_every_definition() -> None:
    _, reached, _ = _walk()
    assert sorted(set(SCHEMA["$defs"]) - reached) == []


def test_examples_are_lists() -> None:
    """`examples` must be a list (a single value is a common slip that editors silently ignore)."""
    bad: list[str] = []

    def scan(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "examples" in node and not isinstance(node["examples"], list):
                bad.append(where)
            for key, value in node.items():
                scan(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                scan(value, f"{where}[{i}]")
    scan(SCHEMA, "(root)")
    assert bad == []
