"""SnelStart customer sync (inbound), end to end: simulator with generated relations -> `specbridge run` -> store.

Expected numbers are counted from the simulator's own generated data, never hard-coded.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from e2e_helpers import (
    FTP_PASSWORD,
    FTP_USER,
    SNELSTART_SYNC,
    all_customers,
    customer_in_store,
    snelstart_settings_for,
)

from simulators.snelstart_data import LAND_BY_ID


def expected(sim: Any) -> dict[str, Any]:
    """What the default filter should do with the simulator's relations: active, of type Klant."""
    gen = sim.generated
    active = [i for i in range(gen.count) if not gen.nonactief(i)]
    klant = [i for i in active if "Klant" in gen.relatiesoort(i)]
    return {"fetched": len(active), "filtered": len(active) - len(klant),
            "codes": {str(gen.relatiecode(i)) for i in klant}, "klant": klant}


def counts_line(outcome) -> dict[str, int]:
    """The JSON counts `run` prints on stderr for an inbound flow."""
    lines = [line for line in outcome.stderr.splitlines() if line.startswith("{")]
    assert lines, outcome
    counts = json.loads(lines[-1])
    reasons = counts.pop("filtered_reasons", {})
    assert sum(reasons.values()) == counts["filtered"], "every filtered record is counted under its reason"
    return counts


def relaties_pages(sim: Any) -> list[tuple[int, int]]:
    return [(int(r.query["$skip"]), int(r.query["$top"])) for r in sim.requests
            if r.method == "GET" and r.path == "/v2/relaties"]


def test_1234_customers_are_synced_then_unchanged(start_snelstart, flow, store_url):
    running = start_snelstart(customers=1234, seed=7)
    sim, want = running.sim, expected(running.sim)
    settings = snelstart_settings_for(running.server)

    first = flow.run(SNELSTART_SYNC, {}, settings, subprocess_=True)

    assert first.exit_code == 0, first
    saved = len(want["codes"])
    assert first.stdout.strip() == (f"{want['fetched']} fetched, {want['filtered']} filtered out, {saved} created, "
                                    f"0 updated, 0 unchanged, 0 rejected")
    assert counts_line(first) == {"fetched": want["fetched"], "filtered": want["filtered"], "created": saved,
                                  "updated": 0, "unchanged": 0, "rejected": 0}
    stored = all_customers(store_url)
    assert {c["CustomerCode"] for c in stored} == want["codes"]
    assert len(stored) == saved
    # Server-side filter, 500 per page, stopped by the first empty page.
    assert relaties_pages(sim) == [(0, 500), (500, 500), (1000, 500), (want["fetched"], 500)]
    assert all(r.query.get("$filter") == "Nonactief eq false" for r in sim.requests if r.path == "/v2/relaties")

    # One customer, field by field, against the record the simulator served.
    record = sim.generated.record(want["klant"][0])
    customer = customer_in_store(store_url, code=str(record["relatiecode"]))
    assert customer["CustomerName"] == record["naam"]
    assert customer["InternalCode"] == record["id"]
    assert customer["IsActive"] is True
    delivery = next(a for a in customer["Addresses"] if a["AddressType"] == "DEL")
    source = record["vestigingsAdres"] or record["correspondentieAdres"]
    assert delivery.get("AddressLine1") == source["straat"]
    assert delivery.get("City") == source["plaats"]
    assert delivery.get("Iso2") == LAND_BY_ID[source["land"]["id"]]["landcodeISO"]

    second = flow.run(SNELSTART_SYNC, {}, settings)

    assert second.exit_code == 0, second
    assert second.stdout.strip() == (f"{want['fetched']} fetched, {want['filtered']} filtered out, 0 created, "
                                     f"0 updated, {saved} unchanged, 0 rejected")
    assert len(all_customers(store_url)) == saved


def _generated_size_with_active(target: int, seed: int) -> int:
    """The smallest administration of this seed holding exactly `target` active relations."""
    from simulators.snelstart_data import GeneratedRelaties
    probe = GeneratedRelaties(3 * target, seed)
    active = 0
    for i in range(probe.count):
        active += not probe.nonactief(i)
        if active == target:
            return i + 1
    raise AssertionError(f"seed {seed} has fewer than {target} active relations in {probe.count}")


@pytest.mark.parametrize("active", [500, 1000])
def test_page_boundary(active, start_snelstart, flow, store_url):
    """Exactly one or two full pages: nothing dropped, nothing read twice, one empty page to stop."""
    running = start_snelstart(customers=_generated_size_with_active(active, seed=11), seed=11)
    want = expected(running.sim)
    assert want["fetched"] == active

    outcome = flow.run(SNELSTART_SYNC, {}, snelstart_settings_for(running.server))

    assert outcome.exit_code == 0, outcome
    assert counts_line(outcome)["fetched"] == active
    assert counts_line(outcome)["created"] == len(want["codes"])
    assert relaties_pages(running.sim) == [(skip, 500) for skip in range(0, active + 1, 500)]
    assert {c["CustomerCode"] for c in all_customers(store_url)} == want["codes"]


def test_extra_data_csv_on_sftp_with_a_malformed_row(start_snelstart, sftp, server_root, flow, store_url):
    running = start_snelstart(customers=40, seed=7)
    want = expected(running.sim)
    first, second, third = sorted(want["codes"], key=int)[:3]
    (server_root / "exports").mkdir()
    (server_root / "exports" / "extra.csv").write_bytes(
        ("CustomerCode,CustomerName,SearchCode,FreeField:Segment\r\n"
         f"{first},Jansen & Zn,JANS,Retail\r\n"
         f"{second},only two cells\r\n"
         f"{third},,,Horeca\r\n").encode())
    settings = snelstart_settings_for(
        running.server, ExtraDataServer=sftp.url, ExtraDataFile="/exports/extra.csv", ExtraDataUsername=FTP_USER,
        ExtraDataPassword=FTP_PASSWORD, ExtraDataKnownHostsFile=sftp.known_hosts)

    outcome = flow.run(SNELSTART_SYNC, {}, settings)

    assert outcome.exit_code == 0, outcome
    assert "extra_data (/exports/extra.csv) line 3: 2 cells where the header has 4; row skipped" in outcome.stderr
    assert counts_line(outcome)["created"] == len(want["codes"])
    one = customer_in_store(store_url, code=first)
    assert one["CustomerName"] == "Jansen & Zn" and one["SearchCode"] == "JANS"
    assert one["FreeFields"]["Segment"] == "Retail"
    gen = running.sim.generated
    two = customer_in_store(store_url, code=second)
    assert two["CustomerName"] == gen.naam(gen.index_of_code(int(second)))  # the bad row changed nothing
    three = customer_in_store(store_url, code=third)
    assert three["CustomerName"] == gen.naam(gen.index_of_code(int(third)))  # empty cells overwrite nothing
    assert three["FreeFields"]["Segment"] == "Horeca"
    assert FTP_PASSWORD not in outcome.output
