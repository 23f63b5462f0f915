"""The SnelStart simulator over real loopback HTTP: auth, landen, paging, filters, writes, faults."""

from __future__ import annotations

import json
import re
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.faults import Fault
from simulators.snelstart import SnelStartSimulator, serve
from simulators.snelstart_data import READ_FIELDS, WRITE_FIELDS

CLIENT_KEY, SUBSCRIPTION_KEY = "koppelsleutel-123", "sub-key-456"
EMPTY = "00000000-0000-0000-0000-000000000000"
KLANT_ACTIEF = "Relatiesoort/any(r:r eq 'Klant') and Nonactief eq false"


class Api:
    """An httpx client that logs in the way SnelStart's clients do."""

    def __init__(self, sim: SnelStartSimulator, url: str) -> None:
        self.sim, self.http = sim, httpx.Client(base_url=url, timeout=10)
        self.token = self.grant().json()["access_token"]

    def grant(self, key: str = CLIENT_KEY) -> httpx.Response:
        return self.http.post("/b2b/token", data={"grant_type": "clientkey", "clientkey": key})

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Ocp-Apim-Subscription-Key": SUBSCRIPTION_KEY, **extra}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(f"/v2{path}", params=params, headers=self.headers())

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(f"/v2{path}", json=body, headers=self.headers())

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.http.put(f"/v2{path}", json=body, headers=self.headers())

    def all(self, top: int = 500, **params: Any) -> list[dict[str, Any]]:
        """Pages through /relaties like the PHP clients: $skip += $top until a page comes back empty."""
        out, skip = [], 0
        while True:
            page = self.get("/relaties", **{"$skip": skip, "$top": top}, **params)
            assert page.status_code == 200, page.text
            if not page.json():
                return out
            out += page.json()
            skip += top


@pytest.fixture
def api_for() -> Iterator[Any]:
    stack: list[Any] = []

    def start(**options: Any) -> Api:
        sim = SnelStartSimulator(CLIENT_KEY, SUBSCRIPTION_KEY, **options)
        context = serve(sim)
        server = context.__enter__()
        stack.append(context)
        return Api(sim, server.url)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def api(api_for: Any) -> Api:
    return api_for(customers=30, seed=5)


def new_relatie(**changes: Any) -> dict[str, Any]:
    body = {"relatiesoort": ["Klant"], "naam": "Jansen Installatietechniek B.V.", "email": "info@jansen.example",
            "telefoon": "030-1234567",
            "vestigingsAdres": {"contactpersoon": "Jan Jansen", "straat": "Industrieweg 9", "postcode": "0123 AB",
                                "plaats": "Utrecht", "land": {"id": EMPTY}}}
    body.update(changes)
    return body


# --- token endpoint and API Management ---------------------------------------------------------

def test_token_grant_answers_like_snelstarts_oauth_server(api: Api) -> None:
    answer = api.grant()
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"
    body = answer.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3599
    assert api.grant("wrong").status_code == 400
    assert api.grant("wrong").json() == {"error": "invalid_grant"}
    other = api.http.post("/b2b/token", data={"grant_type": "client_credentials", "clientkey": CLIENT_KEY})
    assert other.json() == {"error": "unsupported_grant_type"}
    as_json = api.http.post("/b2b/token", json={"grant_type": "clientkey", "clientkey": CLIENT_KEY})
    assert as_json.status_code == 400 and as_json.json() == {"error": "invalid_request"}
    assert api.sim.token_requests == 6  # the fixture's login, then five here


def test_password_grant_takes_the_two_halves_of_the_base64_client_key(api_for: Any) -> None:
    import base64
    key = base64.b64encode(b"user@example.nl:s3cret").decode()
    sim = SnelStartSimulator(key, SUBSCRIPTION_KEY)
    with serve(sim) as server:
        answer = httpx.post(server.token_url, data={"grant_type": "password", "username": "user@example.nl",
                                                    "password": "s3cret"})
        wrong = httpx.post(server.token_url, data={"grant_type": "password", "username": "user@example.nl",
                                                   "password": "nope"})
    assert answer.status_code == 200 and wrong.json() == {"error": "invalid_grant"}


