"""`specbridge demo`: every seed flow end to end, against local ERP simulators and a throwaway store.

Starts the Specter, SnelStart and AccountView simulators and an FTP and an SFTP server on
127.0.0.1, seeds a temporary SQLite store with sample App4Sales data, and runs the five seed
flows through the engine's Python API (`load_spec` + `plan.run`) with settings pointing at those
servers. For each flow it shows what was sent, what came back, the result message and what was
written to the store, and it checks the ERP side too (the simulator's records, the uploaded
file). Exit 0 when every flow succeeded, 1 otherwise. Nothing leaves the machine; every
temporary folder is removed at the end.

This module names ERPs, so it lives in simulators/, never in engine/. It imports only click and
rich at the top: the servers and the engine are imported when the command runs, so registering
the command costs the CLI nothing.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

REPO = Path(__file__).resolve().parents[1]
USER = "jdoe"  # the App4Sales user running the flows
FTP_USER, FTP_PASSWORD = "monitor", "demo-ftp-password"  # local throwaway servers only
EXCERPT = 200  # characters of a body shown

# Credentials of the simulated ERPs. Local and made up; the engine treats them as secrets all the same.
SPECTER = {"SbmId": "4711", "ApiWriteUserId": "55", "ApiWriteUserKey": "demo-specter-key"}
SNELSTART = {"ClientKey": "demo-snelstart-client-key", "SubscriptionKey": "demo-snelstart-subscription"}
ACCOUNTVIEW = {"ClientId": "specbridge-demo", "ClientSecret": "demo-av-secret", "RefreshToken": "demo-refresh-0",
               "CompanyId": "DEMO"}

SAMPLE_DATA: dict[str, Any] = {
    "customers": [
        {"CustomerGuid": "5f0c6a10-0001-4000-8000-000000000001", "CustomerCode": "", "CustomerName": "Bakkerij Jansen",
         "Email": "info@bakkerijjansen.example", "Phone": "030-1234567", "LanguageCode": "en", "UsesPriceField": 2,
         "VatCode": "SE556677889901", "Website": "https://bakkerijjansen.example",
         "UnknownElements": {"CustomerGroupId": "12"},
         "Addresses": [
             {"AddressType": "VIS", "AddressLine1": "Storgatan 12", "PostCode": "111 51", "City": "Stockholm",
              "Country": "Sweden", "Iso2": "SE"},
             {"AddressType": "DEL", "AddressLine1": "Industrivägen 9", "AddressLine2": "Hall 3", "PostCode": "411 03",
              "City": "Göteborg", "Country": "Sweden", "Iso2": "SE"}],
         "ContactPersons": [{"ContactId": "", "FullName": "Jan Jansen", "FirstName": "Jan", "LastName": "Jansen",
                             "Email": "jan@bakkerijjansen.example", "MobileNumber": "0612345678", "IsMainContact": True}]},
        {"CustomerGuid": "5f0c6a10-0002-4000-8000-000000000002", "CustomerCode": "",
         "CustomerName": "Installatiebedrijf De Vries", "Phone": "010-7654321", "ChamberOfCommerceCode": "24123456",
         "VatCode": "NL812345678B01", "Discount": 2.5, "Website": "https://devries-installatie.example",
         "Addresses": [
             {"AddressType": "DEL", "AddressLine1": "Industrieweg 42", "PostCode": "3044 AS", "City": "Rotterdam",
              "Country": "Nederland", "Iso2": "NL"},
             {"AddressType": "VIS", "AddressLine1": "Meir 7", "PostCode": "2000", "City": "Antwerpen",
              "Country": "België", "Iso2": "BE"}],
         "ContactPersons": [{"FullName": "Piet de Vries", "FirstName": "Piet", "LastName": "de Vries",
                             "Email": "piet@devries-installatie.example", "MobileNumber": "06-23456789"}]},
        {"CustomerGuid": "5f0c6a10-0003-4000-8000-000000000003", "CustomerCode": "C00123",
         "CustomerName": "Bloemenhuis Bos & Zonen", "Email": "info@bloemenhuisbos.example",
         "Addresses": [{"AddressType": "VIS", "AddressLine1": "Markt 3", "PostCode": "8011 AB", "City": "Zwolle",
                        "Iso2": "NL"}]},
        {"CustomerGuid": "5f0c6a10-0004-4000-8000-000000000004", "CustomerCode": "", "CustomerName": "Drukkerij Visser",
         "Discount": 5, "LanguageCode": "nl", "VatCode": "NL001234567B02", "Phone": "050-3141592", "Currency": "EUR",
         "CustomerManager": "EMP1",
         "Addresses": [{"AddressType": "VIS", "AddressLine1": "Oude Ebbingestraat 10", "PostCode": "9712 HA",
                        "City": "Groningen", "Iso2": "NL"}],
         "ContactPersons": [{"FullName": "Anna Visser", "FirstName": "Anna", "LastName": "Visser",
                             "Email": "anna@drukkerijvisser.example", "Phonenumber": "050-3141592",
                             "MobileNumber": "06-34567890"}]},
    ],
    "sales_reps": [{"Username": USER, "ResIdString": "REP-7"}, {"Username": "asmit", "ResIdString": "REP-9"}],
    "price_lists": [{"Index": 1, "Code": "EURO", "Currency": "EUR"}, {"Index": 2, "Code": "SEK", "Currency": "SEK"}],
    "countries": [{"Iso2": "NL", "Name": "Nederland"}, {"Iso2": "BE", "Name": "België"}, {"Iso2": "SE", "Name": "Sweden"}],
}
SPECTER_GUID, SNELSTART_GUID, MONITOR_GUID, ACCOUNTVIEW_GUID = (c["CustomerGuid"] for c in SAMPLE_DATA["customers"])
MONITOR_XML = (
    '<?xml version="1.0" encoding="utf-8"?>\r\n'
    "<NewCustomers>\r\n"
    "  <Customer>\r\n"
    f"    <customerGuid>{MONITOR_GUID}</customerGuid>\r\n"
    "    <customerCode>C00123</customerCode>\r\n"
    "    <name>Bloemenhuis Bos &amp; Zonen</name>\r\n"
    "    <city>Zwolle</city>\r\n"
    "  </Customer>\r\n"
    "</NewCustomers>\r\n"
).encode()


class DemoFailure(Exception):  # noqa: N818 - a check of the demo itself, shown like a flow error
    """The flow said it succeeded, but the ERP side does not show it."""


@dataclass
class Report:
    """What one flow did, for its panel and the summary."""

    name: str
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    result: str = ""
    store: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


# --- formatting --------------------------------------------------------------------------------

def _cut(text: str, limit: int = EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return _cut(value)
    if isinstance(value, dict):
        shown = {k: v for k, v in value.items() if v not in (None, "", [], {})}
        return _cut(json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str))
    return _cut(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str))


def _positional_rows(payload: Any) -> str | None:
    """AccountView's body names its fields once and sends rows of values; show them as name=value."""
    try:
        fields = [f["Name"] for f in payload["Table"]["Definition"]["Fields"]]
        rows = payload["TableData"]["Data"]["Rows"]
        pairs = ", ".join(f"{name}={value}" for name, value in zip(fields, rows[0]["Values"], strict=False)
                          if name != "RowId" and value not in (None, ""))
        return f"{payload['BusinessObject']} {payload['Table']['Definition']['Name']}: {pairs}"
    except (KeyError, IndexError, TypeError):
        return None


