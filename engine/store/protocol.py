"""The `Store` interface: how the engine reads and writes the App4Sales side.

The engine only ever talks to a store through these methods; `open_store(url)` returns the SQL
implementation (SQLite by default, PostgreSQL by URL). Rows are plain dicts with the PascalCase
names of the App4Sales model (see schemas/app4sales/customer.schema.json).

Lookup tables a spec can name in a `lookup` step (and the key columns each accepts):

    customers    CustomerGuid | CustomerCode | InternalCode  -> the whole customer document
    sales_reps   Username                                    -> {Username, ResIdString, ...}
    price_lists  Index | Code                                -> {Index, Code, Currency, ...}
    countries    Iso2 | Name                                 -> {Iso2, Name}
    cache        Namespace + Key                             -> {Namespace, Key, Value}

`cache` holds ERP-side ids a connector learnt (e.g. a country id per ISO code), so a lookup
through the ERP happens once per value, not once per record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

LOOKUP_TABLES = ("customers", "sales_reps", "price_lists", "countries", "cache")


@dataclass
class SaveCounts:
    """What a bulk save did, per customer."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: SaveCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass(frozen=True)
class JournalEntry:
    """One row of the run journal: a flow run's step and what happened at it."""

    run_key: str
    flow: str
    step: str
    status: str  # started | sent | response | written | done | error
    detail: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    # --- reading -------------------------------------------------------------------------------
    def lookup(self, table: str, where: Mapping[str, Any], tenant: str = "default") -> dict[str, Any] | None:
        """The first row of `table` matching every column in `where`, or None."""
        ...

    def get_customer(self, tenant: str = "default", *, guid: str | None = None,
                     code: str | None = None) -> dict[str, Any] | None:
        """The whole customer document (addresses, contact persons, free fields) or None."""
        ...

    def iter_customers(self, tenant: str = "default") -> Iterator[dict[str, Any]]: ...

    # --- writing (each call is its own transaction unless inside `transaction()`) --------------
    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: everything inside commits together or not at all. Nestable."""
        ...

    def upsert_customer(self, customer: Mapping[str, Any], tenant: str = "default") -> str:
        """Insert or update one customer by CustomerGuid, else by CustomerCode.

        Returns "created", "updated" or "unchanged".
        """
        ...

    def save_customers(self, customers: Iterable[Mapping[str, Any]], tenant: str = "default",
                       batch_size: int = 500) -> SaveCounts:
        """Upsert many customers, committing every `batch_size`; streams, never holds all."""
        ...

    def update_customer_fields(self, values: Mapping[str, Any], tenant: str = "default", *,
                               guid: str | None = None, code: str | None = None) -> bool:
        """Set scalar fields (e.g. CustomerCode, InternalCode) of one customer; False if absent."""
        ...

    def put_cache(self, namespace: str, key: str, value: Any) -> None: ...

    # --- sequences and tokens ------------------------------------------------------------------
    def next_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        """The next number of a durable sequence; the first call returns `start`.

        Atomic across threads and processes: two callers never get the same number.
        """
        ...

    def peek_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        """The number `next_sequence` would return, without taking it (for previews)."""
        ...

    def load_token(self, key: str) -> str | None: ...
    def save_token(self, key: str, value: str) -> None: ...

    # --- run journal ---------------------------------------------------------------------------
    def journal(self, entry: JournalEntry) -> None: ...
    def journal_entries(self, run_key: str) -> list[JournalEntry]: ...

    # --- whole-store documents -----------------------------------------------------------------
    def import_document(self, document: Mapping[str, Any], tenant: str = "default") -> dict[str, int]:
        """Load {"customers", "sales_reps", "price_lists", "countries"}; returns counts per table."""
        ...

    def export_document(self, tenant: str = "default") -> dict[str, Any]: ...

    def close(self) -> None: ...
