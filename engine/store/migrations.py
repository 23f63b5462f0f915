"""Versioned schema migrations, applied automatically when a store is opened.

Each migration is a function that moves the schema from version N-1 to N; `schema_version` holds
one row per applied migration. A new store runs the whole chain, an old one the missing tail, so
both end up with exactly the tables in tables.py (a test compares them).

Migrations are history: they describe tables as they were at that version, with their own
definitions, never the ones in tables.py, which move on. To change the schema, append a
migration here and then update tables.py to match.

Two processes opening the same new store at once must not both create tables: the upgrade runs
in one write transaction (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL), and
re-reads the version after taking the lock. SQLite and PostgreSQL both have transactional DDL,
so a failed migration leaves the store at the previous version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.errors import StoreError
from engine.store.tables import UtcDateTime, json_type, utcnow

# An arbitrary constant: the PostgreSQL advisory lock that serialises upgrades of one database.
_PG_UPGRADE_LOCK = 0x5B_0001

# Frozen copy of the bookkeeping table; created before any migration runs.
_meta = sa.MetaData()
_schema_version = sa.Table(
    "schema_version", _meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)


def _text_columns(names: str) -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.Text) for name in names.split()]


def _child_key() -> list[sa.Column[Any]]:
    return [
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
    ]


def _v1_initial(conn: Connection) -> None:
    """The tables of the first design: customers with their parts, lookups, sequences, journal."""
    meta = sa.MetaData()
    customers = sa.Table(
        "customers", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        *_text_columns("CustomerGuid CustomerCode InternalCode CustomerName SearchCode RelationGroup"),
        sa.Column("Discount", json_type(none_as_null=True)),
        *_text_columns("Website ChamberOfCommerceCode VatCode"),
        sa.Column("VatLiable", sa.Boolean),
        *_text_columns("LanguageCode PaymentConditionCode CustomerManager Currency CountryCode Phone "
                       "MobileNumber Fax Email"),
        sa.Column("UsesPriceField", json_type(none_as_null=True)),
        *_text_columns("CollectionAccountCode"),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    code, guid = customers.c.CustomerCode, customers.c.CustomerGuid
    sa.Index("ux_customers_code", customers.c.tenant, code, unique=True,
             sqlite_where=code != "", postgresql_where=code != "")
    sa.Index("ux_customers_guid", customers.c.tenant, guid, unique=True,
             sqlite_where=guid != "", postgresql_where=guid != "")
    sa.Index("ix_customers_internal", customers.c.tenant, customers.c.InternalCode)
    sa.Table("customer_addresses", meta, *_child_key(),
             *_text_columns("AddressType AddressLine1 AddressLine2 PostCode City Country Iso2 Email Phone"),
             sqlite_with_rowid=False)
    sa.Table("customer_contacts", meta, *_child_key(),
             *_text_columns("ContactId FullName FirstName LastName Email Phonenumber MobileNumber"),
             sa.Column("IsMainContact", sa.Boolean), sqlite_with_rowid=False)
    sa.Table("customer_free_fields", meta, *_child_key(),
             sa.Column("kind", sa.String(20), nullable=False),
             sa.Column("name", sa.Text, nullable=False),
             sa.Column("value", json_type(), nullable=True), sqlite_with_rowid=False)
    sa.Table("sales_reps", meta,
             sa.Column("tenant", sa.String(100), primary_key=True),
             sa.Column("Username", sa.Text, primary_key=True),
             sa.Column("ResIdString", sa.Text),
             sa.Column("extra", json_type(), nullable=False))
    price_lists = sa.Table(
        "price_lists", meta,
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("Index", sa.Integer, primary_key=True, autoincrement=False),
        *_text_columns("Code Currency Name"),
    )
    sa.Index("ix_price_lists_code", price_lists.c.tenant, price_lists.c.Code)
    sa.Table("countries", meta,
             sa.Column("tenant", sa.String(100), primary_key=True),
             sa.Column("Iso2", sa.String(2), primary_key=True),
             sa.Column("Name", sa.Text))
    sa.Table("sequences", meta,
             sa.Column("tenant", sa.String(100), primary_key=True),
             sa.Column("name", sa.String(200), primary_key=True),
             sa.Column("next_value", sa.BigInteger, nullable=False))
    sa.Table("tokens", meta,
             sa.Column("key", sa.String(200), primary_key=True),
             sa.Column("value", sa.Text, nullable=False),
             sa.Column("updated_at", UtcDateTime, nullable=False))
    sa.Table("journal", meta,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("run_key", sa.String(200), nullable=False, index=True),
             sa.Column("flow", sa.String(200), nullable=False),
             sa.Column("step", sa.String(200), nullable=False),
             sa.Column("status", sa.String(40), nullable=False),
             sa.Column("detail", json_type(), nullable=False),
             sa.Column("at", UtcDateTime, nullable=False))
    meta.create_all(conn)


def _v2_hash_active_cache_dead_letters(conn: Connection) -> None:
    """IsActive (added to the customer schema), a content hash for cheap "unchanged" checks,
    a cache of ERP-side ids, and dead letters for records to replay.

    Existing customers get a NULL hash rather than a computed one: the migration would otherwise
    depend on today's hashing code. A NULL hash never equals a new one, so such a customer is
    reported "updated" on its next save and carries a hash from then on.
    """
    _add_column(conn, "customers", sa.Column("IsActive", sa.Boolean))
    _add_column(conn, "customers", sa.Column("content_hash", sa.String(64)))
    meta = sa.MetaData()
    sa.Table("cache", meta,
             sa.Column("tenant", sa.String(100), primary_key=True),
             sa.Column("namespace", sa.String(200), primary_key=True),
             sa.Column("key", sa.Text, primary_key=True),
             sa.Column("value", json_type(), nullable=True),
             sa.Column("updated_at", UtcDateTime, nullable=False))
    sa.Table("dead_letters", meta,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("run_key", sa.String(200), nullable=False),
             sa.Column("flow", sa.String(200), nullable=False, index=True),
             sa.Column("record", json_type(), nullable=False),
             sa.Column("reason", sa.Text, nullable=False),
             sa.Column("at", UtcDateTime, nullable=False))
    meta.create_all(conn)


def _add_column(conn: Connection, table: str, column: sa.Column[Any]) -> None:
    # SQLAlchemy Core has no ALTER TABLE construct; quoting and the type come from the dialect.
    quote = conn.dialect.identifier_preparer.quote
    type_sql = column.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {type_sql}")


def _v3_dead_letter_tenant_user(conn: Connection) -> None:
    """Whose run a dead letter is: replaying it as another tenant or user would write the other
    tenant's customers and file the result under another run. Letters from before have neither
    (NULL): they count as the default tenant's, as the replay command assumed."""
    _add_column(conn, "dead_letters", sa.Column("tenant", sa.String(100)))
    _add_column(conn, "dead_letters", sa.Column("user", sa.Text))


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _v1_initial,
    2: _v2_hash_active_cache_dead_letters,
    3: _v3_dead_letter_tenant_user,
}
LATEST_VERSION = max(MIGRATIONS)


def current_version(conn: Connection) -> int:
    """The schema version of the store behind `conn`; 0 for an empty database."""
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(sa.select(sa.func.max(_schema_version.c.version))).scalar() or 0


def upgrade(engine: Engine, target: int | None = None) -> int:
    """Apply the missing migrations up to `target` (default: the latest); return the version.

    `target` exists for tests that need an old store. A store newer than this code is refused,
    because this code would misread tables it does not know.
    """
    target = LATEST_VERSION if target is None else target
    with engine.connect() as conn:
        conn.execution_options(specbridge_write=True)  # BEGIN IMMEDIATE on SQLite: see connect.py
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_UPGRADE_LOCK)))
            version = current_version(conn)
            if version > LATEST_VERSION:
                raise StoreError(
                    f"the store has schema version {version}, newer than this specbridge knows "
                    f"({LATEST_VERSION}); upgrade specbridge to use it"
                )
            if version == 0:
                _meta.create_all(conn)
            for step in range(version + 1, target + 1):
                MIGRATIONS[step](conn)
                conn.execute(sa.insert(_schema_version).values(version=step, applied_at=utcnow()))
            return max(version, target)