def _describe_request(request: dict[str, Any]) -> str:
    """One line per request the engine sent: method and path (or file), then a body excerpt."""
    if request.get("transport") == "http":
        line = f"{request.get('method', '?')} {request.get('path', '')}"
        for key in ("form", "json", "body"):
            if request.get(key) not in (None, "", {}):
                payload = request[key]
                if key == "form":
                    payload = ", ".join(f"{k}={v}" for k, v in payload.items())
                elif key == "json":
                    payload = _positional_rows(payload) or payload
                return f"{line}  {_compact(payload)}"
        return line
    if request.get("method") == "GET":
        return f"read {request.get('path', '?')}"
    content = request.get("content") or ""
    size = len(content.encode("utf-8", "surrogateescape")) if isinstance(content, str) else len(content)
    return f"upload {request.get('path', '?')} ({size} bytes)  {_compact(content)}"


def _group_requests(lines: list[str]) -> list[str]:
    """Collapse runs of identical method+path lines (paged reads) into one line with a count."""
    out: list[tuple[str, int]] = []
    for line in lines:
        head = line.split("  ")[0]
        if out and out[-1][0].split("  ")[0] == head:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((line, 1))
    return [f"{line}  ×{count}" if count > 1 else line for line, count in out]


def _report_run(report: Report, result: Any, erp_requests: list[Any] | None = None) -> None:
    """What a flow sent (and what the ERP recorded receiving), what came back, its message."""
    report.sent += [_describe_request(r) for r in result.requests]
    if erp_requests is not None:
        report.sent.append(_erp_saw(erp_requests))
    report.received += _responses(result)
    report.result = result.message


