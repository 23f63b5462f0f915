"""The App4Sales store: SQLite by default, PostgreSQL by URL, one `Store` interface.

    store = open_store()                                    # sqlite:///specbridge.db
    store = open_store("postgresql://user@host/db")         # same code, PostgreSQL
    with store.transaction():
        store.update_customer_fields({"CustomerCode": "000042"}, guid=guid)

Opening a store applies any missing schema migrations (see migrations.py).
"""

from __future__ import annotations

from engine.store.protocol import LOOKUP_KEYS, LOOKUP_TABLES, DeadLetter, JournalEntry, SaveCounts, Store
from engine.store.sql import SqlStore

DEFAULT_URL = "sqlite:///specbridge.db"

__all__ = [
    "DEFAULT_URL",
    "LOOKUP_KEYS",
    "LOOKUP_TABLES",
    "DeadLetter",
    "JournalEntry",
    "SaveCounts",
    "SqlStore",
    "Store",
    "open_store",
]


def open_store(url: str = DEFAULT_URL) -> Store:
    """Open (creating or upgrading as needed) the store at `url`: `sqlite:///FILE`, `sqlite://`
    for a throwaway in-memory store, or `postgresql://...`. Raises StoreError if it cannot."""
    return SqlStore(url)
