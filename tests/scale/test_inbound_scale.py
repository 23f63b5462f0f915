"""An inbound bulk sync split into page-range tasks across real workers, stitched in the journal.

Expected numbers are counted from the simulator's own generated data, never hard-coded.
"""

from __future__ import annotations

import time
from collections import Counter

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
import workers as workers_api
from simulators.snelstart import SnelStartSimulator

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
TENANT = "globex"


def expected(sim: SnelStartSimulator) -> dict:
    """What the default filter keeps: active relations (filtered server-side) of type Klant."""
    gen = sim.generated
    active = [i for i in range(gen.count) if not gen.nonactief(i)]
    klant = [i for i in active if "Klant" in gen.relatiesoort(i)]
    return {"fetched": len(active), "filtered": len(active) - len(klant),
            "codes": {str(gen.relatiecode(i)) for i in klant}}


def test_a_3000_customer_sync_split_across_workers_saves_each_once(workers, config, settings_dir, capsys):
    sim = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY, customers=3000, seed=5)
    want = expected(sim)
    workers.env.update(SNELSTART_KEY_VARS)
    with sim.serve() as server:
        write_settings(settings_dir, TENANT, SNELSTART_SYNC_FLOW, snelstart_settings(server.base_url, server.token_url))
        for _ in range(2):
            workers.start(concurrency=2, wait=False)
        for worker in workers.started:
            worker.wait_ready()

        started = time.monotonic()
        sent = workers_api.enqueue(SNELSTART_SYNC, {}, tenant=TENANT, config=config, pages_per_task=1, parallel=4)
        outcome = sent.wait(120)
        elapsed = time.monotonic() - started

    counts = outcome["counts"]
    saved = len(want["codes"])
    assert outcome["result"] == (f"{want['fetched']} fetched, {want['filtered']} filtered out, {saved} created, "
                                 "0 updated, 0 unchanged, 0 rejected")
    assert {k: counts[k] for k in ("fetched", "filtered", "created", "updated", "unchanged", "rejected")} == \
        {"fetched": want["fetched"], "filtered": want["filtered"], "created": saved, "updated": 0, "unchanged": 0,
         "rejected": 0}
    assert sum(counts["filtered_reasons"].values()) == want["filtered"]  # merged across the ranges
    customers = stored(config.store_url, TENANT)
    assert len(customers) == saved
    assert {c["CustomerCode"] for c in customers} == want["codes"]

    # Every page holding records was read exactly once, by one range task or another.
    skips = Counter(int(r.query["$skip"]) for r in sim.requests if r.method == "GET" and r.path == "/v2/relaties")
    data_pages = [skip for skip in skips if skip < want["fetched"]]
    assert sorted(data_pages) == list(range(0, want["fetched"], 500))
    assert all(skips[skip] == 1 for skip in data_pages), skips

    store = engine.open_store(config.store_url)
    try:
        entries = store.journal_entries(sent.run_key)
    finally:
        store.close()
    ranges = [e for e in entries if e.status == "range-done"]
    assert [e.status for e in entries if e.step == ""] == ["started", "done"]
    assert len({e.detail["index"] for e in ranges}) == len(ranges) >= -(-want["fetched"] // 500)
    per_worker = [sum(1 for line in w.text().splitlines() if "specbridge.sync_range[" in line and "succeeded" in line)
                  for w in workers.started]
    assert sum(per_worker) == len(ranges), workers.logs()  # no range task ran twice
    with capsys.disabled():
        print(f"\n[scale] SnelStart sync of {sim.generated.count} relations ({want['fetched']} active, {saved} saved) "
              f"in {len(ranges)} page-range tasks on 2 workers x 2 processes: {elapsed:.1f} s; "
              f"range tasks per worker {per_worker}")
