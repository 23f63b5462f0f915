"""`specbridge store ...`: seed, dump and inspect the App4Sales store from the command line.

    specbridge store import FILE [--store URL] [--tenant T]
    specbridge store export [--store URL] [--tenant T]            JSON document on stdout
    specbridge store show customer CODE_OR_GUID [--store URL] [--tenant T]

The store URL defaults to $SPECBRIDGE_STORE, else sqlite:///specbridge.db. Every failure is one
line on stderr ("error: ...") and exit status 1, never a traceback. The main command line adds
this group with `cli.add_command(store)`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.errors import SpecbridgeError, StoreError
from engine.store import DEFAULT_URL, Store, open_store

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpecbridgeError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


store_option = click.option(
    "--store", "url", envvar="SPECBRIDGE_STORE", default=DEFAULT_URL, show_default=True,
    help="Store URL: sqlite:///FILE or postgresql://... (env SPECBRIDGE_STORE).",
)
tenant_option = click.option("--tenant", default="default", show_default=True, help="Whose data.")


@contextmanager
def _opened(url: str, *, must_exist: bool) -> Iterator[Store]:
    # Reading commands never create a database file as a side effect of a typo in the URL.
    from engine.store.connect import is_memory, parse_url, safe_url  # SQLAlchemy: only when used
    parsed = parse_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and not is_memory(parsed)
    if must_exist and sqlite_file and not Path(parsed.database or "").exists():
        raise StoreError(f"no store at {safe_url(url)} (create one with `specbridge store import FILE`)")
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.group()
def store() -> None:
    """Seed, export and inspect the App4Sales store."""


@store.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@tenant_option
@_one_line_errors
def import_(file: Path, url: str, tenant: str) -> None:
    """Load FILE, a JSON document {"customers", "sales_reps", "price_lists", "countries"}.

    Rows are matched by their keys and updated, others added; a document with any invalid
    record is refused whole.
    """
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise SpecbridgeError(f"cannot read {file}: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpecbridgeError(f"{file}: not a JSON document ({e})") from None
    with _opened(url, must_exist=False) as opened:
        counts = opened.import_document(document, tenant=tenant)
    summary = ", ".join(f"{n} {section}" for section, n in counts.items())
    from engine.store.connect import safe_url
    click.echo(f"imported {summary} into {safe_url(url)} (tenant {tenant})")


@store.command()
@store_option
@tenant_option
@_one_line_errors
def export(url: str, tenant: str) -> None:
    """Print the tenant's data as a JSON document that `store import` reads back."""
    with _opened(url, must_exist=True) as opened:
        _echo_json(opened.export_document(tenant))


@store.group()
def show() -> None:
    """Print one record as JSON."""


@show.command("customer")
@click.argument("code_or_guid")
@store_option
@tenant_option
@_one_line_errors
def show_customer(code_or_guid: str, url: str, tenant: str) -> None:
    """Print the customer whose CustomerGuid or CustomerCode is CODE_OR_GUID."""
    with _opened(url, must_exist=True) as opened:
        found = (opened.get_customer(tenant, guid=code_or_guid)
                 or opened.get_customer(tenant, code=code_or_guid))
    if found is None:
        from engine.store.connect import safe_url
        raise StoreError(f"no customer with code or GUID {code_or_guid!r} in tenant {tenant} of {safe_url(url)}")
    _echo_json(found)
