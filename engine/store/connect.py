"""From a store URL to a configured SQLAlchemy engine, and SQLAlchemy errors to StoreError.

SQLite needs three things the driver does not do by default:
  * WAL, so readers never wait for the one writer (the engine runs records on a thread pool);
  * a busy timeout, so a second writer waits for the lock instead of failing at once;
  * foreign keys on, so deleting a customer also deletes its addresses.
And it needs its transactions begun by us: Python's sqlite3 module issues a deferred BEGIN lazily,
which breaks SAVEPOINT and lets two transactions that both read and then write deadlock. We switch
the driver to autocommit and emit BEGIN ourselves; a connection marked `specbridge_write` gets
BEGIN IMMEDIATE, taking the write lock up front, so its reads and writes are one atomic unit
(this is what makes sequences and "unchanged" checks safe across processes).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from engine.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Enough connections for a thread pool of records plus a few readers; waits beyond that.
POOL_SIZE = 10
POOL_OVERFLOW = 20
# A SQLite connection is a file handle and a page cache, not a server process: keep one for every
# thread that may want one (a flow on 50 threads), instead of opening and closing the overflow
# ones on every use (each open runs the PRAGMAs below). No measurable speed-up on the outbound
# benchmark either way; it is kept because the churn is pointless work.
SQLITE_POOL_SIZE = 64


def parse_url(url: str) -> URL:
    """The URL SQLAlchemy should use: `postgresql://` gets the psycopg 3 driver we ship."""
    try:
        parsed = sa.make_url(url)
    except exc.ArgumentError as e:
        raise StoreError(f"store URL {url!r} is not a database URL (e.g. sqlite:///specbridge.db)") from e
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg2", "psycopg", ""):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise StoreError(f"store URL {safe_url(parsed)}: only sqlite:// and postgresql:// stores are supported")


def safe_url(url: URL | str) -> str:
    """The URL for messages, with any password masked (messages end up in logs)."""
    if isinstance(url, str):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return url.render_as_string(hide_password=True)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: str) -> Engine:
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_pre_ping=True)
    if is_memory(parsed):
        # One in-memory database exists per connection, so every thread must share one
        # connection; SqlStore serialises access to it with a lock.
        engine = sa.create_engine(parsed, poolclass=StaticPool,
                                  connect_args={"check_same_thread": False})
    else:
        engine = sa.create_engine(parsed, pool_size=SQLITE_POOL_SIZE, max_overflow=POOL_OVERFLOW,
                                  connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # autocommit: we emit BEGIN in _sqlite_on_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL loses at most the last commits on power loss, never consistency,
        # and saves an fsync per commit (a large share of a small write-back's cost).
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get("specbridge_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """The one place SQLAlchemy errors become StoreError, as one line naming the store."""
    try:
        yield
    except exc.IntegrityError as e:
        raise StoreError(f"store {where}: conflicts with existing data: {_first_line(e.orig)}") from e
    except exc.DBAPIError as e:
        raise StoreError(f"store {where}: {_first_line(e.orig)}") from e
    except exc.SQLAlchemyError as e:
        raise StoreError(f"store {where}: {_first_line(e)}") from e


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip() if error is not None else ""
    return text.splitlines()[0] if text else type(error).__name__
