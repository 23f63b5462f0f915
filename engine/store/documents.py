"""The store's JSON document ({"customers", "sales_reps", "price_lists", "countries"}) and the
reference tables behind it: validation, import, export and lookups.

An import is checked completely before anything is written, so a bad document changes nothing
and its errors name the record and the field (`customers[3] (CustomerCode 000042)`,
`Addresses[0].Iso2`). Customers are checked against schemas/app4sales/customer.schema.json; the
small reference rows against the schemas below.

Rows come back in the shape they went in: None-valued fields are left out, as for customers,
and a sales rep's extra keys (kept in a JSON column) come back beside Username and ResIdString.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.errors import InputError
from engine.store.codec import CUSTOMER_SCHEMA, describe
from engine.store.tables import cache as cache_table
from engine.store.tables import countries, price_lists, sales_reps

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_TEXT = {"type": ["string", "null"]}
SECTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "customers": CUSTOMER_SCHEMA,
    "sales_reps": {
        "type": "object", "required": ["Username"],
        "properties": {"Username": {"type": "string", "minLength": 1}, "ResIdString": _TEXT},
    },
    "price_lists": {
        "type": "object", "required": ["Index"], "additionalProperties": False,
        "properties": {"Index": {"type": "integer"}, "Code": _TEXT, "Currency": _TEXT, "Name": _TEXT},
    },
    "countries": {
        "type": "object", "required": ["Iso2"], "additionalProperties": False,
        "properties": {"Iso2": {"type": "string", "minLength": 2, "maxLength": 2}, "Name": _TEXT},
    },
}


@cache
def _validator(section: str) -> Any:
    # Imported on first use: jsonschema's format checkers take most of a second to import, and
    # a store that never imports a document (the engine's run path) should not pay for that.
    import jsonschema

    return jsonschema.Draft202012Validator(SECTION_SCHEMAS[section])


def _path(parts: Iterable[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _input_error(error: ValidationError, record: str) -> InputError:
    """A jsonschema error as an InputError whose field is the offending field itself."""
    path = list(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        path.append(sorted(k for k in error.instance if k not in known)[0])
        message = "unknown field"
    elif error.validator == "required" and isinstance(error.instance, Mapping):
        path.append(next(k for k in error.validator_value if k not in error.instance))
        message = "is required"
    return InputError(message, record, _path(path) or None)


def validate_document(document: Any) -> None:
    """Raise InputError for the first problem in an import document (counting the others)."""
    from jsonschema.exceptions import best_match

    if not isinstance(document, Mapping):
        raise InputError(f"the document must be a JSON object, got {type(document).__name__}")
    problems: list[InputError] = []
    for section, records in document.items():
        if section not in SECTION_SCHEMAS:
            problems.append(InputError(f"unknown section (expected one of: {', '.join(SECTION_SCHEMAS)})",
                                       field=section))
        elif records is not None and not isinstance(records, list):
            problems.append(InputError(f"expected a list, got {type(records).__name__}", field=section))
        else:
            for i, record in enumerate(records or []):
                error = best_match(_validator(section).iter_errors(record))
                if error is not None:
                    name = f"{section}[{i}]"
                    if section == "customers" and isinstance(record, Mapping):
                        name += f" ({describe(record)})"
                    problems.append(_input_error(error, name))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise InputError(first.message + more, first.record, first.field)


# --- rows <-> reference records ----------------------------------------------------------------

def _drop_none(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}


def _sales_rep(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**_drop_none({"Username": row["Username"], "ResIdString": row["ResIdString"]}), **row["extra"]}


def _rows(tenant: str, section: str, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_key: dict[Any, dict[str, Any]] = {}  # last one wins, as in a sequence of upserts
    for r in records:
        if section == "sales_reps":
            extra = {k: v for k, v in r.items() if k not in ("Username", "ResIdString")}
            row = {"Username": r["Username"], "ResIdString": r.get("ResIdString"), "extra": extra}
            key = r["Username"]
        elif section == "price_lists":
            row = {"Index": int(r["Index"]), **{k: r.get(k) for k in ("Code", "Currency", "Name")}}
            key = row["Index"]
        else:
            row = {"Iso2": r["Iso2"], "Name": r.get("Name")}
            key = r["Iso2"]
        by_key[key] = {"tenant": tenant, **row}
    return list(by_key.values())


_REFERENCE: dict[str, sa.Table] = {"sales_reps": sales_reps, "price_lists": price_lists, "countries": countries}


def write_reference(conn: Connection, insert: Callable[[sa.Table], Any], tenant: str,
                    document: Mapping[str, Any]) -> dict[str, int]:
    """Upsert the reference sections of a validated document; return rows per section."""
    counts: dict[str, int] = {}
    for section, table in _REFERENCE.items():
        rows = _rows(tenant, section, document.get(section) or [])
        counts[section] = len(rows)
        if not rows:
            continue
        stmt = insert(table)
        key = [c.name for c in table.primary_key]
        stmt = stmt.on_conflict_do_update(
            index_elements=key, set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in key})
        conn.execute(stmt, rows)
    return counts


def read_reference(conn: Connection, tenant: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for section, table in _REFERENCE.items():
        query = sa.select(table).where(table.c.tenant == tenant).order_by(*table.primary_key)
        rows = [{k: v for k, v in r.items() if k != "tenant"} for r in conn.execute(query).mappings()]
        out[section] = [_sales_rep(r) if section == "sales_reps" else _drop_none(r) for r in rows]
    return out


# --- lookups -----------------------------------------------------------------------------------

def _comparable(column: sa.Column[Any], value: Any) -> Any:
    """The value as the column's type, or None when it can never match.

    Lookup keys often come from jmespath over JSON, so a price list index may arrive as "2" and a
    code as 42; comparing those to an INTEGER or TEXT column fails outright on PostgreSQL.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(column.type, sa.Integer):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        return value if isinstance(value, int) else None
    return str(value) if isinstance(value, int | float) else value if isinstance(value, str) else None


def _first(conn: Connection, table: sa.Table, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    conditions = [table.c.tenant == tenant]
    for name, value in where.items():
        column = table.c[name]
        value = _comparable(column, value)
        if value is None:
            return None
        conditions.append(column == value)
    query = sa.select(table).where(*conditions).order_by(*table.primary_key).limit(1)
    row = conn.execute(query).mappings().first()
    return None if row is None else {k: v for k, v in row.items() if k != "tenant"}


def lookup_sales_rep(conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    row = _first(conn, sales_reps, tenant, where)
    return None if row is None else _sales_rep(row)


def lookup_price_list(conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    row = _first(conn, price_lists, tenant, where)
    return None if row is None else _drop_none(row)


def lookup_country(conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    row = _first(conn, countries, tenant, where)
    return None if row is None else _drop_none(row)


def lookup_cache(conn: Connection, tenant: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
    row = _first(conn, cache_table, tenant, {k.lower(): v for k, v in where.items()})  # Namespace -> namespace
    return None if row is None else {"Namespace": row["namespace"], "Key": row["key"], "Value": row["value"]}