def test_every_api_call_needs_the_subscription_key_then_a_valid_token(api: Api) -> None:
    no_key = api.http.get("/v2/landen", headers={"Authorization": f"Bearer {api.token}"})
    assert no_key.status_code == 401
    assert no_key.json() == {"statusCode": 401, "message": "Access denied due to missing subscription key. Make "
                             "sure to include subscription key when making requests to an API."}
    wrong_key = api.http.get("/v2/landen", headers=api.headers(**{"Ocp-Apim-Subscription-Key": "x"}))
    assert wrong_key.status_code == 401 and "invalid subscription key" in wrong_key.json()["message"]
    # The key is checked before the token: no token and no key says "missing subscription key".
    assert "subscription key" in api.http.get("/v2/landen").json()["message"]
    unauthorized = {"statusCode": 401, "message": "Unauthorized. Access token is missing or invalid."}
    no_token = api.http.get("/v2/landen", headers={"Ocp-Apim-Subscription-Key": SUBSCRIPTION_KEY})
    assert (no_token.status_code, no_token.json()) == (401, unauthorized)
    bad = api.http.get("/v2/landen", headers=api.headers(Authorization="Bearer not-a-token"))
    assert (bad.status_code, bad.json()) == (401, unauthorized)
    by_query = api.http.get("/v2/landen", params={"subscription-key": SUBSCRIPTION_KEY},
                            headers={"Authorization": f"Bearer {api.token}"})
    assert by_query.status_code == 200


def test_a_token_expires_after_its_lifetime(api: Api) -> None:
    api.sim.advance_clock(3598)
    assert api.get("/landen").status_code == 200
    api.sim.advance_clock(2)
    expired = api.get("/landen")
    assert expired.status_code == 401 and expired.json()["message"].startswith("Unauthorized")
    api.token = api.grant().json()["access_token"]  # no refresh token: ask again with the client key
    assert api.get("/landen").status_code == 200


def test_operations_the_api_does_not_have_are_not_found(api: Api) -> None:
    for method, path in (("GET", "/v2/nope"), ("PATCH", "/v2/relaties"), ("GET", "/v3/relaties"), ("GET", "/v2")):
        answer = api.http.request(method, path, headers=api.headers())
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {"statusCode": 404, "message": "Resource not found"}


# --- landen ------------------------------------------------------------------------------------

def test_landen_lists_landmodels_with_stable_ids(api: Api, api_for: Any) -> None:
    landen = api.get("/landen").json()
    by_iso = {land["landcodeISO"]: land for land in landen}
    assert {"NL", "BE", "DE", "FR", "GB", "US", "SE"} <= set(by_iso)
    for land in landen:
        assert list(land) == ["naam", "landcodeISO", "landcode", "id", "uri"]
        assert str(uuid.UUID(land["id"])) == land["id"] and land["uri"] == f"/landen/{land['id']}"
    assert by_iso["NL"]["naam"] == "Nederland" and by_iso["BE"]["naam"] == "België"
    assert api_for(seed=99).get("/landen").json() == landen  # the same in every simulator
    one = api.get(f"/landen/{by_iso['SE']['id']}")
    assert one.status_code == 200 and one.json() == by_iso["SE"]
    assert api.get(f"/landen/{uuid.uuid4()}").status_code == 404
    assert api.get("/landen/NL").json() == [{"errorCode": "ALG-0103", "message": "Ongeldig ID"}]


# --- listing and paging ------------------------------------------------------------------------

def test_exactly_500_customers_give_one_full_page_then_an_empty_one(api_for: Any) -> None:
    api = api_for(customers=500)
    first = api.get("/relaties", **{"$skip": 0, "$top": 500}).json()
    assert len(first) == 500
    assert api.get("/relaties", **{"$skip": 500, "$top": 500}).json() == []
    assert len(api.get("/relaties").json()) == 500  # $top defaults to 500
    assert len(api.all()) == 500


