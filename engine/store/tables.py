"""The store's tables as they are now (the newest migration), for the queries in the store.

App4Sales fields keep their PascalCase names as columns, so a row reads like the document it came
from; bookkeeping columns (id, tenant, position, content_hash, ...) are snake_case.

Column types follow the customer schema: strings are TEXT (so "000042" stays "000042"), booleans
BOOLEAN. Fields the schema allows to be a number of either kind, or one of several types
(Discount, UsesPriceField), are JSON: it keeps 5 an int, 5.5 a float and "5" a string, which a
REAL or TEXT column would not. On PostgreSQL that is `json`, not `jsonb`, because `jsonb` rewrites
numbers (1e300 comes back as a 301-digit integer).

These definitions must equal what the migration chain builds; tests/store checks they do.
Changing a table means adding a migration in migrations.py, then updating this file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC timestamp stored as ISO-8601 text.

    SQLite has no timestamp type and SQLAlchemy's SQLite DATETIME drops the time zone; text in
    one fixed format behaves the same on both databases and still sorts in time order.
    """

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:  # naive means UTC in this code base
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class JsonText(sa.types.TypeDecorator[Any]):
    """A JSON value stored as TEXT: SQLite's column type for JSON.

    SQLAlchemy's JSON type declares SQLite columns as "JSON", which SQLite gives NUMERIC
    affinity: the JSON text 5.0 would be stored as the integer 5 and 12345678901234567890 as a
    float. TEXT affinity stores the JSON text exactly as written.
    """

    impl = sa.Text
    cache_ok = True

    def __init__(self, none_as_null: bool = False) -> None:
        super().__init__()
        self.none_as_null = none_as_null

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None and self.none_as_null else json.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def json_type(none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    """JSON on PostgreSQL (`json`, which keeps the text as given), JSON text on SQLite.

    none_as_null: Python None is SQL NULL ("no value") instead of the JSON text null.
    """
    return sa.JSON(none_as_null=none_as_null).with_variant(JsonText(none_as_null), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _text(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Text)



# The scalar fields of schemas/app4sales/customer.schema.json, in schema order.
CUSTOMER_SCALARS: tuple[str, ...] = (
    "CustomerGuid", "CustomerCode", "InternalCode", "CustomerName", "SearchCode", "RelationGroup",
    "Discount", "Website", "ChamberOfCommerceCode", "VatCode", "VatLiable", "LanguageCode",
    "PaymentConditionCode", "CustomerManager", "Currency", "CountryCode", "Phone", "MobileNumber",
    "Fax", "Email", "UsesPriceField", "CollectionAccountCode", "IsActive",
)
_BOOLEAN_SCALARS = {"VatLiable", "IsActive"}
_JSON_SCALARS = {"Discount", "UsesPriceField"}

ADDRESS_FIELDS: tuple[str, ...] = (
    "AddressType", "AddressLine1", "AddressLine2", "PostCode", "City", "Country", "Iso2", "Email", "Phone",
)
CONTACT_FIELDS: tuple[str, ...] = (
    "ContactId", "FullName", "FirstName", "LastName", "Email", "Phonenumber", "MobileNumber", "IsMainContact",
)
FREE_FIELD_KINDS: tuple[str, ...] = ("FreeFields", "DynamicFreeFields", "UnknownElements")


def _customer_column(name: str) -> sa.Column[Any]:
    if name in _BOOLEAN_SCALARS:
        return sa.Column(name, sa.Boolean)
    if name in _JSON_SCALARS:
        # None is SQL NULL: an absent Discount is "no value", not the JSON text null.
        return sa.Column(name, json_type(none_as_null=True))
    return _text(name)


customers = sa.Table(
    "customers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(100), nullable=False),
    *(_customer_column(name) for name in CUSTOMER_SCALARS),
    # sha256 of the canonical document: "unchanged" is one string comparison, not a reassembly.
    # NULL for rows written before migration 2: such a row counts as changed once.
    sa.Column("content_hash", sa.String(64)),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
# Empty codes are new customers, and customers without a GUID come from the ERP side: neither
# may collide, so the unique indexes only cover non-empty values (partial indexes on both DBs).
_code = customers.c.CustomerCode
_guid = customers.c.CustomerGuid
sa.Index("ux_customers_code", customers.c.tenant, _code, unique=True,
         sqlite_where=_code != "", postgresql_where=_code != "")
sa.Index("ux_customers_guid", customers.c.tenant, _guid, unique=True,
         sqlite_where=_guid != "", postgresql_where=_guid != "")
sa.Index("ix_customers_internal", customers.c.tenant, customers.c.InternalCode)


def _child_key() -> list[sa.Column[Any]]:
    return [
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),  # keeps the document's order
    ]


# Child rows live in their key's b-tree (SQLite WITHOUT ROWID): one b-tree insert per row instead
# of two, and a bulk save writes several child rows per customer.
customer_addresses = sa.Table(
    "customer_addresses", metadata, *_child_key(), *(_text(name) for name in ADDRESS_FIELDS),
    sqlite_with_rowid=False,
)
customer_contacts = sa.Table(
    "customer_contacts", metadata, *_child_key(),
    *(sa.Column(name, sa.Boolean) if name == "IsMainContact" else _text(name) for name in CONTACT_FIELDS),
    sqlite_with_rowid=False,
)
customer_free_fields = sa.Table(
    "customer_free_fields", metadata, *_child_key(),
    sa.Column("kind", sa.String(20), nullable=False),  # FreeFields | DynamicFreeFields | UnknownElements
    sa.Column("name", sa.Text, nullable=False),
    # JSON keeps the value's type; a JSON null is a field that exists without a value.
    sa.Column("value", json_type(), nullable=True),
    sqlite_with_rowid=False,
)

sales_reps = sa.Table(
    "sales_reps", metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("Username", sa.Text, primary_key=True),
    _text("ResIdString"),
    sa.Column("extra", json_type(), nullable=False),  # any other keys of the imported row, kept as is
)

price_lists = sa.Table(
    "price_lists", metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("Index", sa.Integer, primary_key=True, autoincrement=False),
    _text("Code"), _text("Currency"), _text("Name"),
)
sa.Index("ix_price_lists_code", price_lists.c.tenant, price_lists.c.Code)

countries = sa.Table(
    "countries", metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("Iso2", sa.String(2), primary_key=True),
    _text("Name"),
)

cache = sa.Table(
    "cache", metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", json_type(), nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

sequences = sa.Table(
    "sequences", metadata,
    sa.Column("tenant", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),  # the number the next call hands out
)

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

journal = sa.Table(
    "journal", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # insertion order = run order
    sa.Column("run_key", sa.String(200), nullable=False, index=True),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("detail", json_type(), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_key", sa.String(200), nullable=False),
    sa.Column("flow", sa.String(200), nullable=False, index=True),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("tenant", sa.String(100)),  # NULL: a letter from before v3, the default tenant's
    sa.Column("user", sa.Text),
)

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)
