"""`specbridge store import | export | show customer`, through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from store_helpers import customer

from engine.store import open_store
from engine.store.cli import store as store_cli

DOCUMENT = {
    "customers": [customer("000042"), customer("000043", CustomerGuid=None)],
    "sales_reps": [{"Username": "jdoe", "ResIdString": "R-1"}],
    "price_lists": [{"Index": 1, "Code": "0001", "Currency": "EUR"}],
    "countries": [{"Iso2": "NL", "Name": "Nederland"}],
}


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(store_cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def document_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    return path


def test_import_show_export(store_url: str, document_file: Path) -> None:
    result = run("import", str(document_file), "--store", store_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("imported 2 customers, 1 sales_reps, 1 price_lists, 1 countries into ")
    assert result.stdout.rstrip().endswith("(tenant default)")

    shown = run("show", "customer", "000042", "--store", store_url)
    assert shown.exit_code == 0 and json.loads(shown.stdout) == customer("000042")
    by_guid = run("show", "customer", "guid-000042", "--store", store_url)
    assert json.loads(by_guid.stdout)["CustomerCode"] == "000042"

    exported = run("export", "--store", store_url)
    assert exported.exit_code == 0
    assert json.loads(exported.stdout) == DOCUMENT | {"customers": [
        customer("000042"), {k: v for k, v in customer("000043").items() if k != "CustomerGuid"}]}


def test_tenants_and_the_store_from_the_environment(tmp_path: Path, document_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    env = {"SPECBRIDGE_STORE": url}
    assert run("import", str(document_file), "--tenant", "acme", env=env).exit_code == 0
    assert (tmp_path / "env.db").exists()
    assert run("show", "customer", "000042", "--tenant", "acme", env=env).exit_code == 0
    missing = run("show", "customer", "000042", env=env)  # tenant "default" has nobody
    assert missing.exit_code == 1
    with open_store(url) as store:  # type: ignore[attr-defined]
        assert store.count_customers("acme") == 2 and store.count_customers() == 0


def test_show_an_unknown_customer_exits_1_with_one_line(store_url: str, document_file: Path) -> None:
    run("import", str(document_file), "--store", store_url)
    result = run("show", "customer", "999999", "--store", store_url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: no customer with code or GUID '999999' in tenant default of ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(("content", "message"), [
    (None, "error: cannot read {file}: No such file or directory"),
    ("{", "error: {file}: not a JSON document (Expecting property name enclosed in double quotes: "
          "line 1 column 2 (char 1))"),
    ('{"customers": [{"CustomerCode": "000001", "Addresses": [{"AddressType": "HOME"}]}]}',
     "error: record customers[0] (CustomerCode 000001), field Addresses[0].AddressType: "
     "'HOME' is not one of ['DEL', 'VIS']"),
])
def test_import_errors_are_one_line_and_exit_1(tmp_path: Path, content: str | None, message: str) -> None:
    file = tmp_path / "in.json"
    if content is not None:
        file.write_text(content, encoding="utf-8")
    result = run("import", str(file), "--store", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 1
    assert result.stderr == message.format(file=file) + "\n"


def test_reading_commands_do_not_create_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (["export"], ["show", "customer", "1"]):
        result = run(*args, "--store", url)
        assert result.exit_code == 1
        assert result.stderr == f"error: no store at {url} (create one with `specbridge store import FILE`)\n"
    assert not (tmp_path / "typo.db").exists()


def test_a_bad_store_url_is_one_line(tmp_path: Path, document_file: Path) -> None:
    result = run("import", str(document_file), "--store", "postgresql://u:secret@127.0.0.1:1/db")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: store postgresql://u:***@127.0.0.1:1/db: ")
    assert "secret" not in result.stderr and result.stderr.count("\n") == 1


def test_the_main_command_line_has_the_store_group() -> None:
    main: Any = pytest.importorskip("engine.cli")
    assert main.cli.get_command(click.Context(main.cli), "store") is store_cli
