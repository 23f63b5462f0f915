"""The command line: preview (JSON, secrets redacted), test (closes with N passed, N failed), docs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

API_KEY = "k3y-5ecret-4242"
PASSWORD = "pw-5ecret-9999"

SECRET_SPEC = """\
version: 1
name: secret-flow
settings:
  ApiKey: {type: string, secret: true}
  Password: {type: string, secret: true}
  NewCustomerType: {type: string, default: Klant}
connections:
  erp:
    kind: http
    base_url: "https://erp.example/api"
    headers: {X-Api-Key: "{{ settings.ApiKey }}"}
    auth: {kind: query, name: key, value: "{{ settings.ApiKey }}"}
  ftp:
    kind: files
    url: "ftp://ftp.example"
    username: app
    password: "{{ settings.Password }}"
steps:
  - id: payload
    kind: map
    fields:
      name: {from: input.CustomerName, max_length: 10}
      type: settings.NewCustomerType
  - id: create
    kind: send
    connection: erp
    method: POST
    path: /customers
    headers: {Authorization: "Bearer {{ settings.ApiKey }}"}
    json: payload
    outcomes:
      - when: "response.status == `401`"
        error: "refused key {{ settings.ApiKey }}"
    example: {status: 201, json: {id: 7}}
  - id: login
    kind: send
    connection: erp
    method: POST
    path: /login
    form: "{user: 'app', password: settings.Password}"
    example: {status: 200, json: {}}
  - id: upload
    kind: send
    connection: ftp
    path: "{{ input.CustomerCode }}.txt"
    body: "join(';', [input.CustomerCode, settings.Password])"
result: "created {{ create.body.id }} with {{ settings.ApiKey }}"
"""


@pytest.fixture
def secret_files(write: Callable[..., Path]) -> tuple[Path, Path, Path]:
    spec = write("secret.yaml", SECRET_SPEC)
    record = write("input.json", json.dumps({"CustomerName": "Bakkerij de Gouden Korenaar", "CustomerCode": "0042"}))
    settings = write("settings.yaml", f"ApiKey: env:SB_TEST_API_KEY\nPassword: {PASSWORD}\n")
    return spec, record, settings


def test_preview_prints_requests_and_result_with_secrets_redacted(
        run_cli: Callable[..., Result], secret_files: tuple[Path, Path, Path]) -> None:
    spec, record, settings = secret_files
    result = run_cli("preview", str(spec), "--input", str(record), "--settings", str(settings),
                     env={"SB_TEST_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    for secret in (API_KEY, PASSWORD):
        assert secret not in result.stdout
        assert secret not in result.stderr
    shown = json.loads(result.stdout)
    assert list(shown) == ["requests", "result"]
    assert shown["result"] == "created 7 with ***"
    assert shown["requests"] == [
        {"transport": "http", "connection": "erp", "method": "POST", "path": "/customers",
         "headers": {"Authorization": "Bearer ***"}, "json": {"name": "Bakkerij d", "type": "Klant"}},
        {"transport": "http", "connection": "erp", "method": "POST", "path": "/login",
         "form": {"user": "app", "password": "***"}},
        {"transport": "files", "connection": "ftp", "path": "0042.txt", "content": "0042;***"},
    ]


def test_preview_error_is_one_line_without_secrets(run_cli: Callable[..., Result], write: Callable[..., Path],
                                                   secret_files: tuple[Path, Path, Path]) -> None:
    spec, record, settings = secret_files
    text = SECRET_SPEC.replace("example: {status: 201, json: {id: 7}}", "example: {status: 401, json: {}}")
    broken = write("refused.yaml", text)
    result = run_cli("preview", str(broken), "--input", str(record), "--settings", str(settings),
                     env={"SB_TEST_API_KEY": API_KEY})
    assert result.exit_code == 1
    assert result.stderr == "error: refused key ***\n"
    assert API_KEY not in result.output and "Traceback" not in result.output


SECRET_IN = {
    "path": ("path: /customers\n", 'path: "/customers/{{ settings.ApiKey }}"\n'),
    "params": ("json: payload", "json: payload\n    params: {k: \"{{ settings.ApiKey }}\"}"),
    "json": ("      type: settings.NewCustomerType", "      type: settings.NewCustomerType\n"
                                                        "      token: {template: \"{{ settings.ApiKey }}\"}"),
}


@pytest.mark.parametrize("where", SECRET_IN)
def test_preview_redacts_secrets_everywhere(where: str, run_cli: Callable[..., Result], write: Callable[..., Path],
                                            secret_files: tuple[Path, Path, Path]) -> None:
    _, record, settings = secret_files
    old, new = SECRET_IN[where]
    assert old in SECRET_SPEC
    spec = write(f"leak-{where}.yaml", SECRET_SPEC.replace(old, new, 1))
    result = run_cli("preview", str(spec), "--input", str(record), "--settings", str(settings),
                     env={"SB_TEST_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output


def test_preview_explain_redacts_secrets(run_cli: Callable[..., Result], write: Callable[..., Path],
                                         secret_files: tuple[Path, Path, Path]) -> None:
    _, record, settings = secret_files
    spec = write("explain.yaml", SECRET_SPEC.replace(*SECRET_IN["json"]).replace(
        "json: payload", "json: \"{name: payload.name}\""))
    result = run_cli("preview", str(spec), "--input", str(record), "--settings", str(settings), "--explain",
                     env={"SB_TEST_API_KEY": API_KEY})
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output


FIXTURE_SPEC = """\
version: 1
name: fixture-flow
settings:
  NewCustomerType: {type: string, default: Klant}
