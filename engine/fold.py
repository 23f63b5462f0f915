"""Partial evaluation: a jmespath tree rewritten for values known before the records arrive.

A run's settings are the same for every one of its records. `Plan.specialise` compiles a spec a
second time with them known, and every expression goes through `fold` first:

  * a part evaluated against the scope that uses only known names (and no clock) is computed
    here, once, and becomes a literal: `settings.PriceList1Code`, `values(price_lists)`;
  * `a && b`, `a || b` whose left side became a literal keep only the side jmespath would return;
  * `choose(c, x, y)` whose condition became a literal keeps only the branch taken, provided the
    other one cannot fail (no function call, no slice), so dropping it cannot hide an error.

Whatever is left is compiled as usual (engine/jmes.py). A folded expression gives the same value
as the original for every record; tests/engine/test_fold.py checks that on random settings and
records, against jmespath itself. A part whose evaluation fails is left alone, so the error still
happens per record, where the runner can name the record and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jmespath import exceptions as jmes_errors
from jmespath.visitor import TreeInterpreter

from .expressions import _LEFT_ONLY, _children, _root_refs, truthy
from .functions import JMESPATH_OPTIONS

IMPURE = frozenset({"now"})  # differs per record (or per call), never folded
# Pieces of an expression that are not values on their own: folded inside, never replaced.
_PARTS = frozenset({"key_val_pair", "expref", "index", "slice"})


def literal(value: Any) -> dict[str, Any]:
    return {"type": "literal", "value": value, "children": []}


def fold(node: dict[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """`node` (evaluated against the scope, the only place names mean scope names) with every
    foldable part replaced; `node` itself is never changed (jmespath caches its trees)."""
    kind = node.get("type")
    if kind == "literal":
        return node
    if kind not in _PARTS and _computable(node, known):
        try:
            return literal(TreeInterpreter(JMESPATH_OPTIONS).visit(node, known))
        except (jmes_errors.JMESPathError, TypeError, ValueError, ArithmeticError):
            return node  # fails per record too: left to the runner, which names record and field
    children = node.get("children", [])
    if kind in _LEFT_ONLY:
        if not children:
            return node
        # Only the first child sees the scope; the rest see what it gives.
        return {**node, "children": [fold(children[0], known), *children[1:]]}
    if kind == "expref":
        return node
    folded = [fold(c, known) if isinstance(c, dict) else c for c in children]
    node = {**node, "children": folded}
    if kind in ("and_expression", "or_expression") and folded[0].get("type") == "literal":
        left_true = truthy(folded[0]["value"])
        if kind == "and_expression":
            return folded[1] if left_true else folded[0]
        return folded[0] if left_true else folded[1]
    if kind == "function_expression" and node.get("value") == "choose" and len(folded) == 3 \
            and folded[0].get("type") == "literal":
        taken, dropped = (folded[1], folded[2]) if truthy(folded[0]["value"]) else (folded[2], folded[1])
        if not may_fail(dropped):
            return taken
    return node


def _computable(node: dict[str, Any], known: Mapping[str, Any]) -> bool:
    """Only known names at the root, no clock, and not the scope itself (`@`)."""
    if _uses_scope(node) or _calls(node, IMPURE):
        return False
    return all(root in known for root, _ in _root_refs(node, at_root=True))


def _uses_scope(node: dict[str, Any]) -> bool:
    """Does `node`, evaluated at the root, look at the scope as a whole (`@`, `[0]`, `*`)?"""
    kind = node.get("type")
    if kind in ("current", "identity"):
        return True
    if kind == "expref":
        return False  # evaluated against list elements, later
    children = _children(node)
    if kind in _LEFT_ONLY:
        return bool(children) and _uses_scope(children[0])
    return any(_uses_scope(c) for c in children)


def decided(node: dict[str, Any]) -> bool | None:
    """The truthiness of a folded condition when it no longer depends on the record, else None.

    `x && false` is false whatever x is, `x || true` true; x is still evaluated by jmespath, so
    this is only claimed when x cannot fail (`may_fail`)."""
    kind = node.get("type")
    if kind == "literal":
        return truthy(node["value"])
    children = _children(node)
    if kind == "not_expression" and children:
        inner = decided(children[0])
        return None if inner is None else not inner
    if kind in ("and_expression", "or_expression") and len(children) == 2:
        left, right = decided(children[0]), decided(children[1])
        settles = kind == "or_expression"  # true settles an or, false settles an and
        if left is settles or (right is settles and not may_fail(children[0])):
            return settles
        if left is not None and right is not None:
            return right  # the left did not settle it, so the right is the answer
    return None


def _calls(node: dict[str, Any], names: frozenset[str]) -> bool:
    if node.get("type") == "function_expression" and node.get("value") in names:
        return True
    return any(_calls(c, names) for c in _children(node))


def may_fail(node: dict[str, Any]) -> bool:
    """Can evaluating `node` raise on some record? Only a function call (wrong argument type) or
    a slice (a zero step) can; paths, filters, comparisons and projections give null instead."""
    return node.get("type") in ("function_expression", "slice") or any(may_fail(c) for c in _children(node))


def reads(node: dict[str, Any]) -> frozenset[str]:
    """The scope names `node` reads; "@" when it looks at the scope as a whole (`@`, `keys(@)`)."""
    names = {root for root, _ in _root_refs(node, at_root=True)}
    return frozenset(names | {"@"} if _uses_scope(node) else names)
