"""Specter create/update customer, end to end: `specbridge run` -> Specter simulator -> store."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from e2e_helpers import SPECTER, SPECTER_KEY, customer_in_store

CUSTOMER: dict[str, Any] = {
    "CustomerGuid": "g-specter-1",
    "CustomerCode": "",
    "CustomerName": "Bakkerij Jansen",
    "Email": "info@jansen.example",
    "Phone": "030-1234567",
    "LanguageCode": "en",
    "UsesPriceField": 2,
    "VatCode": "SE556677889901",
    "ContactPersons": [{"FullName": "Jan Jansen", "FirstName": "Jan", "LastName": "Jansen",
                        "MobileNumber": "0612345678"}],
    "Addresses": [
        {"AddressType": "VIS", "AddressLine1": "Storgatan 1", "PostCode": "111 51", "City": "Stockholm",
         "Iso2": "SE"},
        {"AddressType": "DEL", "AddressLine1": "Industrivägen 9", "PostCode": "411 03", "City": "Göteborg",
         "Iso2": "SE"},
    ],
}
SEED = {
    "customers": [{"CustomerGuid": "g-specter-1", "CustomerCode": "", "CustomerName": "Bakkerij Jansen"}],
    "sales_reps": [{"Username": "jdoe", "ResIdString": "REP-7"}],
    "price_lists": [{"Index": 2, "Code": "EURO", "Currency": "EUR"}],
}


def posted_form(sim: Any, index: int = -1) -> dict[str, str]:
    """The customer fields of a POST the simulator received (form body), with its query."""
    request = sim.requests[index]
    assert request.method == "POST"
    assert urlsplit(request.path).path == "/putInfo.asp"
    return {**dict(parse_qsl(urlsplit(request.path).query)), **dict(parse_qsl(request.body.decode()))}


def test_new_customer_is_created_and_its_code_written_back(specter, specter_settings, seed, flow, store_url):
    seed(SEED)
    outcome = flow.run(SPECTER, CUSTOMER, specter_settings, user="jdoe", subprocess_=True)

    assert outcome.exit_code == 0, outcome
    assert outcome.stdout.strip() == "Created Specter customer 10001"
    # What Specter received and stored.
    assert list(specter.sim.customers) == ["10001"]
    stored = specter.sim.customers["10001"]
    assert stored["typeCustomer"] == "C" and stored["customerOrganizationalForm"] == "C"
    assert stored["name"] == "Bakkerij Jansen"
    assert stored["salesRepresentativeId"] == "REP-7"
    assert stored["currency"] == "EUR"
    assert stored["language"] == "EN"
    assert stored["city"] == "Stockholm" and stored["deliveryCity"] == "Göteborg"
    form = posted_form(specter.sim)
    assert form["action"] == "newCustomerSubmit" and form["useXML"] == "2"
    assert form["key"] == specter.sim.key_for("Bakkerij Jansen")
    assert "customerId" not in form and "forceCustomerUpdate" not in form
    # What was written back.
    assert customer_in_store(store_url, guid="g-specter-1")["CustomerCode"] == "10001"
    assert SPECTER_KEY not in outcome.output


def test_existing_customer_is_updated_by_id_without_type(specter, specter_settings, seed, flow, store_url):
    seed(SEED)
    assert flow.run(SPECTER, CUSTOMER, specter_settings, user="jdoe").exit_code == 0
    existing = {**CUSTOMER, "CustomerCode": "10001", "CustomerName": "Bakkerij Jansen & Zn",
                "Email": "nieuw@jansen.example"}

    outcome = flow.run(SPECTER, existing, specter_settings, user="jdoe")

    assert outcome.exit_code == 0, outcome
    assert outcome.stdout.strip() == "Updated Specter customer 10001"
    form = posted_form(specter.sim)
    assert form["customerId"] == "10001"
    assert form["forceCustomerUpdate"] == "1" and form["identifyByCustomerId"] == "1"
    assert "typeCustomer" not in form and "customerOrganizationalForm" not in form
    assert list(specter.sim.customers) == ["10001"]  # updated in place, no second customer
    assert specter.sim.customers["10001"]["name"] == "Bakkerij Jansen & Zn"
    assert specter.sim.customers["10001"]["emailAddress"] == "nieuw@jansen.example"
    assert customer_in_store(store_url, guid="g-specter-1")["CustomerCode"] == "10001"


def test_refused_update_is_an_error_and_nothing_is_written_back(specter, specter_settings, seed, flow, store_url):
    seed({"customers": [{"CustomerGuid": "g-specter-1", "CustomerCode": "99999", "CustomerName": "Gone"}]})
    unknown = {**CUSTOMER, "CustomerCode": "99999"}

    outcome = flow.run(SPECTER, unknown, specter_settings)

    assert outcome.exit_code == 1, outcome
    assert outcome.stdout == ""
    assert "CustomerCouldNotCreatedOrUpdated: ERROR_CUSTOMER_NOT_FOUND: Customer 99999 not found" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert specter.sim.customers == {}
    assert customer_in_store(store_url, guid="g-specter-1")["CustomerCode"] == "99999"


def test_refused_signature_leaves_the_new_customer_without_code(specter, specter_settings, seed, flow, store_url):
    seed(SEED)
    wrong_key = {**specter_settings, "ApiWriteUserKey": "not-the-right-key"}

    outcome = flow.run(SPECTER, CUSTOMER, wrong_key, user="jdoe")

    assert outcome.exit_code == 1, outcome
    assert "CustomerCouldNotCreatedOrUpdated: ERROR_AUTHENTICATION: Invalid key" in outcome.stderr
    assert "not-the-right-key" not in outcome.output
    assert specter.sim.customers == {}
    assert customer_in_store(store_url, guid="g-specter-1")["CustomerCode"] == ""


def test_a_missing_required_field_sends_nothing(specter, specter_settings, seed, flow, store_url):
    seed(SEED)
    no_surname = {**CUSTOMER, "ContactPersons": [{"FirstName": "Jan"}]}

    outcome = flow.run(SPECTER, no_surname, specter_settings, user="jdoe")

    assert outcome.exit_code == 1, outcome
    assert "record g-specter-1, field surName: required value is empty" in outcome.stderr
    assert specter.sim.requests == []
    assert customer_in_store(store_url, guid="g-specter-1")["CustomerCode"] == ""
