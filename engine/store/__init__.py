"""The App4Sales store: SQLite by default, PostgreSQL by URL, one `Store` interface.

    store = open_store()                                    # sqlite:///specbridge.db
    store = open_store("postgresql://user@host/db")         # same code, PostgreSQL
    with store.transaction():
        store.update_customer_fields({"CustomerCode": "000042"}, guid=guid)

Opening a store applies any missing schema migrations (see migrations.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.store.protocol import LOOKUP_KEYS, LOOKUP_TABLES, DeadLetter, JournalEntry, SaveCounts, Store

if TYPE_CHECKING:
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
    from engine.store.sql import SqlStore  # SQLAlchemy is imported when a store is opened, not before
    return SqlStore(url)


def __getattr__(name: str) -> Any:
    # `from engine.store import SqlStore` still works, without every `import engine` paying
    # SQLAlchemy's import time (half a second) for commands that never open a store.
    if name == "SqlStore":
        from engine.store.sql import SqlStore
        return SqlStore
    raise AttributeError(name)
