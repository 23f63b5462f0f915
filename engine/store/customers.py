"""Customer reads and writes on a Connection: the SQL behind SqlStore's customer methods.

Saves work a batch at a time with a fixed number of statements, whatever the batch size: two
SELECTs find the stored customers (by GUID, by code), one executemany INSERT adds the new ones,
one executemany UPDATE changes the changed ones, and their addresses, contacts and free fields
are replaced with one DELETE and one INSERT per child table. That is what makes bulk saves fast
(see bulk.py for the rest).

Matching: by CustomerGuid when the document has one, else by CustomerCode, within a tenant. A
document with a GUID the store does not know, but a code it does, matches that code's customer if
it has no GUID yet (an ERP customer that App4Sales has now adopted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row, RowMapping

from engine.errors import InputError, StoreError
from engine.store import codec
from engine.store.bulk import executemany, in_values
from engine.store.tables import (
    CUSTOMER_SCALARS,
    customer_addresses,
    customer_contacts,
    customer_free_fields,
    customers,
    utcnow,
)

CHILD_TABLES = (customer_addresses, customer_contacts, customer_free_fields)
_c = customers.c
_ID_COLUMNS = (_c.id, _c.CustomerGuid, _c.CustomerCode, _c.InternalCode, _c.content_hash)

# A canonical document and its position for errors ("customers[3]", or "" for a single save).
Named = tuple[str, dict[str, Any]]


def _name(label: str, doc: Mapping[str, Any]) -> str:
    return f"{label} ({codec.describe(doc)})" if label else codec.describe(doc)


def _keys(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(f, v) for f in ("CustomerGuid", "CustomerCode") if (v := doc.get(f))}


def _lock_identities(conn: Connection, tenant: str, docs: Sequence[Named]) -> None:
    """PostgreSQL: make concurrent saves of the same customer wait for each other.

    Without this, two threads saving the same new customer both see "not stored", both insert,
    and one fails on the unique index. SQLite needs nothing: its write transactions are serial.
    Locks are taken in sorted order (no deadlocks) and released at the end of the transaction.
    """
    if conn.dialect.name != "postgresql":
        return
    keys = sorted({
        int.from_bytes(hashlib.blake2b(f"{tenant}\0{f}\0{v}".encode(), digest_size=8).digest(), "big", signed=True)
        for _, doc in docs for f, v in _keys(doc)
    })
    if keys:
        conn.execute(sa.text(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS u(k) ORDER BY k) AS s"
        ), {"keys": keys})


def _stored(conn: Connection, tenant: str, docs: Sequence[Named]) -> tuple[dict[str, Row[Any]], dict[str, Row[Any]]]:
    by: dict[str, dict[str, Row[Any]]] = {}
    for field in ("CustomerGuid", "CustomerCode"):
        values = [v for _, d in docs if (v := d.get(field))]
        rows = conn.execute(sa.select(*_ID_COLUMNS).where(_c.tenant == tenant, *_is(conn, field, values))) if values else ()
        by[field] = {getattr(r, field): r for r in rows}
    return by["CustomerGuid"], by["CustomerCode"]


def _is(conn: Connection, field: str, value: Any) -> list[sa.ColumnElement[bool]]:
    """`field = value` (or IN, for a list) in a form the partial unique indexes can serve.

    Both indexes cover non-empty values only, and SQLite uses a partial index only when the query
    repeats the index's condition; without `<> ''` every lookup would scan the tenant's customers.
    """
    column = _c[field]
    test = column == value if not isinstance(value, list) else in_values(conn, column, value)
    return [column != _EMPTY, test] if field in ("CustomerGuid", "CustomerCode") else [test]


# '' written into the SQL, not bound. PostgreSQL's manual on partial indexes: "matching takes
# place at query planning time, not at run time. As a result, parameterized query clauses do
# not work with a partial index" -- and a prepared statement's generic plan is exactly that.
_EMPTY = sa.literal_column("''")


def _match(label: str, doc: Mapping[str, Any], by_guid: Mapping[str, Row[Any]],
           by_code: Mapping[str, Row[Any]]) -> Row[Any] | None:
    guid, code = doc.get("CustomerGuid"), doc.get("CustomerCode")
    row = by_guid.get(guid) if guid else None
    if row is None and code and (row := by_code.get(code)) is not None and guid and row.CustomerGuid:
        raise InputError(f"code {code!r} belongs to the customer with GUID {row.CustomerGuid}",
                         _name(label, doc), "CustomerCode")
    if row is not None and code and (other := by_code.get(code)) is not None and other.id != row.id:
        raise InputError(f"code {code!r} already belongs to another customer", _name(label, doc), "CustomerCode")
    return row


def save(conn: Connection, tenant: str, docs: Sequence[Named]) -> list[str]:
    """Save canonical documents; return "created" | "updated" | "unchanged" for each, in order."""
    statuses: list[str] = []
    rest = docs
    while rest:
        done = _save_run(conn, tenant, rest, statuses)
        rest = rest[done:]
    return statuses


def _save_run(conn: Connection, tenant: str, docs: Sequence[Named], statuses: list[str]) -> int:
    """Save the longest prefix of `docs` that touches each customer once; return its length.

    A customer appearing twice in one batch would otherwise be matched against its state before
    the batch; the second occurrence starts a new run that sees the first one's write.
    """
    _lock_identities(conn, tenant, docs)
    by_guid, by_code = _stored(conn, tenant, docs)
    inserts: list[tuple[dict[str, Any], str]] = []
    updates: list[tuple[int, dict[str, Any], str]] = []
    seen_keys: set[tuple[str, str]] = set()
    seen_ids: set[int] = set()
    done = 0
    for label, doc in docs:
        keys = _keys(doc)
        if keys & seen_keys:
            break
        row = _match(label, doc, by_guid, by_code)
        if row is not None and row.id in seen_ids:
            break
        if row is not None:
            # Keep identity the document does not know (see codec.IDENTITY_FIELDS).
            for field in codec.IDENTITY_FIELDS:
                if not doc.get(field) and getattr(row, field):
                    doc = {**doc, field: getattr(row, field)}
                    keys = keys | _keys(doc)
            seen_ids.add(row.id)
        seen_keys |= keys
        digest = codec.content_hash(doc)
        if row is None:
            inserts.append((doc, digest))
            statuses.append("created")
        elif _unchanged(conn, row, digest):
            statuses.append("unchanged")
        else:
            updates.append((row.id, doc, digest))
            statuses.append("updated")
        done += 1
    _write(conn, tenant, inserts, updates)
    return done


_INSERT_NAMES = ("id", "tenant", *CUSTOMER_SCALARS, "content_hash", "updated_at")
_UPDATE_NAMES = (*CUSTOMER_SCALARS, "content_hash", "updated_at", "_id")


def _write(conn: Connection, tenant: str, inserts: list[tuple[dict[str, Any], str]],
           updates: list[tuple[int, dict[str, Any], str]]) -> None:
    now = utcnow()
    written: list[tuple[int, dict[str, Any]]] = []
    if inserts:
        ids = _new_ids(conn, len(inserts))
        executemany(conn, sa.insert(customers), _INSERT_NAMES, [
            (customer_id, tenant, *codec.customer_values(d), h, now)
            for customer_id, (d, h) in zip(ids, inserts, strict=True)
        ])
        written += zip(ids, (d for d, _ in inserts), strict=True)
    if updates:
        executemany(conn, _UPDATE_BY_ID, _UPDATE_NAMES, [(*codec.customer_values(d), h, now, i) for i, d, h in updates])
        ids = [i for i, _, _ in updates]
        for table in CHILD_TABLES:  # replaced wholesale: the document is the truth
            conn.execute(sa.delete(table).where(in_values(conn, table.c.customer_id, ids)))
        written += ((i, d) for i, d, _ in updates)
    children: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
    for customer_id, doc in written:
        for rows_of_table, rows in zip(children, codec.child_rows(customer_id, doc), strict=True):
            rows_of_table.extend(rows)
    for table, names, rows in zip(CHILD_TABLES, codec.CHILD_COLUMNS, children, strict=True):
        if rows:
            executemany(conn, sa.insert(table), names, rows)


def _new_ids(conn: Connection, n: int) -> list[int]:
    """Ids for `n` new customers, known before the INSERT so it can be one executemany.

    (INSERT ... RETURNING of many rows runs row by row on SQLite, a third of the save time.)
    PostgreSQL draws them from the column's sequence, safe under concurrency. SQLite continues
    after the largest id: safe because every write transaction holds SQLite's single write lock
    from its first statement (BEGIN IMMEDIATE), so no other writer can insert in between.
    """
    if conn.dialect.name == "postgresql":
        query = sa.text("SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, :n)")
        return list(conn.execute(query, {"n": n}).scalars())
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(_c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + n))


def documents(conn: Connection, rows: Sequence[RowMapping]) -> list[dict[str, Any]]:
    """Whole documents for customer rows: one query per child table, not per customer."""
    ids = [r["id"] for r in rows]
    parts: list[dict[int, list[RowMapping]]] = []
    for table in CHILD_TABLES:
        grouped: dict[int, list[RowMapping]] = {}
        if ids:
            query = sa.select(table).where(in_values(conn, table.c.customer_id, ids)).order_by(
                table.c.customer_id, table.c.position)
            for child in conn.execute(query).mappings():
                grouped.setdefault(child["customer_id"], []).append(child)
        parts.append(grouped)
    return [codec.document(r, *(p.get(r["id"], []) for p in parts)) for r in rows]


def find(conn: Connection, tenant: str, where: Mapping[str, Any], *, for_update: bool = False) -> RowMapping | None:
    if any(isinstance(v, list) for v in where.values()):
        tests = [_c.tenant == tenant, *(t for k, v in where.items() for t in _is(conn, k, v))]
        return conn.execute(_first_customer(tests, for_update)).mappings().first()
    params = {"_tenant": tenant, **{f"_v{i}": v for i, v in enumerate(where.values())}}
    return conn.execute(_find_statement(conn, tuple(where), for_update), params).mappings().first()


def _first_customer(tests: list[sa.ColumnElement[bool]], for_update: bool) -> sa.Select[Any]:
    query = sa.select(customers).where(*tests).order_by(_c.id).limit(1)
    # PostgreSQL row lock; SQLite's writer lock covers it
    return query.with_for_update() if for_update else query


# Statements built once per shape and reused: building a SELECT and its cache key costs more
# than running it (a write-back looks a customer up once per record).
_FIND: dict[tuple[tuple[str, ...], bool], sa.Select[Any]] = {}


def _find_statement(conn: Connection, fields: tuple[str, ...], for_update: bool) -> sa.Select[Any]:
    statement = _FIND.get((fields, for_update))
    if statement is None:
        tests = [_c.tenant == sa.bindparam("_tenant"),
                 *(t for i, field in enumerate(fields) for t in _is(conn, field, sa.bindparam(f"_v{i}")))]
        statement = _FIND.setdefault((fields, for_update), _first_customer(tests, for_update))
    return statement


def page(conn: Connection, tenant: str, after_id: int, size: int) -> list[RowMapping]:
    query = sa.select(customers).where(_c.tenant == tenant, _c.id > after_id).order_by(_c.id).limit(size)
    return list(conn.execute(query).mappings())


def identify(conn: Connection, tenant: str, guid: str | None, code: str | None, *,
             for_update: bool = False) -> RowMapping | None:
    """The customer a GUID and/or code names, matched as saves match: by GUID, else by code
    (a customer found by code only if it does not carry another GUID)."""
    if not guid and not code:
        raise StoreError("a customer is identified by guid= or code=; neither was given")
    if guid:
        row = find(conn, tenant, {"CustomerGuid": guid}, for_update=for_update)
        if row is not None or not code:
            return row
    row = find(conn, tenant, {"CustomerCode": code}, for_update=for_update)
    if row is not None and guid and row["CustomerGuid"] and row["CustomerGuid"] != guid:
        return None
    return row


def update_fields(conn: Connection, tenant: str, values: Mapping[str, Any], guid: str | None,
                  code: str | None) -> bool:
    """Write-back of a few fields. The content hash is cleared rather than recomputed: that
    would mean reading the whole document back for every record a flow sends. The next save
    of the customer computes it again from what is stored (see `_unchanged`)."""
    unknown = [k for k in values if k not in CUSTOMER_SCALARS]
    if unknown:
        raise StoreError(f"update_customer_fields: {unknown[0]!r} is not a customer field "
                         f"(one of {', '.join(CUSTOMER_SCALARS)})")
    row = identify(conn, tenant, guid, code, for_update=True)
    if row is None:
        return False
    canon = codec.canonical(dict(values), codec.describe(row))
    changes = {**{k: canon.get(k) for k in values}, "content_hash": None, "updated_at": utcnow()}
    conn.execute(_UPDATE_BY_ID, {**changes, "_id": row["id"]})
    return True


# No .values(): the parameter names given when executing become the SET clause.
_UPDATE_BY_ID = sa.update(customers).where(_c.id == sa.bindparam("_id"))


def _unchanged(conn: Connection, row: Row[Any], digest: str) -> bool:
    """Does the stored customer hash to `digest`? A write-back left its hash empty: then it is
    computed from the stored document, and kept, so this happens once per write-back."""
    if row.content_hash is not None:
        return bool(row.content_hash == digest)
    full = conn.execute(sa.select(customers).where(_c.id == row.id)).mappings().one()
    (doc,) = documents(conn, [full])
    try:
        stored = codec.content_hash(codec.canonical(doc))
    except InputError:  # stored under older rules: the incoming document replaces it
        return False
    conn.execute(_UPDATE_BY_ID, {"content_hash": stored, "_id": row.id})
    return stored == digest


def count(conn: Connection, tenant: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(customers).where(_c.tenant == tenant)).scalar_one()
