"""The split sync's steps run by hand, in this process (no broker): stitching, redelivered ranges,
and a range whose run finished but whose counts never reached the sync's journal."""

from __future__ import annotations

from pathlib import Path

import pytest
from scale_helpers import (
    SNELSTART_CLIENT_KEY,
    SNELSTART_KEY_VARS,
    SNELSTART_SUBSCRIPTION_KEY,
    SNELSTART_SYNC,
    SNELSTART_SYNC_FLOW,
    snelstart_settings,
    stored,
    write_settings,
)

import engine
from engine.fetch import page_range
from simulators.snelstart import SnelStartSimulator
from workers import sync
from workers.config import Config
from workers.runs import Runtime

TENANT = "umbrella"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in SNELSTART_KEY_VARS.items():
        monkeypatch.setenv(name, value)
    sim = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY, customers=1300, seed=3)
    config = Config(redis_url=None, store_url=f"sqlite:///{tmp_path / 'store.db'}", settings_dir=tmp_path / "s")
    with sim.serve() as server:
        write_settings(config.settings_dir, TENANT, SNELSTART_SYNC_FLOW,
                       snelstart_settings(server.base_url, server.token_url))
        rt = Runtime(config)
        try:
            yield sim, rt
        finally:
            rt.close()


def _payload(rt: Runtime, parallel: int = 2) -> dict:
    plan = rt.plan(str(SNELSTART_SYNC))
    return sync.sync_payload(plan, str(SNELSTART_SYNC), {}, tenant=TENANT, user=None, run_key="sync-1",
                             pages_per_task=1, parallel=parallel)


def _drain(rt: Runtime, queue: list[dict], deliver_twice: bool = False) -> list[dict]:
    """Run range tasks in the order they were sent, like one worker would; each index once."""
    seen, results = set(), []
    while queue:
        task = queue.pop(0)
        if task["index"] in seen:
            continue
        seen.add(task["index"])
        results.append(sync.run_range(rt, task, queue.append))
        if deliver_twice:
            results.append(sync.run_range(rt, task, lambda t: None))  # a redelivery: reads nothing again
    return results


def _relaties_reads(sim: SnelStartSimulator) -> list[int]:
    return [int(r.query["$skip"]) for r in sim.requests if r.method == "GET" and r.path == "/v2/relaties"]


def test_ranges_stitch_into_one_done_entry(env) -> None:
    sim, rt = env
    payload, queue = _payload(rt), []
    started = sync.start(rt, payload, "gen-1", queue.append)
    assert started == {"run_key": "sync-1", "flow": SNELSTART_SYNC_FLOW, "dispatched": 2}
    assert [t["index"] for t in queue] == [0, 1]
    results = _drain(rt, queue, deliver_twice=True)

    state = sync.state(rt, "sync-1")
    assert state is not None and state.status == "done"
    active = sum(1 for i in range(1300) if not sim.generated.nonactief(i))
    counts = state.detail["counts"]
    assert counts["fetched"] == active and counts["created"] == len(stored(rt.config.store_url, TENANT))
    assert state.detail["result"].startswith(f"{active} fetched, ")
    assert sum(r["stitched"] for r in results) == 1
    # Each page with records read once; past the end (1500) the short page's check and range 3 look.
    assert sorted(_relaties_reads(sim)) == [0, 500, 1000, 1500, 1500]
    # A second start of a finished sync is a no-op.
    assert sync.start(rt, payload, "gen-2", queue.append)["replayed"] is True and queue == []


def test_a_range_killed_between_its_run_and_its_journal_entry_is_read_again(env) -> None:
    sim, rt = env
    payload, queue = _payload(rt), []
    sync.start(rt, payload, "gen-1", queue.append)
    # The first delivery of range 0 ran to the end, then its worker died before journaling it.
    plan = rt.plan(str(SNELSTART_SYNC))
    settings = rt.settings(plan, TENANT)
    with page_range(0, 0):
        plan.run({}, settings=settings, store=rt.store, tenant=TENANT, run_key="sync-1/pages-0-0")
    saved = len(stored(rt.config.store_url, TENANT))
    results = _drain(rt, queue)
    first = results[0]
    assert first["pages"] == [0, 0] and first["counts"]["fetched"] == 500
    assert first["counts"]["created"] == 0 and first["counts"]["unchanged"] == saved  # nothing stored twice
    state = sync.state(rt, "sync-1")
    assert state.status == "done"
    assert state.detail["counts"]["fetched"] == sum(1 for i in range(1300) if not sim.generated.nonactief(i))


def test_a_failing_range_fails_the_sync_and_a_new_attempt_reads_only_what_is_missing(env) -> None:
    sim, rt = env
    payload, queue = _payload(rt, parallel=1), []
    sync.start(rt, payload, "gen-1", queue.append)
    sync.run_range(rt, queue.pop(0), queue.append)  # range 0 done
    sync.failed(rt, queue.pop(0), "SnelStart could not be reached")  # range 1 given up on
    assert sync.state(rt, "sync-1").status == "error"
    reads_before = len(_relaties_reads(sim))

    sync.start(rt, payload, "gen-2", queue.append)  # enqueued again under the same run key
    assert sync.state(rt, "sync-1").status == "started"
    _drain(rt, queue)
    assert sync.state(rt, "sync-1").status == "done"
    assert _relaties_reads(sim)[reads_before:] == [500, 1000, 1500]  # range 0 was not read again
    store = engine.open_store(rt.config.store_url)
    try:
        steps = [(e.step, e.status) for e in store.journal_entries("sync-1") if e.step in ("", "pages 1-1")]
    finally:
        store.close()
    assert steps == [("", "started"), ("pages 1-1", "error"), ("", "error"), ("", "started"),
                     ("pages 1-1", "range-done"), ("", "done")]
