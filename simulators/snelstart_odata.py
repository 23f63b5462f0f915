"""The OData query options of `GET /v2/relaties`, as SnelStart's ASP.NET Web API (OData v3) reads them.

Supported: `$skip` (>= 0), `$top` (1..500, default 500), `$select` of top-level properties, and a
`$filter` made of clauses joined by `and`:

- `Relatiesoort/any(r:r eq 'Klant')` (any variable name; 'Klant', 'Leverancier', 'Eigen'),
- `<Property> eq|ne|gt|ge|lt|le <literal>` on scalar properties, nested ones with `/`
  (`Naam eq 'x'`, `Email eq 'x'`, `Nonactief eq false`, `Relatiecode eq 12`, `Id eq guid'..'`,
  `ModifiedOn gt datetime'2024-01-01T00:00:00'`, `VestigingsAdres/Land/Id eq guid'..'`),
- `substringof('x', Naam) eq true`, `startswith(Naam,'x') eq true`, `endswith(Naam,'x') eq true`.

Property names are case-sensitive UpperCamelCase, as SnelStart documents. String comparisons
ignore case, as a SQL Server collation does (an inference: SnelStart runs on SQL Server). A bad
`$filter` answers SnelStart's `[{"errorCode": "ALG-0104", "message": "Ongeldig OData filter"}]`.
Anything else (`or`, `not`, `$orderby`, `$expand`, ...) is refused the same way, with a detail
saying the simulator does not simulate it, so no spec comes to depend on behaviour nobody checked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.snelstart_rules import rule_errors

MAX_TOP = 500
_MODEL = "SnelStart.B2B.Api.V2.Models.Relaties.RelatieModel"
_ADRES = "SnelStart.B2B.Api.V2.Models.Relaties.AdresModel"
_LAND = "SnelStart.B2B.Api.V2.Models.Landen.LandIdentifierModel"

# Edm types of the properties a filter can reach; objects map to their own property tables.
_LAND_PROPS: dict[str, Any] = {"Id": "Edm.Guid", "Uri": "Edm.String"}
_ADRES_PROPS: dict[str, Any] = {"Contactpersoon": "Edm.String", "Straat": "Edm.String", "Postcode": "Edm.String",
                                "Plaats": "Edm.String", "Land": (_LAND, _LAND_PROPS)}
_PROPS: dict[str, Any] = {
    "Relatiesoort": "Collection", "ModifiedOn": "Edm.DateTime", "Relatiecode": "Edm.Int32",
    "Naam": "Edm.String", "VestigingsAdres": (_ADRES, _ADRES_PROPS), "CorrespondentieAdres": (_ADRES, _ADRES_PROPS),
    "Telefoon": "Edm.String", "MobieleTelefoon": "Edm.String", "Fax": "Edm.String", "Email": "Edm.String",
    "BtwNummer": "Edm.String", "Factuurkorting": "Edm.Double", "Krediettermijn": "Edm.Int32",
    "Bankieren": "Edm.Boolean", "Nonactief": "Edm.Boolean", "KredietLimiet": "Edm.Double", "Memo": "Edm.String",
    "KvkNummer": "Edm.String", "Oin": "Edm.String", "WebsiteUrl": "Edm.String", "Aanmaningsoort": "Edm.String",
    "UblBestandAlsBijlage": "Edm.Boolean", "Iban": "Edm.String", "Bic": "Edm.String", "IncassoSoort": "Edm.String",
    "Id": "Edm.Guid", "Uri": "Edm.String", "ExtraVeldenKlant": "Collection", "Documents": "Collection",
}
_OPS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
        "le": "LessThanOrEqual"}
_OTHER_OPTIONS = ("$orderby", "$expand", "$inlinecount", "$count", "$format", "$search", "$apply", "$skiptoken")


class ODataError(Exception):
    """A query the API refuses (400). `$filter` problems answer SnelStart's ALG-0104 list; the others
    Web API's HttpError. `detail` says what exactly was wrong (the simulator sends it in a header)."""

    def __init__(self, detail: str, *, in_filter: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.body: Any = (rule_errors("ALG-0104") if in_filter
                          else {"message": f"The query specified in the URI is not valid. {detail}"})


def _not_simulated(what: str) -> ODataError:
    return ODataError(f"{what} (not simulated by the specbridge SnelStart simulator).")


Getter = Callable[[str], Any]  # top-level json property name -> value


@dataclass(frozen=True)
class Clause:
    path: tuple[str, ...]  # json property names, e.g. ("vestigingsAdres", "land", "id")
    test: Callable[[Any], bool]

    def matches(self, get: Getter) -> bool:
        value = get(self.path[0])
        for name in self.path[1:]:
            value = value.get(name) if isinstance(value, Mapping) else None
        return self.test(value)


@dataclass(frozen=True)
class Query:
    skip: int
    top: int
    clauses: tuple[Clause, ...]
    select: tuple[str, ...] | None  # json property names
    filter_key: str  # the filter text, to recognise the next page of the same listing

    def matches(self, get: Getter) -> bool:
        return all(clause.matches(get) for clause in self.clauses)

    def shape(self, record: dict[str, Any]) -> dict[str, Any]:
        return record if self.select is None else {k: record[k] for k in self.select}


def _json_name(name: str) -> str:
    return name[:1].lower() + name[1:]


def _int_option(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ODataError(f"Invalid value '{text}' for {name} query option found. "
                         f"The {name} query option requires a non-negative integer value.", in_filter=False) from None
    if value < minimum:
        kind = "positive" if minimum else "non-negative"
        raise ODataError(f"Invalid value '{text}' for {name} query option found. "
                         f"The {name} query option requires a {kind} integer value.", in_filter=False)
    return value


def parse_query(params: Mapping[str, str]) -> Query:
    for name in params:
        if name.startswith("$") and name not in ("$skip", "$top", "$filter", "$select"):
            if name in _OTHER_OPTIONS:
                raise ODataError(f"The query option '{name}' (not simulated by the specbridge SnelStart "
                                 "simulator).", in_filter=False)
            raise ODataError(f"The query parameter '{name}' is not supported.", in_filter=False)
    skip = _int_option("$skip", params["$skip"], 0) if "$skip" in params else 0
    top = _int_option("$top", params["$top"], 1) if "$top" in params else MAX_TOP
    if top > MAX_TOP:
        raise ODataError(f"The limit of '{MAX_TOP}' for Top query has been exceeded. "
                         f"The value from the incoming request is '{top}'.", in_filter=False)
    text = params.get("$filter", "").strip()
    clauses = tuple(_clause(part) for part in _split_and(text)) if text else ()
    select = None
    if params.get("$select", "").strip():
        try:
            select = tuple(_json_name(_resolve([n.strip()])[0][0]) for n in params["$select"].split(","))
        except ODataError as error:
            raise ODataError(error.detail, in_filter=False) from None
    return Query(skip, top, clauses, select, text)


def _split_and(text: str) -> list[str]:
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if c == "'":
            quoted = not quoted
        elif not quoted and c == "(":
            depth += 1
        elif not quoted and c == ")":
            depth -= 1
        elif not quoted and depth == 0 and c == " ":
            word = re.match(r" +(and|or|not) +", text[i:])
            if word:
                if word.group(1) != "and":
                    raise _not_simulated(f"The '{word.group(1)}' operator in $filter")
                parts.append(text[start:i])
                i = start = i + word.end()
                continue
        i += 1
    parts.append(text[start:])
    return [_unwrap(p.strip()) for p in parts]


def _unwrap(part: str) -> str:
    while part.startswith("(") and part.endswith(")") and _balanced(part[1:-1]):
        part = part[1:-1].strip()
    return part


def _balanced(text: str) -> bool:
    depth = 0
    for c in re.sub(r"'(?:[^']|'')*'", "''", text):
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


def _resolve(names: list[str]) -> tuple[tuple[str, ...], str]:
    """Property path (UpperCamelCase segments) -> (json names, Edm type), or the OData error."""
    table, owner, path, kind = _PROPS, _MODEL, [], ""
    for name in names:
        entry = table.get(name) if isinstance(table, dict) else None
        if entry is None:
            raise ODataError(f"Could not find a property named '{name}' on type '{owner}'.")
        path.append(_json_name(name))
        if isinstance(entry, tuple):
            owner, table, kind = entry[0], entry[1], "object"
        else:
            table, kind = {}, entry
    return tuple(path), kind


_STRING = r"'((?:[^']|'')*)'"
_ANY = re.compile(r"^Relatiesoort/any\((\w+)\s*:\s*\1\s+eq\s+" + _STRING + r"\)$")
_FUNC = re.compile(r"^(?:substringof\(" + _STRING + r",\s*([\w/]+)\)|(startswith|endswith)\(([\w/]+),\s*"
                   + _STRING + r"\))(?:\s+eq\s+true)?$")
_COMPARE = re.compile(r"^([\w/]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+)$")


def _clause(text: str) -> Clause:
    if m := _ANY.match(text):
        wanted = m.group(2).replace("''", "'")
        return Clause(("relatiesoort",), lambda v: isinstance(v, list) and wanted in v)
    if m := _FUNC.match(text):
        if m.group(2):
            needle, prop, func = m.group(1), m.group(2), "substringof"
        else:
            func, prop, needle = m.group(3), m.group(4), m.group(5)
        path, kind = _resolve(prop.split("/"))
        if kind != "Edm.String":
            raise ODataError(f"No function signature for the function with name '{func}' matches the "
                             f"specified arguments. The function signatures considered are: {func}(Edm.String Nullable=true, "
                             "Edm.String Nullable=true).")
        low = needle.replace("''", "'").casefold()
        check = {"substringof": lambda s: low in s, "startswith": lambda s: s.startswith(low),
                 "endswith": lambda s: s.endswith(low)}[func]
        return Clause(path, lambda v: isinstance(v, str) and check(v.casefold()))
    if m := _COMPARE.match(text):
        path, kind = _resolve(m.group(1).split("/"))
        return Clause(path, _comparison(kind, m.group(2), m.group(3).strip()))
    raise _not_simulated(f"The $filter clause '{text}'")


def _literal(text: str) -> tuple[str, Any]:
    if m := re.fullmatch(_STRING, text):
        return "Edm.String", m.group(1).replace("''", "'")
    if text in ("true", "false"):
        return "Edm.Boolean", text == "true"
    if text == "null":
        return "null", None
    if re.fullmatch(r"-?\d+", text):
        return "Edm.Int32", int(text)
    if re.fullmatch(r"-?\d+\.\d*[dDmM]?", text):
        return "Edm.Double", float(text.rstrip("dDmM"))
    if m := re.fullmatch(r"guid'([0-9a-fA-F-]{36})'|([0-9a-fA-F]{8}-[0-9a-fA-F-]{27})", text):
        try:
            return "Edm.Guid", str(uuid.UUID(m.group(1) or m.group(2)))
        except ValueError:
            pass
    if m := re.fullmatch(r"datetime'([^']+)'", text):
        try:
            return "Edm.DateTime", datetime.fromisoformat(m.group(1))
        except ValueError:
            raise ODataError(f"Unrecognized 'Edm.DateTime' literal '{text}'.") from None
    raise ODataError(f"Syntax error at position 0 in '{text}'.")


def _comparison(kind: str, op: str, text: str) -> Callable[[Any], bool]:
    lit_kind, literal = _literal(text)
    numeric = ("Edm.Int32", "Edm.Double")
    compatible = (lit_kind == "null" or lit_kind == kind or (lit_kind in numeric and kind in numeric))
    if not compatible or kind in ("Collection", "object"):
        raise ODataError(f"A binary operator with incompatible types was detected. Found operand types "
                         f"'{kind}' and '{lit_kind}' for operator kind '{_OPS[op]}'.")
    if kind == "Edm.String" and literal is not None:
        literal = literal.casefold()
    if kind == "Edm.Guid" and literal is not None:
        literal = literal.lower()

    def normal(value: Any) -> Any:
        if value is None:
            return None
        if kind == "Edm.String":
            return value.casefold()
        if kind == "Edm.DateTime":
            return datetime.fromisoformat(value)
        if kind == "Edm.Guid":
            return value.lower()
        return value

    def test(value: Any) -> bool:
        value = normal(value)
        if op == "eq":
            return value == literal
        if op == "ne":
            return value != literal
        if value is None or literal is None:
            return False
        return {"gt": value > literal, "ge": value >= literal, "lt": value < literal, "le": value <= literal}[op]

    return test
