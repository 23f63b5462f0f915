"""Migrations: an old store is upgraded on open with its data kept; the chain builds tables.py."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from engine.errors import StoreError
from engine.store import open_store
from engine.store import tables as t
from engine.store.connect import make_engine
from engine.store.migrations import LATEST_VERSION, current_version, upgrade


def _version(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return current_version(conn)
    finally:
        engine.dispose()


def _seed_version_1(url: str) -> None:
    """A store as version 1 of specbridge left it: no IsActive, no content hash, no cache table."""
    engine = make_engine(url)
    try:
        assert upgrade(engine, target=1) == 1
        with engine.begin() as conn:
            assert not sa.inspect(conn).has_table("dead_letters")
            columns = {c["name"] for c in sa.inspect(conn).get_columns("customers")}
            assert "IsActive" not in columns and "content_hash" not in columns
            conn.execute(sa.insert(t.customers).values(
                id=7, tenant="default", CustomerGuid="g-7", CustomerCode="000007", CustomerName="Oud",
                Discount=1.0, UsesPriceField="2", VatLiable=False, updated_at=t.utcnow()))
            conn.execute(sa.insert(t.customer_addresses).values(
                customer_id=7, position=0, AddressType="DEL", PostCode="0123"))
            conn.execute(sa.insert(t.customer_free_fields).values(
                customer_id=7, position=0, kind="FreeFields", name="Zone", value="01"))
            conn.execute(sa.insert(t.sequences).values(tenant="default", name="codes", next_value=500))
            conn.execute(sa.insert(t.tokens).values(key="erp", value="tok", updated_at=t.utcnow()))
    finally:
        engine.dispose()


OLD_CUSTOMER = {
    "CustomerGuid": "g-7", "CustomerCode": "000007", "CustomerName": "Oud", "Discount": 1.0,
    "VatLiable": False, "UsesPriceField": "2",
    "Addresses": [{"AddressType": "DEL", "PostCode": "0123"}], "FreeFields": {"Zone": "01"},
}


def test_a_version_1_store_is_upgraded_on_open_with_its_data_kept(empty_store_url: str) -> None:
    _seed_version_1(empty_store_url)
    assert _version(empty_store_url) == 1
    with open_store(empty_store_url) as store:  # type: ignore[attr-defined]
        assert _version(empty_store_url) == LATEST_VERSION == 3
        assert store.get_customer(code="000007") == OLD_CUSTOMER
        assert store.next_sequence("codes", 1) == 500
        assert store.load_token("erp") == "tok"
        # Old rows have no content hash yet: it is computed from what is stored, so an equal
        # save is already "unchanged", and a different one an update.
        assert store.upsert_customer(OLD_CUSTOMER) == "unchanged"
        assert store.upsert_customer({**OLD_CUSTOMER, "CustomerName": "Renamed"}) == "updated"
        assert store.upsert_customer(OLD_CUSTOMER) == "updated"
        assert store.upsert_customer(OLD_CUSTOMER) == "unchanged"
        # What version 2 added works on the upgraded store.
        assert store.upsert_customer({**OLD_CUSTOMER, "IsActive": True}) == "updated"
        assert store.get_customer(code="000007")["IsActive"] is True  # type: ignore[index]
        store.add_dead_letter("r", "f", {"a": 1}, "why")
        store.put_cache("ns", "k", 1)
        assert len(store.dead_letters()) == 1
        assert store.lookup("cache", {"Namespace": "ns", "Key": "k"})["Value"] == 1  # type: ignore[index]
    with open_store(empty_store_url) as again:  # type: ignore[attr-defined]
        assert again.count_customers() == 1  # opening an up-to-date store changes nothing
    assert _version(empty_store_url) == 3


def test_dead_letters_of_a_version_2_store_are_the_default_tenants(empty_store_url: str) -> None:
    engine = make_engine(empty_store_url)
    try:
        assert upgrade(engine, target=2) == 2
        with engine.begin() as conn:  # as version 2 wrote it: no tenant, no user
            conn.exec_driver_sql("INSERT INTO dead_letters (run_key, flow, record, reason, at) "
                                 "VALUES ('old', 'f', '{}', 'why', '2026-01-01 00:00:00')")
    finally:
        engine.dispose()
    with open_store(empty_store_url) as store:  # type: ignore[attr-defined]
        store.add_dead_letter("new", "f", {}, "why", tenant="acme", user="jdoe")
        assert [(d.run_key, d.tenant, d.user) for d in store.dead_letters("f")] == [
            ("old", "default", None), ("new", "acme", "jdoe")]
        assert [d.run_key for d in store.dead_letters("f", tenant="default")] == ["old"]
        assert [d.run_key for d in store.dead_letters("f", tenant="acme")] == ["new"]
        assert store.dead_letters("f", tenant="other") == []


def _shape(conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    return {
        name: {
            "columns": sorted((c["name"], c["nullable"]) for c in inspector.get_columns(name)),
            "primary_key": sorted(inspector.get_pk_constraint(name)["constrained_columns"]),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(name)),
        }
        for name in sorted(inspector.get_table_names())
    }


def test_the_migration_chain_builds_exactly_the_tables_in_tables_py(empty_store_url: str, tmp_path: Any) -> None:
    """tables.py (what queries use) and migrations.py (what databases get) must not drift apart."""
    open_store(empty_store_url).close()
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    reference = make_engine(reference_url)
    t.metadata.create_all(reference)
    migrated = make_engine(empty_store_url)
    try:
        with migrated.connect() as a, reference.connect() as b:
            assert _shape(a) == _shape(b)
    finally:
        migrated.dispose()
        reference.dispose()


def test_a_store_newer_than_the_code_is_refused(empty_store_url: str) -> None:
    open_store(empty_store_url).close()
    engine = make_engine(empty_store_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(t.schema_version).values(version=LATEST_VERSION + 1, applied_at=t.utcnow()))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match=f"schema version {LATEST_VERSION + 1}, newer than this specbridge"):
        open_store(empty_store_url)


def test_unreachable_or_unsupported_stores_are_store_errors(tmp_path: Any) -> None:
    with pytest.raises(StoreError, match="only sqlite:// and postgresql://"):
        open_store("mysql://user:secret@host/db")
    with pytest.raises(StoreError, match="is not a database URL"):
        open_store("specbridge.db")
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://someone:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    with pytest.raises(StoreError, match="unable to open database file"):
        open_store(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
