"""The Specter simulator on a real loopback server: signatures, create/update, errors, reads, faults."""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.faults import Fault
from simulators.servers import HttpServer
from simulators.specter import SpecterSimulator

SBM, USER, KEY = "4711", "write-user", "s3cret-key"
AUTH = {"sbmId": SBM, "apiUserId": USER, "useXML": "2"}


def sign(value: str) -> str:
    return hashlib.md5((KEY + SBM + value).encode()).hexdigest()


def customer(**overrides: str) -> dict[str, str]:
    fields = {"name": "Ab & Co AB", "emailAddress": "info@ab.example", "firstName": "Anna",
              "surName": "Berg", "typeCustomer": "C", "customerOrganizationalForm": "C",
              "city": "Malmö", "countryCode": "SE", "zipCodeEng": "211 20"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def parse(text: str) -> dict[str, str]:
    root = ET.fromstring(text)
    assert root.tag == "APIresponse"
    return {child.tag: child.text or "" for child in root}


@pytest.fixture
def sim() -> SpecterSimulator:
    return SpecterSimulator(SBM, USER, KEY)


@pytest.fixture
def server(sim: SpecterSimulator) -> Iterator[HttpServer]:
    with sim.serve() as running:
        yield running


@pytest.fixture
def client(server: HttpServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http


def submit(client: httpx.Client, fields: dict[str, str], *, key: str | None = None,
           params: dict[str, str] | None = None) -> dict[str, str]:
    form = {**fields, "key": sign(fields.get("name", "")) if key is None else key}
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", **(params or AUTH)}, data=form)
    assert answer.status_code == 200  # whatever happened: clients read the XML
    return parse(answer.text)


def get_customer(client: httpx.Client, **lookup: str) -> dict[str, str]:
    signed = lookup.get("customerId", lookup.get("name", ""))
    answer = client.get("/getInfo.asp", params={"Action": "getCustomer", **AUTH, "key": sign(signed), **lookup})
    assert answer.status_code == 200
    return parse(answer.text)


# --- create and update -------------------------------------------------------------------------

def test_create_assigns_increasing_ids_and_stores_the_fields(client: httpx.Client, sim: SpecterSimulator) -> None:
    first = submit(client, customer())
    second = submit(client, customer(name="Åkesson & Söner"))
    assert first == {"result": "1", "code": "10001", "message": "Customer created"}
    assert second["code"] == "10002"
    assert sim.customers["10001"]["name"] == "Ab & Co AB"
    assert sim.customers["10001"]["city"] == "Malmö"
    assert sim.customers["10002"]["typeCustomer"] == "C"
    assert "key" not in sim.customers["10001"]


def test_the_xml_answer_is_exactly_the_documented_shape(client: httpx.Client) -> None:
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", **AUTH},
                         data={**customer(), "key": sign("Ab & Co AB")})
    assert answer.text == ("<APIresponse><result>1</result><code>10001</code>"
                           "<message>Customer created</message></APIresponse>")


def test_update_by_customer_id_keeps_the_id_and_the_organisational_form(
        client: httpx.Client, sim: SpecterSimulator) -> None:
    submit(client, customer())
    update = customer(forceCustomerUpdate="1", identifyByCustomerId="1", customerId="10001",
                      city="Lund", typeCustomer="P", customerOrganizationalForm="P")
    answer = submit(client, update)
    assert answer == {"result": "1", "code": "10001", "message": "Customer updated"}
    stored = sim.customers["10001"]
    assert stored["city"] == "Lund"
    assert (stored["typeCustomer"], stored["customerOrganizationalForm"]) == ("C", "C")
    assert "forceCustomerUpdate" not in stored and len(sim.customers) == 1


def test_update_accepts_true_flags_and_no_organisational_form(client: httpx.Client, sim: SpecterSimulator) -> None:
    submit(client, customer())
    answer = submit(client, customer(forceCustomerUpdate="true", identifyByCustomerId="true",
                                     customerId="10001", typeCustomer=None, customerOrganizationalForm=None))
    assert answer["result"] == "1"


def test_update_of_an_unknown_customer_is_refused(client: httpx.Client) -> None:
    answer = submit(client, customer(forceCustomerUpdate="1", identifyByCustomerId="1", customerId="99999"))
    assert (answer["result"], answer["code"]) == ("0", "ERROR_CUSTOMER_NOT_FOUND")


# --- signature and errors ----------------------------------------------------------------------

@pytest.mark.parametrize(("key", "params"), [
    ("0" * 32, None),
    (hashlib.md5((KEY + SBM).encode()).hexdigest(), None),  # signed without the name
    (None, {**AUTH, "sbmId": "1234"}),
    (None, {**AUTH, "apiUserId": "someone"}),
])
def test_a_wrong_signature_or_account_is_an_authentication_error(
        client: httpx.Client, sim: SpecterSimulator, key: str | None, params: dict[str, str] | None) -> None:
    answer = submit(client, customer(), key=key, params=params)
    assert (answer["result"], answer["code"]) == ("0", "ERROR_AUTHENTICATION")
    assert sim.customers == {}


def test_the_invalid_key_answer_is_exact(client: httpx.Client) -> None:
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", **AUTH},
                         data={**customer(), "key": "nope"})
    assert answer.text == ("<APIresponse><result>0</result><code>ERROR_AUTHENTICATION</code>"
                           "<message>Invalid key</message></APIresponse>")