def _responses(result: Any) -> list[str]:
    """The answers of the flow's send steps, from the run's step outputs."""
    lines = []
    for step, output in result.outputs.items():
        if isinstance(output, dict) and "status" in output and "body" in output:
            lines.append(f"{step}: {output['status']}  {_compact(output['body'])}")
    return lines


def _erp_saw(requests: list[Any]) -> str:
    """What reached the simulator, auth calls included: 'POST /b2b/token, GET /v2/landen, ...'."""
    seen = [f"{r.method} {r.path.split('?')[0]}" for r in requests]
    grouped = _group_requests(seen)
    return "ERP received: " + ", ".join(grouped)


def _change(label: str, before: Any, after: Any) -> str:
    return f"{label}: {before!r} -> {after!r}"


def _panel(report: Report) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for title, lines in (("Sent", report.sent), ("Came back", report.received), ("Store", report.store),
                         ("Checked", report.checks)):
        if lines:
            table.add_row(title, Text("\n".join(lines)))
    if report.error is None:
        table.add_row("Result", Text(report.result, style="green"))
        title, style = f"[green]OK[/] {escape(report.name)}", "green"
    else:
        table.add_row("Error", Text(report.error, style="red"))
        title, style = f"[red]FAILED[/] {escape(report.name)}", "red"
    return Panel(table, title=title, title_align="left", border_style=style,
                 subtitle=f"{report.seconds:.2f} s", subtitle_align="right")


# --- the demo ----------------------------------------------------------------------------------

@dataclass
class Lab:
    """Everything running for the demo: servers, store, folders."""

    store: Any
    specter: Any
    specter_url: str
    snelstart: Any
    snelstart_server: Any
    accountview: Any
    accountview_url: str
    ftp: Any
    sftp: Any
    ftp_root: Path
    sftp_root: Path


def _require_setup() -> None:
    """Say plainly what is missing: the demo extra's servers, or the checkout's mappings/."""
    import importlib.util
    missing = [m for m in ("pyftpdlib", "asyncssh", "trustme") if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"the demo needs {', '.join(missing)} (install the demo extra: pip install -e '.[demo]', or run `make demo`)")
    if not (REPO / "mappings").is_dir():
        raise click.ClickException(f"the demo runs the specs in a source checkout's mappings/, and {REPO / 'mappings'} "
                                   "does not exist; run it from a checkout (`make demo`)")


@contextmanager
def _lab(folder: Path, sync_customers: int) -> Iterator[Lab]:
    from engine.store import open_store
    from simulators.accountview import AccountViewSimulator
    from simulators.servers import ftp_server, sftp_server
    from simulators.snelstart import SnelStartSimulator
    from simulators.specter import SpecterSimulator

    ftp_root, sftp_root = folder / "ftp", folder / "sftp"
    for root in (ftp_root, sftp_root):
        (root / "customers").mkdir(parents=True)
    (sftp_root / "exports").mkdir()
    with ExitStack() as stack:
        specter = SpecterSimulator(SPECTER["SbmId"], SPECTER["ApiWriteUserId"], SPECTER["ApiWriteUserKey"])
        snelstart = SnelStartSimulator(SNELSTART["ClientKey"], SNELSTART["SubscriptionKey"], customers=sync_customers,
                                       seed=2024)
        accountview = AccountViewSimulator(ACCOUNTVIEW["ClientId"], ACCOUNTVIEW["ClientSecret"],
                                           ACCOUNTVIEW["RefreshToken"], ACCOUNTVIEW["CompanyId"])
        specter_server = stack.enter_context(specter.serve())
        snelstart_server = stack.enter_context(snelstart.serve())
        accountview_server = stack.enter_context(accountview.serve())
        ftp = stack.enter_context(ftp_server(ftp_root, FTP_USER, FTP_PASSWORD))
        sftp = stack.enter_context(sftp_server(sftp_root, FTP_USER, FTP_PASSWORD))
        store = open_store(f"sqlite:///{folder / 'app4sales.db'}")
        stack.callback(store.close)
        store.import_document(SAMPLE_DATA)
        yield Lab(store, specter, specter_server.url, snelstart, snelstart_server, accountview,
                  f"{accountview_server.url}/api/v3", ftp, sftp, ftp_root, sftp_root)


