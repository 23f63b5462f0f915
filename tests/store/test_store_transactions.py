"""transaction(): a flow's write-backs commit together or not at all, per thread."""

from __future__ import annotations

import threading

import pytest
from store_helpers import customer

from engine.errors import FlowError, StoreError
from engine.store import JournalEntry, SqlStore


class Boom(Exception):
    pass


def snapshot(store: SqlStore) -> dict[str, object]:
    return {
        "export": store.export_document(),
        "sequence": store.peek_sequence("codes", 1000),
        "token": store.load_token("erp"),
        "cache": store.lookup("cache", {"Namespace": "country", "Key": "NL"}),
    }


def test_a_failure_in_the_middle_of_write_backs_leaves_the_store_as_it_was(store: SqlStore) -> None:
    store.upsert_customer(customer("000001"))
    store.next_sequence("codes", 1000)
    store.save_token("erp", "old-token")
    before = snapshot(store)

    with pytest.raises(FlowError), store.transaction():
        number = store.next_sequence("codes", 1000)
        store.update_customer_fields({"CustomerCode": str(number), "InternalCode": "erp-1"}, code="000001")
        store.upsert_customer(customer("000002"))
        store.save_customers([customer("000003"), customer("000004")], batch_size=1)  # "commits" per batch
        store.put_cache("country", "NL", 31)
        store.save_token("erp", "new-token")
        store.import_document({"countries": [{"Iso2": "BE", "Name": "Belgie"}]})
        raise FlowError("the ERP rejected the contact person")

    assert snapshot(store) == before
    assert store.count_customers() == 1
    assert store.next_sequence("codes", 1000) == 1001  # the number drawn inside was given back


def test_writes_inside_commit_together(store: SqlStore) -> None:
    with store.transaction():
        store.upsert_customer(customer("000001"))
        store.update_customer_fields({"InternalCode": "erp-1"}, code="000001")
        assert store.next_sequence("codes", 1) == 1
    assert store.get_customer(code="000001")["InternalCode"] == "erp-1"  # type: ignore[index]
    assert store.peek_sequence("codes", 1) == 2


def test_nested_blocks_are_savepoints(store: SqlStore) -> None:
    with store.transaction():
        store.upsert_customer(customer("000001"))
        with pytest.raises(Boom), store.transaction():
            store.upsert_customer(customer("000002"))
            raise Boom
        # The inner failure was handled: only the inner block is undone.
        with store.transaction():
            store.upsert_customer(customer("000003"))
    assert [c["CustomerCode"] for c in store.iter_customers()] == ["000001", "000003"]


def test_an_inner_failure_that_escapes_undoes_everything(store: SqlStore) -> None:
    with pytest.raises(Boom), store.transaction():
        store.upsert_customer(customer("000001"))
        with store.transaction():
            store.upsert_customer(customer("000002"))
            raise Boom
    assert store.count_customers() == 0


def test_a_database_error_inside_rolls_back_and_is_a_store_error(store: SqlStore) -> None:
    store.upsert_customer(customer("000001"))
    with pytest.raises(StoreError, match="conflicts with existing data"), store.transaction():
        store.upsert_customer(customer("000002"))
        # Giving customer 2 the code of customer 1 breaks the unique index.
        store.update_customer_fields({"CustomerCode": "000001"}, code="000002")
    assert store.count_customers() == 1
    assert store.get_customer(code="000002") is None


def test_other_threads_do_not_see_uncommitted_writes(store: SqlStore, backend: str) -> None:
    inside = threading.Event()
    release = threading.Event()
    seen: list[object] = []

    def reader() -> None:
        inside.wait(10)
        seen.append(store.get_customer(code="000001"))  # a read: never blocked, even on SQLite
        release.set()

    thread = threading.Thread(target=reader)
    thread.start()
    with store.transaction():
        store.upsert_customer(customer("000001"))
        inside.set()
        assert release.wait(10), "the reader was blocked by the open transaction"
    thread.join()
    assert seen == [None]
    assert store.get_customer(code="000001") is not None


def test_journal_and_dead_letters_outlive_a_rollback(store: SqlStore) -> None:
    with pytest.raises(Boom), store.transaction():
        store.journal(JournalEntry("run-1", "customer-out", "send", "sent", {"status": 201}))
        # Inside the transaction the entry is already visible to this thread.
        assert store.last_journal_entry("run-1").status == "sent"  # type: ignore[union-attr]
        store.upsert_customer(customer("000001"))
        store.add_dead_letter("run-1", "customer-out", {"CustomerCode": "000001"}, "write-back failed")
        raise Boom
    # The ERP did receive the request: the journal must still say so, or a resume would resend.
    assert [e.status for e in store.journal_entries("run-1")] == ["sent"]
    assert [d.reason for d in store.dead_letters("customer-out")] == ["write-back failed"]
    assert store.count_customers() == 0


def test_a_transactional_journal_entry_shares_the_fate_of_its_transaction(store: SqlStore) -> None:
    """`done` is written with the write-backs: a rollback must take it back, or a resumed run
    would think the write-backs happened and skip them."""
    with pytest.raises(Boom), store.transaction():
        store.journal(JournalEntry("run-1", "flow", "send", "response", {}))
        store.journal(JournalEntry("run-1", "flow", "", "done", {}), transactional=True)
        assert {e.status for e in store.journal_entries("run-1")} == {"done", "response"}
        raise Boom
    assert [e.status for e in store.journal_entries("run-1")] == ["response"]
    with store.transaction():
        store.journal(JournalEntry("run-2", "flow", "", "done", {}), transactional=True)
    assert [e.status for e in store.journal_entries("run-2")] == ["done"]
