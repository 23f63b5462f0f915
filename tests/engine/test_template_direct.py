"""Templates that only print names and dotted paths are rendered without Jinja.

The direct renderer must be indistinguishable from Jinja's: same text, same errors. Hypothesis
draws templates from a small vocabulary (including keys that are also dict attributes, such as
`items`, which Jinja resolves to the attribute) and scopes with every kind of JSON value.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.expressions import EvaluationError, compile_template

NAMES = ["settings", "item", "n", "items", "x", "self", "loop"]
KEYS = ["a", "b", "items", "keys", "get", "_hidden", "Name"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)
scopes = st.dictionaries(st.sampled_from(NAMES), values, max_size=5)
paths = st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(KEYS), max_size=3))
pieces = st.lists(st.one_of(st.text(alphabet="ab -:{}", max_size=4).filter(lambda t: "{" not in t and "}" not in t),
                            paths), min_size=1, max_size=4)


def _source(parts: list[Any]) -> str:
    return "".join(p if isinstance(p, str) else "{{ " + ".".join([p[0], *p[1]]) + " }}" for p in parts)


def _outcome(render: Any, scope: dict[str, Any]) -> tuple[str, str]:
    try:
        return "text", render(scope)
    except EvaluationError as exc:
        return "error", str(exc)


@settings(max_examples=400, deadline=None)
@given(parts=pieces, scope=scopes)
def test_direct_rendering_equals_jinja(parts: list[Any], scope: dict[str, Any]) -> None:
    source = _source(parts)
    template = compile_template(source)
    jinja_only = compile_template(source + "{% if false %}{% endif %}")  # not a plain output: Jinja renders it
    assert _outcome(template.render, scope) == _outcome(jinja_only.render, scope)


def test_plain_paths_are_rendered_directly_and_unusual_ones_by_jinja() -> None:
    scope = {"settings": {"SbmId": 12, "On": True, "Off": None}, "item": {"items": 1}}
    template = compile_template("id={{ settings.SbmId }}&on={{ settings.On }}&off={{ settings.Off }}")
    assert template.render.__name__ == "render"  # the direct renderer, not Jinja's wrapper
    assert template.render(scope) == "id=12&on=true&off="
    # `items` is the dict's method to Jinja, so that template is never rendered directly.
    assert compile_template("{{ item.items }}").render.__name__ == "jinja_render"
    with pytest.raises(EvaluationError, match="undefined"):
        template.render({"settings": {}})


def test_compile_time_jinja_errors_are_still_load_errors() -> None:
    # Jinja's compiled templates are made once per source text and shared; a template that needs
    # Jinja is still compiled at load, so a mistake only the compiler sees is reported then.
    from engine.expressions import ExpressionError

    with pytest.raises(ExpressionError, match="filter"):
        compile_template("{{ customer.name | no_such_filter }}")
    with pytest.raises(ExpressionError, match="filter"):  # again: a failure is never cached as a success
        compile_template("{{ customer.name | no_such_filter }}")


def test_a_shared_compiled_template_renders_each_scope_alone() -> None:
    one = compile_template("{{ name | upper }}")
    two = compile_template("{{ name | upper }}")
    assert one.render({"name": "a"}) == "A" and two.render({"name": "b"}) == "B" and one.render({"name": "c"}) == "C"