connections:
  erp: {kind: http, base_url: "https://erp.example"}
steps:
  - id: payload
    kind: map
    fields:
      name: {from: input.CustomerName, max_length: 10}
      type: settings.NewCustomerType
      phone: {from: input.Phone, omit_empty: true}
  - id: create
    kind: send
    connection: erp
    method: POST
    path: /customers
    json: payload
    example: {status: 201, json: {code: "000042"}}
result: "SUCCESS:{{ create.body.code }}"
tests:
  - name: truncates the name
    input: {CustomerName: Bakkerij de Gouden Korenaar}
    expect:
      result: "SUCCESS:000042"
      requests: [{method: POST, json: {name: Bakkerij d, type: Klant, phone: "<absent>"}}]
  - name: uses the setting
    input: {CustomerName: Acme, Phone: "0123"}
    settings: {NewCustomerType: Prospect}
    expect:
      outputs: {payload: {type: Prospect, phone: "0123"}}
  - name: a wrong expectation
    input: {CustomerName: Acme}
    responses:
      create: [{status: 201, json: {code: "000043"}}]
    expect:
      result: "SUCCESS:000042"
"""


def test_test_command_closes_with_counts(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    spec = write("fixtures.yaml", FIXTURE_SPEC)
    result = run_cli("test", str(spec))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stdout.splitlines() == [
        f"FAIL {spec}: a wrong expectation",
        "    result: expected 'SUCCESS:000042', got 'SUCCESS:000043'",
        "2 passed, 1 failed",
    ]


def test_test_command_all_passing(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    text = FIXTURE_SPEC[: FIXTURE_SPEC.index("  - name: a wrong expectation")]
    spec = write("fixtures.yaml", text)
    result = run_cli("test", "-v", str(spec))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"PASS {spec}: truncates the name",
        f"PASS {spec}: uses the setting",
        "2 passed, 0 failed",
    ]


def test_test_command_reports_a_broken_spec(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    spec = write("broken.yaml", "version: 1\nname: b\nsteps:\n  - id: m\n    kind: map\n    fields: {a: nope.x}\n")
    result = run_cli("test", str(spec))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "0 passed, 1 failed"
    assert result.stdout.startswith(f"{spec}:6:17: unknown name 'nope'")


def test_docs_prints_the_mapping_table(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    spec = write("fixtures.yaml", FIXTURE_SPEC.replace(
        "      phone: {from: input.Phone, omit_empty: true}",
        "      phone: {from: input.Phone, omit_empty: true, notes: Mobile number is not sent}\n"
        "      code: {from: input.CustomerCode, required: true, default: NEW}\n"
        "      lang: {from: input.LanguageCode, values: {NL: nl-NL}, when: input.LanguageCode}"))
    result = run_cli("docs", str(spec))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# fixture-flow"
    table = lines[lines.index("## Mapping table: payload"):]
    assert table[2:9] == [
        "| Target field | Source | Logic / notes | Max length | Required | Default |",
        "|---|---|---|---|---|---|",
        "| name | `input.CustomerName` |  | 10 |  |  |",
        "| type | `settings.NewCustomerType` |  |  |  |  |",
        "| phone | `input.Phone` | Left out when empty. Mobile number is not sent |  |  |  |",
        '| code | `input.CustomerCode` |  |  | yes | "NEW" |',
        "| lang | `input.LanguageCode` | Only when `input.LanguageCode`. Value table: NL → nl-NL. |  |  |  |",
    ]
    assert "| NewCustomerType | string | \"Klant\" |  |" in lines
    assert "2. **create** (send): POST `/customers` on `erp`." in lines


def test_docs_never_shows_a_secret_default(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    spec = write("secret-default.yaml", "version: 1\nname: s\nsettings:\n"
                 f"  Token: {{type: string, secret: true, default: {API_KEY}}}\n"
                 "steps:\n  - id: m\n    kind: map\n    fields: {a: input.a}\n")
    result = run_cli("docs", str(spec))
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output
    assert "| Token | string |  | Secret. |" in result.stdout.splitlines()


def test_help_lists_each_command_once_even_after_one_was_loaded() -> None:
    import click
    from click.testing import CliRunner

    from engine.cli import LAZY_COMMANDS, cli

    assert cli.get_command(click.Context(cli), "store") is not None  # loaded now: in both lists
    section = CliRunner().invoke(cli, ["--help"]).output.split("Commands:")[1]
    names = [line.split()[0] for line in section.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert len(names) == len(set(names)) and {*LAZY_COMMANDS, "validate", "run"} <= set(names), names


REP_SPEC = """\
version: 1
name: rep-flow
steps:
  - id: rep
    kind: lookup
    table: sales_reps
    where: {Username: user}
    required: true
    error: "no sales rep {{ user }}"
  - id: out
    kind: map
    fields:
      rep: rep.ResIdString
