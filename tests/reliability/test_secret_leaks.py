"""No secret leaks: every flow and every error path we can trigger, searched for the secrets.

The simulators and file servers run with recognisable credentials ("S3CR3T-..."), which are
also the secret settings given to the flows (some through `env:`). Every outbound flow and the
inbound sync run through the real command line (in-process and as subprocesses) and through
`Plan.run`, on the happy path and on every error path we can provoke: wrong keys, refused
tokens, an ERP that echoes the credential back in its error body, unreachable hosts, lost
answers and the journal's detect path, ERP validation errors, bad settings files, dead letters
and `specbridge replay`, `preview` (with --explain), `docs` and `validate`.

Searched: stdout and stderr, every log record of every logger at DEBUG (engine and transport
side; the loopback servers' own loggers are not the engine's and are left out), exception texts
and reprs, results, previews, generated docs, and every table of the store except `tokens`
(where the rotating refresh token is kept on purpose). The tokens the simulators hand out
(bearer and OAuth access tokens, rotated refresh tokens) are searched for as well.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from e2e_helpers import ACCOUNTVIEW, MAPPINGS, MONITOR, REPO, SNELSTART, SNELSTART_SYNC, SPECTER
from reliability_helpers import run_fast

import engine
from engine.cli import cli
from engine.errors import SpecbridgeError
from engine.store import open_store
from simulators.accountview import AccountViewSimulator
from simulators.faults import Fault
from simulators.servers import ftp_server, sftp_server
from simulators.snelstart import SnelStartSimulator
from simulators.specter import SpecterSimulator

SPECTER_KEY = "S3CR3T-specter-key-81f2"
SNEL_CLIENT = "S3CR3T-snel-client-3a9c"
SNEL_SUB = "S3CR3T-snel-sub-77d0"
AV_SECRET = "S3CR3T-av-client-5b1e"
AV_REFRESH = "S3CR3T-av-refresh-0c4d"
FTP_PASS = "S3CR3T-ftp-pass-9e7a"
EXTRA_PASS = "S3CR3T-extra-pass-4f61"
WRONG = "S3CR3T-wrong-value-6d2b"  # a secret setting the server does not accept
SECRETS = [SPECTER_KEY, SNEL_CLIENT, SNEL_SUB, AV_SECRET, AV_REFRESH, FTP_PASS, EXTRA_PASS, WRONG]
FTP_USER = "app4sales"
SERVER_LOGGERS = ("pyftpdlib", "asyncssh")  # the loopback servers, not the engine


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Evidence:
    """Everything the runs printed, logged, raised, returned or stored, by where it came from."""

    texts: list[tuple[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)  # issued by the simulators during the test

    def add(self, where: str, text: Any) -> None:
        self.texts.append((where, text if isinstance(text, str) else json.dumps(text, default=str)))

    def leaks(self) -> list[str]:
        found = []
        for secret in [*SECRETS, *sorted(self.tokens)]:
            for where, text in self.texts:
                if secret and secret in text:
                    start = text.index(secret)
                    found.append(f"{where}: ...{text[max(0, start - 80):start + len(secret) + 20]!r}")
        return found


@dataclass
class World:
    folder: Path
    store_url: str
    specter: Any
    snelstart: Any
    accountview: Any
    urls: dict[str, str]
    ftp: Any
    sftp: Any
    server_root: Path

    def settings(self, flow: str, **extra: Any) -> dict[str, Any]:
        base = {
            "specter": {"BaseUrl": self.urls["specter"], "SbmId": "1234", "ApiWriteUserId": "55",
                        "ApiWriteUserKey": "env:RELIABILITY_SPECTER_KEY"},
            "snelstart": {"BaseUrl": f"{self.urls['snelstart']}/v2", "TokenUrl": f"{self.urls['snelstart']}/b2b/token",
                          "ClientKey": SNEL_CLIENT, "SubscriptionKey": SNEL_SUB},
            "accountview": {"BaseUrl": f"{self.urls['accountview']}/api/v3", "ClientId": "app", "CompanyId": "c0ffee",
                            "ClientSecret": AV_SECRET, "RefreshToken": AV_REFRESH,
                            "SendContactAsMainContact": True},
            "monitor": {"FtpServerAddress": self.ftp.url, "Username": FTP_USER, "Password": FTP_PASS},
            "sync": {"BaseUrl": f"{self.urls['snelstart']}/v2", "TokenUrl": f"{self.urls['snelstart']}/b2b/token",
                     "ClientKey": SNEL_CLIENT, "SubscriptionKey": SNEL_SUB, "ExtraDataServer": self.sftp.url,
                     "ExtraDataFile": "/exports/extra.csv", "ExtraDataUsername": FTP_USER,
                     "ExtraDataPassword": EXTRA_PASS, "ExtraDataKnownHostsFile": self.sftp.known_hosts},
        }[flow]
        return {**base, **extra}

    def collect_tokens(self, evidence: Evidence) -> None:
        evidence.tokens.update(t for t in self.snelstart._tokens if len(t) > 8)
        evidence.tokens.update(t for t in self.accountview.access_tokens if len(t) > 8)
        evidence.tokens.add(self.accountview.current_refresh_token)
        evidence.tokens.discard(AV_REFRESH)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("RELIABILITY_SPECTER_KEY", SPECTER_KEY)
    root = tmp_path / "server"
    (root / "customers").mkdir(parents=True)
    (root / "exports").mkdir()
    (root / "exports" / "extra.csv").write_text("CustomerCode,CustomerName,FreeField:Segment\n1001,Extra & Co,Retail\n")
    with ExitStack() as stack:
        specter = SpecterSimulator("1234", "55", SPECTER_KEY)
        snelstart = SnelStartSimulator(SNEL_CLIENT, SNEL_SUB, customers=25, seed=3)
        accountview = AccountViewSimulator("app", AV_SECRET, AV_REFRESH, "c0ffee")
        urls = {"specter": stack.enter_context(specter.serve()).url,
                "snelstart": stack.enter_context(snelstart.serve()).url,
                "accountview": stack.enter_context(accountview.serve()).url}
        ftp = stack.enter_context(ftp_server(root, FTP_USER, FTP_PASS))
        sftp = stack.enter_context(sftp_server(root, FTP_USER, EXTRA_PASS))
        yield World(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", specter, snelstart, accountview, urls, ftp,
                    sftp, root)


CUSTOMERS = [
    {"CustomerGuid": "g-sp", "CustomerCode": "", "CustomerName": "Leak Specter", "Email": "sp@x.test",
     "ContactPersons": [{"FirstName": "A", "LastName": "B"}]},
    {"CustomerGuid": "g-ss", "CustomerCode": "", "CustomerName": "Leak SnelStart",
     "ContactPersons": [{"FullName": "A B", "Email": "ss@x.test"}]},
    {"CustomerGuid": "g-av", "CustomerCode": "", "CustomerName": "Leak AccountView",
     "ContactPersons": [{"FirstName": "A", "LastName": "V", "Email": "av@x.test"}]},
    {"CustomerGuid": "g-mon", "CustomerCode": "MON1", "CustomerName": "Leak Monitor"},
]
INPUTS = {
    "specter": json.dumps(CUSTOMERS[0]),
    "snelstart": json.dumps(CUSTOMERS[1]),
    "accountview": "<NewCustomers><Customer><customerGuid>g-av</customerGuid></Customer></NewCustomers>",
    "monitor": "<NewCustomers><Customer><customerGuid>g-mon</customerGuid></Customer></NewCustomers>",
    "sync": "{}",
}
SPECS = {"specter": SPECTER, "snelstart": SNELSTART, "accountview": ACCOUNTVIEW, "monitor": MONITOR,
         "sync": SNELSTART_SYNC}


def cli_call(evidence: Evidence, label: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    evidence.add(f"{label} stdout", result.stdout)
    evidence.add(f"{label} stderr", result.stderr)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        evidence.add(f"{label} exception", f"{result.exception!r} {result.exception}")
    return result


def write(world: World, name: str, content: Any) -> str:
    path = world.folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def run_cli(world: World, evidence: Evidence, label: str, flow: str, settings: dict[str, Any], *,
            record: str | None = None) -> Any:
    args = ["--input", write(world, f"{label}.in", record or INPUTS[flow]),
            "--settings", write(world, f"{label}.settings.json", settings)]
    out = cli_call(evidence, f"run {label}", "run", str(SPECS[flow]), *args, "--store", world.store_url, "--again")
    cli_call(evidence, f"preview {label}", "preview", str(SPECS[flow]), *args, "--store", world.store_url,
             "--explain")
    world.collect_tokens(evidence)
    return out


def run_plan(world: World, evidence: Evidence, label: str, flow: str, settings: dict[str, Any],
             record: Any = None) -> None:
    """Plan.run in-process with short timeouts (unreachable hosts, lost answers): result or error."""
    plan = engine.load_spec(SPECS[flow])
    store = open_store(world.store_url)
    try:
        result = run_fast(plan, record or INPUTS[flow], settings, store, run_key=f"{label}-key", timeout=0.3)
        evidence.add(f"plan {label} result", result.as_dict())
        evidence.add(f"plan {label} outputs", result.outputs)
    except SpecbridgeError as exc:
        evidence.add(f"plan {label} error", f"{exc!r} {exc} {vars(exc)}")
    finally:
        store.close()
        world.collect_tokens(evidence)


def store_dump(url: str) -> dict[str, list[Any]]:
    con = sqlite3.connect(url[len("sqlite:///"):])
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [list(map(str, row)) for row in con.execute(f'SELECT * FROM "{t}"')]  # noqa: S608
                for t in tables if t != "tokens"}
    finally:
        con.close()


def test_no_secret_appears_anywhere(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "paramiko", "stamina", "specbridge", "engine", "transports"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    evidence = Evidence()
    seed = write(world, "seed.json", {"customers": CUSTOMERS})
    cli_call(evidence, "store import", "store", "import", seed, "--store", world.store_url)

    # Happy paths: all five flows.
    for flow in SPECS:
        run_cli(world, evidence, f"ok-{flow}", flow, world.settings(flow))

    # Credentials refused: wrong key, wrong client key, wrong subscription key, wrong OAuth secret and
    # refresh token, wrong FTP and SFTP passwords.
    run_cli(world, evidence, "auth-specter", "specter", world.settings("specter", ApiWriteUserKey=WRONG))
    run_cli(world, evidence, "auth-snel-client", "snelstart", world.settings("snelstart", ClientKey=WRONG))
    run_cli(world, evidence, "auth-snel-sub", "snelstart", world.settings("snelstart", SubscriptionKey=WRONG))
    run_cli(world, evidence, "auth-av-secret", "accountview", world.settings("accountview", ClientSecret=WRONG))
    run_cli(world, evidence, "auth-av-refresh", "accountview",
            world.settings("accountview", RefreshToken=WRONG))
    run_cli(world, evidence, "auth-ftp", "monitor", world.settings("monitor", Password=WRONG))
    run_cli(world, evidence, "auth-sftp", "sync", world.settings("sync", ExtraDataPassword=WRONG))

    # An ERP that echoes the flow's own credentials back in its error bodies (a flow can only blank
    # out the secrets it was given, so each echo carries that flow's secrets).
    echo = {"specter": f"rejected key={SPECTER_KEY}", "snelstart": f"rejected client={SNEL_CLIENT} sub={SNEL_SUB}",
            "accountview": f"rejected secret={AV_SECRET} refresh={AV_REFRESH}",
            "sync": f"rejected client={SNEL_CLIENT} sub={SNEL_SUB} extra={EXTRA_PASS}"}
    world.specter.faults.append(Fault("status", 200, method="POST", body=(
        f"<APIresponse><result>0</result><code>ERROR_X</code><message>{echo['specter']}</message></APIresponse>")))
    run_cli(world, evidence, "echo-specter", "specter", world.settings("specter"))
    world.snelstart.faults.append(Fault("status", 400, method="POST",
                                        body=[{"errorCode": "X", "message": echo["snelstart"]}]))
    run_cli(world, evidence, "echo-snelstart", "snelstart", world.settings("snelstart"))
    world.snelstart.faults.append(Fault("status", 400, target="token", body={
        "error": "invalid_grant", "error_description": echo["snelstart"]}))
    run_cli(world, evidence, "echo-snel-token", "snelstart", world.settings("snelstart"))
    world.accountview.faults.append(Fault("status", 400, target="token", body={"error": echo["accountview"]}))
    run_cli(world, evidence, "echo-av-token", "accountview", world.settings("accountview"))
    world.accountview.faults.append(Fault("status", 200, method="POST", body={
        "ErrorType": "AccountViewError", "ErrorMessage": echo["accountview"]}))
    run_cli(world, evidence, "echo-av", "accountview", world.settings("accountview"))
    world.snelstart.faults.append(Fault("status", 401, method="GET", body={"message": echo["sync"]}))
    run_cli(world, evidence, "echo-sync", "sync", world.settings("sync"))

    # ERP validation errors (a customer the ERP refuses).
    bad = dict(CUSTOMERS[0], Email="", ContactPersons=[{"FirstName": "A", "LastName": "B"}])
    run_cli(world, evidence, "erp-specter", "specter", world.settings("specter"), record=json.dumps(bad))

    # Unreachable hosts and lost answers (short timeouts, in-process), journal and detect included.
    port = closed_port()
    for flow, key in (("specter", "BaseUrl"), ("snelstart", "TokenUrl"), ("accountview", "BaseUrl"),
                      ("monitor", "FtpServerAddress"), ("sync", "ExtraDataServer")):
        url = {"monitor": f"ftp://127.0.0.1:{port}", "sync": f"sftp://127.0.0.1:{port}"}.get(
            flow, f"http://127.0.0.1:{port}")
        run_plan(world, evidence, f"down-{flow}", flow, world.settings(flow, **{key: url}))
    for sim, flow in ((world.specter, "specter"), (world.snelstart, "snelstart"), (world.accountview, "accountview")):
        sim.faults.extend([Fault("drop_after", method="POST"), Fault("status", 503, method="POST")])
        run_plan(world, evidence, f"lost-{flow}", flow, world.settings(flow))
        sim.faults.clear()

    # Bad settings: unreadable YAML around a secret, a wrong type, an unknown env var, a bad URL.
    yaml_bad = world.folder / "bad.yaml"
    yaml_bad.write_text(f"ApiWriteUserKey: {SPECTER_KEY}\nSbmId: [1, 2\nBaseUrl: x: y\n")
    cli_call(evidence, "bad-yaml", "run", str(SPECTER), "--input", write(world, "b.in", INPUTS["specter"]),
             "--settings", str(yaml_bad), "--store", world.store_url)
    json_bad = world.folder / "bad.json"
    json_bad.write_text('{"ApiWriteUserKey": "' + SPECTER_KEY + '", "SbmId": }')
    cli_call(evidence, "bad-json", "run", str(SPECTER), "--input", write(world, "c.in", INPUTS["specter"]),
             "--settings", str(json_bad), "--store", world.store_url)
    run_cli(world, evidence, "bad-type", "accountview",
            world.settings("accountview", AccountViewCustomerCodeStartingNumber="five hundred"))
    run_cli(world, evidence, "bad-env", "specter", world.settings("specter", ApiWriteUserKey="env:NOPE_RELIABILITY"))
    run_cli(world, evidence, "bad-url", "snelstart", world.settings("snelstart", BaseUrl=f"ftp://{SNEL_SUB}@x"))
    run_cli(world, evidence, "bad-enum", "snelstart", world.settings("snelstart", NewCustomerType="Prospect"))

    # Dead letters replayed; docs; validate.
    for flow in SPECS:
        cli_call(evidence, f"replay {flow}", "replay", str(SPECS[flow]), "--settings",
                 write(world, f"replay-{flow}.json", world.settings(flow)), "--store", world.store_url)
        cli_call(evidence, f"docs {flow}", "docs", str(SPECS[flow]))
    cli_call(evidence, "validate", "validate", str(MAPPINGS))
    cli_call(evidence, "store export", "store", "export", "--store", world.store_url)

    # Two real processes: a success and an echoed-credential failure.
    for label, flow in (("proc-ok", "monitor"), ("proc-echo", "snelstart")):
        if label == "proc-echo":
            world.snelstart.faults.append(Fault("status", 400, method="POST", body={"message": echo["snelstart"]}))
        settings = world.settings(flow)
        args = [sys.executable, "-m", "engine", "run", str(SPECS[flow]), "--input",
                write(world, f"{label}.in", INPUTS[flow]), "--settings", write(world, f"{label}.json", settings),
                "--store", world.store_url, "--again"]
        done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
        evidence.add(f"{label} stdout", done.stdout)
        evidence.add(f"{label} stderr", done.stderr)

    world.collect_tokens(evidence)
    for record in caplog.records:
        if record.name.startswith(SERVER_LOGGERS):
            continue
        evidence.add(f"log {record.name}", f"{record.getMessage()} {record.exc_text or ''}")
    evidence.add("store tables", store_dump(world.store_url))

    # The runs really went through the paths this test is about.
    dump = store_dump(world.store_url)
    assert any("uncertain" in " ".join(row) for row in dump["journal"]), "no lost answer was journaled"
    assert dump["dead_letters"], "no run failed into a dead letter"
    assert (world.server_root / "customers" / "MON1.xml").exists()
    assert len(evidence.tokens) >= 3, evidence.tokens
    assert len(caplog.records) > 50
    leaks = evidence.leaks()
    assert leaks == [], "\n".join(leaks)


# --- settings errors that print a secret value ------------------------------------------------------------

TYPED_SECRET_SPEC = """\
version: 1
name: typed-secret
settings:
  Pin: {type: integer, secret: true}
  Token: {type: string, secret: true}
  Mode: {type: string, enum: [a, b]}
steps:
  - id: out
    kind: map
    fields:
      f: {value: x}
"""


def test_a_secret_setting_of_the_wrong_type_is_not_printed() -> None:
    plan = engine.compile_text(TYPED_SECRET_SPEC, "typed-secret.yaml")
    with pytest.raises(SpecbridgeError) as caught:
        plan.preview({}, settings={"Pin": SPECTER_KEY})
    assert SPECTER_KEY not in str(caught.value), str(caught.value)


def test_a_secret_pasted_into_a_plain_setting_is_not_printed() -> None:
    plan = engine.compile_text(TYPED_SECRET_SPEC, "typed-secret.yaml")
    with pytest.raises(SpecbridgeError) as caught:
        plan.preview({}, settings={"Token": SNEL_CLIENT, "Mode": SNEL_CLIENT})
    assert SNEL_CLIENT not in str(caught.value), str(caught.value)
