"""The public surface: __all__, the Protocol, and agreement with the customer JSON Schema."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import engine.store
from engine.store import Store, open_store
from engine.store import tables as t
from engine.store.codec import CUSTOMER_SCHEMA
from engine.store.protocol import LOOKUP_KEYS, LOOKUP_TABLES
from engine.store.sql import SqlStore

ENGINE = Path(engine.store.__file__).resolve().parents[1]


def test_all_is_pinned() -> None:
    assert sorted(engine.store.__all__) == sorted([
        "DEFAULT_URL", "LOOKUP_KEYS", "LOOKUP_TABLES", "DeadLetter", "JournalEntry", "SaveCounts", "SqlStore",
        "Store", "open_store",
    ])
    assert tuple(LOOKUP_KEYS) == LOOKUP_TABLES


def test_sql_store_implements_every_protocol_method_with_its_signature(store: SqlStore) -> None:
    assert isinstance(store, Store)
    for name, member in inspect.getmembers(Store, inspect.isfunction):
        if name.startswith("_"):
            continue
        ours = getattr(SqlStore, name)
        assert inspect.signature(ours).parameters == inspect.signature(member).parameters, name


def test_customer_columns_cover_the_schema() -> None:
    """tables.py names every field of schemas/app4sales/customer.schema.json, in its types."""
    props = CUSTOMER_SCHEMA["properties"]
    scalars = [k for k, v in props.items() if "object" not in v["type"] and "array" not in v["type"]]
    assert list(t.CUSTOMER_SCALARS) == scalars
    assert set(t.ADDRESS_FIELDS) == set(props["Addresses"]["items"]["properties"])
    assert set(t.CONTACT_FIELDS) == set(props["ContactPersons"]["items"]["properties"])
    assert set(t.FREE_FIELD_KINDS) == {k for k, v in props.items() if "object" in v["type"]}
    for name in scalars:
        kinds = set(props[name]["type"]) - {"null"}
        column = t.customers.c[name].type
        expected = {"string": "Text", "boolean": "Boolean"}.get(kinds.pop(), "JSON") if len(kinds) == 1 else "JSON"
        actual = type(column).__name__
        assert (actual == "Text" if expected == "Text" else expected in actual), (name, actual)


def test_no_erp_is_named_in_the_store() -> None:
    for path in (ENGINE / "store").glob("*.py"):
        text = path.read_text(encoding="utf-8").lower()
        for erp in ("snelstart", "specter", "visma", "accountview", "monitor"):
            assert erp not in text, f"{path.name} names {erp}"


def test_an_in_memory_store_works_across_threads() -> None:
    with open_store("sqlite://") as store:  # type: ignore[attr-defined]
        def work(i: int) -> None:
            for n in range(50):
                store.upsert_customer({"CustomerCode": f"{i}-{n}"})
                store.next_sequence("s", 1)
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.count_customers() == 200
        assert store.peek_sequence("s", 1) == 201
