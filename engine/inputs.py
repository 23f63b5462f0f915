"""Reading records: JSON as is, XML safely (defusedxml) into plain dicts, text as text.

XML becomes `{root: {child: text | {...} | [...]}}`: attributes as `@name`, an element with both
text and children keeps its text under `#text`. Elements named in `force_list` are always lists,
so a spec's paths do not change shape with the number of elements in a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from .errors import InputError

MAX_INPUT_BYTES = 20_000_000


def parse_json(text: str | bytes, what: str = "input") -> Any:
    _check_size(text, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"{what} is not valid JSON: {type(exc).__name__}") from None


def parse_xml(text: str | bytes, force_list: Iterable[str] = (), what: str = "input") -> dict[str, Any]:
    _check_size(text, what)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InputError(f"{what} XML refused: {type(exc).__name__} (DTDs and entities are not allowed)") from None
    except SafeET.ParseError as exc:
        raise InputError(f"{what} is not valid XML: {exc}") from None
    forced = frozenset(force_list)
    try:
        return {_local(root.tag): _element(root, forced)}
    except RecursionError:
        raise InputError(f"{what} XML is nested too deeply") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def _element(node: Element, forced: frozenset[str]) -> Any:
    children = list(node)
    if not children and not node.attrib:
        return node.text if node.text is not None else ""
    out: dict[str, Any] = {f"@{_local(k)}": v for k, v in node.attrib.items()}
    for child in children:
        name = _local(child.tag)
        value = _element(child, forced)
        if name in out:
            existing = out[name]
            if isinstance(existing, list) and (name in forced or getattr(existing, "_multi", False)):
                existing.append(value)
            else:
                out[name] = _Multi([existing, value])
        else:
            out[name] = [value] if name in forced else value
    text = (node.text or "").strip()
    if text and children:
        out["#text"] = text
    elif text:
        out["#text"] = node.text
    return {k: (list(v) if isinstance(v, _Multi) else v) for k, v in out.items()}


class _Multi(list):  # a list made by repetition, as opposed to one forced by force_list
    _multi = True


def parse_csv(text: str | bytes, delimiter: str = ",", what: str = "file") -> tuple[list[dict[str, str]], list[str]]:
    """Rows of a CSV file with a header line, as dicts; plus one problem per rejected row.

    A row with more or fewer cells than the header is rejected with its line number, never
    silently padded or cut. Blank lines are skipped. Cells keep their text exactly.
    """
    import csv
    import io
    _check_size(text, what)
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    elif text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[dict[str, str]] = []
    problems: list[str] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [f"{what} line 1: {exc}"]
    if not header:
        return [], [f"{what}: empty, no header line"]
    names = [h.strip() for h in header]
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"{what} line {reader.line_num}: {exc}; row skipped")
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            problems.append(f"{what} line {reader.line_num}: {len(cells)} cells where the header has "
                            f"{len(names)}; row skipped")
            continue
        rows.append(dict(zip(names, cells, strict=True)))
    return rows, problems


def _check_size(text: str | bytes, what: str) -> None:
    if len(text) > MAX_INPUT_BYTES:
        raise InputError(f"{what} is {len(text)} bytes, more than the limit of {MAX_INPUT_BYTES}")
