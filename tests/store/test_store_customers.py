"""Saving and reading customers: matching, statuses, wholesale replacement, batches, bad data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from store_helpers import customer

from engine.errors import InputError, StoreError
from engine.store import SaveCounts, SqlStore, codec


def test_a_saved_customer_comes_back_whole_with_its_types(store: SqlStore) -> None:
    doc = customer("000042")
    assert store.upsert_customer(doc) == "created"
    assert store.get_customer(code="000042") == doc
    assert store.get_customer(guid="guid-000042") == doc
    got = store.get_customer(code="000042")
    assert got is not None
    assert got["CustomerCode"] == "000042" and got["Addresses"][1]["PostCode"] == "0456"
    assert type(got["UsesPriceField"]) is int and type(got["Discount"]) is float
    assert got["FreeFields"]["Vip"] is False and got["FreeFields"]["Empty"] is None


def test_statuses_created_unchanged_updated(store: SqlStore) -> None:
    doc = customer()
    assert store.upsert_customer(doc) == "created"
    assert store.upsert_customer(doc) == "unchanged"
    # Same free fields in another order: equal documents, so still unchanged.
    reordered = {**doc, "FreeFields": dict(reversed(list(doc["FreeFields"].items())))}
    assert store.upsert_customer(reordered) == "unchanged"
    # 2 -> "2" and 2.5 -> 2 are changes of type, so they are updates.
    assert store.upsert_customer({**doc, "UsesPriceField": "2"}) == "updated"
    assert store.get_customer(code="000042")["UsesPriceField"] == "2"  # type: ignore[index]
    assert store.upsert_customer({**doc, "Discount": 2}) == "updated"
    assert store.count_customers() == 1


def test_parts_are_replaced_wholesale(store: SqlStore) -> None:
    store.upsert_customer(customer())
    slimmer = customer(Addresses=[{"AddressType": "DEL", "City": "Emmeloord"}], ContactPersons=[],
                       FreeFields={"Region": "Zuid"}, DynamicFreeFields=None)
    assert store.upsert_customer(slimmer) == "updated"
    got = store.get_customer(code="000042")
    assert got is not None
    assert got["Addresses"] == [{"AddressType": "DEL", "City": "Emmeloord"}]
    assert "ContactPersons" not in got and "DynamicFreeFields" not in got
    assert got["FreeFields"] == {"Region": "Zuid"}


def test_match_by_guid_first_then_by_code(store: SqlStore) -> None:
    store.upsert_customer(customer("000042"))
    # Same GUID, the ERP renumbered the customer: the GUID wins, the code follows.
    assert store.upsert_customer(customer("000043", CustomerGuid="guid-000042")) == "updated"
    assert store.get_customer(code="000042") is None
    assert store.get_customer(code="000043")["CustomerGuid"] == "guid-000042"  # type: ignore[index]
    # No GUID: matched by code, and the stored GUID is kept.
    assert store.upsert_customer(customer("000043", CustomerGuid=None, CustomerName="Nieuw")) == "updated"
    got = store.get_customer(code="000043")
    assert got is not None and got["CustomerGuid"] == "guid-000042" and got["CustomerName"] == "Nieuw"
    assert store.count_customers() == 1


def test_a_new_guid_adopts_an_erp_customer_without_one(store: SqlStore) -> None:
    store.upsert_customer(customer("000050", CustomerGuid=None))
    assert store.upsert_customer(customer("000050", CustomerGuid="fresh")) == "updated"
    assert store.get_customer(guid="fresh")["CustomerCode"] == "000050"  # type: ignore[index]
    assert store.count_customers() == 1


def test_a_code_owned_by_another_guid_is_refused(store: SqlStore) -> None:
    store.upsert_customer(customer("000042"))
    with pytest.raises(InputError) as caught:
        store.upsert_customer(customer("000042", CustomerGuid="someone-else"))
    assert caught.value.field == "CustomerCode"
    assert "guid-000042" in str(caught.value)


def test_written_back_identity_survives_a_later_document_without_it(store: SqlStore) -> None:
    # App4Sales sends a new customer (no code); the flow writes the ERP's code back; App4Sales
    # sends the customer again, still without a code. The code must not be forgotten, or the
    # next flow would create the customer in the ERP a second time.
    new = customer("", CustomerGuid="g-1", InternalCode=None)
    assert store.upsert_customer(new) == "created"
    assert store.update_customer_fields({"CustomerCode": "000777", "InternalCode": "erp-9"}, guid="g-1")
    assert store.upsert_customer(new) == "unchanged"
    got = store.get_customer(guid="g-1")
    assert got is not None and got["CustomerCode"] == "000777" and got["InternalCode"] == "erp-9"


def test_customers_without_code_or_guid_are_each_new(store: SqlStore) -> None:
    anonymous = {"CustomerName": "Walk-in", "CustomerCode": ""}
    assert store.upsert_customer(anonymous) == "created"
    assert store.upsert_customer(anonymous) == "created"
    assert store.count_customers() == 2
    assert store.lookup("customers", {"CustomerCode": ""}) is None  # "" means new, never a match
    with pytest.raises(StoreError, match="neither was given"):
        store.get_customer(code="")


def test_update_customer_fields(store: SqlStore) -> None:
    before = customer()
    store.upsert_customer(before)
    assert store.update_customer_fields({"InternalCode": "X-1", "Phone": None}, code="000042") is True
    got = store.get_customer(code="000042")
    assert got is not None and got["InternalCode"] == "X-1" and "Phone" not in got
    assert store.lookup("customers", {"InternalCode": "X-1"}) == got
    # The content hash follows the write-back: saving the new state is "unchanged" (twice: the
    # hash computed the first time is kept), while saving the old state is a change.
    assert store.upsert_customer(got) == "unchanged"
    assert store.upsert_customer(got) == "unchanged"
    assert store.update_customer_fields({"InternalCode": "X-9"}, code="000042") is True
    assert store.upsert_customer(before) == "updated"
    assert store.get_customer(code="000042") == codec.canonical(before)
    assert store.update_customer_fields({"InternalCode": "X-2"}, code="nope") is False
    with pytest.raises(StoreError, match="'Addresses' is not a customer field"):
        store.update_customer_fields({"Addresses": []}, code="000042")
    with pytest.raises(InputError, match="field Discount"):
        store.update_customer_fields({"Discount": "ten"}, code="000042")


def test_guid_and_code_identify_as_saves_match(store: SqlStore) -> None:
    store.upsert_customer(customer("000042", CustomerGuid=None))  # an ERP customer, no GUID yet
    store.upsert_customer(customer("000043"))
    # The flow knows App4Sales' GUID and the ERP code; the stored customer has only the code.
    assert store.get_customer(guid="g-new", code="000042")["CustomerCode"] == "000042"  # type: ignore[index]
    assert store.update_customer_fields({"InternalCode": "erp-42"}, guid="g-new", code="000042")
    assert store.get_customer(code="000042")["InternalCode"] == "erp-42"  # type: ignore[index]
    # But a code whose customer carries another GUID is another customer.
    assert store.get_customer(guid="g-new", code="000043") is None
    assert store.update_customer_fields({"InternalCode": "x"}, guid="g-new", code="000043") is False
    assert store.get_customer(guid="guid-000043", code="whatever")["CustomerCode"] == "000043"  # type: ignore[index]


def test_threads_saving_the_same_new_customer_create_it_once(store: SqlStore) -> None:
    barrier = threading.Barrier(8)

    def save(i: int) -> str:
        barrier.wait()
        return store.upsert_customer(customer("000042", CustomerName=f"Thread {i}"))

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(save, range(8)))
    assert statuses.count("created") == 1 and statuses.count("updated") == 7
    assert store.count_customers() == 1


def test_tenants_are_separate(store: SqlStore) -> None:
    store.upsert_customer(customer(), tenant="a")
    assert store.get_customer("b", code="000042") is None
    assert store.upsert_customer(customer(), tenant="b") == "created"
    assert store.count_customers("a") == store.count_customers("b") == 1


@pytest.mark.parametrize(("doc", "field", "text"), [
    ({"CustomerCode": 42}, "CustomerCode", "int value 42"),
    ({"CustomerCode": "1", "VatLiable": "yes"}, "VatLiable", "str value 'yes'"),
    ({"CustomerCode": "1", "Discount": True}, "Discount", "bool value True"),
    ({"CustomerCode": "1", "Discount": float("nan")}, "Discount", "nan is not a JSON number"),
    ({"CustomerCode": "1", "Colour": "red"}, "Colour", "unknown field"),
    ({"CustomerCode": "1", "Addresses": [{"AddressType": "HOME"}]}, "Addresses[0].AddressType", "not one of"),
    ({"CustomerCode": "1", "Addresses": [{"AddressType": "DEL", "Floor": 2}]}, "Addresses[0].Floor", "unknown"),
    ({"CustomerCode": "1", "ContactPersons": [{"IsMainContact": 1}]}, "ContactPersons[0].IsMainContact", "int"),
    ({"CustomerCode": "1", "FreeFields": {"x": [1]}}, "FreeFields.x", "got list"),
])
def test_bad_documents_are_refused_naming_record_and_field(store: SqlStore, doc: dict[str, Any],
                                                           field: str, text: str) -> None:
    with pytest.raises(InputError) as caught:
        store.upsert_customer(doc)
    assert caught.value.field == field
    assert text in str(caught.value)
    if isinstance(doc["CustomerCode"], str):
        assert caught.value.record == "CustomerCode 1"
    assert store.count_customers() == 0


def test_save_customers_counts_and_handles_repeats_within_a_batch(store: SqlStore) -> None:
    docs = [customer(f"{i:06d}") for i in range(25)]
    assert store.save_customers(docs, batch_size=10) == SaveCounts(created=25)
    changed = [*docs[:5], {**docs[5], "CustomerName": "Changed"}, {**docs[5], "CustomerName": "Again"},
               customer("new-1"), customer("new-1", CustomerName="Twice")]
    assert store.save_customers(changed, batch_size=100) == SaveCounts(created=1, updated=3, unchanged=5)
    assert store.get_customer(code="000005")["CustomerName"] == "Again"  # type: ignore[index]
    assert store.get_customer(code="new-1")["CustomerName"] == "Twice"  # type: ignore[index]
    assert store.count_customers() == 26
    assert [c["CustomerCode"] for c in store.iter_customers()] == [f"{i:06d}" for i in range(25)] + ["new-1"]


def test_save_customers_streams_and_commits_per_batch(store: SqlStore) -> None:
    seen_committed: list[int] = []

    def feed() -> Iterator[dict[str, Any]]:
        for i in range(35):
            if i % 10 == 0:
                seen_committed.append(store.count_customers())  # read from another connection
            yield customer(f"{i:06d}")

    assert store.save_customers(feed(), batch_size=10) == SaveCounts(created=35)
    # Before item 10 nothing was written; before item 20 the first batch was committed, ...
    assert seen_committed == [0, 10, 20, 30]


def test_a_bad_record_in_a_stream_names_its_position(store: SqlStore) -> None:
    docs = [customer("000001"), customer("000002", Discount="x")]
    with pytest.raises(InputError) as caught:
        store.save_customers(docs)
    assert caught.value.record == "customers[1] (CustomerCode 000002)"
    assert caught.value.field == "Discount"


def test_iter_customers_pages_through_everything(store: SqlStore) -> None:
    store.save_customers(({"CustomerCode": str(i), "FreeFields": {"n": i}} for i in range(1234)), batch_size=400)
    seen = list(store.iter_customers())
    assert len(seen) == 1234
    assert all(c["FreeFields"]["n"] == int(c["CustomerCode"]) for c in seen)


def test_batch_size_must_be_positive(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="batch_size"):
        store.save_customers([customer()], batch_size=0)


def test_identity_lookups_use_the_unique_indexes_on_sqlite(tmp_path: Any) -> None:
    """A scan per lookup would make every save O(customers): check SQLite's plan for each query."""
    import sqlalchemy as sa

    from engine.store import open_store

    seen: list[tuple[str, Any]] = []
    with open_store(f"sqlite:///{tmp_path / 'plan.db'}") as store:  # type: ignore[attr-defined]
        store.save_customers(customer(f"{i:06d}") for i in range(50))

        def spy(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
            if statement.startswith("SELECT") and "FROM customers" in statement and not many:
                seen.append((statement, params))

        sa.event.listen(store._db.engine, "before_cursor_execute", spy)
        store.save_customers([customer("000001"), customer("000002")])
        store.get_customer(code="000003")
        store.get_customer(guid="guid-000004")
        with store._db.engine.connect() as conn:
            plans = [" ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                     for sql, params in seen]
    assert len(plans) == 4
    for plan in plans:
        assert "ux_customers_code" in plan or "ux_customers_guid" in plan, plan


def test_a_stored_customer_the_rules_no_longer_accept_is_replaced_not_refused(store: SqlStore) -> None:
    """After a write-back the hash is recomputed from what is stored; stored data that today's
    rules refuse (an address type no longer allowed) must not make a valid save fail."""
    import sqlalchemy as sa

    from engine.store.tables import customer_addresses

    doc = customer(Addresses=[{"AddressType": "DEL", "City": "Utrecht"}])
    store.upsert_customer(doc)
    with store._db.engine.begin() as conn:  # what an older version might have let through
        conn.execute(sa.update(customer_addresses).values(AddressType="OLD"))
    assert store.update_customer_fields({"InternalCode": "X-1"}, code="000042")
    assert store.upsert_customer({**doc, "InternalCode": "X-1"}) == "updated"
    assert store.get_customer(code="000042")["Addresses"] == [{"AddressType": "DEL", "City": "Utrecht"}]  # type: ignore[index]
