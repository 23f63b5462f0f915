"""docs/functions.md is generated from engine.functions.REGISTRY and must match it exactly.

When this test fails, a function was added or changed: regenerate the page with

    .venv/bin/python tests/engine/test_functions_doc.py

The examples of the registry are also run, where they only use literals, so the page never
shows an example that gives something else.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jmespath.functions
import pytest

from engine.expressions import ExpressionError, compile_expr
from engine.functions import REGISTRY, Function

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "functions.md"
ALL_TYPES = {"string", "number", "boolean", "array", "object", "null"}
JMESPATH_SPEC = "https://jmespath.org/specification.html#built-in-functions"

INTRO = """\
# Functions

<!-- Generated from engine/functions.py (REGISTRY) by tests/engine/test_functions_doc.py.
     Do not edit by hand; regenerate with: .venv/bin/python tests/engine/test_functions_doc.py -->

These named functions can be used in every jmespath expression of a spec (`from:`, `when:`,
`unless:`, `let:`, `coalesce:`, `that:`, `keep:`, `select:`, `json:` ...) and in every template:

```yaml
name: {from: "truncate(input.CustomerName, `50`)"}           # jmespath: numbers are `backquoted`
code: {template: "{{ upper(input.CustomerCode) }}"}           # template: called as a function
city: {template: "{{ input.Addresses[0].City | upper }}"}     # template: or as a filter (value first)
```

In jmespath, text literals are written in 'single quotes' and numbers, `true`, `false`, `null`,
lists and objects between backquotes: `` `10` ``, `` `["a", "b"]` ``, `` `{"a": 1}` ``.
A function name the engine does not know is a load-time error (`unknown function 'x()'`). An
argument of the wrong type (say `upper()` of a number) can only be found at run time: the flow
stops with an error naming the step. In templates, these functions replace Jinja's built-in filters
of the same name (`truncate`, `upper`, `lower`, `trim`, `replace`, `round`), so `truncate` and
`round` need their second argument there too: `{{ input.Name | truncate(10) }}`.

"Empty" means the same everywhere: null, text that is blank after trimming, `[]` or `{}`.
`0` and `false` are values, not empty.
"""


def _types(types: list[str]) -> str:
    if set(types) >= ALL_TYPES:
        return "any"
    return " or ".join(types)


def signature(function: Function) -> str:
    parts = []
    for i, (name, types) in enumerate(function.args):
        dots = "..." if function.variadic and i == len(function.args) - 1 else ""
        parts.append(f"{name}{dots}: {_types(types)}")
    return f"{function.name}({', '.join(parts)})"


def _short(function: Function) -> str:
    names = [n + ("..." if function.variadic and i == len(function.args) - 1 else "")
             for i, (n, _) in enumerate(function.args)]
    return f"{function.name}({', '.join(names)})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    functions = sorted(REGISTRY.values(), key=lambda f: f.name)
    out = [INTRO, "## Overview", "", "| Function | What it does |", "|---|---|"]
    for f in functions:
        out.append(f"| [`{_short(f)}`](#{f.name}) | {_cell(f.doc)} |")
    out.append("")
    for f in functions:
        out += [f"## {f.name}", "", "```text", signature(f), "```", "", f.doc, "", "Example:", "",
                "```text", f.example, "```", ""]
    builtins = sorted(n for n in jmespath.functions.Functions.FUNCTION_TABLE if n not in REGISTRY)
    out += ["## jmespath's built-in functions", "",
            "Every expression can also use jmespath's own functions, documented in the jmespath",
            f"specification: <{JMESPATH_SPEC}>.", "",
            ", ".join(f"`{n}`" for n in builtins) + ".", "",
            "Note the differences with ours: `contains` compares exactly (ours: `in_list` ignores case and",
            "spaces), `not_null` skips only null (ours: `first_non_empty` also skips blank text, `[]` and",
            "`{}`), and `join` needs every element to be text. These built-ins are not available in",
            "templates; there, use Jinja's own filters such as `join`, `default` and `length`.", ""]
    return "\n".join(out)


def test_functions_page_is_up_to_date() -> None:
    fresh = render()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if current != fresh:
        print(fresh)
    assert current == fresh, "docs/functions.md is stale: run .venv/bin/python tests/engine/test_functions_doc.py"


def test_every_function_is_documented() -> None:
    for function in REGISTRY.values():
        assert function.doc.strip(), function.name
        assert function.example.startswith(f"{function.name}("), function.name
        assert " -> " in function.example, function.name


# --- the examples give what they say ----------------------------------------------------------------

def _literal(text: str) -> Any:
    """The right-hand side of an example as data: 'single quoted' text becomes JSON text."""
    converted = re.sub(r"'((?:[^'\\]|\\.)*)'", lambda m: json.dumps(m.group(1)), text)
    return json.loads(converted)


CLOCK_DEPENDENT = {"now"}
SCOPE_NAMES = re.compile(r"\b(input|raw|settings|item|user|tenant|countries)\b")


def _examples() -> list[Any]:
    """Examples that only use literals, as (expression, documented result)."""
    params = []
    for function in sorted(REGISTRY.values(), key=lambda f: f.name):
        left, _, right = function.example.partition(" -> ")
        if function.name in CLOCK_DEPENDENT or SCOPE_NAMES.search(re.sub(r"'[^']*'", "", left)):
            continue  # reads the clock or the run's scope: not runnable on its own
        try:
            expected = _literal(right)
        except json.JSONDecodeError:
            continue  # an illustrative result such as '3fa8...'
        params.append(pytest.param(left, expected, id=function.name))
    return params


EXAMPLES = _examples()
def _run(source: str) -> Any:
    try:
        return compile_expr(source).evaluate({})
    except ExpressionError as exc:
        return f"does not compile: {exc.message}"


@pytest.mark.parametrize(("source", "expected"), EXAMPLES)
def test_example_gives_its_result(source: str, expected: Any) -> None:
    assert _run(source) == expected


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.relative_to(ROOT)}\n")
