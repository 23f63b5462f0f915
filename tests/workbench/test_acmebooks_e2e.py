"""Acme Books, the sixth ERP, end to end: `specbridge run` -> a simulator of its API -> the store.

Acme Books is added with YAML only (mappings/acmebooks/create-customer.yaml); the only Python for
it is the simulator below, which implements the small API docs/tutorial-new-erp.md documents:

    POST /api/customers          X-Api-Key header; JSON body with limits -> 201 {id, number}
    PUT  /api/customers/{id}     the same body -> 200 {id, number}; 404 for an unknown id
    GET  /api/customers?external_ref=REF  -> 200 {items: [{id, number, name, ...}]}
    a refused body               -> 422 {errors: [{field, message}]};  a wrong key -> 401

It runs on loopback through simulators.servers.http_server, and checks what it receives the way
the documented API does, so the spec's limits and field names are tested against it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from engine.cli import cli
from simulators.servers import Drop, HttpServer, http_server

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "mappings" / "acmebooks" / "create-customer.yaml"
API_KEY = "acme-Key-e2e-5f1b"  # distinctive, so the tests can prove it never leaks

FIELDS = {"name": 60, "email": 120, "phone": 20, "vat_number": 20, "external_ref": 40, "language": 2}
ADDRESS_FIELDS = {"street": 80, "postcode": 10, "city": 40, "country": 2}
LANGUAGES = {"en", "nl", "de", "fr"}


@dataclass
class AcmeBooks:
    """The Acme Books API v1: customers kept in memory, every request checked as documented."""

    api_key: str
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1042
    drop_next_create_answer: bool = False  # create the customer, then hang up without answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict, Any]:
        if headers.get("x-api-key") != self.api_key:
            return 401, {}, {"errors": [{"field": None, "message": "invalid API key"}]}
        url = urlsplit(path)
        with self.lock:
            if url.path == "/api/customers" and method == "GET":
                ref = parse_qs(url.query).get("external_ref", [""])[0]
                return 200, {}, {"items": [c for c in self.customers.values() if c.get("external_ref") == ref]}
            if url.path == "/api/customers" and method == "POST":
                return self._create(body)
            found = re.fullmatch(r"/api/customers/(\d+)", url.path)
            if found and method == "PUT":
                return self._update(int(found.group(1)), body)
        return 404, {}, {"errors": [{"field": None, "message": f"no such endpoint: {method} {url.path}"}]}

    def _create(self, body: bytes) -> tuple[int, dict, Any]:
        data, errors = self._check(body)
        if not errors and any(c.get("external_ref") == data.get("external_ref") for c in self.customers.values()):
            errors = [{"field": "external_ref", "message": "is already used by another customer"}]
        if errors:
            return 422, {}, {"errors": errors}
        customer_id, self.next_id = self.next_id, self.next_id + 1
        self.customers[customer_id] = {**data, "id": customer_id, "number": f"C{customer_id:05d}"}
        if self.drop_next_create_answer:
            self.drop_next_create_answer = False
            raise Drop  # created, but the answer is lost
        return 201, {}, {"id": customer_id, "number": self.customers[customer_id]["number"]}

    def _update(self, customer_id: int, body: bytes) -> tuple[int, dict, Any]:
        if customer_id not in self.customers:
            return 404, {}, {"errors": [{"field": None, "message": f"customer {customer_id} not found"}]}
        data, errors = self._check(body)
        if errors:
            return 422, {}, {"errors": errors}
        number = self.customers[customer_id]["number"]
        self.customers[customer_id] = {**data, "id": customer_id, "number": number}  # PUT replaces
        return 200, {}, {"id": customer_id, "number": number}

    @staticmethod
    def _check(body: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        try:
            data = json.loads(body)
        except ValueError:
            return {}, [{"field": None, "message": "the body is not JSON"}]
        errors: list[dict[str, Any]] = []

        def check(where: str, values: Mapping[str, Any], limits: Mapping[str, int]) -> None:
            for name, value in values.items():
                if name not in limits:
                    errors.append({"field": where + name, "message": "is not a known field"})
                elif not isinstance(value, str):
                    errors.append({"field": where + name, "message": "must be text"})
                elif len(value) > limits[name]:
                    errors.append({"field": where + name, "message": f"is longer than {limits[name]} characters"})

        address = data.pop("billing_address", None) if isinstance(data, dict) else None
        if not isinstance(data, dict):
            return {}, [{"field": None, "message": "the body must be an object"}]
        check("", data, FIELDS)
        if not str(data.get("name") or "").strip():
            errors.append({"field": "name", "message": "is required"})
        if "email" in data and "@" not in str(data["email"]):
            errors.append({"field": "email", "message": "is not a valid email address"})
        if data.get("language", "en") not in LANGUAGES:
            errors.append({"field": "language", "message": "must be one of de, en, fr, nl"})
        if address is not None:
            if isinstance(address, dict):
                check("billing_address.", address, ADDRESS_FIELDS)
                data["billing_address"] = address
            else:
                errors.append({"field": "billing_address", "message": "must be an object"})
        return data, errors


@dataclass(frozen=True)
class Running:
    sim: AcmeBooks
    server: HttpServer


@pytest.fixture
def acmebooks() -> Iterator[Running]:
    sim = AcmeBooks(API_KEY)
    with http_server(sim) as server:
        yield Running(sim, server)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Workbench:
    """Runs `specbridge ...` as a consultant would, in-process or as a real process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.store = f"sqlite:///{folder / 'app4sales.db'}"
        self._count = 0

    def specbridge(self, *args: str, subprocess_: bool = False) -> Outcome:
        if subprocess_:
            done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True,
                                  text=True, timeout=60, env=dict(os.environ), check=False)
            return Outcome(done.returncode, done.stdout, done.stderr)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    def write(self, name: str, document: Any) -> Path:
        path = self.folder / name
        path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
        return path

    def seed(self, customers: list[dict[str, Any]]) -> None:
        seeded = self.specbridge("store", "import", str(self.write("seed.json", {"customers": customers})),
                                 "--store", self.store)
        assert seeded.exit_code == 0, seeded.output

    def run(self, record: dict[str, Any], settings: dict[str, Any], *, subprocess_: bool = False) -> Outcome:
        self._count += 1
        record_file = self.write(f"customer-{self._count}.json", record)
        settings_file = self.write(f"settings-{self._count}.json", settings)
        return self.specbridge("run", str(SPEC), "--input", str(record_file), "--settings", str(settings_file),
                               "--store", self.store, subprocess_=subprocess_)

    def customer(self, guid: str) -> dict[str, Any]:
        shown = self.specbridge("store", "show", "customer", guid, "--store", self.store)
        assert shown.exit_code == 0, shown.output
        return json.loads(shown.stdout)


