"""The relations of one simulated SnelStart administration, and the /v2/relaties handlers.

Generated customers are computed on demand (snelstart_data); only relations created, changed (PUT)
or deleted through the API are held. Handlers answer (status, headers, body bytes) and expect the
caller to hold the simulator's lock.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from simulators.snelstart_data import (
    GUID_EMPTY,
    LAND_BY_ID,
    NL_ID,
    READ_FIELDS,
    GeneratedRelaties,
    format_modified,
    land_ref,
    relation_uris,
    write_view,
)
from simulators.snelstart_odata import ODataError, Query, parse_query
from simulators.snelstart_rules import ADDRESS_FIELDS, bind, business_errors, model_state, rule_errors

Answer = tuple[int, Mapping[str, str], Any]
_GENERATED: Any = object()  # "no stored version: compute it"
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def refuse(*codes: str) -> Answer:
    """400 with SnelStart's error list."""
    return 400, JSON_HEADERS, dump(rule_errors(*codes))


def guid_text(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


class RelatieStore:
    """Generated relations plus the API's changes to them; `now` gives modifiedOn for writes."""

    def __init__(self, generated: GeneratedRelaties, now: Callable[[], datetime]) -> None:
        self.generated = generated
        self._now = now
        self._overrides: dict[int, dict[str, Any] | None] = {}  # generated index -> PUT record, None = deleted
        self._created: dict[str, dict[str, Any]] = {}  # id -> record, in creation order
        self._codes: dict[int, str] = {}  # relatiecode -> id, for overridden and created relations
        self._deleted = 0  # generated relations deleted (they leave holes in the positions)
        self._max_code = generated.last_code
        self._version = 0  # bumped by every change, so stale listing cursors are never used
        self._cursors: OrderedDict[tuple[int, str], tuple[int, int]] = OrderedDict()
        self._fast: dict[str, Callable[[int], Any]] = {
            "relatiesoort": generated.relatiesoort, "nonactief": generated.nonactief, "naam": generated.naam,
            "email": generated.email, "relatiecode": generated.relatiecode, "id": generated.guid,
            "modifiedOn": generated.modified_on}

    @property
    def created(self) -> list[dict[str, Any]]:
        return list(self._created.values())

    # --- reading ---------------------------------------------------------------------------------

    def find(self, guid: str) -> tuple[int | str | None, dict[str, Any] | None]:
        """(generated index or created id, current record) for an id; (None, None) when unknown."""
        text = guid_text(guid)
        if text is None:
            return None, None
        if text in self._created:
            return text, self._created[text]
        i = self.generated.index_of_guid(text)
        if i is None:
            return None, None
        record = self._overrides[i] if i in self._overrides else self.generated.record(i)
        return (i, record) if record is not None else (None, None)

    def get(self, guid: str, _query: Any = None, _body: Any = None) -> Answer:
        if guid_text(guid) is None:
            return refuse("ALG-0103")
        _, record = self.find(guid)
        if record is None:
            return 404, {}, b""
        if record["nonactief"]:  # "Geeft een actieve relatie terug"; ALG-0105 "Het item is nonactief"
            return refuse("ALG-0105")
        return 200, JSON_HEADERS, dump(record)

    def list(self, _id: None, params: dict[str, str], _body: Any = None) -> Answer:
        try:
            query = parse_query(params)
        except ODataError as error:
            return 400, {**JSON_HEADERS, "X-Specbridge-Simulator": error.detail.encode("ascii", "replace").decode()}, \
                dump(error.body)
        return 200, JSON_HEADERS, dump(self._page(query))

    def _page(self, query: Query) -> list[dict[str, Any]]:
        """The page of (shaped) records `query` asks for."""
        count, created = self.generated.count, list(self._created.values())
        total = count + len(created)
        out: list[dict[str, Any]] = []
        if not query.clauses and not self._deleted:  # plain paging: straight to the position
            for pos in range(query.skip, min(total, query.skip + query.top)):
                override = created[pos - count] if pos >= count else self._overrides.get(pos)
                out.append(query.shape(override) if override is not None else self._generated(pos, query.select))
            return out
        key = (self._version, query.filter_key)
        matched, pos = self._cursors.get(key, (0, 0))
        if matched > query.skip:
            matched, pos = 0, 0
        while pos < total and len(out) < query.top:
            get, build = self._at(pos, count, created, query.select)
            pos += 1
            if get is None or not query.matches(get):
                continue
            if matched < query.skip:
                matched += 1
                continue
            out.append(build())
        self._cursors[key] = (query.skip + len(out), pos)
        self._cursors.move_to_end(key)
        while len(self._cursors) > 64:
            self._cursors.popitem(last=False)
        return out

    def _at(self, pos: int, count: int, created: list[dict[str, Any]],
            select: tuple[str, ...] | None) -> tuple[Any, Callable[[], dict[str, Any]]]:
        """(field getter, or None when deleted; the shaped record) for a position in the listing."""
        stored = created[pos - count] if pos >= count else self._overrides.get(pos, _GENERATED)
        if stored is None:
            return None, dict
        if stored is not _GENERATED:
            return stored.get, lambda: stored if select is None else {k: stored[k] for k in select}
        built: dict[str, Any] = {}

        def whole() -> dict[str, Any]:
            if not built:
                built.update(self.generated.record(pos))
            return built

        def get(name: str) -> Any:
            fast = self._fast.get(name)
            return fast(pos) if fast is not None else whole()[name]

        if select is None:
            return get, whole
        return get, lambda: {k: get(k) for k in select}

    def _generated(self, pos: int, select: tuple[str, ...] | None) -> dict[str, Any]:
        """Generated relation `pos`, or just the selected fields (without building it when it can)."""
        if select is not None and all(k in self._fast for k in select):
            return {k: self._fast[k](pos) for k in select}
        record = self.generated.record(pos)
        return record if select is None else {k: record[k] for k in select}

    # --- writing ---------------------------------------------------------------------------------

    def _soort_of(self, guid: str) -> list[str] | None:
        record = self.find(guid)[1]
        return record["relatiesoort"] if record else None

    def _code_in_use(self, code: int, owner: str | None = None) -> bool:
        if code in self._codes:
            return self._codes[code] != owner
        i = self.generated.index_of_code(code)
        return i is not None and i not in self._overrides

    def _validate(self, body: Any) -> tuple[dict[str, Any] | None, Answer | None, list[str]]:
        if body is None or body == {}:
            return None, refuse("ALG-0106"), []
        if not isinstance(body, dict):
            return None, refuse("REL-0066"), []
        model, errors = bind(body)
        if errors:
            return None, (400, JSON_HEADERS, dump(model_state(errors))), []
        codes = business_errors(model, land_exists=LAND_BY_ID.__contains__, relatiesoort_of=self._soort_of)
        return model, None, codes

    def create(self, _id: None, _query: Any, body: Any) -> Answer:
        model, refused, codes = self._validate(body)
        if model is None:
            return refused  # type: ignore[return-value]
        if model["id"] not in (None, GUID_EMPTY):
            codes.append("ALG-0100")
        code = model["relatiecode"] or None
        if code is not None and self._code_in_use(code):
            codes.append("REL-0008")
        if codes:
            return refuse(*sorted(codes))
        guid = str(uuid.uuid4())
        code = code if code is not None else self._max_code + 1
        record = self._build(model, guid, code, None)
        self._created[guid] = record
        self._codes[code] = guid
        self._changed(code)
        return 201, JSON_HEADERS, dump(write_view(record))

    def update(self, guid: str, _query: Any, body: Any) -> Answer:
        if guid_text(guid) is None:
            return refuse("ALG-0103")
        where, current = self.find(guid)
        if current is None:
            return 404, {}, b""
        model, refused, codes = self._validate(body)
        if model is None:
            return refused  # type: ignore[return-value]
        guid = current["id"]
        if model["id"] not in (None, GUID_EMPTY, guid):
            codes.append("ALG-0101")
        if model["relatiesoort"] and sorted(set(model["relatiesoort"])) != sorted(current["relatiesoort"]):
            codes.append("REL-0064")
        code = model["relatiecode"] or current["relatiecode"]
        if code != current["relatiecode"] and self._code_in_use(code, guid):
            codes.append("REL-0008")
        if codes:
            return refuse(*sorted(set(codes)))
        record = self._build(model, guid, code, current)
        self._codes.pop(current["relatiecode"], None)
        self._codes[code] = guid
        if isinstance(where, int):
            self._overrides[where] = record
        else:
            self._created[guid] = record
        self._changed(code)
        return 200, JSON_HEADERS, dump(write_view(record))

    def delete(self, guid: str, _query: Any = None, _body: Any = None) -> Answer:
        if guid_text(guid) is None:
            return refuse("ALG-0103")
        where, current = self.find(guid)
        if current is None:
            return 404, {}, b""
        if isinstance(where, int):
            self._overrides[where] = None
            self._deleted += 1
        else:
            del self._created[current["id"]]
        self._codes.pop(current["relatiecode"], None)
        self._changed(0)
        return 200, JSON_HEADERS, dump({})

    def _changed(self, code: int) -> None:
        self._max_code = max(self._max_code, code)
        self._version += 1
        self._cursors.clear()

    def _build(self, model: dict[str, Any], guid: str, code: int, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The stored RelatieModel for a bound write model (PUT replaces every writable field)."""

        def address(value: dict[str, Any] | None) -> dict[str, Any] | None:
            if value is None:
                return None
            land = value["land"] if value["land"] not in (None, GUID_EMPTY) else NL_ID  # SnelStart's default
            return {**{f: value[f] for f in ADDRESS_FIELDS}, "land": land_ref(land)}

        relation = model["factuurRelatie"]
        record = {
            **model,
            "relatiesoort": sorted(set(model["relatiesoort"]), key=model["relatiesoort"].index),
            "modifiedOn": format_modified(self._now()),
            "relatiecode": code,
            "vestigingsAdres": address(model["vestigingsAdres"]),
            "correspondentieAdres": address(model["correspondentieAdres"]),
            "fax": previous["fax"] if previous else None,
            "factuurkorting": model["factuurkorting"] or 0.0,
            "krediettermijn": model["krediettermijn"] or 0,
            "kredietLimiet": model["kredietLimiet"] or 0.0,
            "bankieren": bool(model["bankieren"]),
            "nonactief": bool(model["nonactief"]),
            "ublBestandAlsBijlage": bool(model["ublBestandAlsBijlage"]),
            "aanmaningsoort": model["aanmaningsoort"] or "Nee",
            "incassoSoort": model["incassoSoort"] or "Geen",
            "factuurRelatie": None if relation in (None, GUID_EMPTY) else {"id": relation, "uri": f"/relaties/{relation}"},
            "documents": previous["documents"] if previous else [],
            "id": guid,
            "extraVeldenKlant": previous["extraVeldenKlant"] if previous else [],  # read-only here
            **relation_uris(guid),
        }
        for name in ("naam", "telefoon", "mobieleTelefoon", "email", "btwNummer", "memo", "kvkNummer", "oin",
                     "websiteUrl", "iban", "bic"):
            record.setdefault(name, None)
        return {k: record[k] for k in READ_FIELDS}
