"""engine/ and transports/ know no ERP by name: every ERP lives in a spec under mappings/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ERP_NAMES = re.compile(r"specter|spector|snelstart|visma|accountview|monitor", re.IGNORECASE)
SOURCE_SUFFIXES = {".py", ".json", ".yaml", ".yml", ".toml", ".txt", ".md", ".cfg", ".ini", ".sql"}


def _files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix in SOURCE_SUFFIXES)


def test_the_folders_are_there() -> None:
    assert _files("engine") and _files("transports")


def test_no_erp_name_in_engine_or_transports() -> None:
    found = []
    for path in _files("engine") + _files("transports"):
        relative = path.relative_to(ROOT)
        if ERP_NAMES.search(str(relative)):
            found.append(f"{relative}: in the file name")
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            match = ERP_NAMES.search(line)
            if match:
                found.append(f"{relative}:{number}: {match.group(0)!r} in {line.strip()!r}")
    assert found == [], "ERP names in generic code:\n" + "\n".join(found)