def _customer(lab: Lab, guid: str) -> dict[str, Any]:
    found = lab.store.get_customer(guid=guid)
    if found is None:
        raise DemoFailure(f"customer {guid} is not in the store")
    return found


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailure(message)


def _plan(relative: str) -> Any:
    from engine import load_spec
    return load_spec(REPO / "mappings" / relative)


def flow_specter(lab: Lab, report: Report) -> None:
    before = _customer(lab, SPECTER_GUID)
    settings = {"BaseUrl": lab.specter_url, **SPECTER}
    result = _plan("specter/create-customer.yaml").run(before, settings=settings, store=lab.store, user=USER)
    _report_run(report, result)
    after = _customer(lab, SPECTER_GUID)
    report.store.append(_change("CustomerCode", before.get("CustomerCode"), after.get("CustomerCode")))
    stored = lab.specter.customers.get(after.get("CustomerCode") or "")
    _check(stored is not None, f"Specter has no customer {after.get('CustomerCode')!r}")
    report.checks.append(f"Specter holds customer {after['CustomerCode']}: name={stored['name']!r}, "
                         f"typeCustomer={stored.get('typeCustomer')!r}, salesRepresentativeId="
                         f"{stored.get('salesRepresentativeId')!r}, currency={stored.get('currency')!r}")


def flow_snelstart_create(lab: Lab, report: Report) -> None:
    before = _customer(lab, SNELSTART_GUID)
    server = lab.snelstart_server
    settings = {"BaseUrl": server.base_url, "TokenUrl": server.token_url, **SNELSTART}
    result = _plan("snelstart/create-customer.yaml").run(before, settings=settings, store=lab.store, user=USER)
    _report_run(report, result, lab.snelstart.requests)
    after = _customer(lab, SNELSTART_GUID)
    report.store.append(_change("CustomerCode", before.get("CustomerCode"), after.get("CustomerCode")))
    report.store.append(_change("InternalCode", before.get("InternalCode"), after.get("InternalCode")))
    relatie = lab.snelstart.relatie(after.get("InternalCode") or "")
    _check(relatie is not None, f"SnelStart has no relation {after.get('InternalCode')!r}")
    _check(str(relatie["relatiecode"]) == after["CustomerCode"], "relatiecode and CustomerCode differ")
    report.checks.append(f"SnelStart holds relatie {relatie['relatiecode']} {relatie['naam']!r}, "
                         f"relatiesoort {relatie['relatiesoort']}, vestiging in "
                         f"{relatie['vestigingsAdres']['plaats']} (land id looked up via /landen)")


def _flow_monitor(lab: Lab, report: Report, server: Any, root: Path, extra: dict[str, Any]) -> None:
    before = _customer(lab, MONITOR_GUID)
    settings = {"FtpServerAddress": server.url, "Username": FTP_USER, "Password": FTP_PASSWORD, **extra}
    result = _plan("monitor/create-customer.yaml").run(MONITOR_XML, settings=settings, store=lab.store, user=USER)
    report.sent += [f"{server.url}/customers/: {_describe_request(r)}" for r in result.requests]
    report.result = result.message
    uploaded = root / "customers" / f"{before['CustomerCode']}.xml"
    _check(uploaded.exists(), f"{uploaded.name} is not on the server")
    _check(uploaded.read_bytes() == MONITOR_XML, f"{uploaded.name} on the server differs from the input")
    leftovers = sorted(p.name for p in (root / "customers").iterdir() if p != uploaded)
    _check(not leftovers, f"temporary files left on the server: {leftovers}")
    report.received.append(f"/customers/{uploaded.name} on the server: {uploaded.stat().st_size} bytes, "
                           "identical to the input (CRLF kept), no temporary file left")
    report.store.append(f"nothing written (upload only); CustomerCode {before['CustomerCode']!r} named the file")


def flow_monitor_sftp(lab: Lab, report: Report) -> None:
    _flow_monitor(lab, report, lab.sftp, lab.sftp_root, {"KnownHostsFile": lab.sftp.known_hosts})
    report.checks.append("host key verified against the server's known_hosts entry")


def flow_monitor_ftp(lab: Lab, report: Report) -> None:
    _flow_monitor(lab, report, lab.ftp, lab.ftp_root, {})
    report.checks.append("uploaded under a temporary name, then renamed into place")


