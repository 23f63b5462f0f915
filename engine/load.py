"""Stage 1: read a spec file into plain data, keeping where every node came from.

ruamel.yaml's round-trip loader records the line and column of every mapping key, value and
sequence item. We convert its tree to plain JSON-like data (what the validator and compiler work
on) and keep the ruamel tree beside it in a `SourceMap`, which turns a path such as
`("steps", 2, "fields", "Name", "max_length")` back into `file:line:col`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import Location, SpecError

MAX_DEPTH = 60  # deep enough for any real spec; stops recursion bombs early
MAX_SPEC_BYTES = 2_000_000

PathPart = str | int


@dataclass(frozen=True)
class SourceMap:
    """Maps a path inside the loaded document back to its position in the file (ruamel tree)."""

    file: str
    root: Any

    def scalar_style(self, path: Sequence[PathPart]) -> str:
        """'quoted', 'block' or 'plain': where an expression's first character sits in its scalar."""
        from ruamel.yaml.scalarstring import (
            DoubleQuotedScalarString,
            FoldedScalarString,
            LiteralScalarString,
            SingleQuotedScalarString,
        )
        node: Any = self.root
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return "plain"
        if isinstance(node, LiteralScalarString | FoldedScalarString):
            return "block"
        if isinstance(node, DoubleQuotedScalarString | SingleQuotedScalarString):
            return "quoted"
        return "plain"

    def locate(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        """Position of the node at `path`; with `key=True`, of the last mapping key itself."""
        node = self.root
        line, col = _own_position(node)
        for i, part in enumerate(path):
            last = i == len(path) - 1
            try:
                if isinstance(node, CommentedMap):
                    if part not in node:
                        break
                    k_line, k_col, v_line, v_col = node.lc.data[part]
                    line, col = (k_line, k_col) if (key and last) else (v_line, v_col)
                elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                    line, col = node.lc.item(part)
                else:
                    break
            except (KeyError, IndexError, TypeError):
                break  # keys merged in through `<<:` have no position of their own
            node = node[part]
        return Location(self.file, line + 1, col + 1)

    def locate_key(self, path: Sequence[PathPart]) -> Location:
        return self.locate(path, key=True)


def _own_position(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line, lc.col
    return 0, 0


@dataclass(frozen=True)
class NodeSourceMap:
    """The same, over the node tree of the fast libyaml reader (engine/yamlfast.py)."""

    file: str
    root: Any

    def locate(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        from .yamlfast import node_at
        if self.root is None:
            return Location(self.file, 1, 1)
        node, key_node = node_at(self.root, list(path))
        mark = key_node.start_mark if (key and key_node is not None) else node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def locate_key(self, path: Sequence[PathPart]) -> Location:
        return self.locate(path, key=True)

    def scalar_style(self, path: Sequence[PathPart]) -> str:
        from .yamlfast import node_at
        node, _ = node_at(self.root, list(path)) if self.root is not None else (None, None)
        style = getattr(node, "style", None)
        return {"'": "quoted", '"': "quoted", "|": "block", ">": "block"}.get(style or "", "plain")


@dataclass(frozen=True)
class LoadedSpec:
    """A spec as plain data plus its source map."""

    data: Any
    source: SourceMap | NodeSourceMap

    @property
    def file(self) -> str:
        return self.source.file


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.max_depth = MAX_DEPTH
    return yaml


def load_text(text: str, file: str = "<spec>") -> LoadedSpec:
    """Parse YAML text. Raises SpecError with a location for every syntax problem."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"spec is {len(text)} bytes, more than the limit of {MAX_SPEC_BYTES}",
                        Location(file, 1, 1), "split it into several specs")
    from . import yamlfast
    try:
        composed = yamlfast.compose(text)
        loaded = LoadedSpec(composed.data, NodeSourceMap(file, composed.root))
    except yamlfast.Fallback:
        loaded = load_text_ruamel(text, file)
    _check_expansion(loaded)
    return loaded


MAX_EXPANDED_VALUES = 100_000


def _check_expansion(spec: LoadedSpec) -> None:
    """Refuse "billion laughs": aliases share values, but validating and compiling walk every use.

    The expanded size is counted without expanding (each shared value's size is computed once).
    """
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        children = value.values() if isinstance(value, dict) else value
        total = 1 + sum(size(child) for child in children)
        sizes[id(value)] = total
        return total

    try:
        total = size(spec.data)
    except RecursionError:
        raise SpecError("the spec nests too deeply (a YAML alias inside itself?)", Location(spec.file, 1, 1)) from None
    if total > MAX_EXPANDED_VALUES:
        raise SpecError(f"the spec expands to {total:,} values, more than the limit of {MAX_EXPANDED_VALUES:,}",
                        Location(spec.file, 1, 1), "YAML anchors and aliases are for small repeated parts")


def load_text_ruamel(text: str, file: str = "<spec>") -> LoadedSpec:
    """The authoritative reader: ruamel.yaml round-trip, for anything the fast path declines."""
    try:
        root = _yaml().load(text)
    except DuplicateKeyError as exc:
        raise _from_marked(exc, file, "a key appears twice in the same mapping",
                           "remove or rename one of them") from None
    except MarkedYAMLError as exc:
        raise _from_marked(exc, file, "YAML syntax error", _yaml_hint(exc)) from None
    except YAMLError as exc:  # e.g. MaxDepthExceededError carries no mark
        raise SpecError(f"YAML error: {_first_line(str(exc))}", Location(file, 1, 1)) from None
    except RecursionError:
        raise SpecError("YAML nesting is too deep", Location(file, 1, 1)) from None
    try:
        data = to_plain(root)
    except RecursionError:
        raise SpecError("YAML nesting is too deep", Location(file, 1, 1)) from None
    return LoadedSpec(data, SourceMap(file, root))


def load_file(path: str | Path) -> LoadedSpec:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", Location(str(path), 1, 1)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("spec is not valid UTF-8", Location(str(path), line, 1),
                        "save the file as UTF-8") from None
    return load_text(text, str(path))


def to_plain(node: Any, _shared: dict[int, Any] | None = None) -> Any:
    """The ruamel tree as plain dict/list/str/int/float/bool/None, in document order.

    A value reached again through an alias stays one shared value, as in the ruamel tree: copying
    it per use would let a small spec of nested aliases expand exponentially right here.
    """
    shared = {} if _shared is None else _shared
    if isinstance(node, dict | list):
        if id(node) in shared:
            return shared[id(node)]
        if isinstance(node, dict):
            out: Any = {}
            shared[id(node)] = out
            out.update((_plain_key(k), to_plain(v, shared)) for k, v in node.items())
        else:
            out = []
            shared[id(node)] = out
            out.extend(to_plain(v, shared) for v in node)
        return out
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime | dt.date):
        # An unquoted 2024-01-01 is a date in YAML; keep the text the consultant wrote.
        return node.isoformat()
    if isinstance(node, TaggedScalar):
        return str(node.value)  # tags such as !!python/name are never executed, only read as text
    return str(node)


def _plain_key(key: Any) -> Any:
    plain = to_plain(key)
    return plain if isinstance(plain, str | int | float | bool) or plain is None else str(plain)


def _from_marked(exc: MarkedYAMLError, file: str, what: str, hint: str | None) -> SpecError:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or exc.context or ""
    message = f"{what}: {_first_line(problem)}" if problem else what
    return SpecError(message, Location(file, line, col), hint)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _yaml_hint(exc: MarkedYAMLError) -> str | None:
    problem = (exc.problem or "") + (exc.context or "")
    if "tab" in problem or "\\t" in problem or "\t" in problem:
        return "indent with spaces, not tabs"
    if "mapping values are not allowed" in problem:
        return "quote a value that contains ': '"
    if "could not find expected ':'" in problem or "simple key" in problem:
        return "check the indentation and that every key ends with ':'"
    if "found character '@'" in problem or "'`'" in problem:
        return "quote values that start with @ or `"
    return None
