"""When journal entries reach the store: before anything leaves that must not be repeated."""

from __future__ import annotations

from typing import Any

import engine
from engine.store.protocol import JournalEntry

SPEC = """
version: 1
name: numbered
steps:
  - id: number
    kind: generate
    sequence: codes
    start: "`100`"
  - id: out
    kind: map
    fields:
      code: {from: number}
result: "code {{ number }}"
"""


def test_a_generated_number_is_journaled_at_once_and_done_with_the_end(tmp_path: Any) -> None:
    store = engine.open_store(f"sqlite:///{tmp_path}/s.db")
    calls: list[list[str]] = []
    original = store.journal

    def spy(*entries: JournalEntry, transactional: bool = False) -> None:
        calls.append([e.status for e in entries])
        original(*entries, transactional=transactional)

    store.journal = spy  # type: ignore[method-assign]
    spec = tmp_path / "numbered.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = engine.load_spec(spec).run({"id": 1}, store=store)
    assert result.message == "code 100"
    # The number is written the moment it is drawn (a file carrying it may leave next, and a
    # resumed run must reuse it), in its own write, before the run's end is recorded.
    assert calls[0][-1] == "generated" and "done" not in calls[0]
    assert calls[-1] == ["done"]
    store.close()