def test_the_signature_covers_the_decoded_name(client: httpx.Client) -> None:
    name = "Östergårds Bygg & Måleri AB"
    assert submit(client, customer(name=name), key=sign(name))["result"] == "1"


def test_auth_parameters_may_travel_in_the_body(client: httpx.Client) -> None:
    form = {**customer(), **AUTH, "key": sign("Ab & Co AB")}
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit"}, data=form)
    assert parse(answer.text)["result"] == "1"


@pytest.mark.parametrize(("fields", "code", "in_message"), [
    (customer(nickname="x"), "ERROR_UNKNOWN_FIELD", "nickname"),
    (customer(Name="x"), "ERROR_UNKNOWN_FIELD", "Name"),  # field names are exact
    (customer(zipCodeEng="12345678901"), "ERROR_FIELD_TOO_LONG", "zipCodeEng"),
    (customer(name="N" * 101), "ERROR_FIELD_TOO_LONG", "name"),
    (customer(countryCode="SWE"), "ERROR_FIELD_TOO_LONG", "countryCode"),
    (customer(emailAddress=None), "ERROR_MISSING_EMAILADDRESS", "emailAddress"),
    (customer(firstName=""), "ERROR_MISSING_FIRSTNAME", "firstName"),
    (customer(surName=None), "ERROR_MISSING_SURNAME", "surName"),
    (customer(typeCustomer=None), "ERROR_MISSING_TYPECUSTOMER", "typeCustomer"),
    (customer(customerOrganizationalForm="X"), "ERROR_INVALID_CUSTOMERORGANIZATIONALFORM", "C or P"),
    (customer(customerId="10001"), "ERROR_MISSING_FORCECUSTOMERUPDATE", "forceCustomerUpdate"),
    (customer(forceCustomerUpdate="1", customerId="10001"), "ERROR_MISSING_IDENTIFYBYCUSTOMERID", ""),
    (customer(forceCustomerUpdate="yes"), "ERROR_INVALID_FORCECUSTOMERUPDATE", "forceCustomerUpdate"),
])
def test_invalid_customers_are_refused(client: httpx.Client, sim: SpecterSimulator, fields: dict[str, str],
                                       code: str, in_message: str) -> None:
    answer = submit(client, fields)
    assert (answer["result"], answer["code"]) == ("0", code)
    assert in_message in answer["message"]
    assert sim.customers == {}


def test_a_missing_name_is_reported_after_authentication(client: httpx.Client) -> None:
    answer = submit(client, customer(name=None))
    assert answer["code"] == "ERROR_MISSING_NAME"


def test_a_json_body_is_not_read(client: httpx.Client, sim: SpecterSimulator) -> None:
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", **AUTH, "key": sign("Ab & Co AB")},
                         json=customer())
    assert parse(answer.text)["code"] == "ERROR_AUTHENTICATION"
    assert sim.customers == {}


