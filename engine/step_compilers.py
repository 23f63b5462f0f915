"""One compile function per step kind, registered in `STEP_COMPILERS` (kind -> function).

Each takes the compiler (for located errors and expression compilation), the step's raw data,
its path in the spec and the names visible to it, and returns a frozen Step from engine/steps.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .load import PathPart
from .steps import (
    CheckStep,
    Detect,
    FilterStep,
    GenerateStep,
    MapStep,
    Outcome,
    ParseStep,
    RemoteLookupStep,
    SaveStep,
    SendStep,
    Step,
    StoreLookupStep,
    WritebackStep,
)

if TYPE_CHECKING:
    from .compile import Compiler
    from .expressions import Expr

Roots = frozenset[str]
StepCompiler = Callable[["Compiler", dict[str, Any], list[PathPart], Roots], Step | None]


def _pairs_expr(c: Compiler, raw: Any, path: list[PathPart], roots: Roots) -> tuple[tuple[str, Any], ...]:
    return tuple((k, e) for k, v in (raw or {}).items() if (e := c.expr([*path, k], v, roots)) is not None)


def _pairs_template(c: Compiler, raw: Any, path: list[PathPart], roots: Roots) -> tuple[tuple[str, Any], ...]:
    return tuple((k, t) for k, v in (raw or {}).items() if (t := c.template([*path, k], v, roots)) is not None)


def _connection(c: Compiler, step: dict[str, Any], path: list[PathPart]) -> str | None:
    name = step.get("connection")
    if name not in c.connections:
        known = ", ".join(sorted(c.connections)) or "none declared"
        c.fail([*path, "connection"], f"unknown connection '{name}'", f"connections: {known}")
        return None
    return name


def compile_map(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    lets: list[tuple[str, Expr]] = []
    let_roots = roots
    constants = frozenset({"settings"})
    outer_values, outer_used = c.values, c.used
    try:
        for name, text in (step.get("let") or {}).items():
            expr = c.expr([*path, "let", name], text, let_roots, constants)
            if expr is not None:
                lets.append((name, expr))
                if expr.constant:
                    constants = constants | {name}
                if c.values is not None:
                    # Specialising: a let's value is folded into the fields, unless a field's own
                    # scope binds the name again (`item` in `each:`); a let that shadows a known
                    # name (one called `settings`) hides it.
                    c.values = {k: v for k, v in c.values.items() if k != name}
                    if expr.literal is not None and name != "item":
                        c.values[name] = expr.literal[0]
            let_roots = let_roots | {name}
        c.constants = constants
        c.used = set() if c.values is not None else None
        rules = c.rules(step["fields"], [*path, "fields"], let_roots, omit_default=bool(step.get("omit_empty")))
        used = c.used
    finally:
        c.constants, c.values, c.used = frozenset({"settings"}), outer_values, outer_used
    if used is not None:
        lets = _live(lets, used)
        if outer_used is not None:
            outer_used |= used
    return MapStep(**c.common(step, path, roots), lets=tuple(lets), rules=rules, title=step.get("title"))


# Names a scope may carry besides the base roots and step ids (engine/compile.py, fetch.py).
SCOPE_NAMES = frozenset({"item", "found", "response", "fields"})


def lets_in_place(steps: list[Step], taken: frozenset[str]) -> list[Step]:
    """Map steps whose lets can be written into the run's scope, saving a copy of it per step.

    Only in a plan specialised for its settings, and only when the caller found no expression
    reading the scope as a whole (`@`): then a later step can only read names the compiler let
    it, and a let named like none of them (`taken`: the base roots, every step id, the names
    lookups, sends and fetches add) is invisible to it, whatever value it is left with."""
    def all_steps(steps: Iterable[Step]) -> Iterator[Step]:
        for step in steps:
            yield step
            yield from all_steps(getattr(step, "each", None) or ())
    fixed = taken  # the base roots: set before the first step, never rebound during a run
    taken = taken | SCOPE_NAMES | {step.id for step in all_steps(steps)}
    return _reuse_lets([dataclasses.replace(step, lets_in_place=True)
                        if isinstance(step, MapStep) and step.lets and not any(name in taken for name, _ in step.lets)
                        else step for step in steps], fixed)


def _reuse_lets(steps: list[Step], fixed: frozenset[str]) -> list[Step]:
    """Drop a let an earlier step already left in the run's scope: same name, same expression,
    one that gives the same value all run (`xml: input.Customers[0]` in two map steps).

    Such an expression reads only `fixed` names and calls no function (`safe`): `now()` reads
    none but differs per call. The earlier step must always run (no `when`); a top-level step
    that stops the run stops the later one too. A let written in place under a condition may
    change what the name holds, so it is forgotten. (A fetch's nested steps run on a copy of
    the scope: they cannot change it.)"""
    written: dict[str, str] = {}  # name -> source of the value it holds from here on
    out: list[Step] = []
    for step in steps:
        if not (isinstance(step, MapStep) and step.lets_in_place):
            out.append(step)
            continue
        kept = tuple((name, expr) for name, expr in step.lets if written.get(name) != expr.source)
        for name, expr in step.lets:
            if step.when is None and expr.safe and expr.refs <= fixed:
                written[name] = expr.source
            else:
                written.pop(name, None)
        out.append(step if kept == step.lets else dataclasses.replace(step, lets=kept))
    return out


def _live(lets: list[tuple[str, Expr]], used: set[str]) -> list[tuple[str, Expr]]:
    """The lets the fields still read once specialised (a let folded into them, or only read by
    such a let, is dropped): computing a value per record that nothing reads is pure cost. A let
    that could fail on some record is kept, so that it still fails there; so is every let when
    something reads the scope as a whole (`@`)."""
    live, kept = set(used), []
    for name, expr in reversed(lets):
        if name in live or "@" in live or not expr.safe:
            kept.append((name, expr))
            live |= expr.refs
    return kept[::-1]


def compile_lookup(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    found_roots = roots | {"found"}
    select = c.expr([*path, "select"], step["select"], found_roots) if "select" in step else None
    error = c.template([*path, "error"], step["error"], found_roots) if "error" in step else None
    common = dict(c.common(step, path, roots), select=select, default=step.get("default"),
                  required=bool(step.get("required")), error=error)
    if "table" in step and "connection" in step:
        c.fail(path, "a lookup reads either a store table or a connection, not both")
        return None
    if "table" in step:
        if not step.get("where"):
            c.fail(path, "a store lookup needs `where:` (column: expression)")
            return None
        return StoreLookupStep(**common, table=step["table"], where=_pairs_expr(c, step["where"], [*path, "where"], roots))
    if "connection" not in step:
        c.fail(path, "a lookup needs `table:` (the store) or `connection:` (an HTTP GET)")
        return None
    connection = _connection(c, step, path)
    path_tpl = c.template([*path, "path"], step.get("path", ""), roots)
    # index_by is evaluated against each element of the list, so its names are the element's own.
    index_by = _compile_free(c, [*path, "index_by"], step["index_by"]) if "index_by" in step else None
    if connection is None or path_tpl is None:
        return None
    from .compile import example_response
    kind = c.connections[connection].kind
    fmt = step.get("format", "json")
    if kind == "files" and step.get("params"):
        c.fail([*path, "params"], "a file read has no query parameters")
    return RemoteLookupStep(**common, connection=connection, transport_kind=kind, path=path_tpl,
                            params=_pairs_template(c, step.get("params"), [*path, "params"], roots),
                            format=fmt, delimiter=step.get("delimiter", ","), index_by=index_by,
                            once=bool(step.get("once")), example=example_response(step.get("example")))


def _compile_free(c: Compiler, path: list[PathPart], text: Any) -> Any:
    from .expressions import ExpressionError, compile_expr
    try:
        return compile_expr(text, None)
    except ExpressionError as exc:
        c.fail(path, exc.message, exc.hint)
        return None


def compile_generate(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    start = c.expr([*path, "start"], step["start"], roots) if "start" in step else None
    return GenerateStep(**c.common(step, path, roots), sequence=step["sequence"], start=start)


def compile_send(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    connection = _connection(c, step, path)
    if connection is None:
        return None
    kind = c.connections[connection].kind
    bodies = [k for k in ("json", "form", "body") if k in step]
    if len(bodies) > 1:
        c.fail(path, f"a request has one body; found {', '.join(bodies)}")
    if kind == "files" and (bodies not in ([], ["body"]) or "method" in step):
        c.fail(path, "a files connection uploads `body:` to `path:`; method, json and form are for http")
    if kind == "http" and "method" not in step:
        c.fail(path, "an http send needs `method:`")
    body_kind = bodies[0] if bodies else None
    body = c.expr([*path, body_kind], step[body_kind], roots) if body_kind else None
    path_tpl = c.template([*path, "path"], step.get("path", ""), roots)
    response_roots = roots | {"response"}
    outcomes = []
    for i, raw in enumerate(step.get("outcomes") or []):
        when = c.expr([*path, "outcomes", i, "when"], raw["when"], response_roots)
        error = c.template([*path, "outcomes", i, "error"], raw["error"], response_roots) if "error" in raw else None
        if "error" not in raw and not raw.get("ok"):
            c.fail([*path, "outcomes", i], "an outcome needs `error:` (stop with a message) or `ok: true`")
        if when is not None:
            outcomes.append(Outcome(when, error, bool(raw.get("ok"))))
    detect = _detect(c, step.get("detect"), [*path, "detect"], roots, step.get("response", "json"))
    if path_tpl is None:
        return None
    from .compile import example_response
    return SendStep(**c.common(step, path, roots), connection=connection, transport_kind=kind,
                    method=step.get("method", "PUT"), path=path_tpl,
                    params=_pairs_template(c, step.get("params"), [*path, "params"], roots),
                    headers=_pairs_template(c, step.get("headers"), [*path, "headers"], roots),
                    body_kind=body_kind, body=body, content_type=step.get("content_type"),
                    response_format=step.get("response", "json"), force_list=tuple(step.get("force_list") or ()),
                    idempotent=step.get("idempotent"),
                    ok_status=frozenset(step["ok_status"]) if step.get("ok_status") else None,
                    outcomes=tuple(outcomes), example=example_response(step.get("example")), detect=detect)


def _detect(c: Compiler, raw: Any, path: list[PathPart], roots: Roots, default_format: str) -> Detect | None:
    if not isinstance(raw, dict):
        return None
    path_tpl = c.template([*path, "path"], raw.get("path", ""), roots)
    found = c.expr([*path, "found"], raw.get("found", ""), roots | {"response"})
    as_response = c.expr([*path, "as"], raw["as"], roots | {"response", "found"}) if "as" in raw else None
    if path_tpl is None or found is None:
        return None
    return Detect(raw.get("method", "GET"), path_tpl, _pairs_template(c, raw.get("params"), [*path, "params"], roots),
                  raw.get("response", default_format), found, as_response, float(raw.get("settle", 5.0)))


def compile_check(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    that = c.expr([*path, "that"], step["that"], roots)
    error = c.template([*path, "error"], step["error"], roots)
    return CheckStep(**c.common(step, path, roots), that=that, error=error) if that and error else None


def compile_filter(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    keep = c.expr([*path, "keep"], step["keep"], roots)
    reason = c.template([*path, "reason"], step["reason"], roots) if "reason" in step else None
    return FilterStep(**c.common(step, path, roots), keep=keep, reason=reason) if keep else None


def compile_writeback(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    key = _pairs_expr(c, step["key"], [*path, "key"], roots)
    rules = c.rules(step["set"], [*path, "set"], roots)
    return WritebackStep(**c.common(step, path, roots), key=key, rules=rules)


def compile_save(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    source = c.expr([*path, "from"], step["from"], roots)
    return SaveStep(**c.common(step, path, roots), source=source) if source else None


def compile_parse(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    source = c.expr([*path, "from"], step["from"], roots)
    return ParseStep(**c.common(step, path, roots), source=source, format=step["format"],
                     force_list=tuple(step.get("force_list") or ())) if source else None


def compile_fetch(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: Roots) -> Step | None:
    from .fetch import compile_fetch as build
    return build(c, step, path, roots)


STEP_COMPILERS: dict[str, StepCompiler] = {
    "map": compile_map,
    "lookup": compile_lookup,
    "generate": compile_generate,
    "send": compile_send,
    "fetch": compile_fetch,
    "filter": compile_filter,
    "check": compile_check,
    "writeback": compile_writeback,
    "save": compile_save,
    "parse": compile_parse,
}