def test_paging_covers_every_customer_once_in_relatiecode_order(api_for: Any) -> None:
    api = api_for(customers=1001, seed=11)
    pages = [api.get("/relaties", **{"$skip": s, "$top": 500}).json() for s in (0, 500, 1000, 1500)]
    assert [len(p) for p in pages] == [500, 500, 1, 0]
    codes = [r["relatiecode"] for p in pages for r in p]
    assert codes == sorted(codes) and len(set(codes)) == 1001
    assert len({r["id"] for p in pages for r in p}) == 1001
    assert [r["relatiecode"] for r in api.get("/relaties", **{"$skip": 998, "$top": 3}).json()] == codes[998:1001]
    assert [r["id"] for r in api.all(top=137)] == [r["id"] for p in pages for r in p]


@pytest.mark.parametrize(("params", "message"), [
    ({"$top": 501}, "The limit of '500' for Top query has been exceeded. The value from the incoming request is '501'."),
    ({"$top": 0}, "Invalid value '0' for $top query option found. The $top query option requires a positive "
                  "integer value."),
    ({"$skip": -1}, "Invalid value '-1' for $skip query option found. The $skip query option requires a "
                    "non-negative integer value."),
    ({"$top": "ten"}, "Invalid value 'ten' for $top query option found. The $top query option requires a "
                      "non-negative integer value."),
    ({"$orderby": "Naam"}, "The query option '$orderby' (not simulated by the specbridge SnelStart simulator)."),
])
def test_bad_paging_options_are_refused(api: Api, params: dict[str, Any], message: str) -> None:
    answer = api.get("/relaties", **params)
    assert answer.status_code == 400
    assert answer.json() == {"message": f"The query specified in the URI is not valid. {message}"}


def test_generated_customers_are_realistic_and_deterministic(api_for: Any) -> None:
    api = api_for(customers=2000, seed=3)
    records = api.all()
    assert records == api_for(customers=2000, seed=3).all()
    assert records[:50] != api_for(customers=50, seed=4).all()
    land_ids = {land["id"] for land in api.get("/landen").json()}
    soorten = Counter(tuple(r["relatiesoort"]) for r in records)
    assert 0.80 < soorten[("Klant",)] / 2000 < 0.90
    assert soorten[("Leverancier",)] > 100 and soorten[("Klant", "Leverancier")] > 40
    assert 0.02 < sum(r["nonactief"] for r in records) / 2000 < 0.09
    assert any(r["vestigingsAdres"] is None for r in records)
    assert any(r["correspondentieAdres"] is None for r in records)
    assert Counter(len(r["extraVeldenKlant"]) for r in records).keys() == {0, 1, 2, 3}
    postcodes = [r["vestigingsAdres"]["postcode"] for r in records if r["vestigingsAdres"]]
    assert all(isinstance(p, str) for p in postcodes)
    assert any(p.startswith("0") for p in postcodes)
    assert any(re.fullmatch(r"[1-9]\d{3} [A-Z]{2}", p) for p in postcodes)
    assert any(r["email"] is None for r in records) and any(r["telefoon"] is None for r in records)
    for r in records:
        assert list(r) == list(READ_FIELDS)
        assert isinstance(r["relatiecode"], int) and len(r["naam"]) <= 50
        assert r["uri"] == f"/relaties/{r['id']}"
        for address in (r["vestigingsAdres"], r["correspondentieAdres"]):
            if address and address["land"]:
                assert address["land"]["id"] in land_ids
        assert all(set(extra) == {"naam", "waarde"} for extra in r["extraVeldenKlant"])


# --- filters -----------------------------------------------------------------------------------

def test_filters_select_exactly_the_matching_customers_across_pages(api_for: Any) -> None:
    api = api_for(customers=1200, seed=8)
    everyone = api.all()
    expected = [r["id"] for r in everyone if "Klant" in r["relatiesoort"] and not r["nonactief"]]
    assert [r["id"] for r in api.all(top=250, **{"$filter": KLANT_ACTIEF})] == expected
    assert [r["id"] for r in api.all(**{"$filter": "Nonactief eq true"})] == [
        r["id"] for r in everyone if r["nonactief"]]
    leveranciers = api.all(**{"$filter": "Relatiesoort/any(soort:soort eq 'Leverancier')"})
    assert leveranciers and all("Leverancier" in r["relatiesoort"] for r in leveranciers)
    # a page further on than the last cursor, and one before it, are still right
    assert [r["id"] for r in api.get("/relaties", **{"$filter": KLANT_ACTIEF, "$skip": 700, "$top": 5}).json()] \
        == expected[700:705]
    assert [r["id"] for r in api.get("/relaties", **{"$filter": KLANT_ACTIEF, "$skip": 3, "$top": 2}).json()] \
        == expected[3:5]


