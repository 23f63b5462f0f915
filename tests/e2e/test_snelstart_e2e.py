"""SnelStart create/update customer, end to end: `specbridge run` -> SnelStart simulator -> store."""

from __future__ import annotations

from typing import Any

from e2e_helpers import SNELSTART, SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY, customer_in_store

from simulators.snelstart_data import GUID_EMPTY, LAND_BY_ISO

CUSTOMER: dict[str, Any] = {
    "CustomerGuid": "g-snel-1",
    "CustomerCode": "",
    "CustomerName": "Jansen Installatietechniek",
    "Phone": "030-1234567",
    "ChamberOfCommerceCode": "01234567",
    "Website": "https://jansen.example",
    "VatCode": "NL001234567B01",
    "Discount": 2.5,
    "ContactPersons": [
        {"FullName": "Jan Jansen", "Email": "", "MobileNumber": ""},
        {"FullName": "Piet Jansen", "Email": "piet@jansen.example", "MobileNumber": "06-12345678"},
    ],
    "Addresses": [
        {"AddressType": "DEL", "AddressLine1": "Industrieweg 9", "PostCode": "3542 AD", "City": "Nieuwegein",
         "Iso2": "NL"},
        {"AddressType": "VIS", "AddressLine1": "Meir 1", "PostCode": "2000", "City": "Antwerpen", "Iso2": "BE"},
    ],
}
SEED = {"customers": [{"CustomerGuid": "g-snel-1", "CustomerCode": "", "CustomerName": "Jansen Installatietechniek"}]}


def api_calls(sim: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sim.requests]


def test_new_customer_is_posted_and_both_ids_written_back(snelstart, snelstart_settings, seed, flow, store_url):
    seed(SEED)
    outcome = flow.run(SNELSTART, CUSTOMER, snelstart_settings, subprocess_=True)

    assert outcome.exit_code == 0, outcome
    sim = snelstart.sim
    assert api_calls(sim) == [("POST", "/b2b/token"), ("GET", "/v2/landen"), ("POST", "/v2/relaties")]
    # The token was asked for with the client key; every API call carried the bearer token and the
    # subscription key.
    token_request, landen, post = sim.requests
    assert token_request.body == {"grant_type": "clientkey", "clientkey": SNELSTART_CLIENT_KEY}
    for call in (landen, post):
        assert call.headers["ocp-apim-subscription-key"] == SNELSTART_SUBSCRIPTION_KEY
        assert call.headers["authorization"].startswith("Bearer ")
    # What SnelStart received and stored: country ids looked up through /landen.
    assert "id" not in post.body and "relatiecode" not in post.body
    [created] = sim.created
    assert created["naam"] == "Jansen Installatietechniek"
    assert created["relatiesoort"] == ["Klant"]
    assert created["email"] == "piet@jansen.example" and created["mobieleTelefoon"] == "06-12345678"
    assert created["vestigingsAdres"]["straat"] == "Industrieweg 9"
    assert created["vestigingsAdres"]["contactpersoon"] == "Jan Jansen"
    assert created["vestigingsAdres"]["land"]["id"] == LAND_BY_ISO["NL"]["id"]
    assert created["correspondentieAdres"]["land"]["id"] == LAND_BY_ISO["BE"]["id"]
    assert post.body["correspondentieAdres"]["land"]["id"] != GUID_EMPTY
    # What was written back: SnelStart's id as InternalCode, its relatiecode as CustomerCode.
    stored = customer_in_store(store_url, guid="g-snel-1")
    assert stored["InternalCode"] == created["id"]
    assert stored["CustomerCode"] == str(created["relatiecode"])
    assert outcome.stdout.strip() == f"Customer {created['relatiecode']} saved in SnelStart"
    assert SNELSTART_CLIENT_KEY not in outcome.output and SNELSTART_SUBSCRIPTION_KEY not in outcome.output


def test_existing_customer_is_put_to_its_id(snelstart, snelstart_settings, seed, flow, store_url):
    seed(SEED)
    assert flow.run(SNELSTART, CUSTOMER, snelstart_settings).exit_code == 0
    stored = customer_in_store(store_url, guid="g-snel-1")
    changed = {**CUSTOMER, "CustomerCode": stored["CustomerCode"], "InternalCode": stored["InternalCode"],
               "CustomerName": "Jansen Installatietechniek BV", "Phone": "030-7654321"}

    outcome = flow.run(SNELSTART, changed, snelstart_settings)

    assert outcome.exit_code == 0, outcome
    sim = snelstart.sim
    put = sim.requests[-1]
    assert (put.method, put.path) == ("PUT", f"/v2/relaties/{stored['InternalCode']}")
    assert put.body["relatiecode"] == int(stored["CustomerCode"])
    assert len(sim.created) == 1  # no second relation
    current = sim.relatie(stored["InternalCode"])
    assert current["naam"] == "Jansen Installatietechniek BV" and current["telefoon"] == "030-7654321"
    after = customer_in_store(store_url, guid="g-snel-1")
    assert (after["CustomerCode"], after["InternalCode"]) == (stored["CustomerCode"], stored["InternalCode"])


def test_validation_error_is_reported_and_nothing_written_back(snelstart, snelstart_settings, seed, flow, store_url):
    seed(SEED)
    bad_vat = {**CUSTOMER, "VatCode": "NL 0012.345.67B01"}  # REL-0059: letters and digits only

    outcome = flow.run(SNELSTART, bad_vat, snelstart_settings)

    assert outcome.exit_code == 1, outcome
    assert "SnelStart refused the customer (400): BtwNummer mag alleen cijfers en letters bevatten" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert snelstart.sim.created == []
    stored = customer_in_store(store_url, guid="g-snel-1")
    assert stored["CustomerCode"] == "" and not stored.get("InternalCode")


def test_every_validation_error_is_reported(snelstart, snelstart_settings, seed, flow, store_url):
    seed(SEED)
    two_errors = {**CUSTOMER, "VatCode": "NL-1", "ContactPersons": [{"FullName": "Jan", "Email": "jan at jansen"}]}

    outcome = flow.run(SNELSTART, two_errors, snelstart_settings)

    assert outcome.exit_code == 1, outcome
    assert "SnelStart refused the customer (400)" in outcome.stderr
    assert "BtwNummer mag alleen cijfers en letters bevatten" in outcome.stderr
    assert "Email dient een geldig emailadres te zijn." in outcome.stderr
    assert snelstart.sim.created == []
