"""Connections, transactions and threads: the part of the store that is about time, not data.

Outside `transaction()` every call gets its own short transaction on a pooled connection, so
records on a thread pool do not wait for each other (beyond SQLite's single writer).
`transaction()` pins one connection to the calling thread until it ends; every call made on that
thread meanwhile uses it, which is how a flow's write-backs commit or roll back together. Nested
`transaction()` blocks are savepoints: a failure caught inside undoes only the inner block.

Log rows (journal, dead letters) are not App4Sales data: they record what happened, and must
survive the rollback of the transaction they were made in (a request the ERP received stays
received). Inside a transaction they wait in a per-thread list and are written when it ends:
in it, just before it commits, or after it, in a transaction of their own, if it rolls back.
Written any earlier they would block on SQLite's write lock, which the transaction holds.

Every SQLAlchemy error leaves through `connect.translate_errors` as a StoreError.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from engine.errors import StoreError
from engine.store.connect import (
    SQLITE_BUSY_TIMEOUT_MS,
    is_memory,
    make_engine,
    parse_url,
    safe_url,
    translate_errors,
)
from engine.store.group_commit import GroupCommit
from engine.store.migrations import upgrade

LogRow = tuple[sa.Table, dict[str, Any]]


class Database:
    """An engine (upgraded on open) and each thread's place in it. Thread-safe."""

    def __init__(self, url: str) -> None:
        self.url = safe_url(url)
        with translate_errors(self.url):
            self.engine = make_engine(url)
            try:
                upgrade(self.engine)
            except BaseException:
                self.engine.dispose()
                raise
        self.dialect = self.engine.dialect.name
        self._local = threading.local()
        self._write_lock, self._read_lock = _sqlite_locks(parse_url(url))
        self._log_writer: GroupCommit[LogRow] = GroupCommit(self._write_logs_now)

    def close(self) -> None:
        self.engine.dispose()

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
    def connection(self, write: bool = False) -> Iterator[Connection]:
        """The thread's transaction connection, else a fresh one in its own transaction."""
        held: Connection | None = getattr(self._local, "conn", None)
        with translate_errors(self.url):
            if held is not None:
                yield held
                return
            with self._serial(write), self.engine.connect() as conn:
                if write:
                    conn.execution_options(specbridge_write=True)  # BEGIN IMMEDIATE on SQLite
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
            with self._serial(True), translate_errors(self.url), self.engine.connect() as conn:
                conn.execution_options(specbridge_write=True)
                self._local.conn = conn
                try:
                    with conn.begin():
                        yield
                        # Committed with the transaction (one commit, not two); kept for
                        # _flush_logs if the commit fails.
                        _insert_logs(conn, self._local.pending)
                    self._local.pending = []
                finally:
                    self._local.conn = None
        except BaseException as failure:
            try:
                self._flush_logs()
            except StoreError as lost:  # never hide the failure that rolled the transaction back
                failure.add_note(f"journal entries made in the transaction were lost: {lost}")
            raise
        self._flush_logs()

    def log(self, table: sa.Table, *rows: dict[str, Any], transactional: bool = False) -> None:
        """Insert log rows now, or when the thread's transaction ends (see the module doc).

        `transactional` rows made inside a transaction are written in it, and share its fate:
        a row that says the transaction's work was done must not outlive its rollback.
        """
        held: Connection | None = getattr(self._local, "conn", None)
        if held is not None and transactional:
            with translate_errors(self.url):
                _insert_logs(held, [(table, row) for row in rows])
        elif held is not None:
            self._local.pending.extend((table, row) for row in rows)
        elif rows:
            self._write_logs([(table, row) for row in rows])

    def pending_logs(self, table: sa.Table) -> list[dict[str, Any]]:
        """Rows of `table` this thread logged inside its still open transaction."""
        return [row for t, row in getattr(self._local, "pending", None) or [] if t is table]

    def _flush_logs(self) -> None:
        pending, self._local.pending = self._local.pending, []
        if pending:
            self._write_logs(pending)

    def _write_logs(self, rows: list[LogRow]) -> None:
        self._log_writer.write(rows)  # with other threads' rows, in one transaction

    def _write_logs_now(self, rows: Sequence[LogRow]) -> None:
        with self.connection(write=True) as conn:
            _insert_logs(conn, rows)


def _insert_logs(conn: Connection, rows: Sequence[LogRow]) -> None:
    """Consecutive rows of one table go in one executemany, with a statement built once."""
    for table, group in itertools.groupby(rows, key=lambda pair: pair[0]):
        statement = _INSERTS.get(table.name)
        if statement is None:
            statement = _INSERTS.setdefault(table.name, sa.insert(table))
        conn.execute(statement, [row for _, row in group])


_INSERTS: dict[str, sa.Insert] = {}


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
