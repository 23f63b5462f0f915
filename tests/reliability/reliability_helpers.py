"""Helpers for the reliability suite: fast connections, one harness per outbound flow, counting.

A harness knows one outbound flow end to end: how to make the n-th distinct customer (record and
store seed), how to run it in-process with short timeouts, whether its result reached the store
(the write-back) and how many records the ERP simulator holds per customer (to count duplicates).

Timeouts and retry waits come from the spec's `connections:`; the suite shortens them the only
way the engine allows without editing a spec: `Plan.run(connections=...)` with the spec's own
connection declarations, re-rendered with a short timeout and short backoff. Likewise the
detect rules' settle time (5 s by default: how long an ERP may still be working on a request whose
answer was lost) is scaled down through the run's injected `Services.sleep`, to stay above the
simulators' own delays (HANG) while keeping hundreds of lost answers affordable.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engine
from engine.connections import Connections
from engine.errors import SpecbridgeError
from engine.journal import content_run_key
from engine.runtime import Services
from engine.settings import resolve
from simulators.faults import Fault

STORM_SUMMARY: dict[str, Any] = {}  # the fault storm's counts, for the terminal summary
CLIENT_TIMEOUT = 0.25  # seconds: the suite's HTTP read timeout
HANG = 0.45  # seconds a "timeout" fault holds (or delays) an answer: well past CLIENT_TIMEOUT
SETTLE_SCALE = 0.12  # a spec's settle time of 5 s becomes 0.6 s: still longer than HANG
SPEC_SETTLE = 5.0  # the detect rules' settle time in the seed specs (the engine's default)


def scaled_sleep(seconds: float) -> None:
    time.sleep(seconds * SETTLE_SCALE)


def fast_connections(plan: engine.Plan, settings: Mapping[str, Any], store: Any, *,
                     timeout: float = CLIENT_TIMEOUT, attempts: int | None = None) -> Connections:
    """The spec's own connections with a short timeout and a quick, bounded backoff."""
    decls = {}
    for name, decl in plan.connections.items():
        retry = {**decl.retry, "timeout": 8.0, "wait_initial": 0.005, "wait_max": 0.02, "wait_jitter": 0.0}
        if attempts is not None:
            retry["attempts"] = attempts
        decls[name] = dataclasses.replace(decl, flags={**decl.flags, "timeout": timeout}, retry=retry)
    return Connections(decls, resolve(plan.settings, settings), plan.name, store)


def run_fast(plan: engine.Plan, record: Any, settings: Mapping[str, Any], store: Any, *,
             run_key: str | None = None, timeout: float = CLIENT_TIMEOUT) -> engine.Result:
    """`Plan.run` with short timeouts and backoff and a scaled settle time (see the module notes)."""
    connections = fast_connections(plan, settings, store, timeout=timeout)
    try:
        services = Services(store=store, connections=connections, sleep=scaled_sleep)
        return plan.execute(record, resolve(plan.settings, settings), services, user=None, tenant="default",
                            run_key=run_key)
    finally:
        connections.close()


def run_key_of(plan: engine.Plan, record: Any, settings: Mapping[str, Any], user: str | None = None,
               tenant: str = "default") -> str:
    """The key `Plan.run` gives this record by content (what a retried command gets again)."""
    return content_run_key(plan.name, tenant, user, record, resolve(plan.settings, settings).values)


def duplicates(counter: Mapping[Any, int]) -> dict[Any, int]:
    return {key: n for key, n in counter.items() if n > 1}


def leftovers(root: Path) -> list[str]:
    """Temporary or hidden files anywhere under `root` (what an interrupted upload leaves)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and (p.name.startswith(".") or p.suffix in (".part", ".tmp")))


# --- one harness per outbound flow ------------------------------------------------------------------

@dataclass
class Harness:
    """One outbound flow against its simulator, with a store."""

    name: str
    spec: Path
    settings: dict[str, Any]
    store: Any
    sim: Any = None
    plan: engine.Plan = field(init=False)
    records: dict[str, Any] = field(default_factory=dict)  # customer name -> record sent

    def __post_init__(self) -> None:
        self.plan = engine.load_spec(self.spec)

    # to be given per flow
    def customer(self, n: int) -> tuple[str, Any, dict[str, Any]]:
        """(unique name, the record to send, the store row to seed)."""
        raise NotImplementedError

    def written_back(self, name: str) -> bool:
        raise NotImplementedError

    def erp_counts(self) -> collections.Counter[Any]:
        """Records per customer name in the ERP (after the loop: must all be 1)."""
        raise NotImplementedError

    def fault_menu(self) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
        """(kind label, rng -> faults to queue) choices for this flow's storm."""
        raise NotImplementedError

    # shared
    def new_customer(self, n: int) -> tuple[str, Any]:
        name, record, row = self.customer(n)
        self.store.import_document({"customers": [row]})
        self.records[name] = record
        return name, record

    def run(self, record: Any, *, run_key: str | None = None, timeout: float = CLIENT_TIMEOUT) -> engine.Result:
        return run_fast(self.plan, record, self.settings, self.store, run_key=run_key, timeout=timeout)

    def run_key(self, record: Any) -> str:
        return run_key_of(self.plan, record, self.settings)

    def dead_letter_keys(self) -> set[str]:
        return {letter.run_key for letter in self.store.dead_letters(self.plan.name)}

    def replay_dead_letters(self) -> tuple[int, int]:
        """Plan.run each dead letter under its run key (as `specbridge replay`); (ok, failed)."""
        ok = failed = 0
        seen: set[str] = set()
        for letter in self.store.dead_letters(self.plan.name):
            if letter.run_key in seen:
                continue
            seen.add(letter.run_key)
            try:
                self.run(letter.record, run_key=letter.run_key)
            except SpecbridgeError:
                failed += 1
                continue
            ok += 1
            for same in self.store.dead_letters(self.plan.name):
                if same.run_key == letter.run_key:
                    self.store.remove_dead_letter(same.id)
        return ok, failed

    def customer_row(self, guid: str) -> dict[str, Any] | None:
        return self.store.get_customer(guid=guid)