def test_lookup_by_email_or_naam_finds_an_existing_customer(api_for: Any) -> None:
    api = api_for(customers=300, seed=2)
    everyone = api.all()
    target = next(r for r in everyone if r["email"] and "'" not in r["naam"])
    found = api.get("/relaties", **{"$filter": f"Email eq '{target['email'].upper()}'"}).json()
    assert target["id"] in [r["id"] for r in found]  # case-insensitive, as SQL Server compares
    assert all(r["email"].lower() == target["email"].lower() for r in found)
    quoted = next(r for r in everyone if "'" in r["naam"])
    literal = quoted["naam"].replace("'", "''")
    by_name = api.get("/relaties", **{"$filter": f"Naam eq '{literal}'", "$select": "Id,Naam"}).json()
    assert {"id": quoted["id"], "naam": quoted["naam"]} in by_name
    assert all(set(r) == {"id", "naam"} for r in by_name)
    assert api.get("/relaties", **{"$filter": "Email eq 'nobody@nowhere.example'"}).json() == []
    code = api.get("/relaties", **{"$filter": f"Relatiecode eq {target['relatiecode']}"}).json()
    assert [r["id"] for r in code] == [target["id"]]
    by_id = api.get("/relaties", **{"$filter": f"Id eq guid'{target['id']}'"}).json()
    assert [r["id"] for r in by_id] == [target["id"]]


@pytest.mark.parametrize("expression", [
    "naam eq 'x'",  # property names are case-sensitive
    "Naam eq 'x' or Naam eq 'y'",
    "Nonactief eq 'false'",
    "Naam eq x",
    "length(Naam) gt 3",
])
def test_filters_the_simulator_does_not_understand_are_refused(api: Api, expression: str) -> None:
    answer = api.get("/relaties", **{"$filter": expression})
    assert answer.status_code == 400
    assert answer.json() == [{"errorCode": "ALG-0104", "message": "Ongeldig OData filter"}]
    assert answer.headers["x-specbridge-simulator"]


# --- create, read, update, delete ----------------------------------------------------------------

def test_create_assigns_id_and_next_relatiecode_and_answers_the_write_model(api_for: Any) -> None:
    api = api_for(customers=120, seed=1)
    last = api.get("/relaties", **{"$skip": 119}).json()[0]["relatiecode"]
    answer = api.post("/relaties", new_relatie())
    assert answer.status_code == 201
    created = answer.json()
    assert list(created) == list(WRITE_FIELDS)
    assert str(uuid.UUID(created["id"])) == created["id"] and created["relatiecode"] == last + 1
    assert created["naam"] == "Jansen Installatietechniek B.V." and created["mobieleTelefoon"] is None
    assert created["vestigingsAdres"]["postcode"] == "0123 AB"
    nl = next(land for land in api.get("/landen").json() if land["landcodeISO"] == "NL")
    assert created["vestigingsAdres"]["land"] == {"id": nl["id"], "uri": nl["uri"]}  # Guid.Empty -> Nederland
    assert created["modifiedOn"] and created["extraVeldenKlant"] == []
    read = api.get(f"/relaties/{created['id']}")
    assert read.status_code == 200 and list(read.json()) == list(READ_FIELDS)
    assert {k: v for k, v in read.json().items() if k != "fax"} == created
    assert api.all()[-1]["id"] == created["id"]  # after the generated ones
    second = api.post("/relaties", new_relatie(naam="Tweede", relatiecode=5000)).json()
    assert second["relatiecode"] == 5000
    assert api.post("/relaties", new_relatie(naam="Derde")).json()["relatiecode"] == 5001


