"""Edges of the engine where it does not yet do what the design promises.

Each test states the intended behaviour at an edge where the engine once fell short; they were
written as strict xfails naming the bug, and the markers came off when the engine was fixed:
now they are ordinary regression tests.
"""

from __future__ import annotations

import contextlib
import math

import pytest
from engine_helpers import spec_errors

import engine
from engine.errors import InputError, SpecbridgeError


def _map(rule: str, head: str = "") -> engine.Plan:
    return engine.compile_text(f"version: 1\nname: e\n{head}steps:\n  - id: out\n    kind: map\n"
                               f"    fields:\n      f: {rule}\n", "e.yaml")


def test_a_top_level_filter_ends_the_run_cleanly() -> None:
    plan = engine.compile_text("version: 1\nname: e\nsteps:\n  - id: keep\n    kind: filter\n"
                               "    keep: input.Active\n    reason: inactive\n", "e.yaml")
    with contextlib.suppress(SpecbridgeError):
        plan.preview({"Active": False})


def test_a_record_with_non_text_keys_does_not_crash() -> None:
    plan = _map("input.a")
    assert plan.preview({1: "one", "a": "x"}).outputs["out"] == {"f": "x"}


@pytest.mark.parametrize(("value", "text"), [(None, ""), (True, "true"), (False, "false")])
def test_templates_render_null_and_booleans_like_the_rest_of_the_engine(value: object, text: str) -> None:
    assert _map("{template: '{{ input.a }}'}").preview({"a": value}).outputs["out"]["f"] == text


@pytest.mark.parametrize("value", [{"a": 1}, [1, "a"]])
def test_type_string_of_an_object_is_not_python_repr(value: object) -> None:
    plan = _map("{from: input.a, type: string}")
    try:
        out = plan.preview({"a": value}).outputs["out"]["f"]
    except InputError:
        return
    assert out != repr(value)


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity"])
def test_type_number_refuses_nan_and_infinity(text: str) -> None:
    plan = _map("{from: input.a, type: number}")
    try:
        out = plan.preview({"a": text}).outputs["out"]["f"]
    except InputError:
        return
    assert math.isfinite(out)


@pytest.mark.parametrize("declaration", ["{type: integer, default: abc}",
                                         "{type: string, default: z, enum: [a, b]}"])
def test_a_setting_default_that_does_not_fit_is_a_load_time_error(declaration: str) -> None:
    text = f"version: 1\nname: e\nsettings:\n  N: {declaration}\nsteps:\n  - id: out\n    kind: map\n" \
           "    fields: {a: settings.N}\n"
    assert spec_errors(text) != []


def test_a_syntax_error_in_a_quoted_expression_points_at_the_token() -> None:
    text = 'version: 1\nname: e\nsteps:\n  - id: out\n    kind: map\n    fields:\n      a: {from: "a.b c"}\n'
    column = text.splitlines()[6].index('c"') + 1  # the token jmespath stumbles on
    assert spec_errors(text)[0].startswith(f"7:{column}:")


def test_a_tab_gets_the_spaces_hint() -> None:
    errors = spec_errors("version: 1\nname: e\nsteps:\n\t- id: m\n")
    assert errors[0].endswith("(hint: indent with spaces, not tabs)")


def test_a_filter_reason_is_reported() -> None:
    plan = engine.compile_text(
        "version: 1\nname: e\nconnections:\n  erp: {kind: http, base_url: 'https://erp.example'}\n"
        "steps:\n  - id: all\n    kind: fetch\n    connection: erp\n    path: /r\n    each:\n"
        "      - id: keep\n        kind: filter\n        keep: item.ok\n        reason: \"not ok: {{ item.id }}\"\n",
        "e.yaml")
    from engine.fixtures import answerer
    result = plan.preview({}, answer=answerer({"all": [{"json": [{"id": "r-1", "ok": False}]}]}))
    assert "not ok: r-1" in repr(result.outputs) + repr(result.warnings)