def _post(path: str) -> dict[str, Any]:
    return {"method": "POST", "path": path}


def _get(path: str) -> dict[str, Any]:
    return {"method": "GET", "path": path}


def http_menu(create: str, reads: list[str], token: bool) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
    """Fault choices for an HTTP flow: `create` is the POST path, `reads` the GET paths it uses."""
    def on_read(rng: Any) -> dict[str, Any]:
        return _get(rng.choice(reads))

    menu: list[tuple[str, Callable[[Any], list[Fault]]]] = [
        ("5xx", lambda rng: [Fault("status", rng.choice([500, 502, 503, 504]), **_post(create))]),
        ("5xx", lambda rng: [Fault("status", rng.choice([500, 503]), **on_read(rng))]),
        ("5xx_storm", lambda rng: [Fault("status", rng.choice([500, 502, 503, 504]))
                                   for _ in range(rng.randint(3, 7))]),
        ("429", lambda rng: [Fault("status", 429, retry_after=rng.choice([None, 0, 1]), **_post(create))]),
        ("429", lambda rng: [Fault("status", 429, retry_after=rng.choice([None, 1]), **on_read(rng))]),
        ("drop_before", lambda rng: [Fault("drop_before", **_post(create))]),
        ("drop_before", lambda rng: [Fault("drop_before", **on_read(rng))]),
        ("drop_after", lambda rng: [Fault("drop_after", **_post(create))]),
        ("drop_after", lambda rng: [Fault("drop_after", **on_read(rng))]),
        # A timeout after the ERP committed: the client gives up, the work is done.
        ("timeout", lambda rng: [Fault("hang_after", HANG, **_post(create))]),
        # A timeout before the ERP committed: the client gives up, the server does the work later.
        ("timeout_before_commit", lambda rng: [Fault("delay", HANG, **_post(create))]),
        # A slow read: the client gives up and retries the GET.
        ("timeout", lambda rng: [Fault("delay", HANG, **on_read(rng))]),
    ]
    if token:
        menu += [
            ("5xx", lambda rng: [Fault("status", rng.choice([500, 503]), target="token")]),
            ("drop_before", lambda rng: [Fault("drop_before", target="token")]),
            ("429", lambda rng: [Fault("status", 429, retry_after=1, target="token")]),
        ]
    return menu


class SpecterHarness(Harness):
    def customer(self, n: int) -> tuple[str, Any, dict[str, Any]]:
        name = f"Specter Reliability {n:04d}"
        guid = f"g-sp-{n:04d}"
        record = {"CustomerGuid": guid, "CustomerCode": "", "CustomerName": name,
                  "Email": f"sp{n}@example.test", "ContactPersons": [{"FirstName": "Ann", "LastName": f"N{n}"}]}
        return name, record, {"CustomerGuid": guid, "CustomerCode": "", "CustomerName": name}

    def written_back(self, name: str) -> bool:
        row = self.customer_row(self.records[name]["CustomerGuid"])
        ids = [cid for cid, c in self.sim.customers.items() if c.get("name") == name]
        return bool(row and row.get("CustomerCode")) and row["CustomerCode"] in ids

    def erp_counts(self) -> collections.Counter[Any]:
        return collections.Counter(c.get("name") for c in self.sim.customers.values())

    def fault_menu(self) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
        return http_menu("putInfo.asp", ["getInfo.asp"], token=False)


class SnelStartHarness(Harness):
    def customer(self, n: int) -> tuple[str, Any, dict[str, Any]]:
        name = f"SnelStart Reliability {n:04d}"
        guid = f"g-ss-{n:04d}"
        record = {"CustomerGuid": guid, "CustomerCode": "", "CustomerName": name, "Phone": "030-1",
                  "ContactPersons": [{"FullName": f"Piet {n}", "Email": f"ss{n}@example.test"}],
                  "Addresses": [{"AddressType": "DEL", "AddressLine1": "Weg 1", "PostCode": "1234 AB",
                                 "City": "Utrecht", "Iso2": "NL"}]}
        return name, record, {"CustomerGuid": guid, "CustomerCode": "", "CustomerName": name}

    def written_back(self, name: str) -> bool:
        row = self.customer_row(self.records[name]["CustomerGuid"])
        made = [r for r in self.sim.created if r.get("naam") == name]
        return bool(row and row.get("InternalCode")) and any(
            str(r.get("id")) == row["InternalCode"] and str(r.get("relatiecode")) == row.get("CustomerCode")
            for r in made)

    def erp_counts(self) -> collections.Counter[Any]:
        return collections.Counter(r.get("naam") for r in self.sim.created)

    def fault_menu(self) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
        return http_menu("/v2/relaties", ["/v2/landen", "/v2/relaties?"], token=True)