def test_update_replaces_the_whole_relation_and_keeps_id_and_relatiecode(api: Api) -> None:
    created = api.post("/relaties", new_relatie()).json()
    body = new_relatie(naam="Jansen B.V.", mobieleTelefoon="06-12345678")
    del body["telefoon"]
    answer = api.put(f"/relaties/{created['id']}", body)
    assert answer.status_code == 200
    updated = answer.json()
    assert updated["id"] == created["id"] and updated["relatiecode"] == created["relatiecode"]
    assert updated["naam"] == "Jansen B.V." and updated["mobieleTelefoon"] == "06-12345678"
    assert updated["telefoon"] is None  # left out of a PUT: erased
    assert api.get(f"/relaties/{created['id']}").json()["naam"] == "Jansen B.V."


def test_update_and_delete_of_a_generated_customer(api_for: Any) -> None:
    api = api_for(customers=600, seed=9)
    target = next(r for r in api.get("/relaties", **{"$skip": 500}).json()
                  if r["relatiesoort"] == ["Klant"] and not r["nonactief"])
    body = {k: v for k, v in target.items() if k in WRITE_FIELDS}
    body["naam"] = "Nieuwe Naam"
    assert api.put(f"/relaties/{target['id']}", body).status_code == 200
    listed = api.all()
    assert len(listed) == 600
    assert next(r for r in listed if r["id"] == target["id"])["naam"] == "Nieuwe Naam"
    deleted = api.http.delete(f"/v2/relaties/{target['id']}", headers=api.headers())
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert api.get(f"/relaties/{target['id']}").status_code == 404
    remaining = api.all(top=100)
    assert len(remaining) == 599 and target["id"] not in {r["id"] for r in remaining}


def test_unknown_ids_and_nonactive_relations(api_for: Any) -> None:
    api = api_for(customers=200, seed=6)
    missing = api.get(f"/relaties/{uuid.uuid4()}")
    assert (missing.status_code, missing.content) == (404, b"")
    assert api.put(f"/relaties/{uuid.uuid4()}", new_relatie()).status_code == 404
    assert api.get("/relaties/123").json() == [{"errorCode": "ALG-0103", "message": "Ongeldig ID"}]
    inactive = next(r for r in api.all() if r["nonactief"])
    answer = api.get(f"/relaties/{inactive['id']}")
    assert answer.status_code == 400
    assert answer.json() == [{"errorCode": "ALG-0105", "message": "Het item is nonactief"}]


def test_concurrent_creates_get_distinct_relatiecodes(api: Api) -> None:
    codes: list[int] = []

    def create(n: int) -> None:
        with httpx.Client(base_url=str(api.http.base_url)) as http:
            for k in range(10):
                answer = http.post("/v2/relaties", json=new_relatie(naam=f"Klant {n}-{k}"), headers=api.headers())
                codes.append(answer.json()["relatiecode"])

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 60 and len(set(codes)) == 60
    assert len(api.sim.created) == 60


# --- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "limit"), [("naam", 50), ("kvkNummer", 12), ("websiteUrl", 100), ("iban", 50),
                                              ("bic", 15), ("oin", 20)])
def test_openapi_max_lengths_fail_model_validation(api: Api, field: str, limit: int) -> None:
    ok = api.post("/relaties", new_relatie(**{field: "x" * limit}))
    too_long = api.post("/relaties", new_relatie(**{field: "x" * (limit + 1)}))
    assert ok.status_code != 400 or not isinstance(ok.json(), dict)  # no model-state error at the limit
    assert too_long.status_code == 400
    name = field[0].upper() + field[1:]
    assert too_long.json() == {"message": "The request is invalid.", "modelState": {
        f"relatie.{name}": [f"The field {name} must be a string with a maximum length of {limit}."]}}


def test_naam_of_51_characters_is_refused_and_nothing_is_created(api: Api) -> None:
    answer = api.post("/relaties", new_relatie(naam="N" * 51))
    assert answer.status_code == 400
    assert answer.json()["modelState"] == {"relatie.Naam": ["The field Naam must be a string with a maximum "
                                                           "length of 50."]}
    assert api.sim.created == []


