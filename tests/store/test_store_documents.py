"""import_document / export_document: the JSON document that seeds a store."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from store_helpers import customer

from engine.errors import InputError
from engine.store import SqlStore, open_store

DOCUMENT: dict[str, Any] = {
    "customers": [
        customer("000042"),
        customer("000043", CustomerGuid=None, Discount=0, UsesPriceField="P1", FreeFields={"Rank": 1.5}),
        {"CustomerName": "Nog geen code", "CustomerCode": "", "CustomerGuid": "new-1"},
    ],
    "sales_reps": [{"Username": "jdoe", "ResIdString": "R-0042", "Region": None, "Teams": ["a", "b"]}],
    "price_lists": [{"Index": 1, "Code": "0001", "Currency": "EUR", "Name": "Standaard"}, {"Index": 2}],
    "countries": [{"Iso2": "NL", "Name": "Nederland"}],
}


def test_import_then_export_gives_the_document_back(store: SqlStore) -> None:
    counts = store.import_document(DOCUMENT)
    assert counts == {"customers": 3, "sales_reps": 1, "price_lists": 2, "countries": 1}
    exported = store.export_document()
    assert exported == DOCUMENT | {"customers": [
        {k: v for k, v in c.items() if v is not None} for c in DOCUMENT["customers"]]}
    assert list(exported) == ["customers", "sales_reps", "price_lists", "countries"]


def test_an_export_imports_back_to_the_same_state(store: SqlStore, tmp_path: Any) -> None:
    store.import_document(DOCUMENT)
    store.import_document(DOCUMENT, tenant="other")
    exported = json.loads(json.dumps(store.export_document()))  # through JSON text, as on disk
    with open_store(f"sqlite:///{tmp_path / 'copy.db'}") as copy_store:  # type: ignore[attr-defined]
        copy_store.import_document(exported)
        assert copy_store.export_document() == store.export_document()
        assert copy_store.export_document("other") == {"customers": [], "sales_reps": [], "price_lists": [],
                                                       "countries": []}
    # Importing the same document again changes nothing.
    store.import_document(exported)
    assert store.export_document() == exported


def test_import_upserts_reference_rows(store: SqlStore) -> None:
    store.import_document(DOCUMENT)
    store.import_document({"countries": [{"Iso2": "NL", "Name": "The Netherlands"}, {"Iso2": "BE"}],
                           "sales_reps": [{"Username": "jdoe", "ResIdString": "R-1"}]})
    assert store.export_document()["countries"] == [{"Iso2": "BE"}, {"Iso2": "NL", "Name": "The Netherlands"}]
    assert store.lookup("sales_reps", {"Username": "jdoe"}) == {"Username": "jdoe", "ResIdString": "R-1"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["customers"][1]["Addresses"][0].update(Iso2="NLD"),
     "record customers[1] (CustomerCode 000043), field Addresses[0].Iso2: 'NLD' is too long"),
    (lambda d: d["customers"][0].update(CustomerCode=42),
     "record customers[0] (CustomerGuid guid-000042), field CustomerCode: 42 is not of type 'string', 'null'"),
    (lambda d: d["customers"][2].update(Colour="red"),
     "record customers[2] (CustomerGuid new-1), field Colour: unknown field"),
    (lambda d: d["customers"][0]["Addresses"][1].pop("AddressType"),
     "record customers[0] (CustomerCode 000042), field Addresses[1].AddressType: is required"),
    (lambda d: d["price_lists"][1].update(Index="2"),
     "record price_lists[1], field Index: '2' is not of type 'integer'"),
    (lambda d: d["countries"].append({"Name": "Nowhere"}),
     "record countries[1], field Iso2: is required"),
    (lambda d: d["sales_reps"][0].update(Username=""),
     "record sales_reps[0], field Username: '' should be non-empty"),
    (lambda d: d.update(items=[]),
     "field items: unknown section (expected one of: customers, sales_reps, price_lists, countries)"),
    (lambda d: d.update(customers={"a": 1}), "field customers: expected a list, got dict"),
])
def test_a_bad_document_is_refused_whole_naming_record_and_field(store: SqlStore, change: Any, message: str) -> None:
    document = copy.deepcopy(DOCUMENT)
    change(document)
    with pytest.raises(InputError) as caught:
        store.import_document(document)
    assert str(caught.value) == message
    assert store.export_document() == {"customers": [], "sales_reps": [], "price_lists": [], "countries": []}


def test_all_problems_are_counted(store: SqlStore) -> None:
    document = {"customers": [{"CustomerCode": 1}, {"CustomerCode": 2}], "countries": [{}]}
    with pytest.raises(InputError, match=r"\(and 2 more problems\)$"):
        store.import_document(document)


def test_a_failure_while_writing_an_import_leaves_nothing_behind(store: SqlStore) -> None:
    store.upsert_customer(customer("000042"))
    # Valid by the schema, but the code belongs to a customer with another GUID: found while
    # writing, after other customers of the same import were already written.
    document = {"customers": [customer("000001"), customer("000042", CustomerGuid="other")],
                "countries": [{"Iso2": "NL"}]}
    with pytest.raises(InputError, match="belongs to the customer with GUID guid-000042"):
        store.import_document(document)
    assert [c["CustomerCode"] for c in store.iter_customers()] == ["000042"]
    assert store.export_document()["countries"] == []
