"""Every store test runs twice: on a SQLite file and on a real PostgreSQL.

PostgreSQL comes from SPECBRIDGE_TEST_POSTGRES_URL (default: the local server, user postgres).
Tests share one schema that is emptied (TRUNCATE) before each test, so no test sees another's
rows; tests that need a database without tables get a schema of their own (`empty_store_url`).
When the server cannot be reached the PostgreSQL half is skipped, loudly; with CI=true it fails
instead, because a green CI run must mean both databases were tested.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from engine.store import SqlStore, open_store
from engine.store.tables import metadata

PG_URL = os.environ.get("SPECBRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _libpq(url: str) -> str:
    # psycopg takes the same URL without SQLAlchemy's "+driver" part.
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        with psycopg.connect(_libpq(PG_URL), connect_timeout=5):
            pass
    except psycopg.Error as e:
        reason = " ".join(str(e).split())
        message = f"PostgreSQL at {PG_URL} is not reachable ({reason}); set SPECBRIDGE_TEST_POSTGRES_URL"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(f"!!! POSTGRES TESTS SKIPPED: {message}")
    return PG_URL


def _pg_schema_url(base: str, schema: str) -> str:
    # search_path puts every table of this store in the test's own schema. Commits skip the
    # WAL flush: the tests need isolation, not durability, and a flush per next_sequence
    # made the 8-thread test take 18 s instead of 3. The store's own code sets neither.
    options = quote(f"-csearch_path={schema} -csynchronous_commit=off")
    return f"{base}{'&' if '?' in base else '?'}options={options}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _create_schema(base: str) -> str:
    schema = f"sbtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def _drop_schema(base: str, schema: str) -> None:
    with psycopg.connect(_libpq(base), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def postgres_shared(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(URL, schema) of one migrated schema that tests share, emptied before each test.

    Creating a schema and migrating it costs about half a second on PostgreSQL; emptying one
    takes milliseconds. Tests that need a database without tables use `empty_store_url`.
    """
    schema = _create_schema(postgres_url)
    url = _pg_schema_url(postgres_url, schema)
    open_store(url).close()
    try:
        yield url, schema
    finally:
        _drop_schema(postgres_url, schema)


@pytest.fixture
def store_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    """A URL for an empty, current store on the parametrized backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url, schema = request.getfixturevalue("postgres_shared")
    tables = ", ".join(f'"{schema}"."{t.name}"' for t in metadata.sorted_tables if t.name != "schema_version")
    with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return str(url)


@pytest.fixture
def empty_store_url(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL for a database without any tables (a schema of its own on PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = _create_schema(base)
    try:
        yield _pg_schema_url(base, schema)
    finally:
        _drop_schema(base, schema)


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    opened = open_store(store_url)
    assert isinstance(opened, SqlStore)
    try:
        yield opened
    finally:
        opened.close()
