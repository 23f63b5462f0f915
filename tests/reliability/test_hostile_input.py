"""Hostile input: XML bombs and external entities, file names that try to leave the target folder,
Jinja sandbox escapes in a spec, and expressions, templates and inputs too big or too slow.

Every refusal must be a clear SpecbridgeError (a located SpecError for a spec, an InputError or
FlowError for a record) with nothing sent, nothing written outside its place and no code run.
Where the engine does not bound something, the test is a strict xfail naming the bug.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ACCOUNTVIEW, FTP_PASSWORD, FTP_USER, MONITOR, REPO, SPECTER, specbridge, tree
from reliability_helpers import SpecterHarness, preview_settings

import engine
from engine.errors import FlowError, InputError, SpecbridgeError, SpecError, SpecErrors
from engine.inputs import MAX_INPUT_BYTES
from engine.store import open_store
from simulators.faults import Fault
from simulators.servers import http_server

# --- XML: entities, DTDs, external references --------------------------------------------------------

BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10))
                  + ']><NewCustomers><Customer><customerGuid>&lol9;</customerGuid></Customer></NewCustomers>')
EXTERNAL_FILE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                 "<NewCustomers><Customer><customerGuid>&xxe;</customerGuid></Customer></NewCustomers>")
PARAMETER = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
             "<NewCustomers><Customer><customerGuid>g</customerGuid></Customer></NewCustomers>")
PLAIN_DTD = ('<?xml version="1.0"?><!DOCTYPE NewCustomers [<!ELEMENT NewCustomers ANY>]>'
             "<NewCustomers><Customer><customerGuid>g</customerGuid></Customer></NewCustomers>")


def external_dtd(url: str) -> str:
    return (f'<?xml version="1.0"?><!DOCTYPE NewCustomers SYSTEM "{url}/evil.dtd">'
            "<NewCustomers><Customer><customerGuid>g</customerGuid></Customer></NewCustomers>")


@pytest.fixture
def listener() -> Any:
    """An HTTP server that records whether anything ever asked it for a DTD."""
    with http_server(lambda m, p, h, b: (200, {}, '<!ENTITY x "pwned">')) as server:
        yield server


@pytest.mark.parametrize("spec", [MONITOR, ACCOUNTVIEW], ids=["monitor", "accountview"])
@pytest.mark.parametrize("name", ["billion_laughs", "external_file", "parameter_entity", "plain_dtd",
                                  "external_dtd"])
def test_xml_with_a_dtd_or_entities_is_refused(spec: Path, name: str, listener: Any) -> None:
    xml = {"billion_laughs": BILLION_LAUGHS, "external_file": EXTERNAL_FILE, "parameter_entity": PARAMETER,
           "plain_dtd": PLAIN_DTD, "external_dtd": external_dtd(listener.url)}[name]
    plan = engine.load_spec(spec)
    with pytest.raises(InputError) as caught:
        plan.preview(xml.encode(), settings=preview_settings(spec))
    assert "XML refused" in str(caught.value) and "DTD" in str(caught.value)
    assert listener.requests == []  # nothing fetched the external DTD
    assert "root:" not in str(caught.value)  # /etc/passwd was not read into the message


def test_xinclude_is_not_processed() -> None:
    xml = ('<NewCustomers xmlns:xi="http://www.w3.org/2001/XInclude"><Customer><customerGuid>g</customerGuid>'
           '<xi:include href="file:///etc/passwd" parse="text"/></Customer></NewCustomers>')
    plan = engine.load_spec(MONITOR)
    store_error = None
    try:
        result = plan.preview(xml, settings=preview_settings(MONITOR))
    except SpecbridgeError as exc:
        store_error = exc
    text = str(store_error) if store_error else json.dumps(result.as_dict())
    assert "root:x:0:0" not in text


def test_a_run_with_an_entity_bomb_exits_1_with_one_line_and_sends_nothing(store_url: str, seed: Any, ftp: Any,
                                                                          server_root: Path, tmp_path: Path) -> None:
    seed({"customers": [{"CustomerGuid": "g", "CustomerCode": "C1", "CustomerName": "A"}]})
    (tmp_path / "bomb.xml").write_text(BILLION_LAUGHS)
    (tmp_path / "s.json").write_text(json.dumps({"FtpServerAddress": ftp.url, "Username": FTP_USER,
                                                 "Password": FTP_PASSWORD}))
    out = specbridge("run", str(MONITOR), "--input", str(tmp_path / "bomb.xml"), "--settings",
                     str(tmp_path / "s.json"), "--store", store_url, subprocess_=True)
    assert out.exit_code == 1, out
    assert out.stderr.strip().splitlines() == ["error: input XML refused: EntitiesForbidden (DTDs and entities are "
                                               "not allowed)"] or "XML refused" in out.stderr, out
    assert "Traceback" not in out.output
    assert tree(server_root) == ["customers"]


def test_an_entity_bomb_in_an_erp_answer_is_not_expanded(specter: Any, specter_settings: dict[str, Any],
                                                        store_url: str) -> None:
    store = open_store(store_url)
    try:
        h = SpecterHarness("specter", SPECTER, specter_settings, store, specter.sim)
        _, record = h.new_customer(1)
        specter.sim.faults.append(Fault("status", 200, body=BILLION_LAUGHS.replace("NewCustomers", "APIresponse"),
                                        method="POST"))
        with pytest.raises(FlowError) as caught:
            h.run(record)
        message = str(caught.value)
        assert "lollol" not in message and len(message) < 2000, message  # the entities were never expanded
        assert store.get_customer(guid="g-sp-0001")["CustomerCode"] == ""
    finally:
        store.close()


# --- file names from data: the Monitor target folder ---------------------------------------------------

HOSTILE_CODES = ["../../etc/passwd", "../outside", "..", ".", "a/b", "/etc/passwd", "/customers/../x",
                 "a\\b", "..\\..\\x", "C:\\Windows\\evil", "x\x00y", "x\r\nDELE y", "x\ny", "x\ry", "\t",
                 "customers/../../x"]
CLEAR = ("unsafe", "cannot be a file name", "no CustomerCode", "path separator", "control character")


@pytest.mark.parametrize("protocol", ["ftp", "sftp"])
def test_a_hostile_customer_code_never_leaves_the_target_folder(request: pytest.FixtureRequest, protocol: str,
                                                                store_url: str, server_root: Path,
                                                                tmp_path: Path) -> None:
    server = request.getfixturevalue(protocol)
    store = open_store(store_url)
    outside_before = sorted(str(p) for p in tmp_path.parent.rglob("*") if "app4sales.db" not in p.name)
    plan = engine.load_spec(MONITOR)
    settings = {"FtpServerAddress": server.url, "Username": FTP_USER, "Password": FTP_PASSWORD,
                "KnownHostsFile": getattr(server, "known_hosts", "")}
    problems = []
    try:
        for n, code in enumerate(HOSTILE_CODES):
            guid = f"g-hostile-{n}"
            store.import_document({"customers": [{"CustomerGuid": guid, "CustomerCode": code, "CustomerName": "H"}]})
            xml = f"<NewCustomers><Customer><customerGuid>{guid}</customerGuid></Customer></NewCustomers>"
            try:
                plan.run(xml, settings=settings, store=store)
                problems.append(f"{code!r}: uploaded")
            except SpecbridgeError as exc:
                message = str(exc)
                if not any(word in message for word in CLEAR):
                    problems.append(f"{code!r}: unclear error {message!r}")
                if FTP_PASSWORD in message:
                    problems.append(f"{code!r}: the password is in the error")
    finally:
        store.close()
    assert problems == []
    assert tree(server_root) == ["customers"]  # nothing uploaded, no temporary file
    outside_after = sorted(str(p) for p in tmp_path.parent.rglob("*") if "app4sales.db" not in p.name)
    assert outside_after == outside_before


def test_a_hostile_target_folder_is_refused(ftp: Any, server_root: Path, seed: Any, store_url: str) -> None:
    seed({"customers": [{"CustomerGuid": "g", "CustomerCode": "C1", "CustomerName": "H"}]})
    store = open_store(store_url)
    try:
        for folder in ("/customers/../../", "../x", "/a\\b", "/x\r\nDELE y"):
            with pytest.raises(SpecbridgeError) as caught:
                engine.load_spec(MONITOR).run(
                    "<NewCustomers><Customer><customerGuid>g</customerGuid></Customer></NewCustomers>",
                    settings={"FtpServerAddress": ftp.url, "Username": FTP_USER, "Password": FTP_PASSWORD,
                              "TargetFolder": folder}, store=store)
            assert "unsafe" in str(caught.value), caught.value
    finally:
        store.close()
    assert tree(server_root) == ["customers"]


# --- Jinja sandbox escapes in a spec template ------------------------------------------------------------

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "{{ ''|attr('__class__') }}",
    "{{ (''|attr('__class__')|attr('__mro__'))[1] }}",
    "{{ input|attr('__class__')|attr('__init__')|attr('__globals__') }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '{a.__class__.__mro__}'.format_map(input) }}",
    "{{ input.__class__.__init__.__globals__ }}",
    "{{ settings.__class__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ config.__class__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ input.update({'a': 1}) }}",
    "{{ [].append(1) }}",
    "{{ range(10**9)|list }}",
]


def _template_spec(template: str) -> str:
    return textwrap.dedent("""\
        version: 1
        name: escape
        steps:
          - id: out
            kind: map
            fields:
              f: {template: %s}
        """) % json.dumps(template)


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escape_attempts_fail_clearly_and_run_nothing(template: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        plan = engine.compile_text(_template_spec(template), "escape.yaml")
    except SpecErrors as exc:
        assert all(e.location is not None for e in exc), exc.render()
        outcome = exc.render()
    else:
        with pytest.raises(FlowError) as caught:
            plan.preview({"a": "x"})
        outcome = str(caught.value)
        assert any(word in outcome for word in ("sandbox", "undefined", "unsafe", "failed", "not allowed")), outcome
    assert not (tmp_path / "MARKER").exists()
    for leak in ("<class", "__globals__':", "builtins", "<built-in", "subprocess"):
        assert leak not in outcome, outcome


def test_sandbox_escapes_through_the_cli_preview_give_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "escape.yaml"
    spec.write_text(_template_spec("{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}"))
    (tmp_path / "in.json").write_text("{}")
    out = specbridge("preview", str(spec), "--input", str(tmp_path / "in.json"))
    assert out.exit_code == 1 and out.stderr.startswith("error: "), out
    assert not (tmp_path / "MARKER").exists() and not (REPO / "MARKER").exists()


# --- size and time bounds ---------------------------------------------------------------------------------

def _map_spec(rule: str, extra: str = "") -> str:
    return f"version: 1\nname: bounds\n{extra}steps:\n  - id: out\n    kind: map\n    fields:\n      f: {rule}\n"


@pytest.mark.parametrize(("rule", "words"), [
    (json.dumps("input.a || " * 500 + "input.b"), "longer than"),
    (json.dumps("(" * 1500 + "input.a" + ")" * 1500), "nests too deeply"),
    ("{template: " + json.dumps("{{ input.a }}" * 2000) + "}", "longer than"),
    (json.dumps("input." + ".".join(["a"] * 2500)), "longer than"),
], ids=["long_expression", "deep_expression", "long_template", "long_path"])
def test_a_huge_expression_is_refused_at_load_with_its_location(rule: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        engine.compile_text(_map_spec(rule), "huge.yaml")
    errors = list(caught.value) if isinstance(caught.value, SpecErrors) else [caught.value]
    assert any(words in e.message for e in errors), caught.value.render()
    assert all(e.location is not None and e.location.line == 7 for e in errors), caught.value.render()


def test_a_template_rendering_too_much_is_stopped() -> None:
    plan = engine.compile_text(_map_spec("{template: \"{{ input.s * 300000 }}\"}"), "big.yaml")
    with pytest.raises(FlowError, match="more than|exceed"):
        plan.preview({"s": "abcd"})


@pytest.mark.parametrize("spec", [SPECTER, MONITOR], ids=["json", "xml"])
def test_a_huge_input_is_refused_with_the_limit(spec: Path, tmp_path: Path) -> None:
    big = b"<x>" + b"a" * (MAX_INPUT_BYTES + 10) + b"</x>" if spec == MONITOR else \
        b'{"CustomerName": "' + b"a" * (MAX_INPUT_BYTES + 10) + b'"}'
    with pytest.raises(InputError, match=f"more than the limit of {MAX_INPUT_BYTES}"):
        engine.load_spec(spec).preview(big, settings=preview_settings(spec))
    path = tmp_path / "big.in"
    path.write_bytes(big)
    (tmp_path / "s.json").write_text(json.dumps(preview_settings(spec)))
    out = specbridge("preview", str(spec), "--input", str(path), "--settings", str(tmp_path / "s.json"))
    assert out.exit_code == 1 and "more than the limit" in out.stderr and "Traceback" not in out.output


def test_deeply_nested_json_input_is_a_clear_input_error() -> None:
    with pytest.raises(InputError, match="not valid JSON"):
        engine.load_spec(SPECTER).preview(b"[" * 100_000 + b"]" * 100_000, settings=preview_settings(SPECTER))


DEEP_XML = ("<NewCustomers>" + "<a>" * 50_000 + "</a>" * 50_000 + "</NewCustomers>").encode()


@pytest.mark.parametrize("spec", [MONITOR, ACCOUNTVIEW], ids=["monitor", "accountview"])
def test_deeply_nested_xml_input_is_a_clear_input_error(spec: Path) -> None:
    with pytest.raises(InputError):
        engine.load_spec(spec).preview(DEEP_XML, settings=preview_settings(spec))


def _bounded(code: str, seconds: float) -> subprocess.CompletedProcess[str] | None:
    """Run `code` in a fresh interpreter with 2 GB of address space; None if it ran out of time."""
    wrapper = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))\n"
               + textwrap.dedent(code))
    try:
        return subprocess.run([sys.executable, "-c", wrapper], cwd=REPO, capture_output=True, text=True,
                              timeout=seconds, check=False)
    except subprocess.TimeoutExpired:
        return None


def _assert_clear_refusal(done: subprocess.CompletedProcess[str] | None, seconds: float) -> None:
    assert done is not None, f"still running after {seconds} s: evaluation time is not bounded"
    assert done.returncode == 0 and done.stdout.startswith("refused:"), done.stdout + done.stderr


def test_a_template_that_loops_forever_is_stopped() -> None:
    done = _bounded("""
        import engine
        rule = '{template: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"}'
        try:
            engine.compile_text("version: 1\\nname: p\\nsteps:\\n  - id: o\\n    kind: map\\n    fields:\\n"
                                "      f: " + rule + "\\n").preview({})
            print("ran")
        except engine.SpecbridgeError as exc:
            print("refused:", exc)
        """, 6)
    _assert_clear_refusal(done, 6)


def test_a_template_that_multiplies_a_string_by_a_huge_number_is_refused() -> None:
    done = _bounded("""
        import engine
        plan = engine.compile_text("version: 1\\nname: p\\nsteps:\\n  - id: o\\n    kind: map\\n    fields:\\n"
                                   "      f: {template: \\"{{ 'x' * input.n }}\\"}\\n")
        try:
            plan.preview({"n": 10**10})
            print("ran")
        except engine.SpecbridgeError as exc:
            print("refused:", exc)
        """, 30)
    _assert_clear_refusal(done, 30)


def test_a_yaml_alias_bomb_in_a_spec_is_refused_quickly() -> None:
    done = _bounded("""
        import engine
        lines = ["version: 1", "name: p", "x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
        for i in range(1, 9):
            lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i-1}"] * 10) + "]")
        lines += ["steps:", "  - id: out", "    kind: map", "    fields:", "      f: {value: *x8}"]
        try:
            engine.compile_text("\\n".join(lines) + "\\n")
            print("ran")
        except engine.SpecbridgeError as exc:
            print("refused:", str(exc)[:200])
        """, 6)
    _assert_clear_refusal(done, 6)


# --- a refused record is still kept -------------------------------------------------------------------------

@pytest.mark.parametrize("record", [{"CustomerGuid": "g-bad", "CustomerName": 5}, b'{"CustomerGuid": "g-bad",'],
                         ids=["fails_the_input_schema", "not_json"])
def test_a_record_refused_as_input_is_a_dead_letter(record: Any, store_url: str) -> None:
    store = open_store(store_url)
    try:
        plan = engine.load_spec(SPECTER)
        with pytest.raises(InputError):
            plan.run(record, settings={**preview_settings(SPECTER), "BaseUrl": "http://127.0.0.1:9"}, store=store)
        assert [letter.flow for letter in store.dead_letters()] == [plan.name]
    finally:
        store.close()