@pytest.mark.parametrize(("changes", "codes"), [
    ({"id": str(uuid.uuid4())}, ["ALG-0100"]),
    ({"naam": "  "}, ["REL-0007"]),
    ({"relatiesoort": []}, ["REL-0001"]),
    ({"relatiesoort": ["Klant", "Leverancier"]}, ["REL-0065"]),
    ({"relatiesoort": ["Eigen"]}, ["REL-0048"]),
    ({"vestigingsAdres": {"straat": "Kerkstraat 1", "postcode": "", "plaats": "Delft"}}, ["REL-0060"]),
    ({"vestigingsAdres": {"straat": "Kerkstraat 1", "postcode": "1234 AB", "plaats": "Delft",
                          "land": {"id": str(uuid.uuid4())}}}, ["REL-0056"]),
    ({"correspondentieAdres": {"postcode": "1" * 26, "land": {"id": EMPTY}}}, ["REL-0026"]),
    ({"email": "not-an-address"}, ["REL-0061"]),
    ({"telefoon": "0" * 26}, ["REL-0013"]),
    ({"iban": "NL00ABNA0123456789"}, ["REL-0011"]),
    ({"relatiesoort": ["Leverancier"], "factuurkorting": 5}, ["REL-0004"]),
    ({"naam": "", "id": str(uuid.uuid4())}, ["ALG-0100", "REL-0007"]),
])
def test_business_rules_answer_snelstarts_error_list(api: Api, changes: dict[str, Any], codes: list[str]) -> None:
    answer = api.post("/relaties", new_relatie(**changes))
    assert answer.status_code == 400, answer.text
    assert [e["errorCode"] for e in answer.json()] == codes
    assert all(set(e) == {"errorCode", "message"} and e["message"] for e in answer.json())


def test_values_json_cannot_bind_fail_model_validation(api: Api) -> None:
    answer = api.post("/relaties", new_relatie(relatiecode="abc", relatiesoort=["Prospect"],
                                               vestigingsAdres={"land": {"id": "land-nl"}}))
    assert answer.status_code == 400
    assert set(answer.json()["modelState"]) == {"relatie.relatiecode", "relatie.relatiesoort[0]",
                                                "relatie.vestigingsAdres.land.id"}
    lower = api.post("/relaties", new_relatie(relatiesoort=["klant"]))  # Json.NET reads enums without case
    assert lower.status_code == 201 and lower.json()["relatiesoort"] == ["Klant"]


def test_bodies_that_are_not_a_relatie(api: Api) -> None:
    empty = api.http.post("/v2/relaties", content=b"", headers=api.headers(**{"Content-Type": "application/json"}))
    assert empty.json() == [{"errorCode": "ALG-0106", "message": "De data in het request is leeg"}]
    broken = api.http.post("/v2/relaties", content=b"{naam:", headers=api.headers(**{"Content-Type": "application/json"}))
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "REL-0066"
    text = api.http.post("/v2/relaties", content=json.dumps(new_relatie()),
                         headers=api.headers(**{"Content-Type": "text/plain"}))
    assert text.status_code == 415


def test_update_rules(api: Api) -> None:
    created = api.post("/relaties", new_relatie()).json()
    other = api.post("/relaties", new_relatie(naam="Ander")).json()
    path = f"/relaties/{created['id']}"
    assert api.put(path, new_relatie(relatiesoort=["Leverancier"])).json()[0]["errorCode"] == "REL-0064"
    assert api.put(path, new_relatie(id=other["id"])).json()[0]["errorCode"] == "ALG-0101"
    assert api.put(path, new_relatie(relatiecode=other["relatiecode"])).json()[0]["errorCode"] == "REL-0008"
    assert api.put(path, new_relatie(id=created["id"])).status_code == 200


# --- faults ------------------------------------------------------------------------------------

def test_status_faults_are_used_up_one_request_each(api: Api) -> None:
    api.sim.faults.extend([Fault("status", 503), Fault("status", 429, retry_after=1)])
    first, second, third = (api.get("/landen") for _ in range(3))
    assert (first.status_code, first.json()) == (503, {"statusCode": 503, "message": "Service Unavailable"})
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert second.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."}
    assert third.status_code == 200
    assert api.sim.faults == []


