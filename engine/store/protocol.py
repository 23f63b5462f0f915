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
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

# Table -> the key columns a lookup may match on. A spec's lookup step can be checked against
# this at load time; the store rejects anything else with a StoreError naming it.
LOOKUP_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("CustomerGuid", "CustomerCode", "InternalCode"),
    "sales_reps": ("Username",),
    "price_lists": ("Index", "Code"),
    "countries": ("Iso2", "Name"),
    "cache": ("Namespace", "Key"),
}
LOOKUP_TABLES = tuple(LOOKUP_KEYS)


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
    at: datetime | None = None  # set by the store when the entry is recorded (aware, UTC)


@dataclass(frozen=True)
class DeadLetter:
    """A record a flow gave up on, kept with the reason so it can be replayed later."""

    id: int
    run_key: str
    flow: str
    record: Any
    reason: str
    at: datetime
    tenant: str = "default"  # whose run it was: a replay runs it as the same tenant and user
    user: str | None = None


@runtime_checkable
class Store(Protocol):
    """The App4Sales side of every flow. Implementations are thread-safe.

    Customer documents come back in canonical form: exactly the types that went in ("000042"
    stays a string, 5 an int, 5.0 a float), with null fields and empty lists/objects left out
    (the store does not tell them from absent ones). Bad data raises InputError naming the
    record and the field; anything else that goes wrong raises StoreError.
    """

    # --- reading -------------------------------------------------------------------------------
    def lookup(self, table: str, where: Mapping[str, Any], tenant: str = "default") -> dict[str, Any] | None:
        """The first row of `table` matching every column in `where`, or None."""
        ...

    def get_customer(self, tenant: str = "default", *, guid: str | None = None,
                     code: str | None = None) -> dict[str, Any] | None:
        """The whole customer document (addresses, contact persons, free fields) or None.

        By GUID if given, else by code; StoreError if neither is given.
        """
        ...

    def iter_customers(self, tenant: str = "default") -> Iterator[dict[str, Any]]:
        """Every customer document of the tenant, oldest first, read a page at a time."""
        ...

    def count_customers(self, tenant: str = "default") -> int: ...

    # --- writing (each call is its own transaction unless inside `transaction()`) --------------
    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: everything inside commits together or not at all. Nestable."""
        ...

    def upsert_customer(self, customer: Mapping[str, Any], tenant: str = "default") -> str:
        """Insert or update one customer by CustomerGuid, else by CustomerCode (per tenant).

        The document replaces the stored one wholesale (addresses, contacts and free fields
        too), except that CustomerGuid, CustomerCode and InternalCode the document leaves empty
        keep their stored values: they are written back from the ERP, and the other side's
        next document does not know them. A document without GUID and code is always new.
        Returns "created", "updated" or "unchanged" (the stored document equals this one).
        """
        ...

    def save_customers(self, customers: Iterable[Mapping[str, Any]], tenant: str = "default",
                       batch_size: int = 500) -> SaveCounts:
        """Upsert many customers, committing every `batch_size`; streams, never holds all."""
        ...

    def update_customer_fields(self, values: Mapping[str, Any], tenant: str = "default", *,
                               guid: str | None = None, code: str | None = None) -> bool:
        """Set scalar fields (e.g. CustomerCode, InternalCode) of one customer; False if absent.

        For write-backs of ERP results. A name that is not a scalar customer field is a
        StoreError; a value of the wrong type an InputError.
        """
        ...

    def put_cache(self, namespace: str, key: str, value: Any, tenant: str = "default") -> None:
        """Remember an ERP-side value (any JSON value); read it back with lookup("cache", ...)."""
        ...

    # --- sequences and tokens ------------------------------------------------------------------
    def next_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        """The next number of a durable sequence; the first call returns `start`.

        Atomic across threads and processes: two callers never get the same number. Inside
        `transaction()` the number is taken by the transaction: a rollback gives it back.
        """
        ...

    def peek_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        """The number `next_sequence` would return, without taking it (for previews)."""
        ...

    def load_token(self, key: str) -> str | None: ...
    def save_token(self, key: str, value: str) -> None: ...

    # --- run journal and dead letters ----------------------------------------------------------
    # Both are logs of what happened, not App4Sales data: an entry made inside `transaction()` is
    # kept even when the transaction rolls back (it is written when the transaction ends), unless
    # it is `transactional`: then it is written in the transaction and rolled back with it.
    def journal(self, *entries: JournalEntry, transactional: bool = False) -> None: ...
    def journal_entries(self, run_key: str) -> list[JournalEntry]:
        """Every entry of a run, oldest first."""
        ...

    def last_journal_entry(self, run_key: str) -> JournalEntry | None:
        """The newest entry of a run (its step and status say where to resume), or None."""
        ...

    def add_dead_letter(self, run_key: str, flow: str, record: Any, reason: str, *, tenant: str = "default",
                        user: str | None = None) -> None: ...
    def dead_letters(self, flow: str | None = None, *, tenant: str | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first, of one flow or of all; of one tenant or of all."""
        ...

    def remove_dead_letter(self, letter_id: int) -> bool:
        """Forget a dead letter (after a successful replay); False if it was not there."""
        ...

    # --- whole-store documents -----------------------------------------------------------------
    def import_document(self, document: Mapping[str, Any], tenant: str = "default") -> dict[str, int]:
        """Load {"customers", "sales_reps", "price_lists", "countries"}; returns counts per table.

        Every record is validated first (InputError naming the record and the field) and the
        whole document is written in one transaction: a bad document changes nothing. Rows
        are upserted by their keys (customers as in `upsert_customer`).
        """
        ...

    def export_document(self, tenant: str = "default") -> dict[str, Any]:
        """The tenant's data as a document that `import_document` loads back to the same state."""
        ...

    def close(self) -> None: ...
