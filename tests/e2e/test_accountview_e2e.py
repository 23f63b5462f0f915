"""AccountView create customer with contact, end to end: two `run` processes, one store, one simulator."""

from __future__ import annotations

import json
from typing import Any

from e2e_helpers import (
    ACCOUNTVIEW,
    AV_FIRST_REFRESH,
    AV_SECRET,
    AV_TOKEN_KEY,
    customer_in_store,
    stored_token,
)

from simulators.faults import Fault

SEED = {"customers": [
    {"CustomerGuid": "g-av-1", "CustomerCode": "", "CustomerName": "Bakkerij Jansen", "Discount": 2.5,
     "LanguageCode": "nl", "VatCode": "NL001B01", "Phone": "030-1234567", "Currency": "EUR",
     "Addresses": [{"AddressType": "VIS", "AddressLine1": "Dorpsstraat 1", "PostCode": "3511 AB", "City": "Utrecht",
                    "Iso2": "NL"}],
     "ContactPersons": [{"FullName": "Jan Jansen", "FirstName": "Jan", "LastName": "Jansen",
                         "Email": "jan@jansen.example", "Phonenumber": "030-1234567", "MobileNumber": "06-1"}]},
    {"CustomerGuid": "g-av-2", "CustomerCode": "", "CustomerName": "Slagerij de Vries",
     "ContactPersons": [{"FirstName": "Anna", "LastName": "de Vries", "Email": "anna@devries.example"}]},
]}


def xml_for(guid: str) -> str:
    return f"<NewCustomers><Customer><customerGuid>{guid}</customerGuid></Customer></NewCustomers>"


def posted(sim: Any) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in sim.requests if r.method == "POST" and r.path.endswith("/accountviewdata")]


def token_calls(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/token")]


def test_two_new_customers_in_two_processes(accountview, accountview_settings, seed, flow, store_url):
    seed(SEED)
    settings = {**accountview_settings, "SendContactAsMainContact": True}
    sim = accountview.sim

    first = flow.run(ACCOUNTVIEW, xml_for("g-av-1"), settings, subprocess_=True)
    assert first.exit_code == 0, first
    assert first.stdout.strip() == "Succes: 500000"
    token_after_first = stored_token(store_url, AV_TOKEN_KEY)
    assert token_after_first == sim.current_refresh_token != AV_FIRST_REFRESH

    second = flow.run(ACCOUNTVIEW, xml_for("g-av-2"), settings, subprocess_=True)
    assert second.exit_code == 0, second
    assert second.stdout.strip() == "Succes: 500001"

    # PP1 first, then AR1 linking it as MAIN_PP; for each customer.
    bodies = posted(sim)
    assert [b["BusinessObject"] for b in bodies] == ["PP1", "AR1", "PP1", "AR1"]
    assert sim.persons["500000"]["DSP_NAME"] == "Jan Jansen" and sim.persons["500000"]["SUB_NR"] == "500000"
    assert sim.persons["500001"]["DSP_NAME"] == "Anna de Vries"
    assert sim.contacts["500000"]["MAIN_PP"] == "500000" and sim.contacts["500001"]["MAIN_PP"] == "500001"
    assert sim.contacts["500000"]["ACCT_NAME"] == "Bakkerij Jansen"
    assert sim.contacts["500000"]["SRC_CODE"] == "BAKK" and sim.contacts["500001"]["SRC_CODE"] == "SLAG"
    assert "ADMIN_PP" not in sim.contacts["500000"] and sim.contacts["500000"]["LNG_CODE"] == "NL"

    # The second process refreshed with the token the first one saved: nothing was refused.
    calls = token_calls(sim)
    assert len(calls) == 2 == sim.refresh_count
    assert f"refresh_token={token_after_first}" in calls[1].body.decode()
    assert stored_token(store_url, AV_TOKEN_KEY) == sim.current_refresh_token
    assert sim.faults.fired == []

    # Written back: codes, the contact's generated code, VAT liability.
    one, two = customer_in_store(store_url, guid="g-av-1"), customer_in_store(store_url, guid="g-av-2")
    assert one["CustomerCode"] == "500000" and two["CustomerCode"] == "500001"
    assert one["ContactPersons"][0]["ContactId"] == "500000" and two["ContactPersons"][0]["ContactId"] == "500001"
    assert one["VatLiable"] is True  # a VAT code, and CustomerVatLiableCodes empty: liable
    assert two["VatLiable"] is False  # no VAT code, VatLiableWhenVatCodeIsEmpty false
    for outcome in (first, second):
        assert AV_SECRET not in outcome.output and sim.current_refresh_token not in outcome.output


def test_non_text_value_is_refused_before_anything_is_sent(accountview, accountview_settings, seed, flow,
                                                           store_url):
    """A relationGroup element with child elements would reach RPL_GRP as an object. The engine
    refuses it as an input error naming the record and the field, before AccountView is asked
    (the status-200 error quirk itself is covered by the injected fault below)."""
    seed(SEED)
    sim = accountview.sim
    sim.quirk_error_in_200 = True
    xml = ("<NewCustomers><Customer><customerGuid>g-av-2</customerGuid>"
           "<relationGroup><a>1</a><b>2</b></relationGroup></Customer></NewCustomers>")

    outcome = flow.run(ACCOUNTVIEW, xml, accountview_settings)

    assert outcome.exit_code == 1, outcome
    assert "record g-av-2, field RPL_GRP: expected text of at most 10 characters, got an object" in outcome.stderr
    assert not any(r.method == "POST" for r in sim.requests), "nothing may be sent for a rejected record"
    assert "Traceback" not in outcome.stderr
    assert sim.contacts == {}
    assert customer_in_store(store_url, guid="g-av-2")["CustomerCode"] == ""


def test_error_answer_with_status_200_injected(accountview, accountview_settings, seed, flow, store_url):
    """The same quirk as a fault: an error body with status 200, for a request that is otherwise fine."""
    seed(SEED)
    sim = accountview.sim
    sim.faults.append(Fault("status", 200, body={"ErrorType": "AccountViewError", "ErrorNumbers": None,
                                                 "ErrorMessage": "Veld SRC_CODE is verplicht"},
                            method="POST", path="/accountviewdata"))

    outcome = flow.run(ACCOUNTVIEW, xml_for("g-av-2"), accountview_settings)

    assert outcome.exit_code == 1, outcome
    assert "AccountView error: Veld SRC_CODE is verplicht" in outcome.stderr
    assert len(sim.faults.fired) == 1 and sim.contacts == {}
    assert customer_in_store(store_url, guid="g-av-2")["CustomerCode"] == ""
