"""Exact text of the errors `specbridge validate` prints: one `FILE:LINE:COL: message` line per
mistake, at the right place, every mistake at once, exit code 1, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

ROOT = Path(__file__).resolve().parents[2]

JMES_HINT = "(hint: text literals are 'quoted', JSON literals `backquoted`)"
JINJA_HINT = "(hint: check that every {{ has its }} and every {% if %} its {% endif %})"
NAMES_HINT = "a step can only use earlier steps)"

FOUR_MISTAKES = """\
version: 1
name: broken
steps:
  - id: payload
    kind: map
    fields:
      Name: {from: input.CustomerName, max_lenght: 50}
      Code: {from: input.CustomerCode input.InternalCode}
      Label: {template: "{{ input.CustomerName "}
      City: {from: input.City, max_length: fifty}
"""

FIVE_REFERENCE_MISTAKES = """\
version: 1
name: broken-references
settings:
  NewCustomerType: {type: string, default: Klant}
connections:
  erp: {kind: http, base_url: "https://erp.example"}
steps:
  - id: payload
    kind: map
    fields:
      Name: {template: "{{ titlecase(input.CustomerName) }}"}
      Type: settings.CustomerType
      Code: created.body.code
      Vat: {value: "0", when: "!input.VatLiable"}
  - id: created
    kind: send
    connection: api
    method: POST
    json: payload
"""


def _failed(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_four_mistakes_four_lines(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("broken.yaml", FOUR_MISTAKES)
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout.splitlines() == [
        f"{path}:7:40: steps[0].fields.Name.max_lenght: unknown key 'max_lenght' (hint: did you mean 'max_length'?)",
        f"{path}:8:39: jmespath syntax error: Unexpected token: input in "
        f"'input.CustomerCode input.InternalCode' {JMES_HINT}",
        f"{path}:9:25: Jinja syntax error: unexpected end of template, expected 'end of print statement'. "
        f"{JINJA_HINT}",
        f'{path}:10:44: steps[0].fields.City.max_length: expected an integer, got "fifty"',
    ]
    assert result.stderr == "0 valid, 1 invalid\n"


def test_reference_mistakes(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("refs.yaml", FIVE_REFERENCE_MISTAKES)
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout.splitlines() == [
        f"{path}:11:24: unknown function 'titlecase()' in template "
        "(hint: see docs/functions.md for the functions available)",
        f"{path}:12:13: unknown setting 'CustomerType' (hint: declare it under settings:)",
        f"{path}:13:13: unknown name 'created' (hint: names available here: input, now, raw, settings, "
        f"tenant, user; {NAMES_HINT}",
        f"{path}:14:32: '!' applies to the first name only in '!input.VatLiable', so the rest always "
        "yields null (hint: write !(a.b) or is_empty(a.b))",
        f"{path}:17:17: unknown connection 'api' (hint: connections: erp)",
    ]


def test_yaml_syntax_error(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("syntax.yaml", "version: 1\nname: x\nsteps:\n  - id: m\n    kind: map\n    fields: {a: input.a\n")
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout == f"{path}:7:1: YAML syntax error: expected ',' or '}}', but got '<stream end>'\n"


def test_colon_in_plain_value(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("colon.yaml", "version: 1\nname: x\ntitle: Klant: nieuw\nsteps: []\n")
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout == (f"{path}:3:13: YAML syntax error: mapping values are not allowed here "
                             "(hint: quote a value that contains ': ')\n")


def test_duplicate_key(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    text = "version: 1\nname: x\nsteps:\n  - id: m\n    kind: map\n    fields:\n      a: input.a\n      a: input.b\n"
    path = write("dup.yaml", text)
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout == (f'{path}:8:7: a key appears twice in the same mapping: found duplicate key "a" '
                             'with value "input.b" (original value: "input.a") '
                             "(hint: remove or rename one of them)\n")


def test_tab_indentation(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    text = "version: 1\nname: x\nsteps:\n  - id: m\n    kind: map\n    fields:\n\t  a: input.a\n"
    path = write("tab.yaml", text)
    result = run_cli("validate", str(path))
    _failed(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:7:1: YAML syntax error: found character '\\t' that cannot start any token")


def test_not_utf8(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("latin1.yaml", b"version: 1\nname: x\nsteps:\n  - id: m\n    kind: map\n    fields:\n"
                                b"      a: {value: \"caf\xe9\"}\n")
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout == f"{path}:7:1: spec is not valid UTF-8 (hint: save the file as UTF-8)\n"


def test_missing_file(run_cli: Callable[..., Result], tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    result = run_cli("validate", str(path))
    _failed(result)
    assert result.stdout == f"{path}:1:1: cannot read spec: No such file or directory\n"


def test_folder_counts_valid_and_invalid(run_cli: Callable[..., Result], write: Callable[..., Path],
                                         tmp_path: Path) -> None:
    write("specs/good.yaml", "version: 1\nname: good\nsteps:\n  - id: m\n    kind: map\n    fields: {a: input.a}\n")
    bad = write("specs/sub/bad.yaml", "version: 1\nname: bad\nsteps: []\n")
    write("specs/notes.yaml", "just: a yaml file that is not a spec\n")
    result = run_cli("validate", str(tmp_path / "specs"))
    _failed(result)
    assert result.stdout == f"{bad}:3:8: steps: [] should be non-empty\n"
    assert result.stderr == "1 valid, 1 invalid\n"


def test_valid_spec_exits_0(run_cli: Callable[..., Result], write: Callable[..., Path]) -> None:
    path = write("good.yaml", "version: 1\nname: good\nsteps:\n  - id: m\n    kind: map\n    fields: {a: input.a}\n")
    result = run_cli("validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "1 valid, 0 invalid\n"


def test_python_dash_m_engine_validate(write: Callable[..., Path]) -> None:
    """The real entry point, in a fresh interpreter: same lines, exit 1, no traceback."""
    path = write("broken.yaml", FOUR_MISTAKES)
    done = subprocess.run([sys.executable, "-m", "engine", "validate", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 4
    assert all(line.startswith(f"{path}:") for line in done.stdout.splitlines())
