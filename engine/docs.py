"""Mapping tables generated from a compiled spec, in the spirit of the source documents:
App4Sales/target field | source | logic/notes | max length | required | default.

The tables are derived from the Plan (and the spec's own notes), so they never drift from what
runs. Secrets never appear: settings are listed by name, type and default, and a secret's default
is not shown.
"""

from __future__ import annotations

import html
import json
import re
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


def _code(text: str) -> str:
    """`text` as a Markdown code span, also when it contains backticks (jmespath `literals`)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _literal(value: Any) -> str:
    """A literal from the spec as the consultant wrote it in YAML/JSON terms: "C", true, null."""
    return json.dumps(value, ensure_ascii=False)


def _entry(value: Any) -> str:
    """A value-table entry: text as it is, anything else as in YAML/JSON (true, null, 2.5)."""
    return value if isinstance(value, str) else _literal(value)


def _logic(rule: FieldRule) -> str:
    parts = []
    if rule.when is not None:
        parts.append(f"Only when {_code(rule.when.source)}.")
    if rule.unless is not None:
        parts.append(f"Not when {_code(rule.unless.source)}.")
    if rule.values is not None:
        table = ", ".join(f"{_entry(k)} → {_entry(v)}" for k, v in rule.values.items())
        parts.append(f"Value table: {table}.")
        if rule.values_default is not MISSING:
            parts.append(f"Other values → {_literal(rule.values_default)}.")
    if rule.type:
        parts.append(f"Converted to {rule.type}.")
    if rule.max_length and rule.too_long == "error":
        parts.append(f"Longer than {rule.max_length} characters is an error, never cut.")
    if rule.omit_empty:
        parts.append("Left out when empty.")
    if rule.notes:
        parts.append(rule.notes.strip())
    return " ".join(parts)


def _source(rule: FieldRule, raw: Any = None) -> str:
    """The Source column. `raw` is the rule as written in the spec, when known: literals and the
    alternatives of `coalesce`/`cases` are shown from it, as written, not as compiled text."""
    if rule.doc_source:
        return rule.doc_source
    spelled = raw if isinstance(raw, dict) else {}
    if rule.source_kind == "value":
        return f"Hardcoded {_literal(spelled['value'])}" if "value" in spelled else f"Hardcoded {rule.source_text}"
    if rule.source_kind in ("fields", "items"):
        return "Derived (see rows below)"
    if rule.source_kind == "each":
        return f"Each of {_code(rule.source_text)}"
    if rule.source_kind == "cases":
        if isinstance(spelled.get("cases"), list):
            return "Cases: " + "; ".join(_case(case) for case in spelled["cases"])
        return "Cases: " + rule.source_text
    if rule.source_kind == "coalesce":
        # The spec itself says where one alternative ends (an alternative may contain "; ").
        alternatives = spelled.get("coalesce") or rule.source_text.split("; ")
        return "First non-empty of " + ", ".join(_code(str(e).strip()) for e in alternatives)
    return _code(rule.source_text)


def _case(case: Any) -> str:
    if not isinstance(case, dict):
        return str(case)
    shown = _code(str(case["from"])) if "from" in case else _literal(case.get("value"))
    return f"{shown} when {_code(str(case['when']))}" if "when" in case else f"{shown} otherwise"


def _child_raws(rule: FieldRule, raw: Any) -> list[Any] | None:
    """The spelled-out rules of a rule's children, in the order they were compiled."""
    if not isinstance(raw, dict):
        return None
    if rule.source_kind in ("fields", "each") and isinstance(raw.get("fields"), dict):
        return list(raw["fields"].values())
    if rule.source_kind == "items" and isinstance(raw.get("items"), list):
        return list(raw["items"])
    return None


