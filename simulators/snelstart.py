"""A SnelStart B2B API v2 simulator: token server, Azure API Management front door and /v2 API.

    sim = SnelStartSimulator("client-key", "subscription-key", customers=1000, seed=7)
    with serve(sim) as server:   # server.base_url = .../v2, server.token_url = .../b2b/token
        ...
    sim.faults.append(Fault("drop_after", method="POST"))   # the next POST is done, then unanswered

What it copies from the real service (docs: shared/reference/erp-apis.md section 1 and the OpenAPI):

- `POST /b2b/token` (auth.snelstart.nl): form `grant_type=clientkey&clientkey=...` (or `grant_type=password`
  with the two halves of the base64 client key) -> `{"access_token", "token_type": "bearer", "expires_in"}`;
  OAuth errors `{"error": "invalid_grant"}` (wrong key), `unsupported_grant_type`, `invalid_request`.
- Every `/v2` call passes API Management first: `Ocp-Apim-Subscription-Key` header (or `subscription-key`
  query) -> else 401 `{"statusCode": 401, "message": "Access denied due to missing|invalid subscription key..."}`;
  then a valid, unexpired bearer token -> else 401 `{"statusCode": 401, "message": "Unauthorized. Access
  token is missing or invalid."}`; an operation the API does not have -> 404 `{"statusCode": 404, "message":
  "Resource not found"}`.
- `GET /v2/landen`, `GET /v2/landen/{id}`; `GET /v2/relaties` (OData, see snelstart_odata), `POST /v2/relaties`
  (201), `GET|PUT|DELETE /v2/relaties/{id}` (200; 404 with an empty body for an unknown id). Validation as
  in snelstart_rules.

Generated customers are computed on demand (snelstart_data); only created, changed and deleted relations
are held. Every request is recorded in `sim.requests`; `sim.token_requests` counts token grants asked for.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulators.servers import Drop, http_server
from simulators.snelstart_data import (
    GUID_EMPTY,
    LAND_BY_ID,
    LANDEN,
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

__all__ = ["Fault", "SimRequest", "SnelStartServer", "SnelStartSimulator", "serve"]

Answer = tuple[int, Mapping[str, str], Any]
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_NO_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when "
           "making requests to an API.")
_BAD_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an active "
            "subscription.")
_BAD_TOKEN = "Unauthorized. Access token is missing or invalid."
_FAULT_KINDS = ("status", "drop_before", "drop_after", "delay")


@dataclass(frozen=True)
class Fault:
    """One injected failure, used up by the next request it matches.

    kind: "status" (answer `value`, an HTTP status, without doing anything), "drop_before" (close the
    connection without doing anything), "drop_after" (do the request, then close without answering),
    "delay" (wait `value` seconds, then do and answer the request).
    method/path: match only that method / paths starting with `path` ("/v2/relaties").
    target: "api" (the /v2 API) or "token" (the token endpoint).
    """

    kind: str
    value: float | None = None
    retry_after: float | None = None  # "status": send a Retry-After header (whole seconds)
    method: str | None = None
    path: str | None = None
    target: str = "api"
    body: Any = None  # "status": answer this body instead of the usual one for the status

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"Fault kind must be one of {_FAULT_KINDS}, not {self.kind!r}")
        if self.kind in ("status", "delay") and self.value is None:
            raise ValueError(f"Fault({self.kind!r}) needs a value (a status code or seconds)")
        if self.target not in ("api", "token"):
            raise ValueError("Fault target must be 'api' or 'token'")

    def matches(self, target: str, method: str, path: str) -> bool:
        return (self.target == target and (self.method is None or self.method.upper() == method)
                and (self.path is None or path.startswith(self.path)))


@dataclass(frozen=True)
class SimRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, a dict for a form, else the text (None when empty)
    target: str  # "api", "token" or "other"


@dataclass(frozen=True)
class SnelStartServer:
    url: str  # http://127.0.0.1:port
    base_url: str  # url + "/v2": the spec's BaseUrl
    token_url: str  # url + "/b2b/token": the spec's TokenUrl
    ca_file: str | None


class SnelStartSimulator:
    """One SnelStart administration behind its API; `app` is the HTTP handler."""

    def __init__(self, client_key: str, subscription_key: str, *, customers: int = 0, seed: int = 1,
                 latency: float = 0.0, token_lifetime: int = 3599) -> None:
        self.client_key, self.subscription_key = client_key, subscription_key
        self.latency, self.token_lifetime = latency, token_lifetime
        self.generated = GeneratedRelaties(customers, seed)
        self.faults: list[Fault] = []
        self.requests: list[SimRequest] = []
        self.token_requests = 0
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on the simulator's clock
        self._clock_offset = 0.0
        self._overrides: dict[int, dict[str, Any] | None] = {}  # generated index -> PUT record, None = deleted
        self._created: dict[str, dict[str, Any]] = {}  # id -> record, in creation order
        self._codes: dict[int, str] = {}  # relatiecode -> id, for overridden and created relations
        self._max_code = self.generated.last_code
        self._version = 0  # bumped by every change, so stale listing cursors are never used
        self._cursors: OrderedDict[tuple[int, str], tuple[int, int]] = OrderedDict()
        gen = self.generated
        self._fast: dict[str, Callable[[int], Any]] = {
            "relatiesoort": gen.relatiesoort, "nonactief": gen.nonactief, "naam": gen.naam, "email": gen.email,
            "relatiecode": gen.relatiecode, "id": gen.guid, "modifiedOn": gen.modified_on}

    # --- helpers for tests --------------------------------------------------------------------

    def advance_clock(self, seconds: float) -> None:
        """Move the token clock forward (to expire tokens without waiting)."""
        with self._lock:
            self._clock_offset += seconds

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def relatie(self, guid: str) -> dict[str, Any] | None:
        """The stored RelatieModel for an id (generated, created or changed), or None."""
        with self._lock:
            return self._find(guid)[1]

    @property
    def created(self) -> list[dict[str, Any]]:
        """Relations created through POST, in order."""
        with self._lock:
            return list(self._created.values())

    def serve(self, *, tls: bool = False) -> Any:
        return serve(self, tls=tls)

    # --- the HTTP handler -----------------------------------------------------------------------

    def app(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        route = "token" if path == "/b2b/token" else "api" if path == "/v2" or path.startswith("/v2/") else "other"
        parsed = _parse_body(headers.get("content-type", ""), body)
        with self._lock:
            self.requests.append(SimRequest(method, path, query, dict(headers), parsed, route))
            if route == "token":
                self.token_requests += 1
            fault = next((f for f in self.faults if f.matches(route, method, path)), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault is not None:
            if fault.kind == "status":
                return _fault_answer(fault)
            if fault.kind == "drop_before":
                raise Drop
            if fault.kind == "delay":
                time.sleep(float(fault.value or 0))
        if route == "api" and self.latency:
            time.sleep(self.latency)
        if route == "token":
            answer = self._token(method, headers, parsed)
        elif route == "api":
            answer = self._api(method, path, query, headers, parsed, body)
        else:
            answer = _apim(404, "Resource not found")
        if fault is not None and fault.kind == "drop_after":
            raise Drop
        return answer

    # --- token endpoint (auth.snelstart.nl) --------------------------------------------------------

    def _token(self, method: str, headers: Mapping[str, str], form: Any) -> Answer:
        plain = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1", **_JSON}
        if method != "POST" or not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, plain, _dump({"error": "invalid_request"})
        grant = form.get("grant_type")
        if grant == "clientkey":
            ok = secrets.compare_digest(form.get("clientkey", ""), self.client_key)
        elif grant == "password":
            pair = f"{form.get('username', '')}:{form.get('password', '')}".encode()
            ok = secrets.compare_digest(base64.b64encode(pair).decode(), self.client_key)
        else:
            return 400, plain, _dump({"error": "unsupported_grant_type"})
        if not ok:
            return 400, plain, _dump({"error": "invalid_grant"})
        token = secrets.token_urlsafe(96)
        with self._lock:
            self._tokens[token] = self._now() + self.token_lifetime
        return 200, plain, _dump({"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime})

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    # --- API Management and routing ----------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
             parsed: Any, raw: bytes) -> Answer:
        key = headers.get("ocp-apim-subscription-key", query.pop("subscription-key", None))
        if not key:
            return _apim(401, _NO_KEY)
        if not secrets.compare_digest(key, self.subscription_key):
            return _apim(401, _BAD_KEY)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            expiry = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
            if expiry is None or expiry <= self._now():
                return _apim(401, _BAD_TOKEN)
        parts = path.split("/")[2:]  # "/v2/relaties/x" -> ["relaties", "x"]
        handler = _ROUTES.get((method, parts[0], len(parts))) if parts else None
        if handler is None:
            return _apim(404, "Resource not found")
        if method in ("POST", "PUT"):
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in ("application/json", "text/json"):
                shown = kind or "application/octet-stream"
                return 415, _JSON, _dump({"message": f"The request entity's media type '{shown}' is not "
                                                     "supported for this resource."})
        with self._lock:
            return handler(self, parts[1] if len(parts) > 1 else None, query, parsed)

    # --- landen -------------------------------------------------------------------------------------

    def _landen(self, _id: None, _query: dict[str, str], _body: Any) -> Answer:
        return 200, _JSON, _dump(LANDEN)

    def _land(self, land_id: str, _query: dict[str, str], _body: Any) -> Answer:
        land = LAND_BY_ID.get(_guid_text(land_id) or "")
        return (200, _JSON, _dump(land)) if land else (404, {}, b"")

    # --- relaties: reading ----------------------------------------------------------------------

    def _find(self, guid: str) -> tuple[int | str | None, dict[str, Any] | None]:
        """(generated index or created id, current record) for an id; (None, None) when unknown."""
        text = _guid_text(guid)
        if text is None:
            return None, None
        if text in self._created:
            return text, self._created[text]
        i = self.generated.index_of_guid(text)
        if i is None:
            return None, None
        record = self._overrides[i] if i in self._overrides else self.generated.record(i)
        return (i, record) if record is not None else (None, None)

    def _get_relatie(self, guid: str, _query: dict[str, str], _body: Any) -> Answer:
        _, record = self._find(guid)
        return (200, _JSON, _dump(record)) if record else (404, {}, b"")

    def _list_relaties(self, _id: None, params: dict[str, str], _body: Any) -> Answer:
        try:
            query = parse_query(params)
        except ODataError as error:
            return 400, _JSON, _dump(error.body)
        return 200, _JSON, _dump([query.shape(r) for r in self._page(query)])

    def _page(self, query: Query) -> list[dict[str, Any]]:
        count, created = self.generated.count, list(self._created.values())
        total = count + len(created)
        out: list[dict[str, Any]] = []
        if not query.clauses and not self._overrides:  # plain paging: straight to the position
            for pos in range(query.skip, min(total, query.skip + query.top)):
                out.append(self.generated.record(pos) if pos < count else created[pos - count])
            return out
        key = (self._version, query.filter_key)
        matched, pos = self._cursors.get(key, (0, 0))
        if matched > query.skip:
            matched, pos = 0, 0
        while pos < total and len(out) < query.top:
            get, build = self._at(pos, count, created)
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

    def _at(self, pos: int, count: int, created: list[dict[str, Any]]) -> tuple[Any, Callable[[], dict[str, Any]]]:
        """(field getter, or None when deleted; the whole record) for a position in the listing."""
        if pos >= count:
            record = created[pos - count]
            return record.get, lambda: record
        if pos in self._overrides:
            override = self._overrides[pos]
            return (override.get if override is not None else None), lambda: override  # type: ignore[return-value]
        built: dict[str, Any] = {}

        def build() -> dict[str, Any]:
            if not built:
                built.update(self.generated.record(pos))
            return built

        def get(name: str) -> Any:
            fast = self._fast.get(name)
            return fast(pos) if fast is not None else build()[name]

        return get, build

    # --- relaties: writing ------------------------------------------------------------------------

    def _soort_of(self, guid: str) -> list[str] | None:
        record = self._find(guid)[1]
        return record["relatiesoort"] if record else None

    def _code_in_use(self, code: int, owner: str | None = None) -> bool:
        if code in self._codes:
            return self._codes[code] != owner
        i = self.generated.index_of_code(code)
        return i is not None and i not in self._overrides

    def _validate(self, body: Any) -> tuple[dict[str, Any] | None, Answer | None, list[str]]:
        if not isinstance(body, dict):
            return None, (400, _JSON, _dump(rule_errors("REL-0066"))), []
        model, errors = bind(body)
        if errors:
            return None, (400, _JSON, _dump(model_state(errors))), []
        codes = business_errors(model, land_exists=LAND_BY_ID.__contains__, relatiesoort_of=self._soort_of)
        return model, None, codes

    def _create(self, _id: None, _query: dict[str, str], body: Any) -> Answer:
        model, refused, codes = self._validate(body)
        if model is None:
            return refused  # type: ignore[return-value]
        if model["id"] not in (None, GUID_EMPTY):
            codes.append("REL-0063")
        code = model["relatiecode"] or None
        if code is not None and self._code_in_use(code):
            codes.append("REL-0008")
        if codes:
            return 400, _JSON, _dump(rule_errors(*sorted(codes)))
        guid = str(uuid.uuid4())
        code = code if code is not None else self._max_code + 1
        record = self._build(model, guid, code, None)
        self._created[guid] = record
        self._codes[code] = guid
        self._changed(code)
        return 201, _JSON, _dump(write_view(record))

    def _update(self, guid: str, _query: dict[str, str], body: Any) -> Answer:
        where, current = self._find(guid)
        if current is None:
            return 404, {}, b""
        model, refused, codes = self._validate(body)
        if model is None:
            return refused  # type: ignore[return-value]
        guid = current["id"]
        if model["id"] not in (None, GUID_EMPTY, guid):
            codes.append("REL-0047")
        if model["relatiesoort"] and sorted(set(model["relatiesoort"])) != sorted(current["relatiesoort"]):
            codes.append("REL-0064")
        code = model["relatiecode"] or current["relatiecode"]
        if code != current["relatiecode"] and self._code_in_use(code, guid):
            codes.append("REL-0008")
        if codes:
            return 400, _JSON, _dump(rule_errors(*sorted(set(codes))))
        record = self._build(model, guid, code, current)
        self._codes.pop(current["relatiecode"], None)
        self._codes[code] = guid
        if isinstance(where, int):
            self._overrides[where] = record
        else:
            self._created[guid] = record
        self._changed(code)
        return 200, _JSON, _dump(write_view(record))

    def _delete(self, guid: str, _query: dict[str, str], _body: Any) -> Answer:
        where, current = self._find(guid)
        if current is None:
            return 404, {}, b""
        if isinstance(where, int):
            self._overrides[where] = None
        else:
            del self._created[current["id"]]
        self._codes.pop(current["relatiecode"], None)
        self._changed(0)
        return 200, _JSON, _dump({})

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
            "modifiedOn": format_modified(datetime.now(UTC).replace(tzinfo=None)
                                          + timedelta(seconds=self._clock_offset)),
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


_ROUTES: dict[tuple[str, str, int], Callable[..., Answer]] = {
    ("GET", "landen", 1): SnelStartSimulator._landen,
    ("GET", "landen", 2): SnelStartSimulator._land,
    ("GET", "relaties", 1): SnelStartSimulator._list_relaties,
    ("POST", "relaties", 1): SnelStartSimulator._create,
    ("GET", "relaties", 2): SnelStartSimulator._get_relatie,
    ("PUT", "relaties", 2): SnelStartSimulator._update,
    ("DELETE", "relaties", 2): SnelStartSimulator._delete,
}


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _apim(status: int, message: str) -> Answer:
    return status, _JSON, _dump({"statusCode": status, "message": message})


def _guid_text(text: str) -> str | None:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def _parse_body(content_type: str, body: bytes) -> Any:
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return text


def _fault_answer(fault: Fault) -> Answer:
    status = int(fault.value or 500)
    headers = dict(_JSON)
    if fault.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(fault.retry_after))
    if fault.body is not None:
        body = fault.body
    elif status == 429:
        wait = f"{math.ceil(fault.retry_after)} seconds" if fault.retry_after is not None else "a while"
        body = {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait}."}
    elif status == 500:
        body = {"message": "An error has occurred."}  # ASP.NET Web API's unhandled-exception answer
    else:
        body = {"statusCode": status, "message": HTTPStatus(status).phrase}
    return status, headers, body if isinstance(body, bytes | str) else _dump(body)


@contextmanager
def serve(sim: SnelStartSimulator, *, tls: bool = False) -> Iterator[SnelStartServer]:
    """Run the simulator on loopback: token endpoint and API on one port."""
    with http_server(sim.app, tls=tls) as http:
        yield SnelStartServer(http.url, f"{http.url}/v2", f"{http.url}/b2b/token", http.ca_file)

