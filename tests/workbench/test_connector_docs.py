"""docs/connectors/ is `specbridge docs --all` output, committed: it must match the specs.

The test regenerates every page from mappings/ and compares it with the committed one, so a spec
change without regenerated docs (or a page left behind for a removed spec) fails here.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from engine.docs import write_all

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "connectors"
HOW_TO_FIX = "run `specbridge docs --all` in the repository root and commit docs/connectors/"


def test_committed_connector_docs_match_the_specs(tmp_path: Path) -> None:
    fresh = {p.name: p.read_text(encoding="utf-8") for p in write_all(ROOT / "mappings", tmp_path)}
    committed = {p.name: p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.md")}

    assert sorted(committed) == sorted(fresh), f"docs/connectors/ has other pages than mappings/ has specs: {HOW_TO_FIX}"
    stale = []
    for name, text in sorted(fresh.items()):
        if committed[name] != text:
            diff = difflib.unified_diff(committed[name].splitlines(), text.splitlines(),
                                        f"docs/connectors/{name} (committed)", f"{name} (from the spec)",
                                        lineterm="", n=1)
            stale.append("\n".join(list(diff)[:40]))
    assert not stale, f"docs/connectors/ is stale: {HOW_TO_FIX}\n\n" + "\n\n".join(stale)


def test_every_seed_spec_has_a_committed_page() -> None:
    names = {p.stem for p in COMMITTED.glob("*.md")}
    assert {"specter-create-customer", "snelstart-create-customer", "snelstart-customer-sync",
            "monitor-create-customer", "accountview-create-customer"} <= names