def test_faults_can_match_one_method_or_the_token_endpoint(api: Api) -> None:
    api.sim.faults.append(Fault("status", 500, method="POST"))
    assert api.get("/landen").status_code == 200
    failed = api.post("/relaties", new_relatie())
    assert (failed.status_code, failed.json()) == (500, {"message": "An error has occurred."})
    assert api.sim.created == []
    api.sim.faults.append(Fault("status", 503, target="token"))
    assert api.get("/landen").status_code == 200
    assert api.grant().status_code == 503 and api.grant().status_code == 200


def test_drop_before_does_nothing_and_drop_after_creates_then_hangs_up(api: Api) -> None:
    api.sim.faults.append(Fault("drop_before", method="POST"))
    with pytest.raises(httpx.TransportError):
        api.post("/relaties", new_relatie(naam="Voor"))
    assert api.sim.created == []
    api.sim.faults.append(Fault("drop_after", method="POST"))
    with pytest.raises(httpx.TransportError):
        api.post("/relaties", new_relatie(naam="Na"))
    assert [r["naam"] for r in api.sim.created] == ["Na"]  # the classic uncertain outcome
    found = api.get("/relaties", **{"$filter": "Naam eq 'Na'"}).json()
    assert [r["id"] for r in found] == [api.sim.created[0]["id"]]


def test_delay_and_latency_slow_calls_down(api_for: Any) -> None:
    api = api_for(latency=0.05)
    start = time.perf_counter()
    api.get("/landen")
    assert time.perf_counter() - start >= 0.05
    api.sim.faults.append(Fault("delay", 0.2))
    with pytest.raises(httpx.ReadTimeout):
        api.http.get("/v2/landen", headers=api.headers(), timeout=0.05)
    assert api.sim.faults.fired == [Fault("delay", 0.2)]


def test_every_request_is_recorded(api: Api) -> None:
    api.post("/relaties", new_relatie())
    token, post = api.sim.requests[0], api.sim.requests[-1]
    assert (token.target, token.method, token.body["grant_type"]) == ("token", "POST", "clientkey")
    assert (post.method, post.path, post.target) == ("POST", "/v2/relaties", "api")
    assert post.headers["ocp-apim-subscription-key"] == SUBSCRIPTION_KEY and post.body["naam"].startswith("Jansen")


# --- scale -------------------------------------------------------------------------------------

def test_100000_customers_page_through_without_being_stored(api_for: Any) -> None:
    api = api_for(customers=100_000, seed=21)
    count = ascending = last_code = 0
    ids: set[str] = set()
    for skip in range(0, 100_001, 500):
        page = api.get("/relaties", **{"$skip": skip, "$top": 500, "$select": "Id,Relatiecode,Nonactief"}).json()
        count += len(page)
        ascending += sum(1 for r in page if r["relatiecode"] > last_code)
        last_code = page[-1]["relatiecode"] if page else last_code
        ids.update(r["id"] for r in page)
    assert count == ascending == len(ids) == 100_000
    assert page == [] and last_code == api.sim.generated.relatiecode(99_999)
    full = api.get("/relaties", **{"$skip": 99_999}).json()
    assert len(full) == 1 and list(full[0]) == list(READ_FIELDS) and full[0]["relatiecode"] == last_code
    assert api.sim.created == [] and api.sim.store._overrides == {}


def test_a_million_customers_cost_no_memory() -> None:
    tracemalloc.start()
    try:
        sim = SnelStartSimulator(CLIENT_KEY, SUBSCRIPTION_KEY, customers=1_000_000)
        token = json.loads(sim.app("POST", "/b2b/token", {"content-type": "application/x-www-form-urlencoded"},
                                   f"grant_type=clientkey&clientkey={CLIENT_KEY}".encode())[2])["access_token"]
        headers = {"authorization": f"Bearer {token}", "ocp-apim-subscription-key": SUBSCRIPTION_KEY}
        status, _, body = sim.app("GET", "/v2/relaties?$skip=999990", headers, b"")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200 and len(json.loads(body)) == 10
    assert json.loads(body)[-1]["relatiecode"] == sim.generated.relatiecode(999_999)
    assert peak < 5_000_000
