"""Stage 3: turn a validated spec into a Plan. Every expression, template, name and reference is
resolved here, once; all problems of a spec are collected and reported together, in file order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath

from transports.base import HttpResponse

from .builder import object_builder
from .connections import ConnectionDecl, compile_connection
from .errors import Location, SettingsError, SpecError, SpecErrors
from .expressions import (
    Expr,
    ExpressionError,
    Names,
    Template,
    compile_expr,
    compile_template,
    template_names,
)
from .fast import build_fast
from .fields import MISSING, FieldRule, RecordRef, template_source
from .load import LoadedSpec, PathPart
from .plan import InputSpec, Plan
from .settings import SETTING_TYPES, SettingDecl, convert
from .sources import Case, cases_source, coalesce_source, non_empty_test
from .steps import Step
from .validate import validate_structure

BASE_ROOTS = frozenset({"input", "raw", "settings", "user", "tenant", "now"})


@dataclass
class Compiler:
    spec: LoadedSpec
    errors: list[SpecError] = field(default_factory=list)
    settings: frozenset[str] = frozenset()
    connections: Mapping[str, ConnectionDecl] = field(default_factory=dict)
    record: RecordRef = RecordRef(None)
    constants: frozenset[str] = frozenset({"settings"})
    # Specialising for one run's settings (Plan.specialise): the values of the constant names,
    # and, while a map step's fields are compiled, the names they read (to drop unused lets).
    values: Mapping[str, Any] | None = None
    used: set[str] | None = None
    reads_whole_scope: bool = False  # some expression reads the scope as a whole (`@`)

    # --- located helpers -------------------------------------------------------------------
    def fail(self, path: list[PathPart], message: str, hint: str | None = None, key: bool = False) -> None:
        self.errors.append(SpecError(message, self.spec.source.locate(path, key=key), hint))

    def names(self, roots: frozenset[str], constants: frozenset[str] | None = None) -> Names:
        return Names(roots, self.settings, self.constants if constants is None else constants, self.values)

    def expr(self, path: list[PathPart], text: Any, roots: frozenset[str],
             constants: frozenset[str] | None = None) -> Expr | None:
        try:
            expr = compile_expr(text, self.names(roots, constants))
        except ExpressionError as exc:
            self.errors.append(SpecError(exc.message, self._shifted(path, exc.offset, False), exc.hint))
            return None
        if self.used is not None:
            self.used |= expr.refs
        if "@" in expr.refs:
            self.reads_whole_scope = True
        return expr

    def template(self, path: list[PathPart], text: Any, roots: frozenset[str]) -> Template | None:
        try:
            template = compile_template(text, self.names(roots))
        except ExpressionError as exc:
            self.errors.append(SpecError(exc.message, self._shifted(path, exc.offset, True), exc.hint))
            return None
        if self.used is not None:
            self.used |= template_names(text)
        return template

    def _shifted(self, path: list[PathPart], offset: int, lines: bool) -> Location:
        """Point inside the scalar: a column offset for expressions, a line offset for templates."""
        loc = self.spec.source.locate(path)
        style = self.spec.source.scalar_style(path)
        if lines:
            block = style == "block"
            return Location(loc.file, loc.line + offset + (1 if block else 0), loc.col if not block else 1)
        return Location(loc.file, loc.line, loc.col + offset + (1 if style == "quoted" else 0))

    # --- the spec --------------------------------------------------------------------------
    def compile(self) -> Plan:
        data = self.spec.data
        self.errors.extend(validate_structure(self.spec))
        if not isinstance(data, dict):
            raise SpecErrors(self.errors)
        try:
            return self._compile(data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # A part the schema already reported as malformed tripped the compiler: those reports
            # say what is wrong. With no report, it is our bug, and still not a traceback.
            if self.errors:
                raise SpecErrors(self.errors) from None
            raise SpecError(f"this spec could not be compiled ({type(exc).__name__}: {exc})",
                            self.spec.source.locate([]), "this is a specbridge bug; please report it") from None

    def _compile(self, data: dict[str, Any]) -> Plan:
        decls = self._settings(data.get("settings") or {})
        self.settings = frozenset(decls)
        self.connections = self._connections(data.get("connections") or {})
        input_spec = self._input(data.get("input") or {})
        steps = self._steps(data.get("steps") or [], ["steps"], BASE_ROOTS, inside_fetch=False)
        roots = BASE_ROOTS | {s.id for s in steps}
        result = self.template(["result"], data["result"], roots) if isinstance(data.get("result"), str) else None
        self._fixtures(data.get("tests") or [], roots)
        if self.errors:
            raise SpecErrors(self.errors)
        if self.values is not None and not self.reads_whole_scope:
            steps = lets_in_place(steps, BASE_ROOTS)
        return Plan(name=data["name"], title=data.get("title") or data["name"],
                    description=data.get("description"), notes=data.get("notes"),
                    direction=data.get("direction", "outbound"), file=self.spec.file,
                    input=input_spec, settings=decls, connections=self.connections, steps=tuple(steps),
                    result=result, fixtures=tuple(data.get("tests") or ()), spec=data, source=self.spec)

    def _settings(self, raw: Any) -> dict[str, SettingDecl]:
        decls: dict[str, SettingDecl] = {}
        if not isinstance(raw, dict):
            return decls
        for name, decl in raw.items():
            if not isinstance(decl, dict):
                continue
            kind = decl.get("type", "string")
            if kind not in SETTING_TYPES:
                continue
            has_default = "default" in decl
            if has_default and decl.get("default") is not None:
                probe = SettingDecl(name=name, type=kind)
                try:
                    value = convert(probe, decl["default"])
                    if isinstance(decl.get("enum"), list) and value not in decl["enum"]:
                        self.fail(["settings", name, "default"], f"setting {name}: default {value!r} is not one of its enum")
                except SettingsError as exc:
                    self.fail(["settings", name, "default"], f"{exc}", "make the default fit the setting's type")
            decls[name] = SettingDecl(
                name=name, type=kind, default=decl.get("default"), has_default=has_default,
                required=bool(decl.get("required", not has_default and not decl.get("secret", False))),
                secret=bool(decl.get("secret", False)),
                enum=tuple(decl["enum"]) if isinstance(decl.get("enum"), list) else None,
                description=decl.get("description"), notes=decl.get("notes"))
        return decls

    def _connections(self, raw: Any) -> dict[str, ConnectionDecl]:
        out: dict[str, ConnectionDecl] = {}
        if not isinstance(raw, dict):
            return out
        roots = frozenset({"settings"})
        for name, conn in raw.items():
            if isinstance(conn, dict) and conn.get("kind") in ("http", "files"):
                compiled = compile_connection(
                    name, conn, lambda p, t, r=roots, n=name: self.template(["connections", n, *p], t, r),
                    lambda p, t, n=name: self.template(["connections", n, *p], t, frozenset({"settings", "fields"})))
                if compiled is not None:
                    out[name] = compiled
        return out

    def _input(self, raw: Any) -> InputSpec:
        if not isinstance(raw, dict):
            return InputSpec()
        id_expr = self.expr(["input", "id"], raw["id"], BASE_ROOTS) if "id" in raw else None
        self.record = RecordRef(id_expr)
        schema = raw.get("schema")
        if isinstance(schema, str):
            from .validate import SCHEMAS_DIR
            if not (SCHEMAS_DIR / f"{schema}.schema.json").is_file():
                self.fail(["input", "schema"], f"unknown input schema '{schema}'",
                          "name a file under schemas/ without .schema.json, e.g. app4sales/customer")
                schema = None
        return InputSpec(format=raw.get("format", "json"), schema=schema, id=id_expr,
                         force_list=tuple(raw.get("force_list") or ()))

    # --- steps ------------------------------------------------------------------------------
    def _steps(self, raw: Any, path: list[PathPart], roots: frozenset[str], inside_fetch: bool) -> list[Step]:
        steps: list[Step] = []
        seen: set[str] = set()
        if not isinstance(raw, list):
            return steps
        for i, step in enumerate(raw):
            here = [*path, i]
            if not isinstance(step, dict) or not isinstance(step.get("id"), str):
                continue
            sid = step["id"]
            if sid in seen or sid in roots:
                self.fail([*here, "id"], f"step id '{sid}' is already used",
                          "ids must be unique and must not be input, raw, settings, user, tenant, now or item")
            seen.add(sid)
            compiler = STEP_COMPILERS.get(step.get("kind", ""))
            if compiler is None:
                continue  # the schema already reported the unknown kind
            errors_before = len(self.errors)
            try:
                compiled = compiler(self, step, here, roots)
            except (KeyError, TypeError, ValueError, AttributeError):
                if not self.errors or len(self.errors) == errors_before and not _reported(self.errors, here):
                    raise  # nothing reported about this step: a compiler bug, not a spec mistake
                compiled = None  # malformed beyond what the schema reported: nothing more to add
            if compiled is not None:
                steps.append(compiled)
            roots = roots | {sid}
        return steps

    def common(self, step: dict[str, Any], path: list[PathPart], roots: frozenset[str]) -> dict[str, Any]:
        when = self.expr([*path, "when"], step["when"], roots) if "when" in step else None
        return {"id": step["id"], "kind": step["kind"], "when": when, "notes": step.get("notes")}

    def rules(self, raw: Mapping[str, Any], path: list[PathPart], roots: frozenset[str],
              prefix: str = "", omit_default: bool = False) -> tuple[FieldRule, ...]:
        out = []
        for name, rule in raw.items():
            compiled = self.rule(f"{prefix}{name}", rule, [*path, name], roots, omit_default)
            if compiled is not None:
                out.append(compiled)
        return tuple(out)

    def rule(self, name: str, raw: Any, path: list[PathPart], roots: frozenset[str],
             omit_default: bool = False) -> FieldRule | None:
        if isinstance(raw, str):
            raw = {"from": raw}
            expr = self.expr(path, raw["from"], roots)
            if expr is None:
                return None
            return self._finish(FieldRule(name, "from", expr.source, expr.evaluate, record=self.record,
                                          omit_empty=omit_default, path2=expr.path2, constant=expr.literal))
        if not isinstance(raw, dict):
            return None
        sources = [k for k in ("from", "template", "value", "coalesce", "cases", "fields", "each", "items") if k in raw]
        if "each" in raw and "fields" in raw:
            sources.remove("fields")
        if len(sources) != 1:
            which = ", ".join(sources) if sources else "none"
            self.fail(path, f"field {name} needs exactly one source (from, template, value, coalesce, "
                            f"cases, fields, each or items); found: {which}")
            return None
        kind = sources[0]
        made = self._source(kind, name, raw, path, roots)
        if made is None:
            return None
        source, text, children, each, path2, constant = made
        when = self.expr([*path, "when"], raw["when"], roots) if "when" in raw else None
        unless = self.expr([*path, "unless"], raw["unless"], roots) if "unless" in raw else None
        default_from = self.expr([*path, "default_from"], raw["default_from"], roots) if "default_from" in raw else None
        values = raw.get("values")
        if values is not None and any(isinstance(v, dict | list) for v in values.values()):
            self.fail([*path, "values"], "value table entries must be plain values")
        return self._finish(FieldRule(
            name, kind, text, source, when=when, unless=unless, values=values,
            values_default=raw.get("values_default", MISSING), default=raw.get("default", MISSING),
            default_from=default_from,
            type=raw.get("type"), max_length=raw.get("max_length") if isinstance(raw.get("max_length"), int) else None,
            too_long=raw.get("too_long", "truncate"),
            required=bool(raw.get("required", False)), omit_empty=bool(raw.get("omit_empty", omit_default)),
            notes=raw.get("notes"), doc_source=raw.get("source"), children=children, each=each,
            record=self.record, path2=path2, constant=constant))

    def _source(self, kind: str, name: str, raw: dict[str, Any], path: list[PathPart], roots: frozenset[str]
                ) -> tuple[Callable[[Mapping[str, Any]], Any], str, tuple[FieldRule, ...], Expr | None,
                           tuple[str, str] | None, tuple[Any] | None] | None:
        """(source closure, text shown, children, `each`, the two names of a plain `a.b` from:,
        the value in a 1-tuple when it is the same for every record)."""
        if kind == "from":
            expr = self.expr([*path, "from"], raw["from"], roots)
            return (expr.evaluate, expr.source, (), None, expr.path2, expr.literal) if expr else None
        if kind == "template":
            tpl = self.template([*path, "template"], raw["template"], roots)
            if tpl is None:
                return None
            fixed = (tpl.constant,) if tpl.constant is not None else None
            return template_source(tpl), tpl.source, (), None, None, fixed
        if kind == "value":
            constant = raw["value"]
            return (lambda scope: constant), json.dumps(constant, ensure_ascii=False, default=str), (), None, None, \
                (constant,)
        if kind == "coalesce":
            exprs = [self.expr([*path, "coalesce", i], e, roots) for i, e in enumerate(raw["coalesce"])]
            if any(e is None for e in exprs):
                return None
            coalesce = coalesce_source(tuple(e.evaluate for e in exprs if e), tuple(e.path2 for e in exprs if e))
            return coalesce, "; ".join(e.source for e in exprs if e), (), None, None, None
        if kind == "cases":
            return self._cases(raw["cases"], [*path, "cases"], roots)
        if kind == "fields":
            children = self.rules(raw["fields"], [*path, "fields"], roots, f"{name}.")
            return object_builder(children), "(object)", children, None, None, None
        if kind == "each":
            each = self.expr([*path, "each"], raw["each"], roots)
            children = self.rules(raw.get("fields") or {}, [*path, "fields"], roots | {"item"}, f"{name}[].")
            if each is None:
                return None
            build = object_builder(children)
            each_fn = each.evaluate

            def each_source(scope: Mapping[str, Any]) -> list[Any]:
                items = each_fn(scope)
                if not isinstance(items, list):
                    return []
                return [build({**scope, "item": item}) for item in items]
            return each_source, each.source, children, each, None, None
        if kind == "items":
            children = tuple(r for i, item in enumerate(raw["items"])
                             if (r := self.rule(f"{name}[{i}]", item, [*path, "items", i], roots)) is not None)
            fns = tuple(c.fast for c in children)
            from .fields import OMIT

            def items_source(scope: Mapping[str, Any]) -> list[Any]:
                return [None if (v := f(scope)) is OMIT else v for f in fns]
            return items_source, "(list)", children, None, None, None
        return None

    def _cases(self, raw: list[Any], path: list[PathPart], roots: frozenset[str]) -> Any:
        """First case whose `when` holds gives the value; a case without `when` always holds."""
        compiled: list[Case] = []
        texts = []
        for i, case in enumerate(raw):
            when = self.expr([*path, i, "when"], case["when"], roots) if "when" in case else None
            if "from" in case:
                expr = self.expr([*path, i, "from"], case["from"], roots)
                if expr is None:
                    continue
                value_fn, shown, fixed = expr.evaluate, expr.source, expr.literal
                non_empty = when is not None and non_empty_test(_parsed(when.source), _parsed(expr.source))
            else:
                constant = case.get("value")
                value_fn, shown = (lambda scope, c=constant: c), json.dumps(constant, ensure_ascii=False, default=str)
                non_empty, fixed = False, (constant,)
            compiled.append((when.evaluate if when else None, value_fn, non_empty, fixed))
            texts.append(f"{shown} when {when.source}" if when else f"{shown} otherwise")
        return cases_source(tuple(compiled)), "; ".join(texts), (), None, None, None

    @staticmethod
    def _finish(rule: FieldRule) -> FieldRule:
        object.__setattr__(rule, "fast", build_fast(rule))
        return rule

    def _fixtures(self, raw: Any, roots: frozenset[str]) -> None:
        if not isinstance(raw, list):
            return
        steps = self.spec.data.get("steps")
        step_ids = {s.get("id") for s in _all_steps(steps if isinstance(steps, list) else [])}
        for i, fixture in enumerate(raw):
            if not isinstance(fixture, dict):
                continue
            responses = fixture.get("responses")
            for sid in (responses if isinstance(responses, dict) else {}):
                if not isinstance(sid, str):
                    continue
                if sid not in step_ids and not (sid.endswith(".detect") and sid[: -len(".detect")] in step_ids):
                    self.fail(["tests", i, "responses", sid], f"fixture answers step '{sid}', which does not exist",
                              key=True)
            given = fixture.get("settings")
            for name in (given if isinstance(given, dict) else {}):
                if name not in self.settings:
                    self.fail(["tests", i, "settings", name], f"fixture sets unknown setting '{name}'", key=True)


def _parsed(source: str) -> dict[str, Any]:
    return jmespath.compile(source).parsed  # parsed before, so from jmespath's cache


def _reported(errors: list[SpecError], path: list[PathPart]) -> bool:
    """Did schema validation already report something inside this part of the spec?"""
    prefix = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return any(e.message.startswith(prefix) for e in errors)


def _all_steps(steps: list[Any]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if isinstance(step, dict):
            out.append(step)
            out.extend(_all_steps(step.get("each") or []) if isinstance(step.get("each"), list) else [])
    return out


def example_response(raw: Any, url: str = "") -> HttpResponse | None:
    """An answer written in a spec (`example:`, a fixture's `responses:`) as an HttpResponse."""
    if not isinstance(raw, dict):
        return None
    body = raw.get("body")
    content = json.dumps(raw["json"]).encode() if "json" in raw else (body or "").encode()
    return HttpResponse(int(raw.get("status", 200)), dict(raw.get("headers") or {}), content, url)


def compile_spec(spec: LoadedSpec) -> Plan:
    return Compiler(spec).compile()


from .step_compilers import STEP_COMPILERS, lets_in_place  # noqa: E402  (registry needs Compiler defined first)

__all__ = ["Compiler", "compile_spec", "example_response"]
