"""The fast libyaml reader gives exactly the data ruamel.yaml (the authority) gives, or declines."""

from __future__ import annotations

import io
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

import engine
from engine import yamlfast
from engine.errors import SpecError
from engine.load import load_text_ruamel

TRICKY = ["010", "0o17", "0x1F", "0b101", "1_000", "+1", "-0", "1e3", "1.", ".5", ".inf", "-.Inf", ".nan", "yes", "No",
          "on", "True", "FALSE", "null", "Null", "~", "", "2024-01-01", "1:20", "0123 AB", "000042", "'quoted'",
          "a: b", "#x", "- x", "@at", "`tick", "{{ t }}", "12:30:00", "3.14e-2", "0.", "-.5"]
scalars = st.one_of(st.sampled_from(TRICKY), st.text(max_size=12), st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False))
trees = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4)), max_leaves=20)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _check(text: str) -> None:
    try:
        fast = yamlfast.compose(text)
    except yamlfast.Fallback:
        return  # ruamel reads it: nothing to compare
    try:
        reference = load_text_ruamel(text).data
    except SpecError as exc:
        raise AssertionError(f"the fast path read text ruamel refuses: {text!r}: {exc}") from None
    assert _same(fast.data, reference), text


def _dump(tree: Any, flow: bool) -> str:
    yaml = YAML()
    yaml.default_flow_style = flow
    out = io.StringIO()
    yaml.dump({"root": tree}, out)
    return out.getvalue()


@settings(max_examples=600, deadline=None)
@given(trees, st.booleans())
def test_dumped_documents_read_the_same(tree: Any, flow: bool) -> None:
    _check(_dump(tree, flow))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "- "]), st.sampled_from(TRICKY)), max_size=6))
def test_plain_scalars_are_typed_like_ruamel(pairs: list[tuple[str, str]]) -> None:
    _check("\n".join(f"{k}: {v}" if k != "- " else f"- {v}" for k, v in pairs))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_never_disagrees(text: str) -> None:
    _check(text)


def test_anchors_merge_keys_and_duplicates() -> None:
    text = "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n"
    fast = yamlfast.compose(text).data
    assert fast == load_text_ruamel(text).data
    assert fast["use"] == {"x": 1, "y": 3}
    try:
        yamlfast.compose("a: 1\na: 2\n")
        raise AssertionError("a duplicate key must make the fast path decline")
    except yamlfast.Fallback:
        pass


def test_the_seed_specs_take_the_fast_path_and_match() -> None:
    for path in engine.find_specs(["mappings"]):
        text = path.read_text(encoding="utf-8")
        assert _same(yamlfast.compose(text).data, load_text_ruamel(text).data), path