result: "{{ tenant }} {{ user }} {{ out.rep }}"
"""


def test_replay_runs_one_tenants_dead_letters_each_as_its_own_user(
        run_cli: Callable[..., Result], write: Callable[[str, str], Path], tmp_path: Path) -> None:
    import engine

    spec = write("rep.yaml", REP_SPEC)
    settings = write("settings.json", "{}")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    plan = engine.load_spec(spec)
    with engine.open_store(url) as store:
        for tenant, user in (("acme", "ann"), ("acme", "bob"), ("zeta", "ann")):
            with pytest.raises(engine.SpecbridgeError, match=f"no sales rep {user}"):
                plan.run({"n": 1}, store=store, tenant=tenant, user=user)
        assert sorted((d.tenant, d.user) for d in store.dead_letters("rep-flow")) == [
            ("acme", "ann"), ("acme", "bob"), ("zeta", "ann")]
        store.import_document({"sales_reps": [{"Username": "ann", "ResIdString": "R-ann"},
                                              {"Username": "bob", "ResIdString": "R-bob"}]}, tenant="acme")
    result = run_cli("replay", str(spec), "--settings", str(settings), "--store", url, "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert "acme ann R-ann" in result.output and "acme bob R-bob" in result.output
    assert "2 replayed, 0 still failing" in result.output
    with engine.open_store(url) as store:  # zeta's letter waits for zeta's own replay
        assert [(d.tenant, d.user) for d in store.dead_letters("rep-flow")] == [("zeta", "ann")]
