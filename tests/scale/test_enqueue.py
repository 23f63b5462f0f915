"""Sending work: in-process without a broker, what a task carries, retries and dead letters."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scale_helpers import (
    SNELSTART_CLIENT_KEY,
    SNELSTART_CREATE,
    SNELSTART_CREATE_FLOW,
    SNELSTART_KEY_VARS,
    SNELSTART_SUBSCRIPTION_KEY,
    SPECTER,
    SPECTER_FLOW,
    SPECTER_KEY,
    SPECTER_KEY_VAR,
    SPECTER_SBM,
    SPECTER_USER,
    creates,
    customers,
    seed,
    snelstart_settings,
    specter_settings,
    stored,
    write_settings,
)

import engine
import workers as workers_api
from engine.cli import cli
from engine.store import JournalEntry
from simulators.faults import Fault
from simulators.snelstart import SnelStartSimulator
from simulators.specter import SpecterSimulator
from workers.runs import close_runtimes

TENANT = "acme"


def _code(store_url: str, guid: str) -> str | None:
    return next((c.get("CustomerCode") for c in stored(store_url, TENANT) if c["CustomerGuid"] == guid), None)


def test_without_a_broker_enqueue_runs_in_this_process(tmp_path: Path, monkeypatch) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    records = customers(1, "inline")
    seed(store_url, TENANT, records)
    (tmp_path / "input.json").write_text(json.dumps(records[0]))
    sim = SpecterSimulator(SPECTER_SBM, SPECTER_USER, SPECTER_KEY)
    env = {"SPECBRIDGE_REDIS_URL": None, "SPECBRIDGE_STORE": store_url,
           "SPECBRIDGE_SETTINGS_DIR": str(tmp_path / "settings"), SPECTER_KEY_VAR: SPECTER_KEY}
    args = ["enqueue", str(SPECTER), "--input", str(tmp_path / "input.json"), "--tenant", TENANT, "--user", "jdoe"]
    with sim.serve() as server:
        write_settings(tmp_path / "settings", TENANT, SPECTER_FLOW, specter_settings(server.url))
        first = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        again = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        other = CliRunner().invoke(cli, [*args[:4], "--tenant", "globex"], env=env, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "no broker configured (SPECBRIDGE_REDIS_URL is not set and no --redis given)" in first.stderr
    assert first.stdout.strip() == "Created Specter customer 10001"
    assert again.exit_code == 0 and "already went through this flow" in again.stderr
    assert again.stdout.strip() == "Created Specter customer 10001"
    assert len(sim.customers) == 1 and _code(store_url, records[0]["CustomerGuid"]) == "10001"
    # A tenant without a settings file: one clear line naming where its settings were looked for.
    assert other.exit_code == 1
    assert other.stderr.startswith(f"error: tenant globex, flow {SPECTER_FLOW} (settings from "
                                   f"{tmp_path}/settings/globex/{SPECTER_FLOW}.yaml (missing)): setting "), other.stderr
    assert SPECTER_KEY not in first.output + again.output + other.output


@pytest.mark.redis
@pytest.mark.postgres
def test_tasks_carry_no_settings_and_failures_retry_or_become_dead_letters(workers, config, settings_dir, redis_url):
    import redis
    records = customers(4, "e")
    nameless = {**records[3], "CustomerName": ""}
    seed(config.store_url, TENANT, records[:3] + [nameless])
    sim = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY)
    workers.env.update(SNELSTART_KEY_VARS)
    with sim.serve() as server:
        write_settings(settings_dir, TENANT, SNELSTART_CREATE_FLOW, snelstart_settings(server.base_url, server.token_url))
        # SnelStart throttles for longer than the transport's own retries last: the run is retried later.
        for _ in range(5):
            sim.faults.append(Fault("status", 429, retry_after=0, method="POST", path="/v2/relaties"))
        busy = workers_api.enqueue(SNELSTART_CREATE, records[0], tenant=TENANT, user="jdoe", config=config)

        # What the task message holds, read from Redis before any worker takes it.
        raw = redis.Redis.from_url(redis_url).lrange(config.queue, 0, -1)
        assert len(raw) == 1
        message = json.loads(raw[0])
        args = json.loads(base64.b64decode(message["body"]))[0]
        assert args == [{"v": 1, "kind": "flow", "spec": str(SNELSTART_CREATE), "flow": SNELSTART_CREATE_FLOW,
                         "tenant": TENANT, "user": "jdoe", "record": records[0], "encoding": "json",
                         "run_key": busy.run_key}]
        for secret_or_setting in (SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY, *SNELSTART_KEY_VARS,
                                  server.base_url, "ClientKey"):
            assert secret_or_setting not in raw[0].decode(), secret_or_setting

        workers.start(concurrency=2)
        busy_result = busy.wait(60)["result"]  # alone, so the 429s are all its own
        refused = workers_api.enqueue(SNELSTART_CREATE, nameless, tenant=TENANT, user="jdoe", config=config)
        stranger = workers_api.enqueue(SNELSTART_CREATE, records[1], tenant="initech", user="jdoe", config=config)
        explicit = workers_api.enqueue(SNELSTART_CREATE, records[2], tenant=TENANT, user="jdoe", run_key="order-77",
                                       config=config)

        with pytest.raises(workers_api.RunFailed, match="400"):
            refused.wait(60)
        with pytest.raises(workers_api.RunFailed, match="tenant initech"):
            stranger.wait(60)
        assert explicit.wait(60)["run_key"] == "order-77"

        # The same through the command line, waiting for the outcome.
        (settings_dir / "in.json").write_text(json.dumps(records[1]))
        env = {"SPECBRIDGE_REDIS_URL": redis_url, "SPECBRIDGE_QUEUE": config.queue,
               "SPECBRIDGE_STORE": config.store_url, "SPECBRIDGE_SETTINGS_DIR": str(settings_dir)}
        cli_run = CliRunner().invoke(cli, ["enqueue", str(SNELSTART_CREATE), "--input", str(settings_dir / "in.json"),
                                           "--tenant", TENANT, "--user", "jdoe", "--wait", "--timeout", "60"],
                                     env=env, catch_exceptions=False)
        assert cli_run.exit_code == 0, cli_run.output
        assert "queued snelstart-create-customer:" in cli_run.stderr

    codes = {r["naam"]: str(r["relatiecode"]) for r in sim.created}
    assert busy_result == f"Customer {codes[records[0]['CustomerName']]} saved in SnelStart"
    assert cli_run.stdout.strip() == f"Customer {codes[records[1]['CustomerName']]} saved in SnelStart"
    assert len(sim.faults.fired) == 5 and len(sim.created) == 3  # five 429s, then three creates
    assert sum(w.text().count("retry 1 of 3") for w in workers.started) == 1, workers.logs()
    store = engine.open_store(config.store_url)
    try:
        letters = {letter.run_key: letter for letter in store.dead_letters()}
        busy_steps = [(e.step, e.status) for e in store.journal_entries(busy.run_key)]
    finally:
        store.close()
    # The retried run resumed through the journal and its dead letter was cleared once it succeeded.
    assert busy_steps[:4] == [("", "started"), ("create", "sent"), ("create", "failed"), ("create", "error")]
    assert ("", "resumed") in busy_steps and busy_steps[-1] == ("", "done"), busy_steps
    assert set(letters) == {refused.run_key, stranger.run_key}
    assert "400" in letters[refused.run_key].reason
    assert letters[stranger.run_key].record == records[1]
    assert f"initech/{SNELSTART_CREATE_FLOW}.yaml (missing)" in letters[stranger.run_key].reason
    assert SNELSTART_CLIENT_KEY not in workers.logs()
    close_runtimes()


def test_a_specter_create_whose_answer_was_lost_is_found_by_its_detect_rule(tmp_path: Path) -> None:
    """What a redelivered task meets after a worker died between Specter's commit and its answer."""
    store = engine.open_store(f"sqlite:///{tmp_path / 'store.db'}")
    record = customers(1, "lost")[0]
    store.import_document({"customers": [record]}, TENANT)
    plan = engine.load_spec(SPECTER)
    sim = SpecterSimulator(SPECTER_SBM, SPECTER_USER, SPECTER_KEY)
    sim.customers["10001"] = {"name": record["CustomerName"]}  # Specter did create it
    key = "lost-answer-1"
    store.journal(JournalEntry(key, SPECTER_FLOW, "", "started", {}))
    store.journal(JournalEntry(key, SPECTER_FLOW, "submit", "sent", {"attempt": 1}))
    try:
        with sim.serve() as server:
            settings = {**specter_settings(server.url), "ApiWriteUserKey": SPECTER_KEY}
            result = plan.run(record, settings=settings, store=store, user="jdoe", tenant=TENANT, run_key=key)
        assert result.message == "Created Specter customer 10001"
        assert creates(sim) == 0
    finally:
        store.close()


