"""A fast path for reading well-formed specs: libyaml's C parser, ruamel.yaml's YAML 1.2 typing.

ruamel.yaml (pure Python) stays the authority: it decides how every plain scalar is typed (we
ask its resolver) and it reads every file this path does not handle. This path only avoids
ruamel's slow scanner for the common case, which took about 90 of the 120 ms a spec needed to
load. It composes the document with libyaml (through PyYAML's CSafeLoader), which keeps the line
and column of every node, and builds plain data from the nodes.

Anything unusual gives up (`Fallback`) and ruamel reads the file instead: a syntax error (so the
consultant gets ruamel's message and our hints), a duplicate key, an explicit tag, a timestamp,
very deep nesting. A property test checks that both readers give the same data.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

try:  # libyaml is optional: without it every spec goes through ruamel.yaml
    import yaml
    from yaml import CSafeLoader
except ImportError:  # pragma: no cover - depends on the platform's wheel
    yaml = None  # type: ignore[assignment]
    CSafeLoader = None  # type: ignore[assignment,misc]

from ruamel.yaml.nodes import ScalarNode as RuamelScalar
from ruamel.yaml.resolver import VersionedResolver

AVAILABLE = CSafeLoader is not None
_RESOLVER = VersionedResolver(version=(1, 2))
_STANDARD = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq",
             "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
             "tag:yaml.org,2002:null"}
MAX_DEPTH = 60


class Fallback(Exception):  # noqa: N818 - a signal to use ruamel.yaml, not an error
    pass


@dataclass(frozen=True)
class Composed:
    """Plain data plus the libyaml node tree, which knows where everything is."""

    data: Any
    root: Any  # yaml.Node


def compose(text: str) -> Composed:
    if not AVAILABLE:
        raise Fallback("libyaml not available")
    if "\t" in text:
        raise Fallback("tabs: libyaml and ruamel disagree on some of their uses")
    try:
        root = yaml.compose(text, Loader=CSafeLoader)
    except yaml.YAMLError as exc:
        raise Fallback(str(exc)) from None
    except RecursionError:
        raise Fallback("too deep") from None
    if root is None:
        return Composed(None, None)
    return Composed(_construct(root, 0, {}), root)


def _scalar(node: Any) -> Any:
    value = node.value
    if node.style:  # quoted or block: always text (libyaml gives "" for plain)
        if node.tag != "tag:yaml.org,2002:str":
            raise Fallback("tagged scalar")
        return value
    if node.tag not in _STANDARD:
        raise Fallback("explicit tag")
    tag = _plain_tag(value)
    if tag == "tag:yaml.org,2002:str":
        return value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return value.lower() == "true"
    if tag == "tag:yaml.org,2002:int":
        return _int(value)
    if tag == "tag:yaml.org,2002:float":
        return _float(value)
    raise Fallback(f"scalar typed {tag}")  # timestamps and the like: ruamel knows best


@functools.lru_cache(maxsize=20_000)
def _plain_tag(value: str) -> str:
    """The tag ruamel resolves a plain scalar to (YAML 1.2). Its resolver costs about 1.5 us a
    scalar and a spec repeats most of its scalars (keys above all): each text is resolved once."""
    return str(_RESOLVER.resolve(RuamelScalar, value, (True, False)))


def _int(text: str) -> int:
    clean = text.replace("_", "")
    sign = -1 if clean.startswith("-") else 1
    digits = clean.lstrip("+-")
    for prefix, base in (("0o", 8), ("0x", 16), ("0b", 2)):
        if digits.lower().startswith(prefix):
            return sign * int(digits[2:], base)
    if ":" in digits:
        raise Fallback("sexagesimal")
    return sign * int(digits, 10)


def _float(text: str) -> float:
    clean = text.replace("_", "").lower()
    if clean in (".inf", "+.inf"):
        return math.inf
    if clean == "-.inf":
        return -math.inf
    if clean == ".nan":
        return math.nan
    return float(clean)


def _construct(node: Any, depth: int, seen: dict[int, Any]) -> Any:
    if depth > MAX_DEPTH:
        raise Fallback("too deep")
    if id(node) in seen:  # an alias: the same node again (ruamel shares it by reference too)
        return seen[id(node)]
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        if node.tag != "tag:yaml.org,2002:seq":
            raise Fallback("tagged sequence")
        out_list: list[Any] = []
        seen[id(node)] = out_list
        out_list.extend(_construct(child, depth + 1, seen) for child in node.value)
        return out_list
    if isinstance(node, yaml.MappingNode):
        if node.tag != "tag:yaml.org,2002:map":
            raise Fallback("tagged mapping")
        out: dict[Any, Any] = {}
        seen[id(node)] = out
        merged: list[dict[Any, Any]] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:merge":
                merged.extend(_merge_sources(value_node, depth, seen))
                continue
            key = _construct(key_node, depth + 1, seen)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise Fallback("complex key")
            if key in out:
                raise Fallback("duplicate key")  # ruamel reports it, with both places
            out[key] = _construct(value_node, depth + 1, seen)
        for source in merged:  # YAML merge keys: the mapping's own keys win
            for key, value in source.items():
                out.setdefault(key, value)
        return out
    raise Fallback("unknown node")


def _merge_sources(node: Any, depth: int, seen: dict[int, Any]) -> list[dict[Any, Any]]:
    nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
    sources = []
    for item in nodes:
        value = _construct(item, depth + 1, seen)
        if not isinstance(value, dict):
            raise Fallback("merge of a non-mapping")
        sources.append(value)
    return sources


def node_at(root: Any, path: list[Any]) -> tuple[Any, Any]:
    """(node, key node of its last step) for a path of keys and indexes; (None, None) if absent."""
    node, key_node = root, None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and _key_matches(k, part):
                    node, key_node = v, k
                    break
            else:
                return node, None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node, key_node = node.value[part], None
        else:
            return node, None
    return node, key_node


def _key_matches(key_node: Any, part: Any) -> bool:
    try:
        return _scalar(key_node) == part
    except Fallback:
        return key_node.value == str(part)