class AccountViewHarness(Harness):
    """With SendContactAsMainContact: two creates per customer (PP1 contact, then AR1 customer)."""

    def customer(self, n: int) -> tuple[str, Any, dict[str, Any]]:
        name = f"AV Reliability {n:04d}"
        guid = f"g-av-{n:04d}"
        row = {"CustomerGuid": guid, "CustomerCode": "", "CustomerName": name,
               "ContactPersons": [{"FirstName": "Ann", "LastName": f"AV{n:04d}", "Email": f"av{n}@example.test"}]}
        record = f"<NewCustomers><Customer><customerGuid>{guid}</customerGuid></Customer></NewCustomers>"
        return name, record, row

    def _guid(self, name: str) -> str:
        return "g-av-" + name.rsplit(" ", 1)[1]

    def written_back(self, name: str) -> bool:
        row = self.customer_row(self._guid(name))
        codes = [k for k, c in self.sim.contacts.items() if c.get("ACCT_NAME") == name]
        return bool(row and row.get("CustomerCode")) and row["CustomerCode"] in codes

    def erp_counts(self) -> collections.Counter[Any]:
        counts = collections.Counter(c.get("ACCT_NAME") for c in self.sim.contacts.values())
        counts.update(f"person {p.get('LST_NAME')}" for p in self.sim.persons.values())
        return counts

    def fault_menu(self) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
        return http_menu("/accountviewdata", ["/accountviewdata?"], token=True)


class MonitorHarness(Harness):
    """Monitor over FTP or SFTP: the upload is the flow's only effect; the file is its write-back."""

    root: Path = Path()
    padding: int = 20_000

    def customer(self, n: int) -> tuple[str, Any, dict[str, Any]]:
        code = f"MON{n:04d}"
        guid = f"g-mon-{n:04d}"
        notes = "".join(chr(0x41 + (i * 7 + n) % 26) for i in range(self.padding))
        record = ('<?xml version="1.0" encoding="utf-8"?>\r\n<NewCustomers><Customer>'
                  f"<customerGuid>{guid}</customerGuid><name>Müller &amp; Zn {n}</name>"
                  f"<notes>{notes}</notes></Customer></NewCustomers>\r\n").encode()
        return code, record, {"CustomerGuid": guid, "CustomerCode": code, "CustomerName": f"Monitor {n}"}

    def written_back(self, name: str) -> bool:
        path = self.root / "customers" / f"{name}.xml"
        return path.exists() and path.read_bytes() == self.records[name]

    def erp_counts(self) -> collections.Counter[Any]:
        return collections.Counter(p.stem for p in (self.root / "customers").iterdir() if p.is_file()
                                   and not p.name.startswith("."))

    def fault_menu(self) -> list[tuple[str, Callable[[Any], list[Fault]]]]:
        return []  # the file servers take their faults when they start (drop_after=...)


def iter_json_lines(values: Mapping[str, Any]) -> Iterator[str]:
    for key, value in values.items():
        yield f"{key}: {json.dumps(value, sort_keys=True, default=str)}"


# Enough settings for each seed spec to preview (no network): required ones, harmless values.
PREVIEW_SETTINGS: dict[str, dict[str, Any]] = {
    "specter": {"SbmId": "1", "ApiWriteUserId": "2", "ApiWriteUserKey": "k-preview"},
    "snelstart": {"ClientKey": "ck-preview", "SubscriptionKey": "sk-preview"},
    "accountview": {"ClientId": "a", "ClientSecret": "cs-preview", "RefreshToken": "rt-preview", "CompanyId": "1"},
    "monitor": {"FtpServerAddress": "sftp://files.example.test"},
}


def preview_settings(spec: Path) -> dict[str, Any]:
    """PREVIEW_SETTINGS for a seed spec path (mappings/<erp>/create-customer.yaml)."""
    return dict(PREVIEW_SETTINGS[spec.parent.name])


def _specter_detect_asks_for_xml() -> bool:
    """Whether the Specter spec's detect GET asks for the XML answer its `found` rule reads
    (without useXML=2 Specter answers in plain text: see test_fault_cases.BUG_SPECTER)."""
    from e2e_helpers import SPECTER
    submit = next(s for s in engine.load_spec(SPECTER).steps if s.id == "submit")
    return any(name == "useXML" for name, _ in submit.detect.params)  # type: ignore[attr-defined]


SPECTER_DETECT_BROKEN = not _specter_detect_asks_for_xml()