def flow_accountview(lab: Lab, report: Report) -> None:
    before = _customer(lab, ACCOUNTVIEW_GUID)
    settings = {"BaseUrl": lab.accountview_url, **ACCOUNTVIEW, "SendContactAsMainContact": True}
    xml = f"<NewCustomers><Customer><customerGuid>{ACCOUNTVIEW_GUID}</customerGuid></Customer></NewCustomers>"
    result = _plan("accountview/create-customer.yaml").run(xml, settings=settings, store=lab.store, user=USER)
    _report_run(report, result, lab.accountview.requests)
    after = _customer(lab, ACCOUNTVIEW_GUID)
    report.store.append(_change("CustomerCode", before.get("CustomerCode"), after.get("CustomerCode")))
    contact_before = (before.get("ContactPersons") or [{}])[0].get("ContactId")
    contact_after = (after.get("ContactPersons") or [{}])[0].get("ContactId")
    report.store.append(_change("ContactPersons[0].ContactId", contact_before, contact_after))
    report.store.append(_change("VatLiable", before.get("VatLiable"), after.get("VatLiable")))
    token = lab.store.load_token("accountview-create-customer:accountview")
    _check(token == lab.accountview.current_refresh_token, "the store does not hold AccountView's current refresh token")
    report.store.append("rotated refresh token saved (the value is a secret, not shown)")
    debtor = lab.accountview.contacts.get(after.get("CustomerCode") or "")
    _check(debtor is not None, f"AccountView has no debtor {after.get('CustomerCode')!r}")
    _check(debtor.get("MAIN_PP") == contact_after, "the debtor is not linked to its contact person")
    report.checks.append(f"AccountView holds debtor {debtor['SUB_NR']} {debtor['ACCT_NAME']!r} "
                         f"(SRC_CODE {debtor['SRC_CODE']!r}) with MAIN_PP {debtor['MAIN_PP']!r} -> person "
                         f"{lab.accountview.persons[debtor['MAIN_PP']]['DSP_NAME']!r}")


def flow_snelstart_sync(lab: Lab, report: Report) -> None:
    gen = lab.snelstart.generated
    codes = [gen.relatiecode(i) for i in range(min(gen.count, 2))]
    extra = "CustomerCode,SearchCode,FreeField:Segment\r\n" + "".join(
        f"{code},DEMO{code},Retail\r\n" for code in codes)
    (lab.sftp_root / "exports" / "extra.csv").write_bytes(extra.encode())
    server = lab.snelstart_server
    settings = {"BaseUrl": server.base_url, "TokenUrl": server.token_url, **SNELSTART,
                "CountryCodeForVatliability": "NL", "ExtraDataServer": lab.sftp.url,
                "ExtraDataFile": "/exports/extra.csv", "ExtraDataUsername": FTP_USER,
                "ExtraDataPassword": FTP_PASSWORD, "ExtraDataKnownHostsFile": lab.sftp.known_hosts}
    before = lab.store.count_customers() if hasattr(lab.store, "count_customers") else len(list(lab.store.iter_customers()))
    first_request = len(lab.snelstart.requests)
    result = _plan("snelstart/customer-sync.yaml").run({}, settings=settings, store=lab.store, user=USER)
    report.sent += _group_requests([_describe_request(r) for r in result.requests])
    report.sent.append(_erp_saw(lab.snelstart.requests[first_request:]))
    report.sent.append(f"extra data read from {lab.sftp.url}/exports/extra.csv ({len(codes)} rows)")
    counts = {k: v for k, v in (result.counts or {}).items() if k != "rejections"}
    report.received.append(f"{gen.count} relations in the simulated administration; counts: {_compact(counts)}")
    report.received += [f"warning: {w}" for w in result.warnings]
    report.result = result.message
    after = lab.store.count_customers() if hasattr(lab.store, "count_customers") else len(list(lab.store.iter_customers()))
    report.store.append(_change("customers in the store", before, after))
    want = sum(1 for i in range(gen.count) if not gen.nonactief(i) and "Klant" in gen.relatiesoort(i))
    want += sum(1 for r in lab.snelstart.created if not r["nonactief"] and "Klant" in r["relatiesoort"])
    _check(counts.get("created", 0) + counts.get("updated", 0) + counts.get("unchanged", 0) == want,
           f"expected {want} active Klant customers saved, counts say {counts}")
    _check(after - before == counts.get("created"), "the store grew by a different number than 'created'")
    sample = lab.store.get_customer(code=str(codes[0])) if codes else None
    if sample is not None:
        report.store.append(f"e.g. customer {sample['CustomerCode']} {sample.get('CustomerName')!r}: SearchCode "
                            f"{sample.get('SearchCode')!r}, FreeFields {_compact(sample.get('FreeFields') or {})}")
    report.checks.append(f"{want} active Klant relations counted in the simulator's own data (the one created "
                         "above included, so it was updated, not duplicated); all saved")


