"""Group commit: concurrent writers share transactions, each still learns its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from engine.store import SqlStore
from engine.store.group_commit import GroupCommit
from engine.store.protocol import JournalEntry


def test_every_item_is_written_once_and_batches_form_under_load() -> None:
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        time.sleep(0.002)  # a commit takes a while: writers arriving meanwhile queue up
        batches.append(list(items))

    group: GroupCommit[int] = GroupCommit(write)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: group.write([i, i + 10_000]), range(400)))
    written = [item for batch in batches for item in batch]
    assert sorted(written) == sorted([*range(400), *range(10_000, 10_400)])
    assert len(batches) < 400  # some writers shared a transaction
    for batch in batches:  # a writer's items stay together and in order
        for i in (x for x in batch if x < 10_000):
            assert batch[batch.index(i) + 1] == i + 10_000


def test_a_failing_item_fails_only_its_own_writer() -> None:
    committed: list[str] = []
    gate = threading.Barrier(8)

    def write(items: Sequence[str]) -> None:
        if "bad" in items:
            raise ValueError("bad row")
        committed.extend(items)

    group: GroupCommit[str] = GroupCommit(write)

    def one(name: str) -> str:
        gate.wait()
        try:
            group.write([name])
        except ValueError:
            return "failed"
        return "ok"

    names = ["bad", *(f"row-{i}" for i in range(7))]
    with ThreadPoolExecutor(8) as pool:
        outcomes = dict(zip(names, pool.map(one, names), strict=True))
    assert outcomes == {"bad": "failed", **{n: "ok" for n in names[1:]}}
    assert sorted(committed) == sorted(names[1:])


def test_alone_a_writer_commits_at_once() -> None:
    seen: list[list[int]] = []
    group: GroupCommit[int] = GroupCommit(lambda items: seen.append(list(items)))
    group.write([1])
    group.write([2, 3])
    assert seen == [[1], [2, 3]]


def test_journal_rows_from_many_threads_all_land_in_order(store: SqlStore) -> None:
    threads = 16

    def run(n: int) -> None:
        for step in range(25):
            store.journal(JournalEntry(f"run-{n}", "flow", f"s{step}", "sent", {"n": n}))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(threads)))
    for n in range(threads):
        entries = store.journal_entries(f"run-{n}")
        assert [e.step for e in entries] == [f"s{i}" for i in range(25)]
