"""The AccountView simulator on a real loopback server: rotating tokens, X-Company, AR1/PP1, faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.accountview import AccountViewSimulator
from simulators.faults import Fault
from simulators.servers import HttpServer

CLIENT_ID, SECRET, FIRST_REFRESH, COMPANY = "app-1", "app-secret", "refresh-0", "c0ffee"


def field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "L"
    if isinstance(value, int):
        return "I"
    return "N" if isinstance(value, float) else "C"


def post_body(*rows: dict[str, Any], bo: str = "AR1", table: str = "CONTACT") -> dict[str, Any]:
    """A POST body as the Go client builds it: one definition, RowId last."""
    names = list(rows[0])
    return {
        "BookDate": "2024-05-01T10:39:05.276Z",
        "BusinessObject": bo,
        "Table": {"Definition": {"Name": table,
                                 "Fields": [{"Name": n, "FieldType": field_type(rows[0][n])} for n in names]
                                 + [{"Name": "RowId", "FieldType": "C"}]},
                  "DetailDefinitions": []},
        "TableData": {"Data": {"Rows": [{"Values": [row[n] for n in names] + [str(i)]}
                                        for i, row in enumerate(rows, 1)]},
                      "DetailData": []},
    }


def debtor(**overrides: Any) -> dict[str, Any]:
    return {"SUB_NR": "d1001", "ACCT_NAME": "Acme BV", "SRC_CODE": "ACME", "ACCT_NR": "1210",
            "MAIL_BUS": "info@acme.example", "CNT_CODE": "NL", "DISC_PCT": 2.5, **overrides}


def person(**overrides: Any) -> dict[str, Any]:
    return {"PP_CODE": "500000", "FST_NAME": "Jan", "LST_NAME": "Jansen", "DSP_NAME": "Jan Jansen",
            "MAIL_BUS": "jan@acme.example", "TEL_BUS": "010-1234567", "TEL_MOB": "06-12345678",
            "SUB_NR": "D1001", **overrides}


@pytest.fixture
def sim() -> AccountViewSimulator:
    return AccountViewSimulator(CLIENT_ID, SECRET, FIRST_REFRESH, COMPANY)


@pytest.fixture
def server(sim: AccountViewSimulator) -> Iterator[HttpServer]:
    with sim.serve() as running:
        yield running


@pytest.fixture
def raw(server: HttpServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/api/v3", timeout=5) as http:
        yield http


def refresh(raw: httpx.Client, token: str, **overrides: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT_ID,
            "client_secret": SECRET, **overrides}
    return raw.post("/token", data=form)


@pytest.fixture
def api(raw: httpx.Client) -> httpx.Client:
    """The raw client with a fresh access token and the company header."""
    access = refresh(raw, FIRST_REFRESH).json()["access_token"]
    raw.headers.update({"Authorization": f"Bearer {access}", "X-Company": COMPANY})
    return raw


def get_contacts(api: httpx.Client, sub_nr: str, bo: str = "AR1", key: str = "SUB_NR") -> httpx.Response:
    return api.get("/accountviewdata", params={
        "BusinessObject": bo, "PageSize": "10", "FilterControlSource1": key, "FilterOperator1": "Equal",
        "FilterValueType1": "C", "FilterValue1": sub_nr})


# --- tokens ------------------------------------------------------------------------------------

def test_refresh_tokens_rotate_and_the_old_one_is_refused(raw: httpx.Client, sim: AccountViewSimulator) -> None:
    first = refresh(raw, FIRST_REFRESH)
    assert first.status_code == 200
    tokens = first.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["refresh_token"] != FIRST_REFRESH
    assert sim.current_refresh_token == tokens["refresh_token"]
    reused = refresh(raw, FIRST_REFRESH)
    assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})
    second = refresh(raw, tokens["refresh_token"])
    assert second.status_code == 200 and sim.current_refresh_token == second.json()["refresh_token"]
    assert sim.refresh_count == 2


@pytest.mark.parametrize(("overrides", "error"), [
    ({"client_secret": "wrong"}, "invalid_client"),
    ({"client_id": "other-app"}, "invalid_client"),
    ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
    ({"refresh_token": ""}, "invalid_request"),
])
def test_bad_token_requests_are_refused(raw: httpx.Client, sim: AccountViewSimulator,
                                        overrides: dict[str, str], error: str) -> None:
    answer = refresh(raw, FIRST_REFRESH, **overrides)
    assert (answer.status_code, answer.json()) == (400, {"error": error})
    assert sim.current_refresh_token == FIRST_REFRESH  # a refused request rotates nothing


def test_api_calls_need_a_valid_bearer_token(raw: httpx.Client, sim: AccountViewSimulator) -> None:
    params = {"BusinessObject": "AR1"}
    assert raw.get("/accountviewdata", params=params, headers={"X-Company": COMPANY}).status_code == 401
    bad = raw.get("/accountviewdata", params=params, headers={"X-Company": COMPANY, "Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    access = refresh(raw, FIRST_REFRESH).json()["access_token"]
    good = {"X-Company": COMPANY, "Authorization": f"Bearer {access}"}
    assert raw.get("/accountviewdata", params=params, headers=good).status_code == 200
    sim.expire_access_tokens()
    assert raw.get("/accountviewdata", params=params, headers=good).status_code == 401


def test_access_tokens_expire_after_their_lifetime() -> None:
    short = AccountViewSimulator(CLIENT_ID, SECRET, FIRST_REFRESH, COMPANY, access_lifetime=0)
    with short.serve() as running, httpx.Client(base_url=running.url + "/api/v3") as http:
        tokens = refresh(http, FIRST_REFRESH).json()
        assert tokens["expires_in"] == 0
        answer = http.get("/companies", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert answer.status_code == 401


@pytest.mark.parametrize(("company", "status"), [(None, 400), ("other", 403)])
def test_the_company_header_is_required(api: httpx.Client, company: str | None, status: int) -> None:
    del api.headers["X-Company"]
    headers = {"X-Company": company} if company else {}
    answer = api.get("/accountviewdata", params={"BusinessObject": "AR1"}, headers=headers)
    assert answer.status_code == status
    assert answer.json()["ErrorType"] == "AccountViewError"


def test_header_names_ignore_case(api: httpx.Client) -> None:
    token = api.headers["Authorization"]
    del api.headers["X-Company"], api.headers["Authorization"]
    answer = api.get("/accountviewdata", params={"businessobject": "AR1"},
                     headers={"x-company": COMPANY, "authorization": token})
    assert answer.status_code == 200


def test_companies_lists_the_company(api: httpx.Client) -> None:
    assert api.get("/companies").json() == [{"Id": COMPANY, "Description": "Simulated company", "Code": "SIM"}]


# --- AR1 ---------------------------------------------------------------------------------------

def test_ar1_inserts_then_updates_by_sub_nr(api: httpx.Client, sim: AccountViewSimulator) -> None:
    created = api.post("/accountviewdata", json=post_body(debtor()))
    assert (created.status_code, created.json()) == (200, {"PrimaryKey": "D1001"})  # format "!": upper-case
    stored = sim.contacts["D1001"]
    assert (stored["ACCT_NAME"], stored["DISC_PCT"], stored["CNG_NR"]) == ("Acme BV", 2.5, 0)
    updated = api.post("/accountviewdata", json=post_body({"sub_nr": "D1001", "acct_name": "Acme Holding BV"}))
    assert updated.json() == {"PrimaryKey": "D1001"}
    stored = sim.contacts["D1001"]
    assert (stored["ACCT_NAME"], stored["MAIL_BUS"], stored["CNG_NR"]) == ("Acme Holding BV", "info@acme.example", 1)
    assert len(sim.contacts) == 1


def test_values_are_converted_loosely_by_the_dictionary_type(api: httpx.Client, sim: AccountViewSimulator) -> None:
    answer = api.post("/accountviewdata", json=post_body(debtor(DISC_PCT="7.5", REC_BLK="true", ACCT_LINK="2",
                                                                TEL_BUS=101)))
    assert answer.status_code == 200
    stored = sim.contacts["D1001"]
    assert (stored["DISC_PCT"], stored["REC_BLK"], stored["ACCT_LINK"], stored["TEL_BUS"]) == (7.5, True, 2, "101")


@pytest.mark.parametrize(("body", "message"), [
    (post_body(debtor(NICKNAME="x")), "Field NICKNAME does not exist in table CONTACT"),
    (post_body(debtor(ACCT_NAME="A" * 41)), "Row 1: Field ACCT_NAME: value is too long (41 characters, maximum 40)"),
    (post_body(debtor(SUB_NR="D" * 11)), "SUB_NR: value is too long"),
    (post_body({"SUB_NR": "D1001", "ACCT_NAME": "Acme BV"}), "Row 1: field SRC_CODE is mandatory"),
    (post_body(debtor(ACCT_NAME="")), "Row 1: field ACCT_NAME is mandatory"),
    (post_body(debtor(SUB_NR="")), "Row 1: field SUB_NR is mandatory"),
    (post_body(debtor(DISC_PCT="abc")), "Field DISC_PCT: expected a number"),
    (post_body(debtor(REC_BLK="maybe")), "Field REC_BLK: expected a logical"),
    (post_body(debtor(MAIN_PP="NOBODY")), "field MAIN_PP: contact person 'NOBODY' does not exist"),
    (post_body(debtor(), table="DEBTOR"), "writes table CONTACT"),
    (post_body(debtor(), bo="XX9"), "Unknown business object 'XX9'"),
    (post_body(debtor(), debtor(SUB_NR="D1002", ACCT_NAME="")), "Row 2: field ACCT_NAME is mandatory"),
])
def test_invalid_ar1_writes_are_refused(api: httpx.Client, sim: AccountViewSimulator,
                                        body: dict[str, Any], message: str) -> None:
    answer = api.post("/accountviewdata", json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert (error["ErrorType"], error["ErrorNumbers"]) == ("AccountViewError", None)
    assert message in error["ErrorMessage"]
    assert sim.contacts == {}  # all rows are checked before any is stored


def test_values_must_match_the_definition_positionally(api: httpx.Client) -> None:
    body = post_body(debtor())
    body["TableData"]["Data"]["Rows"][0]["Values"].pop()
    answer = api.post("/accountviewdata", json=body)
    assert answer.json()["ErrorMessage"] == "Row 1: 7 values for 8 fields"


def test_quirk_mode_answers_validation_errors_with_200(api: httpx.Client, sim: AccountViewSimulator) -> None:
    sim.quirk_error_in_200 = True
    answer = api.post("/accountviewdata", json=post_body(debtor(ACCT_NAME="")))
    assert answer.status_code == 200
    assert answer.json()["ErrorMessage"] == "Row 1: field ACCT_NAME is mandatory"
    assert api.post("/accountviewdata", json=post_body(debtor())).json() == {"PrimaryKey": "D1001"}


# --- PP1 and the link from AR1 -----------------------------------------------------------------

def test_pp1_upserts_by_pp_code_and_ar1_links_to_it(api: httpx.Client, sim: AccountViewSimulator) -> None:
    created = api.post("/accountviewdata", json=post_body(person(), bo="PP1", table="PERSON"))
    assert created.json() == {"PrimaryKey": "500000"}
    api.post("/accountviewdata", json=post_body({"PP_CODE": "500000", "TEL_MOB": "06-99999999"},
                                                bo="PP1", table="PERSON"))
    assert sim.persons["500000"]["TEL_MOB"] == "06-99999999"
    assert sim.persons["500000"]["FST_NAME"] == "Jan"
    linked = api.post("/accountviewdata", json=post_body(debtor(MAIN_PP="500000", ADMIN_PP="500000")))
    assert linked.json() == {"PrimaryKey": "D1001"}
    assert sim.contacts["D1001"]["MAIN_PP"] == "500000"


def test_pp1_fields_are_checked(api: httpx.Client, sim: AccountViewSimulator) -> None:
    too_long = api.post("/accountviewdata", json=post_body(person(FST_NAME="F" * 31), bo="PP1", table="PERSON"))
    assert "FST_NAME: value is too long" in too_long.json()["ErrorMessage"]
    no_code = api.post("/accountviewdata", json=post_body(person(PP_CODE=""), bo="PP1", table="PERSON"))
    assert "PP_CODE is mandatory" in no_code.json()["ErrorMessage"]
    assert sim.persons == {}


# --- GET ---------------------------------------------------------------------------------------

def test_get_filters_by_sub_nr_and_answers_by_table_name(api: httpx.Client) -> None:
    api.post("/accountviewdata", json=post_body(debtor()))
    api.post("/accountviewdata", json=post_body(debtor(SUB_NR="D1002", ACCT_NAME="Beta BV")))
    rows = get_contacts(api, "D1002").json()["CONTACT"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["SUB_NR"], row["ACCT_NAME"], row["CITY"], row["REC_BLK"]) == ("D1002", "Beta BV", "", False)
    assert all(name == name.upper() for name in row)
    assert get_contacts(api, "D9999").json() == {"CONTACT": []}
    assert get_contacts(api, "d1002").json() == {"CONTACT": []}  # Equal is exact


def test_get_chooses_fields_and_pages_by_last_key(api: httpx.Client) -> None:
    for number in range(1, 4):
        api.post("/accountviewdata", json=post_body(debtor(SUB_NR=f"D100{number}")))
    params = {"BusinessObject": "AR1", "PageSize": "2", "Fields": "contact.sub_nr,contact.acct_name"}
    first = api.get("/accountviewdata", params=params).json()["CONTACT"]
    assert first == [{"SUB_NR": "D1001", "ACCT_NAME": "Acme BV"}, {"SUB_NR": "D1002", "ACCT_NAME": "Acme BV"}]
    rest = api.get("/accountviewdata", params={**params, "lastKey": "D1002"}).json()["CONTACT"]
    assert [r["SUB_NR"] for r in rest] == ["D1003"]


def test_get_pp1_answers_person_rows(api: httpx.Client) -> None:
    api.post("/accountviewdata", json=post_body(person(), bo="PP1", table="PERSON"))
    rows = get_contacts(api, "500000", bo="PP1", key="PP_CODE").json()["PERSON"]
    assert rows[0]["DSP_NAME"] == "Jan Jansen"


def test_get_contains_and_list_filters(api: httpx.Client) -> None:
    api.post("/accountviewdata", json=post_body(debtor(), debtor(SUB_NR="D1002", MAIL_BUS="sales@beta.example")))
    contains = api.get("/accountviewdata", params={"BusinessObject": "AR1", "FilterControlSource1": "MAIL_BUS",
                                                   "FilterOperator1": "Contains", "FilterValueType1": "C",
                                                   "FilterValue1": "beta"}).json()["CONTACT"]
    assert [r["SUB_NR"] for r in contains] == ["D1002"]
    listed = api.get("/accountviewdata", params={"BusinessObject": "AR1", "FilterControlSource1": "SUB_NR",
                                                 "FilterOperator1": "Equal", "FilterValueType1": "C",
                                                 "FilterValue1": "D1001,D1002",
                                                 "FilterIsListOfValues1": "true"}).json()["CONTACT"]
    assert len(listed) == 2


def test_get_refuses_unknown_filter_fields(api: httpx.Client, sim: AccountViewSimulator) -> None:
    answer = get_contacts(api, "x", key="NOPE")
    assert answer.status_code == 400
    assert "NOPE is not a field of table CONTACT" in answer.json()["ErrorMessage"]
    sim.quirk_error_in_200 = True
    assert get_contacts(api, "x", key="NOPE").status_code == 200


# --- faults ------------------------------------------------------------------------------------

def test_drop_after_creates_then_closes_unanswered(api: httpx.Client, sim: AccountViewSimulator) -> None:
    sim.faults.append(Fault("drop_after"))
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/accountviewdata", json=post_body(debtor()))
    assert list(sim.contacts) == ["D1001"]
    assert get_contacts(api, "D1001").json()["CONTACT"][0]["ACCT_NAME"] == "Acme BV"


def test_api_faults_skip_the_token_endpoint(raw: httpx.Client, sim: AccountViewSimulator) -> None:
    sim.faults.append(Fault("status", 503))
    tokens = refresh(raw, FIRST_REFRESH)
    assert tokens.status_code == 200 and len(sim.faults) == 1
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}", "X-Company": COMPANY}
    assert raw.post("/accountviewdata", json=post_body(debtor()), headers=headers).status_code == 503
    assert sim.contacts == {}


def test_token_faults_when_asked(raw: httpx.Client, sim: AccountViewSimulator) -> None:
    sim.faults.append(Fault("status", 429, retry_after=2, target="token"))
    limited = refresh(raw, FIRST_REFRESH)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert sim.current_refresh_token == FIRST_REFRESH
    sim.faults.append(Fault("drop_after", target="token"))  # the new refresh token is lost in transit
    with pytest.raises(httpx.RemoteProtocolError):
        refresh(raw, FIRST_REFRESH)
    assert sim.current_refresh_token != FIRST_REFRESH
    assert refresh(raw, FIRST_REFRESH).json() == {"error": "invalid_grant"}


def test_drop_before_stores_nothing(api: httpx.Client, sim: AccountViewSimulator) -> None:
    sim.faults.append(Fault("drop_before", method="POST"))
    assert get_contacts(api, "D1001").status_code == 200  # a GET does not match
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/accountviewdata", json=post_body(debtor()))
    assert sim.contacts == {}
    assert [r.method for r in sim.requests] == ["POST", "GET", "POST"]
