"""Fault storms over the four outbound flows: nothing duplicated, nothing lost, no partial file.

Each flow sends a stream of distinct new customers to its simulator (Monitor: to real FTP and
SFTP servers) while a seeded random choice of faults is injected: 5xx answers and 5xx storms,
429s, connections dropped before or after the server did the work, timeouts (the server commits
and then stalls past the client's timeout, or stalls before doing the work), token endpoint
failures, and uploads cut off mid-file. Every run either writes back or ends as a dead letter;
the dead letters are then replayed (first under more faults, then cleanly through
`specbridge replay`), after which every customer must be in the ERP exactly once and written
back, and every uploaded file byte-identical with no temporary file left.

The four storms run side by side in threads (each flow has its own simulator and store) and
once per session; the tests below read their counts. The summary is printed (pytest -s) and
written as JSON (`storm-counts.json` under the session's tmp dir).
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
import socket
import threading
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from e2e_helpers import (
    ACCOUNTVIEW,
    AV_CLIENT,
    AV_COMPANY,
    AV_FIRST_REFRESH,
    AV_SECRET,
    FTP_PASSWORD,
    FTP_USER,
    MONITOR,
    SNELSTART,
    SNELSTART_CLIENT_KEY,
    SNELSTART_SUBSCRIPTION_KEY,
    SPECTER,
    SPECTER_KEY,
    SPECTER_SBM,
    SPECTER_USER,
    snelstart_settings_for,
)
from reliability_helpers import (
    SPEC_SETTLE,
    SPECTER_DETECT_BROKEN,
    STORM_SUMMARY,
    AccountViewHarness,
    Harness,
    MonitorHarness,
    SnelStartHarness,
    SpecterHarness,
    duplicates,
    leftovers,
)

from engine.cli import cli
from engine.errors import SpecbridgeError
from engine.store import open_store
from simulators.accountview import AccountViewSimulator
from simulators.faults import Fault, holding
from simulators.servers import ftp_server, sftp_server
from simulators.snelstart import SnelStartSimulator
from simulators.specter import SpecterSimulator

SEED = 20260301
ITERATIONS = {"specter": 85, "snelstart": 85, "accountview": 85, "monitor": 70}
MIN_FAULTS = 500

pytestmark = pytest.mark.storm


@dataclass
class StormResult:
    flow: str
    customers: int = 0
    ok_first_time: int = 0
    failed_first_time: int = 0
    injected: collections.Counter[str] = field(default_factory=collections.Counter)
    crashes: list[str] = field(default_factory=list)  # non-SpecbridgeError exceptions (tracebacks)
    lost_at_failure: list[str] = field(default_factory=list)  # failed and not in the dead letters
    replayed_with_faults: tuple[int, int] = (0, 0)
    kept_after_success: list[str] = field(default_factory=list)  # replayed fine, dead letter still there
    cli_replay: str = ""
    not_written_back: list[str] = field(default_factory=list)
    dead_letters_left: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    duplicate_causes: dict[str, list[str]] = field(default_factory=dict)
    partial_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"customers": self.customers, "ok_first_time": self.ok_first_time,
                "failed_first_time": self.failed_first_time, "faults_injected": dict(self.injected),
                "faults_total": sum(self.injected.values()), "crashes": len(self.crashes),
                "lost": len(self.lost_at_failure) + len(self.not_written_back),
                "dead_letters_left": self.dead_letters_left, "duplicates": len(self.duplicates),
                "duplicate_causes": self.duplicate_causes, "partial_files": len(self.partial_files),
                "replayed_with_faults_ok_failed": list(self.replayed_with_faults),
                "cli_replay": self.cli_replay, "seconds": round(self.seconds, 1)}


def _still_dead(h: Harness, run_keys: list[str]) -> list[str]:
    """Run keys that replayed successfully and still have a dead letter (the engine must clear it)."""
    dead = {letter.run_key for letter in h.store.dead_letters(h.plan.name)}
    return [key for key in run_keys if key in dead]


def _inject(h: Harness, rng: random.Random, result: StormResult, labels: dict[int, str], *,
            count: int | None = None) -> list[Fault]:
    menu = h.fault_menu()
    picks = rng.choices(menu, k=count if count is not None else rng.choice([1, 1, 1, 2, 2, 3]))
    faults: list[Fault] = []
    for label, make in picks:
        for fault in make(rng):
            labels[id(fault)] = label
            faults.append(fault)
    h.sim.faults.clear()
    h.sim.faults.extend(faults)
    return faults


def _count_fired(h: Harness, queued: list[Fault], result: StormResult, labels: dict[int, str]) -> list[str]:
    fired_ids = {id(f) for f in h.sim.faults.fired}
    fired = [labels[id(f)] for f in queued if id(f) in fired_ids]
    result.injected.update(fired)
    h.sim.faults.clear()
    h.sim.faults.fired.clear()
    return fired


def _attempt(h: Harness, name: str, record: Any, result: StormResult) -> bool:
    try:
        h.run(record)
        return True
    except SpecbridgeError:
        if h.run_key(record) not in h.dead_letter_keys():
            result.lost_at_failure.append(name)
        return False
    except Exception:  # a traceback is a bug: keep it for the report
        result.crashes.append(f"{name}: {traceback.format_exc()}")
        return False


_CLI = threading.Lock()  # CliRunner swaps sys.stdout: one invocation at a time


def _cli_replay(spec: Path, settings: dict[str, Any], store_url: str, folder: Path) -> str:
    """`specbridge replay SPEC --settings FILE --store URL`; its closing line."""
    path = folder / f"replay-settings-{spec.parent.name}.json"
    path.write_text(json.dumps(settings))
    with _CLI:
        outcome = CliRunner().invoke(cli, ["replay", str(spec), "--settings", str(path), "--store", store_url])
    lines = (outcome.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {outcome.exit_code}: {outcome.output[-300:]}"


def _finish(h: Harness, result: StormResult, names: list[str], fault_log: dict[str, list[str]]) -> None:
    result.not_written_back = [n for n in names if not h.written_back(n)]
    result.dead_letters_left = len(h.store.dead_letters(h.plan.name))
    result.duplicates = duplicates(h.erp_counts())
    result.duplicate_causes = {str(k): fault_log.get(str(k), []) for k in result.duplicates}


def storm_http(h: Harness, folder: Path, store_url: str, seed: int) -> StormResult:
    import time
    started = time.perf_counter()
    rng = random.Random(seed)
    result = StormResult(h.name)
    labels: dict[int, str] = {}
    names: list[str] = []
    fault_log: dict[str, list[str]] = {}
    try:
        for n in range(ITERATIONS[h.name]):
            name, record = h.new_customer(n)
            names.append(name)
            queued = _inject(h, rng, result, labels)
            ok = _attempt(h, name, record, result)
            fault_log.setdefault(name, []).extend(_count_fired(h, queued, result, labels))
            result.ok_first_time += ok
            result.failed_first_time += not ok
        result.customers = len(names)
        # Replay the dead letters once under one more fault each, then cleanly through the CLI.
        letters = h.store.dead_letters(h.plan.name)
        ok = failed = 0
        succeeded: list[str] = []
        for letter in letters:
            queued = _inject(h, rng, result, labels, count=1)
            try:
                h.run(letter.record, run_key=letter.run_key)  # a success clears its dead letter itself
                ok += 1
                succeeded.append(letter.run_key)
            except SpecbridgeError:
                failed += 1
            except Exception:
                result.crashes.append(f"replay {letter.run_key}: {traceback.format_exc()}")
            name = _name_of(h, letter.record)
            fault_log.setdefault(name, []).extend(f"replay:{x}" for x in _count_fired(h, queued, result, labels))
        result.replayed_with_faults = (ok, failed)
        result.kept_after_success = _still_dead(h, succeeded)
        h.sim.faults.release_all()
        # The command line runs with the spec's own settle time: let every lost answer age past it
        # once, rather than have the replay wait for each letter in turn.
        time.sleep(SPEC_SETTLE + 0.2)
        result.cli_replay = _cli_replay(h.spec, h.settings, store_url, folder)
        _finish(h, result, names, fault_log)
    finally:
        h.sim.faults.release_all()
        result.seconds = time.perf_counter() - started
    return result


def _name_of(h: Harness, record: Any) -> str:
    for name, sent in h.records.items():
        if sent == record or (isinstance(sent, bytes) and isinstance(record, str)
                              and sent == record.encode("utf-8", "surrogateescape")):
            return name
    return "?"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def storm_monitor(h: MonitorHarness, folder: Path, store_url: str, seed: int) -> StormResult:
    """Uploads to real FTP and SFTP servers, each started with a drop point mid-file (or none)."""
    import time
    started = time.perf_counter()
    rng = random.Random(seed)
    result = StormResult(h.name)
    names: list[str] = []
    fault_log: dict[str, list[str]] = {}
    root = h.root
    try:
        for n in range(ITERATIONS["monitor"]):
            name, record = h.new_customer(n)
            names.append(name)
            proto = rng.choice(["ftp", "sftp"])
            kind = rng.choices(["drop", "none", "refused"], weights=[8, 1, 1])[0]
            drop = rng.randint(1, len(record) - 1) if kind == "drop" else None
            if kind == "refused":  # nothing listens: the server is down
                h.settings = {"FtpServerAddress": f"{proto}://127.0.0.1:{_closed_port()}",
                              "Username": FTP_USER, "Password": FTP_PASSWORD}
                ok = _attempt(h, name, record, result)
                result.injected["connection_refused"] += 1
                fault_log[name] = ["connection_refused"]
            else:
                server = (ftp_server(root, FTP_USER, FTP_PASSWORD, drop_after=drop) if proto == "ftp"
                          else sftp_server(root, FTP_USER, FTP_PASSWORD, drop_after=drop))
                with server as srv:
                    h.settings = {"FtpServerAddress": srv.url, "Username": FTP_USER, "Password": FTP_PASSWORD,
                                  "KnownHostsFile": getattr(srv, "known_hosts", "")}
                    ok = _attempt(h, name, record, result)
                if drop is not None:
                    label = f"{proto}_drop_mid_upload"
                    result.injected[label] += 1
                    fault_log[name] = [label]
            result.ok_first_time += ok
            result.failed_first_time += not ok
        result.customers = len(names)
        # Replay: once more against servers that drop again (half of them), then cleanly via the CLI.
        ok = failed = 0
        succeeded: list[str] = []
        for letter in h.store.dead_letters(h.plan.name):
            drop = rng.choice([None, rng.randint(1, 15_000)])
            with sftp_server(root, FTP_USER, FTP_PASSWORD, drop_after=drop) as srv:
                h.settings = {"FtpServerAddress": srv.url, "Username": FTP_USER, "Password": FTP_PASSWORD,
                              "KnownHostsFile": srv.known_hosts}
                try:
                    h.run(letter.record, run_key=letter.run_key, timeout=5)  # clears its dead letter
                    ok += 1
                    succeeded.append(letter.run_key)
                except SpecbridgeError:
                    failed += 1
            if drop is not None:
                result.injected["sftp_drop_mid_upload"] += 1
        result.replayed_with_faults = (ok, failed)
        result.kept_after_success = _still_dead(h, succeeded)
        with ftp_server(root, FTP_USER, FTP_PASSWORD) as srv:
            h.settings = {"FtpServerAddress": srv.url, "Username": FTP_USER, "Password": FTP_PASSWORD}
            result.cli_replay = _cli_replay(h.spec, h.settings, store_url, folder)
        _finish(h, result, names, fault_log)
        result.partial_files = leftovers(root)
        result.partial_files += [f"{n}.xml differs" for n in names
                                 if (root / "customers" / f"{n}.xml").exists() and not h.written_back(n)]
        expected = {f"{n}.xml" for n in names}
        result.partial_files += [f"unexpected {p.name}" for p in (root / "customers").iterdir()
                                 if p.name not in expected]
    finally:
        result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _harnesses(base: Path) -> Iterator[dict[str, tuple[Harness, str]]]:
    """A simulator, a store and a harness per flow (module scope, so the storm runs once)."""
    with contextlib.ExitStack() as stack:
        made: dict[str, tuple[Harness, str]] = {}

        def store_for(flow: str) -> tuple[Any, str]:
            url = f"sqlite:///{base / (flow + '.db')}"
            store = open_store(url)
            stack.callback(store.close)
            return store, url

        specter = SpecterSimulator(SPECTER_SBM, SPECTER_USER, SPECTER_KEY)
        server = stack.enter_context(specter.serve())
        store, url = store_for("specter")
        made["specter"] = (SpecterHarness("specter", SPECTER, {
            "BaseUrl": server.url, "SbmId": SPECTER_SBM, "ApiWriteUserId": SPECTER_USER,
            "ApiWriteUserKey": SPECTER_KEY}, store, specter), url)

        snelstart = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY)
        snelstart.app = holding(snelstart.app, snelstart.faults)  # type: ignore[method-assign]
        server = stack.enter_context(snelstart.serve())
        store, url = store_for("snelstart")
        made["snelstart"] = (SnelStartHarness("snelstart", SNELSTART, snelstart_settings_for(server), store,
                                              snelstart), url)

        accountview = AccountViewSimulator(AV_CLIENT, AV_SECRET, AV_FIRST_REFRESH, AV_COMPANY)
        server = stack.enter_context(accountview.serve())
        store, url = store_for("accountview")
        made["accountview"] = (AccountViewHarness("accountview", ACCOUNTVIEW, {
            "BaseUrl": f"{server.url}/api/v3", "ClientId": AV_CLIENT, "ClientSecret": AV_SECRET,
            "RefreshToken": AV_FIRST_REFRESH, "CompanyId": AV_COMPANY, "SendContactAsMainContact": True},
            store, accountview), url)

        store, url = store_for("monitor")
        monitor = MonitorHarness("monitor", MONITOR, {}, store)
        monitor.root = base / "ftp-root"
        (monitor.root / "customers").mkdir(parents=True)
        made["monitor"] = (monitor, url)
        yield made


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StormResult]:
    base = tmp_path_factory.mktemp("storm")
    with _harnesses(base) as made, ThreadPoolExecutor(max_workers=len(made)) as pool:
        futures = {}
        for index, (flow, (h, url)) in enumerate(made.items()):
            run = storm_monitor if flow == "monitor" else storm_http
            futures[flow] = pool.submit(run, h, base, url, SEED + index)
        results = {flow: future.result() for flow, future in futures.items()}
    summary = {flow: r.summary() for flow, r in results.items()}
    totals = collections.Counter[str]()
    for r in results.values():
        totals.update(r.injected)
    summary["total"] = {
        "faults_injected": dict(sorted(totals.items())), "faults_total": sum(totals.values()),
        "duplicates": sum(len(r.duplicates) for r in results.values()),
        "lost": sum(len(r.lost_at_failure) + len(r.not_written_back) for r in results.values()),
        "partial_files": sum(len(r.partial_files) for r in results.values()),
        "crashes": sum(len(r.crashes) for r in results.values()),
        "seconds_wall": round(max(r.seconds for r in results.values()), 1)}
    out = base / "storm-counts.json"
    out.write_text(json.dumps(summary, indent=2, sort_keys=True))
    STORM_SUMMARY.update(summary, file=str(out))
    print(f"\n=== fault storm (seed {SEED}) -> {out}")
    for flow, counts in summary.items():
        print(f"{flow:12s} {json.dumps(counts, sort_keys=True)}")
    return results


# --- what the storm must show -------------------------------------------------------------------

FLOWS = ["specter", "snelstart", "accountview", "monitor"]


def test_at_least_500_faults_of_every_kind_were_injected(storm: dict[str, StormResult]) -> None:
    totals = collections.Counter[str]()
    for result in storm.values():
        totals.update(result.injected)
    assert sum(totals.values()) >= MIN_FAULTS, totals
    for kind in ("5xx", "5xx_storm", "429", "drop_before", "drop_after", "timeout", "timeout_before_commit",
                 "ftp_drop_mid_upload",
                 "sftp_drop_mid_upload", "connection_refused"):
        assert totals[kind] > 0, (kind, totals)


@pytest.mark.parametrize("flow", FLOWS)
def test_no_traceback(storm: dict[str, StormResult], flow: str) -> None:
    assert storm[flow].crashes == []


@pytest.mark.parametrize("flow", FLOWS)
def test_every_failed_run_is_a_dead_letter(storm: dict[str, StormResult], flow: str) -> None:
    result = storm[flow]
    assert result.failed_first_time > 0  # the storm really failed runs
    assert result.lost_at_failure == []


@pytest.mark.parametrize("flow", FLOWS)
def test_after_replay_every_customer_is_written_back(storm: dict[str, StormResult], flow: str) -> None:
    result = storm[flow]
    assert result.not_written_back == []
    assert result.replayed_with_faults[0] > 0 and result.kept_after_success == []
    assert result.dead_letters_left == 0
    assert result.cli_replay.endswith("0 still failing"), result.cli_replay


STORM_BUGS = {} if not SPECTER_DETECT_BROKEN else {
    "specter": "BUG: every lost Specter answer (drop after commit, timeout) ends in a second customer: the "
               "detect GET does not ask for useXML=2, so the plain-text answer never matches `found` and the "
               "replay re-sends the create (see test_fault_cases BUG_SPECTER)",
}


@pytest.mark.parametrize("flow", [
    pytest.param(f, marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=STORM_BUGS[f])]
                 if f in STORM_BUGS else []) for f in FLOWS])
def test_no_customer_is_duplicated_in_the_erp(storm: dict[str, StormResult], flow: str) -> None:
    result = storm[flow]
    assert result.duplicates == {}, result.duplicate_causes


def test_no_partial_or_temporary_file_is_left(storm: dict[str, StormResult]) -> None:
    assert storm["monitor"].partial_files == []