@pytest.mark.redis
@pytest.mark.postgres
def test_rotating_refresh_tokens_are_kept_per_tenant(config, settings_dir, store_url):
    """Two tenants on one flow, each with its own AccountView and refresh token, in a shared store.

    Each run gets a fresh Runtime (as a new worker process would: no access token in memory), so
    every run refreshes with the token the store holds for its tenant.
    """
    from simulators.accountview import AccountViewSimulator
    from workers.runs import Runtime, flow_payload, run_flow

    spec = SPECTER.parents[1] / "accountview" / "create-customer.yaml"
    flow = "accountview-create-customer"
    sims = {tenant: AccountViewSimulator(f"app-{tenant}", f"secret-{tenant}", f"refresh-0-{tenant}", company)
            for tenant, company in (("acme", "c0ffee"), ("globex", "beef00"))}
    store = engine.open_store(store_url)
    for tenant in sims:
        store.import_document({"customers": [{"CustomerGuid": f"g-{tenant}-{i}", "CustomerCode": "",
                                              "CustomerName": f"{tenant} {i}",
                                              "ContactPersons": [{"FirstName": "A", "LastName": f"B{i}",
                                                                  "Email": f"a{i}@{tenant}.example"}]}
                                             for i in range(2)]}, tenant)
    try:
        with sims["acme"].serve() as acme_server, sims["globex"].serve() as globex_server:
            for tenant, server in (("acme", acme_server), ("globex", globex_server)):
                sim = sims[tenant]
                write_settings(settings_dir, tenant, flow, {
                    "BaseUrl": f"{server.url}/api/v3", "ClientId": f"app-{tenant}", "ClientSecret": f"secret-{tenant}",
                    "RefreshToken": f"refresh-0-{tenant}", "CompanyId": sim.company_id})
            plan = engine.load_spec(spec)
            results = []
            for i, tenant in ((0, "acme"), (0, "globex"), (1, "acme"), (1, "globex")):
                record = f"<NewCustomers><Customer><customerGuid>g-{tenant}-{i}</customerGuid></Customer></NewCustomers>"
                rt = Runtime(config)
                try:
                    payload = flow_payload(plan, str(spec), record.encode(), tenant=tenant, user=None, run_key=None)
                    results.append(run_flow(rt, payload)["result"])
                finally:
                    rt.close()
        assert results == ["Succes: 500000", "Succes: 500000", "Succes: 500001", "Succes: 500001"]
        for tenant, sim in sims.items():
            assert sim.refresh_count == 2 and sim.faults.fired == []
            assert store.load_token(f"{tenant}/{flow}:accountview") == sim.current_refresh_token
        assert store.load_token(f"{flow}:accountview") is None  # nothing under the shared, tenant-less key
    finally:
        store.close()
