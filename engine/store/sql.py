"""SqlStore: the `Store` on SQLite or PostgreSQL, with SQLAlchemy Core.

This module is the Store's methods; the SQL behind customers is in customers.py, behind the
JSON document and reference tables in documents.py, and connections, transactions and threads
are session.py's business (read its docstring for how `transaction()` behaves).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.errors import InputError, StoreError
from engine.store import codec, documents
from engine.store import customers as customer_sql
from engine.store.protocol import LOOKUP_KEYS, DeadLetter, JournalEntry, SaveCounts
from engine.store.session import Database
from engine.store.tables import cache, dead_letters, journal, sequences, tokens, utcnow

_PAGE = 500  # customers per read when streaming: bounded memory, few round trips


class SqlStore:
    """The App4Sales store in a SQL database. Thread-safe."""

    def __init__(self, url: str) -> None:
        self._db = Database(url)
        self.url = self._db.url
        postgres = self._db.dialect == "postgresql"
        self._insert: Callable[[sa.Table], Any] = postgresql.insert if postgres else sqlite.insert
        # One statement, atomic on both databases: PostgreSQL locks the row for the upsert (a
        # concurrent caller waits, then sees the new value); SQLite runs it under BEGIN
        # IMMEDIATE. A raised start (a changed setting) is honoured; a lowered one is not, so no
        # number is issued twice. Text rather than the dialects' insert(): SQLAlchemy never
        # caches those, and recompiling cost more than the rest of the call.
        greatest = "GREATEST" if postgres else "max"  # SQLite's two-argument max() is scalar
        self._next_sequence_sql = sa.text(
            "INSERT INTO sequences (tenant, name, next_value) VALUES (:tenant, :name, :start + 1) "
            f"ON CONFLICT (tenant, name) DO UPDATE SET next_value = {greatest}(sequences.next_value, :start) + 1 "
            "RETURNING next_value - 1"
        )
        self._growth_lock = threading.Lock()
        self._grown = self._analyzed = 0  # customers created since / counted at the last ANALYZE
        self._lookups: dict[str, Callable[[Connection, str, Mapping[str, Any]], dict[str, Any] | None]] = {
            "customers": _lookup_customer,
            "sales_reps": documents.lookup_sales_rep,
            "price_lists": documents.lookup_price_list,
            "countries": documents.lookup_country,
            "cache": documents.lookup_cache,
        }

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()

    # --- reading -------------------------------------------------------------------------------
    def lookup(self, table: str, where: Mapping[str, Any], tenant: str = "default") -> dict[str, Any] | None:
        keys = LOOKUP_KEYS.get(table)
        if keys is None:
            raise StoreError(f"lookup: unknown table {table!r} (one of: {', '.join(LOOKUP_KEYS)})")
        if not where:
            raise StoreError(f"lookup in {table}: give at least one of {', '.join(keys)}")
        for column in where:
            if column not in keys:
                raise StoreError(f"lookup in {table}: unknown key column {column!r} (one of: {', '.join(keys)})")
        with self._db.connection() as conn:
            return self._lookups[table](conn, tenant, where)

    def get_customer(self, tenant: str = "default", *, guid: str | None = None,
                     code: str | None = None) -> dict[str, Any] | None:
        with self._db.connection() as conn:
            row = customer_sql.identify(conn, tenant, guid, code)
            return customer_sql.documents(conn, [row])[0] if row is not None else None

    def iter_customers(self, tenant: str = "default") -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            with self._db.connection() as conn:
                rows = customer_sql.page(conn, tenant, after, _PAGE)
                docs = customer_sql.documents(conn, rows)
            yield from docs
            if len(rows) < _PAGE:
                return
            after = rows[-1]["id"]

    def count_customers(self, tenant: str = "default") -> int:
        with self._db.connection() as conn:
            return customer_sql.count(conn, tenant)

    # --- writing -------------------------------------------------------------------------------
    def upsert_customer(self, customer: Mapping[str, Any], tenant: str = "default") -> str:
        return self._save([("", codec.canonical(customer))], tenant)[0]

    def save_customers(self, customers: Iterable[Mapping[str, Any]], tenant: str = "default",
                       batch_size: int = 500) -> SaveCounts:
        if batch_size < 1:
            raise StoreError(f"save_customers: batch_size must be at least 1, got {batch_size}")
        counts = SaveCounts()
        batch: list[tuple[str, dict[str, Any]]] = []
        for index, customer in enumerate(customers):
            try:
                batch.append((f"customers[{index}]", codec.canonical(customer)))
            except InputError as e:  # say where in the stream, besides the code or GUID
                raise InputError(e.message, f"customers[{index}] ({e.record})", e.field) from None
            if len(batch) >= batch_size:
                counts.add(_counts(self._save(batch, tenant)))
                batch = []
        if batch:
            counts.add(_counts(self._save(batch, tenant)))
        return counts

    def _save(self, batch: list[tuple[str, dict[str, Any]]], tenant: str) -> list[str]:
        with self._db.connection(write=True) as conn:
            statuses = customer_sql.save(conn, tenant, batch)
            if self._db.dialect == "postgresql" and "created" in statuses:
                self._keep_statistics(conn, statuses.count("created"))
            return statuses

    def _keep_statistics(self, conn: Connection, created: int) -> None:
        """ANALYZE the customer tables when they have doubled since the last time.

        PostgreSQL plans by table statistics, which autovacuum refreshes only after a while. Until
        then a freshly loaded table looks almost empty, and each batch's lookup by code and GUID
        reads every customer of the tenant instead of the index: re-saving 20,000 just-imported
        customers took 15 s instead of 2. ANALYZE reads a sample, in tens of milliseconds.
        """
        with self._growth_lock:
            self._grown += created
            if self._grown < max(1000, self._analyzed):
                return
            self._analyzed, self._grown = self._analyzed + self._grown, 0
        conn.exec_driver_sql("ANALYZE customers, customer_addresses, customer_contacts, customer_free_fields")

    def update_customer_fields(self, values: Mapping[str, Any], tenant: str = "default", *,
                               guid: str | None = None, code: str | None = None) -> bool:
        with self._db.connection(write=True) as conn:
            return customer_sql.update_fields(conn, tenant, values, guid, code)

    def put_cache(self, namespace: str, key: str, value: Any, tenant: str = "default") -> None:
        row = {"tenant": tenant, "namespace": namespace, "key": key, "value": value, "updated_at": utcnow()}
        stmt = self._insert(cache).values(row)
        stmt = stmt.on_conflict_do_update(index_elements=list(cache.primary_key),
                                          set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
        with self._db.connection(write=True) as conn:
            conn.execute(stmt)

    # --- sequences and tokens ------------------------------------------------------------------
    def next_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        params = {"tenant": tenant, "name": name, "start": int(start)}
        with self._db.connection(write=True) as conn:
            return int(conn.execute(self._next_sequence_sql, params).scalar_one())

    def peek_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        s = sequences
        with self._db.connection() as conn:
            stored = conn.execute(sa.select(s.c.next_value).where(s.c.tenant == tenant, s.c.name == name)).scalar()
        return start if stored is None else max(int(stored), start)

    def load_token(self, key: str) -> str | None:
        with self._db.connection() as conn:
            return conn.execute(sa.select(tokens.c.value).where(tokens.c.key == key)).scalar()

    def save_token(self, key: str, value: str) -> None:
        stmt = self._insert(tokens).values(key=key, value=value, updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(index_elements=[tokens.c.key],
                                          set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
        with self._db.connection(write=True) as conn:
            conn.execute(stmt)

    # --- run journal and dead letters (logs: they outlive a rollback, see session.py) -----------
    def journal(self, *entries: JournalEntry, transactional: bool = False) -> None:
        now = utcnow()
        self._db.log(journal, *({"run_key": e.run_key, "flow": e.flow, "step": e.step, "status": e.status,
                                 "detail": dict(e.detail), "at": e.at or now} for e in entries),
                     transactional=transactional)

    def journal_entries(self, run_key: str) -> list[JournalEntry]:
        with self._db.connection() as conn:
            entries = [JournalEntry(**row) for row in conn.execute(_JOURNAL_OF_RUN, {"run_key": run_key}).mappings()]
        # Entries this thread made inside a transaction that has not ended yet.
        return entries + [JournalEntry(**row) for row in self._db.pending_logs(journal) if row["run_key"] == run_key]

    def last_journal_entry(self, run_key: str) -> JournalEntry | None:
        entries = self.journal_entries(run_key)
        return entries[-1] if entries else None

    def add_dead_letter(self, run_key: str, flow: str, record: Any, reason: str, *, tenant: str = "default",
                        user: str | None = None) -> None:
        self._db.log(dead_letters, {"run_key": run_key, "flow": flow, "record": record, "reason": reason,
                                    "at": utcnow(), "tenant": tenant, "user": user})

    def dead_letters(self, flow: str | None = None, *, tenant: str | None = None) -> list[DeadLetter]:
        d = dead_letters.c
        query = sa.select(dead_letters).order_by(d.id)
        if flow is not None:
            query = query.where(d.flow == flow)
        if tenant == "default":  # letters from before tenants were kept are the default tenant's
            query = query.where(sa.or_(d.tenant == tenant, d.tenant.is_(None)))
        elif tenant is not None:
            query = query.where(d.tenant == tenant)
        with self._db.connection() as conn:
            return [DeadLetter(**{**row, "tenant": row["tenant"] or "default"})
                    for row in conn.execute(query).mappings()]

    def remove_dead_letter(self, letter_id: int) -> bool:
        with self._db.connection(write=True) as conn:
            return conn.execute(sa.delete(dead_letters).where(dead_letters.c.id == letter_id)).rowcount > 0

    # --- whole-store documents -----------------------------------------------------------------
    def import_document(self, document: Mapping[str, Any], tenant: str = "default") -> dict[str, int]:
        documents.validate_document(document)  # all of it first: nothing half-written
        with self.transaction():
            saved = self.save_customers(document.get("customers") or [], tenant)
            with self._db.connection(write=True) as conn:
                counts = documents.write_reference(conn, self._insert, tenant, document)
        return {"customers": saved.created + saved.updated + saved.unchanged, **counts}

    def export_document(self, tenant: str = "default") -> dict[str, Any]:
        # Customers stream page by page; the reference tables are small.
        exported: dict[str, Any] = {"customers": list(self.iter_customers(tenant))}
        with self._db.connection() as conn:
            exported.update(documents.read_reference(conn, tenant))
        return exported


_j = journal.c
# Built once: every run reads its journal first, and building the query costs more than running it.
_JOURNAL_OF_RUN = sa.select(_j.run_key, _j.flow, _j.step, _j.status, _j.detail, _j.at).where(
    _j.run_key == sa.bindparam("run_key")).order_by(_j.id)


def _lookup_customer(conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    # An empty code means "new customer", never "the customer whose code is empty".
    if any(not isinstance(v, str) or not v for v in where.values()):
        return None
    row = customer_sql.find(conn, tenant, where)
    return customer_sql.documents(conn, [row])[0] if row is not None else None


def _counts(statuses: list[str]) -> SaveCounts:
    c = Counter(statuses)
    return SaveCounts(created=c["created"], updated=c["updated"], unchanged=c["unchanged"])