def rows(rules: tuple[FieldRule, ...], raws: list[Any] | None = None) -> Iterator[tuple[str, ...]]:
    """One table row per rule (children after their parent). `raws`: the rules as spelled in the
    spec, aligned with `rules`, so literals and alternatives are shown as written."""
    if raws is not None and len(raws) != len(rules):
        raws = None
    for i, rule in enumerate(rules):
        raw = raws[i] if raws is not None else None
        default = "" if rule.default is MISSING else json.dumps(rule.default, ensure_ascii=False)
        if rule.default_from is not None:
            default = _code(rule.default_from.source)
        yield (rule.name, _source(rule, raw), _logic(rule), str(rule.max_length or ""),
               "yes" if rule.required else "", default)
        yield from rows(rule.children, _child_raws(rule, raw))


def _raw_steps(plan: Plan) -> dict[str, dict[str, Any]]:
    """The spec's steps as written, by id (nested fetch steps included)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(steps: Any) -> None:
        for step in steps if isinstance(steps, list) else ():
            if isinstance(step, dict) and isinstance(step.get("id"), str):
                found[step["id"]] = step
                if step.get("kind") == "fetch":
                    walk(step.get("each"))
    walk(plan.spec.get("steps") if isinstance(plan.spec, dict) else None)
    return found


def _raw_rules(step: Any, raw_step: dict[str, Any] | None) -> list[Any] | None:
    spelled = (raw_step or {}).get("set" if isinstance(step, WritebackStep) else "fields")
    return list(spelled.values()) if isinstance(spelled, dict) else None


def _step_summary(step: Any) -> str:
    if isinstance(step, StoreLookupStep):
        where = ", ".join(f"{k} = {_code(e.source)}" for k, e in step.where)
        return f"Look up in the store table `{step.table}` where {where}."
    if isinstance(step, RemoteLookupStep):
        verb = "GET" if step.transport_kind == "http" else f"Read the {step.format} file"
        return f"{verb} {_code(step.path.source)} on `{step.connection}`" + (" once per run" if step.once else "") + "."
    if isinstance(step, MapStep):
        # The rules below use the step's `let` names (`visit.City`): say what each one is.
        names = "; ".join(f"`{name}` = {_code(expr.source)}" for name, expr in step.lets)
        return (f"Build `{step.id}` from {len(step.rules)} field rules (table below)."
                + (f" Names used by the rules: {names}." if names else ""))
    if isinstance(step, GenerateStep):
        start = f" starting at {_code(step.start.source)}" if step.start else ""
        return f"Next number of the durable sequence `{step.sequence}`{start}."
    if isinstance(step, SendStep):
        if step.transport_kind == "files":
            return f"Upload to {_code(step.path.source)} on `{step.connection}` (atomic: temporary name, then rename)."
        rules = "; ".join(f"when {_code(o.when.source)}: " + (f"error \"{o.error.source}\"" if o.error else "accept")
                          for o in step.outcomes)
        return f"{step.method} {_code(step.path.source)} on `{step.connection}`." + (f" Outcomes: {rules}." if rules else "")
    if isinstance(step, CheckStep):
        return f"Stop with \"{step.error.source}\" unless {_code(step.that.source)}."
    if isinstance(step, FilterStep):
        return f"Keep only records where {_code(step.keep.source)}."
    if isinstance(step, FetchStep):
        paging = (f", {step.paging.page_size} per page ({step.paging.offset_param}/{step.paging.limit_param}), "
                  "until an empty page") if step.paging.kind == "offset" else ""
        return (f"Read every record from {_code(step.path.source)} on `{step.connection}`{paging}; "
                f"for each record, as `item`:")
    if isinstance(step, SaveStep):
        return f"Upsert {_code(step.source.source)} into the store's customers (batched transactions)."
    if isinstance(step, WritebackStep):
        key = ", ".join(f"{k} = {_code(e.source)}" for k, e in step.key)
        return f"Write back to the customer with {key}."
    return step.kind


def all_steps(steps: tuple[Any, ...]) -> Iterator[Any]:
    """Steps in document order, including those nested in a fetch's `each`."""
    for step in steps:
        yield step
        yield from all_steps(getattr(step, "each", ()) or ())


