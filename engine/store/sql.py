"""SqlStore: the `Store` on SQLite or PostgreSQL, with SQLAlchemy Core.

Transactions and threads: outside `transaction()` every method runs in its own short transaction
on a pooled connection, so records on a thread pool do not wait for each other (beyond SQLite's
single writer). `transaction()` pins one connection to the calling thread until it ends; every
method called on that thread meanwhile uses it, which is how a flow's write-backs commit or roll
back together. Nested `transaction()` blocks are savepoints: a failure caught inside undoes only
the inner block.

Every SQLAlchemy error leaves through `connect.translate_errors` as a StoreError.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection

from engine.errors import InputError, StoreError
from engine.store import codec, documents
from engine.store import customers as customer_sql
from engine.store.connect import (
    SQLITE_BUSY_TIMEOUT_MS,
    is_memory,
    make_engine,
    parse_url,
    safe_url,
    translate_errors,
)
from engine.store.migrations import upgrade
from engine.store.protocol import LOOKUP_KEYS, DeadLetter, JournalEntry, SaveCounts
from engine.store.tables import cache, dead_letters, journal, sequences, tokens, utcnow

_PAGE = 500  # customers per read when streaming: bounded memory, few round trips


class SqlStore:
    """The App4Sales store in a SQL database. Thread-safe; see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        with translate_errors(self.url):
            self._engine = make_engine(url)
            try:
                upgrade(self._engine)
            except BaseException:
                self._engine.dispose()
                raise
        postgres = self._engine.dialect.name == "postgresql"
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
        self._local = threading.local()
        self._write_lock, self._read_lock = _sqlite_locks(parse_url(url))
        self._lookups: dict[str, Callable[[Connection, str, Mapping[str, Any]], dict[str, Any] | None]] = {
            "customers": self._lookup_customer,
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
        self._engine.dispose()

    # --- connections and transactions ----------------------------------------------------------
    @contextmanager
    def _serial(self, write: bool) -> Iterator[None]:
        lock = self._write_lock if write else self._read_lock
        if lock is None:
            yield
            return
        if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise StoreError(f"store {self.url}: database is locked (another writer held it too long)")
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[Connection]:
        held: Connection | None = getattr(self._local, "conn", None)
        with translate_errors(self.url):
            if held is not None:
                yield held
                return
            with self._serial(write), self._engine.connect() as conn:
                if write:
                    conn.execution_options(specbridge_write=True)
                with conn.begin():
                    yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        held: Connection | None = getattr(self._local, "conn", None)
        if held is not None:
            with translate_errors(self.url), held.begin_nested():
                yield
            return
        self._local.pending = []
        try:
            with self._serial(True), translate_errors(self.url), self._engine.connect() as conn:
                conn.execution_options(specbridge_write=True)
                self._local.conn = conn
                try:
                    with conn.begin():
                        yield
                finally:
                    self._local.conn = None
        except BaseException as failure:
            try:
                self._flush_logs()
            except StoreError as lost:  # never hide the failure that rolled the transaction back
                failure.add_note(f"journal entries made in the transaction were lost: {lost}")
            raise
        self._flush_logs()

    def _flush_logs(self) -> None:
        # Logs outlive a rollback; written after it ends, when SQLite's write lock is free again.
        pending, self._local.pending = self._local.pending, []
        if pending:
            self._write_logs(pending)

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
        with self._connection() as conn:
            return self._lookups[table](conn, tenant, where)

    def _lookup_customer(self, conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
        # An empty code means "new customer", never "the customer whose code is empty".
        if any(not isinstance(v, str) or not v for v in where.values()):
            return None
        row = customer_sql.find(conn, tenant, where)
        return customer_sql.documents(conn, [row])[0] if row is not None else None

    def get_customer(self, tenant: str = "default", *, guid: str | None = None,
                     code: str | None = None) -> dict[str, Any] | None:
        return self.lookup("customers", _identity(guid, code), tenant)

    def iter_customers(self, tenant: str = "default") -> Iterator[dict[str, Any]]:
        after = 0
        while True:
            with self._connection() as conn:
                rows = customer_sql.page(conn, tenant, after, _PAGE)
                docs = customer_sql.documents(conn, rows)
            yield from docs
            if len(rows) < _PAGE:
                return
            after = rows[-1]["id"]

    def count_customers(self, tenant: str = "default") -> int:
        with self._connection() as conn:
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
        with self._connection(write=True) as conn:
            return customer_sql.save(conn, tenant, batch)

    def update_customer_fields(self, values: Mapping[str, Any], tenant: str = "default", *,
                               guid: str | None = None, code: str | None = None) -> bool:
        with self._connection(write=True) as conn:
            return customer_sql.update_fields(conn, tenant, values, _identity(guid, code))

    def put_cache(self, namespace: str, key: str, value: Any, tenant: str = "default") -> None:
        row = {"tenant": tenant, "namespace": namespace, "key": key, "value": value, "updated_at": utcnow()}
        stmt = self._insert(cache).values(row)
        stmt = stmt.on_conflict_do_update(index_elements=list(cache.primary_key),
                                          set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
        with self._connection(write=True) as conn:
            conn.execute(stmt)

    # --- sequences and tokens ------------------------------------------------------------------
    def next_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        params = {"tenant": tenant, "name": name, "start": int(start)}
        with self._connection(write=True) as conn:
            return int(conn.execute(self._next_sequence_sql, params).scalar_one())

    def peek_sequence(self, name: str, start: int, tenant: str = "default") -> int:
        s = sequences
        with self._connection() as conn:
            stored = conn.execute(sa.select(s.c.next_value).where(s.c.tenant == tenant, s.c.name == name)).scalar()
        return start if stored is None else max(int(stored), start)

    def load_token(self, key: str) -> str | None:
        with self._connection() as conn:
            return conn.execute(sa.select(tokens.c.value).where(tokens.c.key == key)).scalar()

    def save_token(self, key: str, value: str) -> None:
        stmt = self._insert(tokens).values(key=key, value=value, updated_at=utcnow())
        stmt = stmt.on_conflict_do_update(index_elements=[tokens.c.key],
                                          set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at})
        with self._connection(write=True) as conn:
            conn.execute(stmt)

    # --- run journal and dead letters ----------------------------------------------------------
    def _log(self, table: sa.Table, row: dict[str, Any]) -> None:
        if getattr(self._local, "conn", None) is not None:
            self._local.pending.append((table, row))
        else:
            self._write_logs([(table, row)])

    def _write_logs(self, rows: list[tuple[sa.Table, dict[str, Any]]]) -> None:
        with self._connection(write=True) as conn:
            for table, row in rows:
                conn.execute(sa.insert(table), row)

    def journal(self, entry: JournalEntry) -> None:
        self._log(journal, {"run_key": entry.run_key, "flow": entry.flow, "step": entry.step,
                            "status": entry.status, "detail": dict(entry.detail), "at": entry.at or utcnow()})

    def journal_entries(self, run_key: str) -> list[JournalEntry]:
        j = journal.c
        query = sa.select(j.run_key, j.flow, j.step, j.status, j.detail, j.at).where(j.run_key == run_key)
        with self._connection() as conn:
            entries = [JournalEntry(**row) for row in conn.execute(query.order_by(j.id)).mappings()]
        # Entries this thread made inside a transaction that has not ended yet.
        pending = getattr(self._local, "pending", None) or []
        return entries + [JournalEntry(**row) for table, row in pending
                          if table is journal and row["run_key"] == run_key]

    def last_journal_entry(self, run_key: str) -> JournalEntry | None:
        entries = self.journal_entries(run_key)
        return entries[-1] if entries else None

    def add_dead_letter(self, run_key: str, flow: str, record: Any, reason: str) -> None:
        self._log(dead_letters, {"run_key": run_key, "flow": flow, "record": record, "reason": reason,
                                 "at": utcnow()})

    def dead_letters(self, flow: str | None = None) -> list[DeadLetter]:
        query = sa.select(dead_letters).order_by(dead_letters.c.id)
        if flow is not None:
            query = query.where(dead_letters.c.flow == flow)
        with self._connection() as conn:
            return [DeadLetter(**row) for row in conn.execute(query).mappings()]

    def remove_dead_letter(self, letter_id: int) -> bool:
        with self._connection(write=True) as conn:
            return conn.execute(sa.delete(dead_letters).where(dead_letters.c.id == letter_id)).rowcount > 0

    # --- whole-store documents -----------------------------------------------------------------
    def import_document(self, document: Mapping[str, Any], tenant: str = "default") -> dict[str, int]:
        documents.validate_document(document)  # all of it first: nothing half-written
        with self.transaction():
            saved = self.save_customers(document.get("customers") or [], tenant)
            with self._connection(write=True) as conn:
                counts = documents.write_reference(conn, self._insert, tenant, document)
        return {"customers": saved.created + saved.updated + saved.unchanged, **counts}

    def export_document(self, tenant: str = "default") -> dict[str, Any]:
        # Customers stream page by page; the reference tables are small.
        exported: dict[str, Any] = {"customers": list(self.iter_customers(tenant))}
        with self._connection() as conn:
            exported.update(documents.read_reference(conn, tenant))
        return exported


# One write lock per SQLite file for all stores of this process (see _sqlite_locks).
_FILE_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _sqlite_locks(url: URL) -> tuple[threading.RLock | None, threading.RLock | None]:
    """(lock for writes, lock for reads) of a store; None where the database needs none.

    SQLite has one writer at a time. Threads of this process queue on a lock for it instead of
    on SQLite's busy handler, which polls with sleeps of up to 100 ms: with 8 threads drawing
    sequence numbers that made the same work several times slower. Other processes still
    wait through the busy timeout. An in-memory database is one connection shared by all
    threads, so there reads take the lock too.
    """
    if url.get_backend_name() != "sqlite":
        return None, None
    if is_memory(url):
        lock = threading.RLock()
        return lock, lock
    path = os.path.realpath(url.database or "")
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path, threading.RLock()), None


def _identity(guid: str | None, code: str | None) -> dict[str, Any]:
    if guid:
        return {"CustomerGuid": guid}
    if code:
        return {"CustomerCode": code}
    raise StoreError("a customer is identified by guid= or code=; neither was given")


def _counts(statuses: list[str]) -> SaveCounts:
    c = Counter(statuses)
    return SaveCounts(created=c["created"], updated=c["updated"], unchanged=c["unchanged"])