@pytest.fixture
def bench(tmp_path: Path) -> Workbench:
    return Workbench(tmp_path)


@pytest.fixture
def settings(acmebooks: Running) -> dict[str, Any]:
    return {"BaseUrl": acmebooks.server.url, "ApiKey": API_KEY}


CUSTOMER: dict[str, Any] = {
    "CustomerGuid": "6f1c2b1e-0000-4000-8000-00000000ac01",
    "CustomerCode": "",
    "CustomerName": "Bakkerij de Gouden Korenaar",
    "Phone": "030-1234567",
    "VatCode": "NL001234567B01",
    "LanguageCode": "NL",
    "ContactPersons": [{"FullName": "Jan Jansen", "Email": "jan@korenaar.example"}],
    "Addresses": [{"AddressType": "VIS", "AddressLine1": "Dorpsstraat 1", "PostCode": "0123 AB",
                   "City": "Utrecht", "Iso2": "NL"}],
}
GUID = CUSTOMER["CustomerGuid"]


def test_a_new_customer_is_created_and_its_id_and_number_written_back(acmebooks: Running, bench: Workbench,
                                                                      settings: dict[str, Any]) -> None:
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": CUSTOMER["CustomerName"]}])

    outcome = bench.run(CUSTOMER, settings, subprocess_=True)  # exactly what a consultant types

    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout == "Created Acme Books customer C01042\n"
    assert acmebooks.sim.customers == {1042: {
        "id": 1042, "number": "C01042", "name": "Bakkerij de Gouden Korenaar", "email": "jan@korenaar.example",
        "phone": "030-1234567", "vat_number": "NL001234567B01", "language": "nl", "external_ref": GUID,
        "billing_address": {"street": "Dorpsstraat 1", "postcode": "0123 AB", "city": "Utrecht", "country": "NL"},
    }}
    [request] = acmebooks.server.requests
    assert (request.method, request.path, request.headers["x-api-key"]) == ("POST", "/api/customers", API_KEY)
    stored = bench.customer(GUID)
    assert (stored["InternalCode"], stored["CustomerCode"]) == ("1042", "C01042")
    assert API_KEY not in outcome.output


