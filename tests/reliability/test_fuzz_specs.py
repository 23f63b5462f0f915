"""Hypothesis: the real specs, mutated, load to a Plan or to located SpecErrors; nothing else.

Every seed spec under mappings/ (four outbound, one inbound) is taken as text and mutated the
way a consultant's editor or a bad merge would: lines deleted, duplicated, swapped or
re-indented, values changed, keys and expressions injected (unknown keys, unknown names, broken
jmespath and Jinja, sandbox escapes, YAML anchors, tags and flow collections). Loading the result
must either compile or raise SpecError/SpecErrors whose every error has a file:line:col; any
other exception (a traceback for the consultant) is a bug.
"""

from __future__ import annotations

import re
from pathlib import Path

from e2e_helpers import MAPPINGS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from engine.errors import SpecError, SpecErrors

SPECS = {path.relative_to(MAPPINGS).as_posix(): path.read_text(encoding="utf-8")
         for path in sorted(MAPPINGS.rglob("*.yaml"))}
EXAMPLES = 700

VALUES = [
    "", "null", "~", "[]", "{}", "0", "-1", "1e999", "true", "no", "0123", "'", '"', "'unclosed", "{a: [",
    "[1, 2", "|", ">-", "&a x", "*a", "*nope", "!!python/object:os.system ls", "!!binary AAAA", "!include x",
    "<<: *nope", "%", "@x", "`", "\t", "input.[", "input.A[?", "!a.b", "a || ", "&foo", "settings.Nope",
    "nope.x", "unknown_function(input.A)", "md5()", "to_string(`1`, `2`)", "input.a.b.c[0][1]", "@.x",
    "{{ x", "{{ x }}", "{% if %}", "{% for x in y %}", "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}", "{{ x|attr('__class__') }}", "{{ '{0.__class__}'.format(1) }}",
    "{{ settings.Nope }}", "{{ lipsum.__globals__ }}", "{{ range(10**9)|list }}", "x" * 5000,
    "input." + "a." * 3000 + "b", "{{ " + "x ~ " * 2000 + "x }}", "\u202e\u0000\x7f", "ünïcødé ✓",
    "kind: send", "kind: nope", "- id: x", "id: customer", "version: 2", "direction: sideways",
    "type: integer", "type: nope", "max_length: -5", "max_length: abc", "required: maybe",
    "method: BREW", "connection: nowhere", "json: [", "outcomes: 5", "detect: {}", "when: input.[",
    "retry: {attempts: -1}", "timeout: forever", "auth: {kind: nope}", "fields: {}", "steps: []",
]
KEYS = ["id", "kind", "fields", "from", "template", "value", "coalesce", "cases", "when", "unless",
        "values", "default", "default_from", "type", "max_length", "required", "let", "table", "where",
        "select", "connection", "method", "path", "json", "form", "body", "outcomes", "detect", "found",
        "as", "example", "sequence", "start", "key", "set", "auth", "retry", "headers", "timeout",
        "base_url", "url", "settings", "steps", "result", "tests", "input", "force_list", "schema",
        "secret", "params", "index_by", "once", "x_unknown", "Naam", "0", "__class__", "<<"]

_KEYED = re.compile(r"^(\s*(?:- )?[^:#\s][^:#]*:)(\s.*)?$")


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SPECS)))
    lines = SPECS[name].split("\n")
    value = st.one_of(st.sampled_from(VALUES), st.text(max_size=30), st.integers().map(str))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "dedent", "value", "key",
                                   "line", "truncate", "block"]))
        if not lines:
            lines = [""]
        line = lines[at]
        indent = line[: len(line) - len(line.lstrip())]
        if op == "delete":
            del lines[at]
        elif op == "duplicate":
            lines.insert(at, line)
        elif op == "swap" and at + 1 < len(lines):
            lines[at], lines[at + 1] = lines[at + 1], lines[at]
        elif op == "indent":
            lines[at] = "  " + line
        elif op == "dedent":
            lines[at] = line[2:] if line.startswith("  ") else line
        elif op == "value":
            match = _KEYED.match(line)
            if match:
                lines[at] = f"{match.group(1)} {draw(value)}"
            else:
                lines[at] = line + draw(value)
        elif op == "key":
            lines.insert(at, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(value)}")
        elif op == "line":
            lines.insert(at, indent + draw(st.sampled_from(VALUES)))
        elif op == "truncate":
            lines = lines[:at]
        elif op == "block":  # a whole step or mapping of injected keys
            inner = indent + "  "
            block = [f"{indent}- id: {draw(st.sampled_from(['x', 'customer', 'input', 'bad id', '']))}",
                     f"{inner}kind: {draw(st.sampled_from(['map', 'send', 'lookup', 'check', 'nope']))}"]
            block += [f"{inner}{draw(st.sampled_from(KEYS))}: {draw(value)}"
                      for _ in range(draw(st.integers(0, 4)))]
            lines[at:at] = block
    return name, "\n".join(lines)


def _assert_located(exc: SpecError) -> None:
    errors = list(exc) if isinstance(exc, SpecErrors) else [exc]
    assert errors, "an empty SpecErrors"
    for error in errors:
        assert error.location is not None, error.render()
        assert error.location.line >= 1 and error.location.col >= 1, error.render()
        assert error.message.strip(), error.render()


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_seed_specs_load_or_give_located_errors(case: tuple[str, str]) -> None:
    name, text = case
    try:
        engine.compile_text(text, name)
    except SpecError as exc:
        _assert_located(exc)


def test_the_seed_specs_themselves_load() -> None:
    for name, text in SPECS.items():
        engine.compile_text(text, name)
    assert len(SPECS) >= 5 and all(Path(MAPPINGS / n).exists() for n in SPECS)