def _step_lines(steps: tuple[Any, ...], indent: str) -> Iterator[str]:
    for i, step in enumerate(steps, 1):
        when = f" Only when {_code(step.when.source)}." if step.when is not None else ""
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
    raw_steps = _raw_steps(plan)
    for step in all_steps(plan.steps):
        rules = step.rules if isinstance(step, MapStep | WritebackStep) else ()
        if not rules:
            continue
        title = getattr(step, "title", None) or f"Mapping table: {step.id}"
        out += [f"## {title}", "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |"
                for row in rows(rules, _raw_rules(step, raw_steps.get(step.id)))]
        out.append("")
    return "\n".join(out)


_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_TABLE_SPLIT = re.compile(r"(?<!\\)\|")
_ITEM = re.compile(r"^( *)(\d+\.|-) (.*)$")
STYLE = ("body{font-family:system-ui,sans-serif;max-width:80em;margin:1em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}"
         "code{background:#f4f4f4;padding:0 .2em}")


def _inline(text: str) -> str:
    """Markdown inline text (code spans, **strong**) as HTML; everything else escaped."""
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_STRONG.sub(r"<strong>\1</strong>", html.escape(text[last:match.start()], quote=False)))
        code = match.group(2)
        if code.startswith(" ") and code.endswith(" ") and code.strip():
            code = code[1:-1]
        out.append(f"<code>{html.escape(code, quote=False)}</code>")
        last = match.end()
    out.append(_STRONG.sub(r"<strong>\1</strong>", html.escape(text[last:], quote=False)))
    return "".join(out)


def _html_table(lines: list[str]) -> list[str]:
    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in _TABLE_SPLIT.split(line.strip()[1:-1])]
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in cells(lines[0])) + "</tr></thead>",
           "<tbody>"]
    out += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in cells(line)) + "</tr>" for line in lines[2:]]
    return out + ["</tbody>", "</table>"]


def _html_list(lines: list[str]) -> list[str]:
    """Numbered or bulleted items; deeper-indented items nest, other indented lines continue an item."""
    out: list[str] = []
    stack: list[tuple[int, str]] = []  # (indent, tag) of the open lists
    for line in lines:
        match = _ITEM.match(line)
        if match is None:  # a continuation line of the current item
            out[-1] += " " + _inline(line.strip())
            continue
        indent, tag = len(match.group(1)), "ol" if match.group(2)[0].isdigit() else "ul"
        while stack and stack[-1][0] > indent:
            out[-1] += "</li>"
            out.append(f"</{stack.pop()[1]}>")
        if stack and stack[-1][0] == indent:
            out[-1] += "</li>"
        else:
            out.append(f"<{tag}>")
            stack.append((indent, tag))
        out.append(f"<li>{_inline(match.group(3))}")
    while stack:
        out[-1] += "</li>"
        out.append(f"</{stack.pop()[1]}>")
    return out


def render_html(plan: Plan) -> str:
    """The same document as render_markdown, as a standalone HTML page."""
    body: list[str] = []
    blocks: list[list[str]] = [[]]
    for line in render_markdown(plan).splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    for block in blocks:
        if not block:
            continue
        first = block[0]
        if first.startswith("#"):
            level = len(first) - len(first.lstrip("#"))
            body.append(f"<h{level}>{_inline(first.lstrip('#').strip())}</h{level}>")
            block = block[1:]
            if not block:
                continue
            first = block[0]
        if first.startswith("|"):
            body += _html_table(block)
        elif _ITEM.match(first):
            body += _html_list(block)
        else:
            # Free text from the spec: a paragraph, with any bulleted lines inside it as a list.
            start = next((i for i, line in enumerate(block) if _ITEM.match(line)), len(block))
            body.append("<p>" + " ".join(_inline(line.strip()) for line in block[:start]) + "</p>")
            if start < len(block):
                body += _html_list(block[start:])
    return ("<!doctype html>\n<html lang=en>\n<meta charset=utf-8>\n"
            f"<title>{html.escape(plan.title)}</title>\n<style>{STYLE}</style>\n"
            + "\n".join(body) + "\n</html>\n")


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