def test_an_existing_customer_is_updated_by_its_id(acmebooks: Running, bench: Workbench,
                                                   settings: dict[str, Any]) -> None:
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": CUSTOMER["CustomerName"]}])
    assert bench.run(CUSTOMER, settings).exit_code == 0
    known = {**bench.customer(GUID), **CUSTOMER, "InternalCode": "1042", "CustomerCode": "C01042",
             "CustomerName": "Bakkerij de Gouden Korenaar & Zn", "Addresses": [], "LanguageCode": "sv"}

    outcome = bench.run(known, settings)

    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout == "Updated Acme Books customer C01042\n"
    assert [(r.method, r.path) for r in acmebooks.server.requests] == [("POST", "/api/customers"),
                                                                       ("PUT", "/api/customers/1042")]
    assert list(acmebooks.sim.customers) == [1042], "updated in place, no second customer"
    updated = acmebooks.sim.customers[1042]
    assert updated["name"] == "Bakkerij de Gouden Korenaar & Zn"
    assert updated["language"] == "en", "Swedish is not an Acme Books language: the DefaultLanguage"
    assert "billing_address" not in updated, "no addresses: left out, and the PUT replaced the old one"
    assert (bench.customer(GUID)["InternalCode"], bench.customer(GUID)["CustomerCode"]) == ("1042", "C01042")


def test_a_refused_customer_shows_acme_books_errors_and_nothing_is_written_back(
        acmebooks: Running, bench: Workbench, settings: dict[str, Any]) -> None:
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": CUSTOMER["CustomerName"]}])
    bad_email = {**CUSTOMER, "Email": "jan-at-korenaar"}

    outcome = bench.run(bad_email, settings)

    assert outcome.exit_code == 1
    assert outcome.stdout == ""
    assert outcome.stderr == ("error: Acme Books refused customer Bakkerij de Gouden Korenaar: "
                              "email is not a valid email address\n")
    assert acmebooks.sim.customers == {}
    stored = bench.customer(GUID)
    assert stored["CustomerCode"] == "" and not stored.get("InternalCode")


def test_a_wrong_api_key_is_reported_and_never_shown(acmebooks: Running, bench: Workbench,
                                                     settings: dict[str, Any]) -> None:
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": CUSTOMER["CustomerName"]}])
    wrong = {**settings, "ApiKey": "not-the-Acme-key-77"}

    outcome = bench.run(CUSTOMER, wrong)

    assert outcome.exit_code == 1
    assert outcome.stderr == "error: Acme Books refused the API key\n"
    assert "not-the-Acme-key-77" not in outcome.output and API_KEY not in outcome.output
    assert acmebooks.sim.customers == {}


def test_long_values_are_cut_to_acme_books_limits(acmebooks: Running, bench: Workbench,
                                                  settings: dict[str, Any]) -> None:
    long_name = "Bakkerij de Gouden Korenaar, Banketbakkerij en Lunchroom sinds 1923"
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": long_name}])
    record = {**CUSTOMER, "CustomerName": long_name, "Phone": "+31 (0)30 123 45 67 toestel 12",
              "Addresses": [{"AddressType": "DEL", "AddressLine1": "Industrieweg 9", "PostCode": "3542 AD",
                             "City": "Nieuwegein aan de Lek en de Vaartsche Rijn"}]}

    outcome = bench.run(record, settings)

    assert outcome.exit_code == 0, outcome.output  # the simulator refuses anything over a limit
    created = acmebooks.sim.customers[1042]
    assert created["name"] == long_name[:60]
    assert created["phone"] == "+31 (0)30 123 45 67 "
    assert created["billing_address"] == {"street": "Industrieweg 9", "postcode": "3542 AD",
                                          "city": "Nieuwegein aan de Lek en de Vaartsche Ri"}


def test_a_create_whose_answer_is_lost_is_found_again_not_duplicated(acmebooks: Running, bench: Workbench,
                                                                     settings: dict[str, Any]) -> None:
    bench.seed([{"CustomerGuid": GUID, "CustomerCode": "", "CustomerName": CUSTOMER["CustomerName"]}])
    acmebooks.sim.drop_next_create_answer = True

    outcome = bench.run(CUSTOMER, settings)

    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout == "Created Acme Books customer C01042\n"
    assert list(acmebooks.sim.customers) == [1042], "found by external_ref, not created twice"
    assert [(r.method, urlsplit(r.path).path) for r in acmebooks.server.requests] == [
        ("POST", "/api/customers"), ("GET", "/api/customers")]
    assert parse_qs(urlsplit(acmebooks.server.requests[1].path).query) == {"external_ref": [GUID]}
    assert bench.customer(GUID)["CustomerCode"] == "C01042"
