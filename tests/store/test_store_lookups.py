"""Lookups, cache, tokens, the run journal and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_helpers import customer

from engine.errors import StoreError
from engine.store import LOOKUP_KEYS, JournalEntry, SqlStore

REFERENCE = {
    "sales_reps": [{"Username": "jdoe", "ResIdString": "RES-1", "Team": "Noord", "Level": 3},
                   {"Username": "anna"}],
    "price_lists": [{"Index": 1, "Code": "P1", "Currency": "EUR", "Name": "Standaard"},
                    {"Index": 2, "Code": "0002", "Currency": "USD"}],
    "countries": [{"Iso2": "NL", "Name": "Nederland"}, {"Iso2": "BE", "Name": "België"}],
}


@pytest.fixture
def seeded(store: SqlStore) -> SqlStore:
    store.import_document({"customers": [customer("000042")], **REFERENCE})
    return store


@pytest.mark.parametrize(("table", "where", "found"), [
    ("sales_reps", {"Username": "jdoe"}, {"Username": "jdoe", "ResIdString": "RES-1", "Team": "Noord", "Level": 3}),
    ("sales_reps", {"Username": "JDOE"}, None),
    ("price_lists", {"Index": 2}, {"Index": 2, "Code": "0002", "Currency": "USD"}),
    ("price_lists", {"Index": "2"}, {"Index": 2, "Code": "0002", "Currency": "USD"}),  # key from text
    ("price_lists", {"Code": "0002"}, {"Index": 2, "Code": "0002", "Currency": "USD"}),
    ("price_lists", {"Code": 2}, None),  # 2 is "2", not "0002": codes keep their zeros
    ("price_lists", {"Index": "two"}, None),
    ("price_lists", {"Index": 1, "Code": "P2"}, None),  # every column must match
    ("countries", {"Iso2": "BE"}, {"Iso2": "BE", "Name": "België"}),
    ("countries", {"Name": "Nederland"}, {"Iso2": "NL", "Name": "Nederland"}),
    ("countries", {"Iso2": None}, None),
])
def test_lookup(seeded: SqlStore, table: str, where: dict[str, Any], found: dict[str, Any] | None) -> None:
    assert seeded.lookup(table, where) == found


def test_customer_lookups_return_the_whole_document(seeded: SqlStore) -> None:
    doc = customer("000042")
    for key in LOOKUP_KEYS["customers"]:
        assert seeded.lookup("customers", {key: doc[key]}) == doc
    assert seeded.lookup("customers", {"CustomerCode": "000042", "InternalCode": "other"}) is None
    assert seeded.lookup("customers", {"CustomerCode": 42}) is None


def test_lookups_are_per_tenant(seeded: SqlStore) -> None:
    assert seeded.lookup("countries", {"Iso2": "NL"}, tenant="elsewhere") is None
    assert seeded.lookup("customers", {"CustomerCode": "000042"}, tenant="elsewhere") is None


@pytest.mark.parametrize(("table", "where", "message"), [
    ("items", {"Code": "x"}, "lookup: unknown table 'items' (one of: customers, sales_reps, price_lists, "
                             "countries, cache)"),
    ("price_lists", {"Currency": "EUR"}, "lookup in price_lists: unknown key column 'Currency' (one of: "
                                         "Index, Code)"),
    ("customers", {"CustomerName": "x"}, "unknown key column 'CustomerName'"),
    ("countries", {}, "lookup in countries: give at least one of Iso2, Name"),
])
def test_unknown_tables_and_columns_are_named(store: SqlStore, table: str, where: dict[str, Any],
                                              message: str) -> None:
    with pytest.raises(StoreError) as caught:
        store.lookup(table, where)
    assert message in str(caught.value)


def test_cache_keeps_any_json_value(store: SqlStore) -> None:
    assert store.lookup("cache", {"Namespace": "country-id", "Key": "NL"}) is None
    store.put_cache("country-id", "NL", {"id": 31, "code": "0031"})
    store.put_cache("country-id", "NL", {"id": 32, "code": "0032"})  # overwrite
    store.put_cache("country-id", "BE", None)
    assert store.lookup("cache", {"Namespace": "country-id", "Key": "NL"}) == {
        "Namespace": "country-id", "Key": "NL", "Value": {"id": 32, "code": "0032"}}
    assert store.lookup("cache", {"Namespace": "country-id", "Key": "BE"})["Value"] is None  # type: ignore[index]
    assert store.lookup("cache", {"Namespace": "country-id", "Key": "NL"}, tenant="t2") is None


def test_tokens(store: SqlStore) -> None:
    assert store.load_token("erp:token") is None
    store.save_token("erp:token", "abc")
    store.save_token("erp:token", "def")
    assert store.load_token("erp:token") == "def"


def test_journal_in_order_with_the_last_entry_for_resuming(store: SqlStore) -> None:
    assert store.journal_entries("run-1") == [] and store.last_journal_entry("run-1") is None
    steps = [("parse", "started"), ("send", "sent"), ("send", "response"), ("writeback", "error")]
    for step, status in steps:
        store.journal(JournalEntry("run-1", "customer-out", step, status, {"step": step, "n": [1, "01"]}))
    store.journal(JournalEntry("run-2", "customer-out", "parse", "started"))
    entries = store.journal_entries("run-1")
    assert [(e.step, e.status) for e in entries] == steps
    assert entries[0].detail == {"step": "parse", "n": [1, "01"]}
    assert all(e.at is not None and e.at.tzinfo is not None for e in entries)
    assert entries[0].at <= entries[-1].at  # type: ignore[operator]
    last = store.last_journal_entry("run-1")
    assert last is not None and (last.step, last.status) == ("writeback", "error")


def test_journal_keeps_a_given_time(store: SqlStore) -> None:
    at = datetime(2024, 5, 1, 12, 30, tzinfo=UTC) + timedelta(microseconds=7)
    store.journal(JournalEntry("r", "f", "s", "done", at=at))
    assert store.last_journal_entry("r").at == at  # type: ignore[union-attr]


def test_dead_letters_add_list_remove(store: SqlStore) -> None:
    record = {"CustomerCode": "000042", "Discount": 1.0}
    store.add_dead_letter("run-1", "customer-out", record, "ERP said 422")
    store.add_dead_letter("run-2", "price-in", ["raw", 1], "bad line")
    letters = store.dead_letters()
    assert [(d.flow, d.reason) for d in letters] == [("customer-out", "ERP said 422"), ("price-in", "bad line")]
    first = store.dead_letters("customer-out")[0]
    assert first.record == record and type(first.record["Discount"]) is float and first.run_key == "run-1"
    assert store.remove_dead_letter(first.id) is True
    assert store.remove_dead_letter(first.id) is False
    assert [d.flow for d in store.dead_letters()] == ["price-in"]