def test_without_use_xml_2_the_answer_is_plain_text(client: httpx.Client) -> None:
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", "sbmId": SBM, "apiUserId": USER,
                                                 "useXML": "1"}, data={**customer(), "key": sign("Ab & Co AB")})
    assert answer.text == "1;10001;Customer created"


def test_requests_are_recorded(client: httpx.Client, sim: SpecterSimulator) -> None:
    submit(client, customer())
    assert [r.method for r in sim.requests] == ["POST"]
    assert sim.requests[0].path.startswith("/putInfo.asp?action=newCustomerSubmit")
    assert b"firstName=Anna" in sim.requests[0].body


# --- getCustomer (our assumption) --------------------------------------------------------------

def test_get_customer_finds_by_exact_name_or_id(client: httpx.Client) -> None:
    submit(client, customer())
    assert get_customer(client, name="Ab & Co AB") == {"result": "1", "code": "10001", "message": "Customer found"}
    assert get_customer(client, customerId="10001")["code"] == "10001"
    missing = get_customer(client, name="ab & co ab")
    assert (missing["result"], missing["code"]) == ("0", "ERROR_CUSTOMER_NOT_FOUND")


def test_get_customer_checks_the_key(client: httpx.Client) -> None:
    answer = client.get("/getInfo.asp", params={"Action": "getCustomer", **AUTH, "key": sign("other"),
                                                "name": "Ab & Co AB"})
    assert parse(answer.text)["code"] == "ERROR_AUTHENTICATION"


# --- faults ------------------------------------------------------------------------------------

def test_drop_after_creates_the_customer_then_closes_unanswered(client: httpx.Client, sim: SpecterSimulator) -> None:
    sim.faults.append(Fault("drop_after"))
    with pytest.raises(httpx.RemoteProtocolError):
        submit(client, customer())
    assert list(sim.customers) == ["10001"]
    assert get_customer(client, name="Ab & Co AB")["code"] == "10001"
    assert sim.faults == [] and [f.kind for f in sim.faults.fired] == ["drop_after"]


def test_drop_before_creates_nothing(client: httpx.Client, sim: SpecterSimulator) -> None:
    sim.faults.append(Fault("drop_before"))
    with pytest.raises(httpx.RemoteProtocolError):
        submit(client, customer())
    assert sim.customers == {}
    assert submit(client, customer())["code"] == "10001"


@pytest.mark.parametrize(("fault", "retry_after"), [
    (Fault("status", 503), None),
    (Fault("status", 429, retry_after=1), "1"),
])
def test_status_faults_answer_without_processing(client: httpx.Client, sim: SpecterSimulator,
                                                 fault: Fault, retry_after: Any) -> None:
    sim.faults.append(fault)
    form = {**customer(), "key": sign("Ab & Co AB")}
    answer = client.post("/putInfo.asp", params={"action": "newCustomerSubmit", **AUTH}, data=form)
    assert answer.status_code == fault.value
    assert answer.headers.get("retry-after") == retry_after
    assert sim.customers == {}
    assert submit(client, customer())["result"] == "1"  # one fault, one request


def test_delay_answers_late_and_a_path_filter_skips_other_requests(client: httpx.Client, sim: SpecterSimulator) -> None:
    sim.faults.append(Fault("delay", 0.3, path="putInfo.asp"))
    get_customer(client, name="nobody")  # not matched: the fault waits
    started = time.monotonic()
    assert submit(client, customer())["result"] == "1"
    assert time.monotonic() - started >= 0.3


def test_a_client_timeout_during_a_delay_still_creates(server: HttpServer, sim: SpecterSimulator) -> None:
    sim.faults.append(Fault("delay", 0.5))
    with httpx.Client(base_url=server.url, timeout=0.1) as impatient, pytest.raises(httpx.ReadTimeout):
        submit(impatient, customer())
    deadline = time.monotonic() + 3
    while not sim.customers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(sim.customers) == ["10001"]


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    with pytest.raises(ValueError, match="status code"):
        Fault("status")
    with pytest.raises(ValueError, match="target"):
        Fault("drop_before", target="tokens")
