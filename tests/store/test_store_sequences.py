"""Durable sequences: never the same number twice, across threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.store import SqlStore, open_store

REPO = Path(__file__).resolve().parents[2]


def test_first_call_returns_start_and_peek_does_not_consume(store: SqlStore) -> None:
    assert store.peek_sequence("codes", 1000) == 1000
    assert store.next_sequence("codes", 1000) == 1000
    assert store.peek_sequence("codes", 1000) == 1001
    assert store.peek_sequence("codes", 1000) == 1001
    assert store.next_sequence("codes", 1000) == 1001
    assert store.next_sequence("codes", 1000, tenant="other") == 1000  # per tenant
    assert store.next_sequence("contacts", 1) == 1  # per name


def test_a_raised_start_is_honoured_a_lowered_one_never_reissues(store: SqlStore) -> None:
    assert store.next_sequence("codes", 10) == 10
    assert store.next_sequence("codes", 500) == 500  # the setting was raised
    assert store.next_sequence("codes", 10) == 501  # and lowered again: no number comes back
    assert store.peek_sequence("codes", 900) == 900


def test_eight_threads_drawing_a_thousand_numbers_each_get_eight_thousand_distinct(store: SqlStore) -> None:
    barrier = threading.Barrier(8)

    def draw(_: int) -> list[int]:
        barrier.wait()  # all start together, to collide as much as possible
        return [store.next_sequence("codes", 1) for _ in range(1000)]

    with ThreadPoolExecutor(8) as pool:
        drawn = [n for numbers in pool.map(draw, range(8)) for n in numbers]
    assert len(drawn) == 8000
    assert sorted(drawn) == list(range(1, 8001))  # distinct, and no gaps either
    assert store.peek_sequence("codes", 1) == 8001


_CHILD = """
import sys
import time
from engine.store import open_store
store = open_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # start drawing when the other process is ready too
drawn = []
for _ in range(int(sys.argv[2])):
    drawn.append(store.next_sequence("codes", 1))
    # Real callers do work between draws. Back-to-back draws let one process starve the other:
    # SQLite's busy handler sleeps between tries, and finds the lock taken again each time.
    time.sleep(0.001)
print(" ".join(map(str, drawn)))
"""


def test_two_processes_never_get_the_same_number(tmp_path: Path) -> None:
    # SQLite only: between processes it is SQLite's file lock (BEGIN IMMEDIATE) that keeps
    # numbers apart, not the lock threads share. On PostgreSQL processes and threads are alike
    # (one connection each), so the thread test above covers it.
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(store_url).close()  # create the tables first: the children only draw numbers
    children = [subprocess.Popen([sys.executable, "-c", _CHILD, store_url, "1000"], cwd=REPO, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
    for child in children:  # importing takes seconds; without this the draws would not overlap
        assert child.stdout is not None and child.stdout.readline() == "ready\n", child.stderr
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    drawn: list[list[int]] = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        drawn.append([int(n) for n in out.split()])
    assert sorted(drawn[0] + drawn[1]) == list(range(1, 2001))
    # The two ranges overlap: the processes really drew at the same time, taking turns.
    assert min(drawn[0]) < max(drawn[1]) and min(drawn[1]) < max(drawn[0])


def test_a_sequence_survives_reopening(store_url: str) -> None:
    with open_store(store_url) as first:  # type: ignore[attr-defined]
        assert first.next_sequence("codes", 7) == 7
    with open_store(store_url) as second:  # type: ignore[attr-defined]
        assert second.next_sequence("codes", 7) == 8


@pytest.mark.parametrize("start", [0, -5, 2**40])
def test_any_integer_start(store: SqlStore, start: int) -> None:
    assert store.next_sequence("s", start) == start
    assert store.next_sequence("s", start) == start + 1