FLOWS: list[tuple[str, Callable[[Lab, Report], None]]] = [
    ("Specter: create customer", flow_specter),
    ("SnelStart: create customer", flow_snelstart_create),
    ("Monitor: upload customer XML over SFTP", flow_monitor_sftp),
    ("Monitor: upload customer XML over FTP", flow_monitor_ftp),
    ("AccountView: create customer with contact person", flow_accountview),
    ("SnelStart: customer sync into App4Sales", flow_snelstart_sync),
]


def _run_flow(name: str, body: Callable[[Lab, Report], None], lab: Lab) -> Report:
    from engine.errors import SpecbridgeError
    report = Report(name)
    started = time.perf_counter()
    try:
        body(lab, report)
    except (SpecbridgeError, DemoFailure) as exc:
        report.error = str(exc)
    except Exception as exc:  # a traceback is a bug; show it and go on with the other flows
        report.error = f"unexpected {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
    report.seconds = time.perf_counter() - started
    return report


def _summary(reports: list[Report]) -> Table:
    table = Table(title="specbridge demo", title_justify="left")
    table.add_column("Flow", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Result", overflow="fold")
    table.add_column("Time", justify="right", no_wrap=True)
    for report in reports:
        status = Text("OK", style="bold green") if report.ok else Text("FAILED", style="bold red")
        message = report.result if report.ok else (report.error or "").splitlines()[0]
        table.add_row(report.name, status, message, f"{report.seconds:.2f} s")
    return table


@contextmanager
def _quiet_server_logs() -> Iterator[None]:
    """Keep the servers' session logs out of the demo's output (their warnings still show), and put
    the loggers back as they were afterwards, for callers that run the command in-process.

    pyftpdlib turns its own INFO logging on when its logger has no handler, hence the NullHandler.
    """
    saved = []
    for name in ("pyftpdlib", "asyncssh", "paramiko"):
        logger = logging.getLogger(name)
        null = logging.NullHandler()
        saved.append((logger, logger.level, null))
        logger.setLevel(logging.WARNING)
        logger.addHandler(null)
    try:
        yield
    finally:
        for logger, level, null in saved:
            logger.removeHandler(null)
            logger.setLevel(level)


@click.command()
@click.option("--sync-customers", default=2000, show_default=True, type=click.IntRange(0, 1_000_000),
              help="How many relations the simulated SnelStart administration holds for the customer sync.")
def demo(sync_customers: int) -> None:
    """Every seed flow end to end against local ERP simulators and a temporary SQLite store."""
    _require_setup()
    console = Console()
    if not console.is_terminal:  # piped or captured: wide enough that lines do not wrap mid-name
        console = Console(width=120)
    console.print(Panel(Group(
        Text("Starting the Specter, SnelStart and AccountView simulators and an FTP and an SFTP server on "
             "127.0.0.1, with a temporary SQLite store seeded with sample App4Sales data "
             f"({len(SAMPLE_DATA['customers'])} customers, {len(SAMPLE_DATA['sales_reps'])} sales reps, "
             f"{len(SAMPLE_DATA['price_lists'])} price lists)."),
        Text("Every flow below runs its spec from mappings/ through the engine, exactly as `specbridge run` does.",
             style="dim")), title="specbridge demo", border_style="cyan"))
    started = time.perf_counter()
    reports: list[Report] = []
    with _quiet_server_logs(), tempfile.TemporaryDirectory(prefix="specbridge-demo-") as tmp, \
            _lab(Path(tmp), sync_customers) as lab:
        for name, body in FLOWS:
            report = _run_flow(name, body, lab)
            reports.append(report)
            console.print(_panel(report))
    console.print(_summary(reports))
    failed = [r for r in reports if not r.ok]
    total = time.perf_counter() - started
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(reports)} flows failed[/] ({total:.1f} s)")
        raise SystemExit(1)
    console.print(f"[bold green]All {len(reports)} flows succeeded[/] ({total:.1f} s); "
                  "temporary store and server folders removed.")
