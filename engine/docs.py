"""Mapping tables generated from a compiled spec, in the spirit of the source documents:
App4Sales/target field | source | logic/notes | max length | required | default.

The tables are derived from the Plan (and the spec's own notes), so they never drift from what
runs. Secrets never appear: settings are listed by name, type and default, and a secret's default
is not shown.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .fetch import FetchStep
from .fields import MISSING, FieldRule
from .plan import Plan
from .steps import (
    CheckStep,
    FilterStep,
    GenerateStep,
    MapStep,
    RemoteLookupStep,
    SaveStep,
    SendStep,
    StoreLookupStep,
    WritebackStep,
)

COLUMNS = ("Target field", "Source", "Logic / notes", "Max length", "Required", "Default")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _logic(rule: FieldRule) -> str:
    parts = []
    if rule.when is not None:
        parts.append(f"Only when `{rule.when.source}`.")
    if rule.unless is not None:
        parts.append(f"Not when `{rule.unless.source}`.")
    if rule.values is not None:
        table = ", ".join(f"{k} → {v}" for k, v in rule.values.items())
        parts.append(f"Value table: {table}.")
        if rule.values_default is not MISSING:
            parts.append(f"Other values → {json.dumps(rule.values_default)}.")
    if rule.type:
        parts.append(f"Converted to {rule.type}.")
    if rule.max_length and rule.too_long == "error":
        parts.append(f"Longer than {rule.max_length} characters is an error, never cut.")
    if rule.omit_empty:
        parts.append("Left out when empty.")
    if rule.notes:
        parts.append(rule.notes.strip())
    return " ".join(parts)


def _source(rule: FieldRule) -> str:
    if rule.doc_source:
        return rule.doc_source
    if rule.source_kind == "value":
        return f"Hardcoded {rule.source_text}"
    if rule.source_kind in ("fields", "items"):
        return "Derived (see rows below)"
    if rule.source_kind == "each":
        return f"Each of `{rule.source_text}`"
    if rule.source_kind == "cases":
        return "Cases: " + rule.source_text
    if rule.source_kind == "coalesce":
        return "First non-empty of " + ", ".join(f"`{s.strip()}`" for s in rule.source_text.split(" | "))
    return f"`{rule.source_text}`"


def rows(rules: tuple[FieldRule, ...]) -> Iterator[tuple[str, ...]]:
    for rule in rules:
        default = "" if rule.default is MISSING else json.dumps(rule.default, ensure_ascii=False)
        if rule.default_from is not None:
            default = f"`{rule.default_from.source}`"
        yield (rule.name, _source(rule), _logic(rule), str(rule.max_length or ""),
               "yes" if rule.required else "", default)
        yield from rows(rule.children)


def _step_summary(step: Any) -> str:
    if isinstance(step, StoreLookupStep):
        where = ", ".join(f"{k} = `{e.source}`" for k, e in step.where)
        return f"Look up in the store table `{step.table}` where {where}."
    if isinstance(step, RemoteLookupStep):
        verb = "GET" if step.transport_kind == "http" else f"Read the {step.format} file"
        return f"{verb} `{step.path.source}` on `{step.connection}`" + (" once per run" if step.once else "") + "."
    if isinstance(step, MapStep):
        return f"Build `{step.id}` from {len(step.rules)} field rules (table below)."
    if isinstance(step, GenerateStep):
        start = f" starting at `{step.start.source}`" if step.start else ""
        return f"Next number of the durable sequence `{step.sequence}`{start}."
    if isinstance(step, SendStep):
        if step.transport_kind == "files":
            return f"Upload to `{step.path.source}` on `{step.connection}` (atomic: temporary name, then rename)."
        rules = "; ".join(f"when `{o.when.source}`: " + (f"error \"{o.error.source}\"" if o.error else "accept")
                          for o in step.outcomes)
        return f"{step.method} `{step.path.source}` on `{step.connection}`." + (f" Outcomes: {rules}." if rules else "")
    if isinstance(step, CheckStep):
        return f"Stop with \"{step.error.source}\" unless `{step.that.source}`."
    if isinstance(step, FilterStep):
        return f"Keep only records where `{step.keep.source}`."
    if isinstance(step, FetchStep):
        paging = (f", {step.paging.page_size} per page ({step.paging.offset_param}/{step.paging.limit_param}), "
                  "until an empty page") if step.paging.kind == "offset" else ""
        return (f"Read every record from `{step.path.source}` on `{step.connection}`{paging}; "
                f"for each record, as `item`:")
    if isinstance(step, SaveStep):
        return f"Upsert `{step.source.source}` into the store's customers (batched transactions)."
    if isinstance(step, WritebackStep):
        key = ", ".join(f"{k} = `{e.source}`" for k, e in step.key)
        return f"Write back to the customer with {key}."
    return step.kind


def all_steps(steps: tuple[Any, ...]) -> Iterator[Any]:
    """Steps in document order, including those nested in a fetch's `each`."""
    for step in steps:
        yield step
        yield from all_steps(getattr(step, "each", ()) or ())


def _step_lines(steps: tuple[Any, ...], indent: str) -> Iterator[str]:
    for i, step in enumerate(steps, 1):
        when = f" Only when `{step.when.source}`." if step.when is not None else ""
        notes = f" {step.notes.strip()}" if step.notes else ""
        yield f"{indent}{i}. **{step.id}** ({step.kind}): {_step_summary(step)}{when}{notes}"
        nested = getattr(step, "each", ()) or ()
        if nested:
            yield from _step_lines(nested, indent + "   ")


def render_markdown(plan: Plan) -> str:
    out = [f"# {plan.title}", ""]
    if plan.description:
        out += [plan.description.strip(), ""]
    if plan.notes:
        out += ["## Notes", "", plan.notes.strip(), ""]
    if plan.settings:
        out += ["## Settings", "", "| Setting | Type | Default | Notes |", "|---|---|---|---|"]
        for decl in plan.settings.values():
            default = "" if decl.secret or not decl.has_default else json.dumps(decl.default, ensure_ascii=False)
            notes = " ".join(x for x in ((decl.description or ""), (decl.notes or ""), "Secret." if decl.secret else "") if x)
            out.append(f"| {decl.name} | {decl.type} | {_cell(default)} | {_cell(notes)} |")
        out.append("")
    out += ["## Steps", ""]
    out += list(_step_lines(plan.steps, ""))
    out.append("")
    for step in all_steps(plan.steps):
        rules = step.rules if isinstance(step, MapStep | WritebackStep) else ()
        if not rules:
            continue
        title = getattr(step, "title", None) or f"Mapping table: {step.id}"
        out += [f"## {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows(rules)]
        out.append("")
    return "\n".join(out)


def render_html(plan: Plan) -> str:
    body = []
    for line in render_markdown(plan).splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("| "):
            cells = [html.escape(c.strip()) for c in line.strip("|").split(" | ")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('# '))}</h{level}>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    return "<!doctype html>\n<meta charset=utf-8>\n<table>\n" + "\n".join(body) + "\n</table>\n"


def render_docs(plan: Plan, fmt: str = "markdown") -> str:
    return render_html(plan) if fmt == "html" else render_markdown(plan)


def write_all(mappings: Path, target: Path, fmt: str = "markdown") -> list[Path]:
    from . import find_specs, load_spec
    written = []
    target.mkdir(parents=True, exist_ok=True)
    for spec in find_specs([mappings]):
        plan = load_spec(spec)
        out = target / f"{plan.name}.{'md' if fmt == 'markdown' else 'html'}"
        out.write_text(render_docs(plan, fmt), encoding="utf-8")
        written.append(out)
    return written
