"""A Visma AccountView Net simulator: the v3 REST API's token, AR1 and PP1 calls on loopback.

Sources: shared/reference/erp-apis.md section 2 (the Go client `omniboost/go-accountview.net`,
the Ruby client, a PHP integration, the App4Sales connector docs) and the CONTACT data
dictionary, trimmed into simulators/data/. What it does:

- `POST /api/v3/token`, form `grant_type=refresh_token&refresh_token=..&client_id=..&client_secret=..`
  (client credentials in the body, as the Go client sends them). Refresh tokens ROTATE: each
  refresh answers `{"access_token", "token_type": "bearer", "expires_in", "refresh_token"}` with
  a new refresh token and invalidates the old one; reusing it gives 400 `{"error": "invalid_grant"}`.
  Wrong client: 400 `invalid_client`; other grants: 400 `unsupported_grant_type`.
  `sim.current_refresh_token` is the one the server accepts now. Access tokens live
  `access_lifetime` seconds; `sim.expire_access_tokens()` ends them all at once.
- Every other call needs `Authorization: Bearer <access token>` (else 401, ASP.NET Web API's
  `{"Message": "Authorization has been denied for this request."}`; our assumption) and
  `X-Company: <company id>` (header names ignore case; missing: 400, another company: 403, both
  with the AccountView error body). `GET /api/v3/companies` needs only the bearer token.
- `POST /api/v3/accountviewdata`: the body shape in erp-apis.md. `Values` are positional per
  `Definition.Fields`; `RowId` may stand anywhere among the fields and is not stored. Field
  names ignore case (FoxPro) and come back upper-case. Values are checked against the data
  dictionary: unknown fields, C values longer than the field, wrong value kinds (loosely: "12"
  is a number, 1/"true"/".T." a logical, a number a string), empty mandatory fields. Fields with
  format `!` are stored upper-case, as AccountView does (so `d1001` is stored as `D1001`).
  Rows upsert by their key: `SUB_NR` for AR1, `PP_CODE` for PP1 (insert when new, else the
  fields sent replace the stored ones); the server stamps `INP_DATE`, `CNG_DATE` and `CNG_NR`.
  All rows are checked before any is stored. Answer: 200 `{"PrimaryKey": "<key of the first row>"}`.
- `GET /api/v3/accountviewdata?BusinessObject=AR1&PageSize=..&FilterControlSource1=SUB_NR&
  FilterOperator1=Equal&FilterValueType1=C&FilterValue1=..` answers `{"CONTACT": [{...}]}`
  (PP1: `{"PERSON": [...]}`), rows sorted by key with every dictionary field upper-case
  (unset ones at their empty value), `Fields=contact.sub_nr,...` to choose fields, and keyset
  paging with `lastKey`. Query names ignore case. Operators: Equal, NotEqual, Contains,
  DateOnOrAfterDate; `FilterIsListOfValues=true` takes a comma list. PageSize defaults to 100.
- Errors: 400 `{"ErrorType": "AccountViewError", "ErrorNumbers": null, "ErrorMessage": "..."}`.
  `sim.quirk_error_in_200 = True` answers validation errors with status 200 and the same body,
  as the clients guard against, so specs must check the body and not only the status.

**Our decisions** (no public source): business object PP1 is table `PERSON` with the fields in
simulators/data/accountview_person_fields.json (PP_CODE C10 mandatory and the key, FST_NAME C30,
LST_NAME C50, DSP_NAME C50, MAIL_BUS C50, TEL_BUS C20, TEL_MOB C20, SUB_NR C10 whose customer
need not exist yet); AR1's `MAIN_PP` and `ADMIN_PP`, when not empty, must name an existing
PP_CODE; detail tables are refused; several rows answer the first row's key.

`sim.faults` takes `simulators.faults.Fault`s (the token endpoint only with target="token");
`sim.requests` records every request; `sim.contacts` maps SUB_NR and `sim.persons` PP_CODE to
the stored fields.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulators.faults import Answer, FaultQueue, run_with_faults
from simulators.servers import HttpServer, Recorded, http_server

BASE = "/api/v3"
DATA = Path(__file__).parent / "data"
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}
FIELD_TYPES = frozenset("CDILMNTY")
DEFAULT_PAGE_SIZE = 100
NOT_AUTHORIZED = {"Message": "Authorization has been denied for this request."}


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str  # C char, N numeric, L logical, I integer, T datetime, D date, Y currency, M memo
    length: int
    mandatory: bool
    upper: bool  # format "!": stored upper-case


@dataclass(frozen=True)
class BusinessObject:
    code: str
    table: str
    key: str
    fields: Mapping[str, FieldDef]


def _load_fields(file: str) -> dict[str, FieldDef]:
    rows = json.loads((DATA / file).read_text(encoding="utf-8"))
    return {r["name"]: FieldDef(r["name"], r["type"], r["length"], r["mandatory"], r["format"] == "!")
            for r in rows}


BUSINESS_OBJECTS = {
    "AR1": BusinessObject("AR1", "CONTACT", "SUB_NR", _load_fields("accountview_contact_fields.json")),
    "PP1": BusinessObject("PP1", "PERSON", "PP_CODE", _load_fields("accountview_person_fields.json")),
}
PERSON_LINKS = ("MAIN_PP", "ADMIN_PP")  # AR1 fields naming a PP1 record


class _Invalid(Exception):  # noqa: N818 - internal: becomes an AccountViewError answer
    """A request the API refuses: a validation error (quirk mode may answer it with 200)."""

    def __init__(self, message: str, status: int = 400, validation: bool = True) -> None:
        super().__init__(message)
        self.message, self.status, self.validation = message, status, validation


def _error_body(message: str) -> dict[str, Any]:
    return {"ErrorType": "AccountViewError", "ErrorNumbers": None, "ErrorMessage": message}


def _now() -> str:
    return datetime.now().replace(microsecond=0).isoformat()


# --- values against the data dictionary --------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert(field: FieldDef, value: Any) -> Any:
    """The stored form of `value` for `field`, or _Invalid. Loose, as a JSON API over FoxPro is."""
    kind = field.type
    if kind in "CM":
        if value is None:
            value = ""
        elif _is_number(value):
            value = str(value)
        elif not isinstance(value, str):
            raise _Invalid(f"Field {field.name}: expected text, got {json.dumps(value)}")
        if field.upper:
            value = value.upper()
        if kind == "C" and len(value) > field.length:
            raise _Invalid(f"Field {field.name}: value is too long ({len(value)} characters, "
                           f"maximum {field.length})")
        return value
    if kind in "NY":
        if value is None or value == "":
            return 0
        if _is_number(value):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _Invalid(f"Field {field.name}: expected a number, got {json.dumps(value)}")
    if kind == "I":
        if value is None or value == "":
            return 0
        if _is_number(value) and float(value).is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        raise _Invalid(f"Field {field.name}: expected an integer, got {json.dumps(value)}")
    if kind == "L":
        if value is None or value == "":
            return False
        if isinstance(value, bool):
            return value
        if value in (0, 1):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("true", "t", ".t.", "1", "y"):
            return True
        if text in ("false", "f", ".f.", "0", "n"):
            return False
        raise _Invalid(f"Field {field.name}: expected a logical, got {json.dumps(value)}")
    # T and D: an ISO date or date-time, or empty
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed.date().isoformat() if kind == "D" else parsed.replace(tzinfo=None).isoformat()
    raise _Invalid(f"Field {field.name}: expected a date, got {json.dumps(value)}")


def _empty(field: FieldDef) -> Any:
    return {"N": 0, "Y": 0, "I": 0, "L": False, "T": None, "D": None}.get(field.type, "")


# --- the simulator -----------------------------------------------------------------------------

class AccountViewSimulator:
    """AccountView Net for one company and one API client, with a rotating refresh token."""

    def __init__(self, client_id: str, client_secret: str, refresh_token: str, company_id: str, *,
                 access_lifetime: int = 3600, latency: float = 0.0) -> None:
        self.client_id, self.client_secret, self.company_id = client_id, client_secret, company_id
        self.current_refresh_token = refresh_token
        self.access_lifetime = access_lifetime
        self.latency = latency
        self.quirk_error_in_200 = False
        self.contacts: dict[str, dict[str, Any]] = {}
        self.persons: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.faults = FaultQueue()
        self.access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.refresh_count = 0
        self._lock = threading.Lock()

    @contextmanager
    def serve(self, *, tls: bool = False) -> Iterator[HttpServer]:
        """Run the simulator on loopback; yields the server (`.url`; the API is at `.url + "/api/v3"`)."""
        with http_server(self.app, tls=tls) as server:
            yield server

    def issue_access_token(self) -> str:
        """An access token valid now, for tests that do not exercise the token endpoint."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.access_tokens[token] = time.monotonic() + self.access_lifetime
        return token

    def expire_access_tokens(self) -> None:
        """End every access token, as if their lifetime had passed: the next call gets 401."""
        with self._lock:
            self.access_tokens.clear()

    def _table(self, bo: BusinessObject) -> dict[str, dict[str, Any]]:
        return self.contacts if bo.code == "AR1" else self.persons

    # --- the HTTP app --------------------------------------------------------------------------

    def app(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        self.requests.append(Recorded(method, path, dict(headers), body))
        if self.latency:
            time.sleep(self.latency)
        route = urlsplit(path).path.rstrip("/").lower()  # ASP.NET routes ignore case
        target = "token" if route == f"{BASE}/token" else "api"
        return run_with_faults(self.faults, method, path,
                               lambda: self._route(method, path, route, headers, body), target=target)

    def _route(self, method: str, path: str, route: str, headers: Mapping[str, str], body: bytes) -> Answer:
        query = {name.lower(): value for name, value in parse_qsl(urlsplit(path).query, keep_blank_values=True)}
        handlers: dict[tuple[str, str], Callable[[], Answer]] = {
            ("POST", f"{BASE}/token"): lambda: self._token(headers, body),
            ("GET", f"{BASE}/companies"): lambda: self._companies(headers),
            ("GET", f"{BASE}/accountviewdata"): lambda: self._api(headers, lambda: self._get(query)),
            ("POST", f"{BASE}/accountviewdata"): lambda: self._api(headers, lambda: self._post(body)),
        }
        handler = handlers.get((method, route))
        if handler is not None:
            return handler()
        if any(r == route for _, r in handlers):
            return 405, JSON_TYPE, {"Message": f"The requested resource does not support http method '{method}'."}
        return 404, JSON_TYPE, {"Message": f"No HTTP resource was found that matches the request URI '{path}'."}

    # --- auth ----------------------------------------------------------------------------------

    def _token(self, headers: Mapping[str, str], body: bytes) -> Answer:
        def refuse(error: str) -> Answer:
            return 400, {**JSON_TYPE, "Cache-Control": "no-store"}, {"error": error}

        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            return refuse("invalid_request")
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return refuse("invalid_request")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return refuse("invalid_client")
        if form.get("grant_type") != "refresh_token":
            return refuse("unsupported_grant_type")
        if not form.get("refresh_token"):
            return refuse("invalid_request")
        with self._lock:
            if form["refresh_token"] != self.current_refresh_token:
                return refuse("invalid_grant")
            self.current_refresh_token = secrets.token_urlsafe(32)
            self.refresh_count += 1
            access = secrets.token_urlsafe(32)
            self.access_tokens[access] = time.monotonic() + self.access_lifetime
            answer = {"access_token": access, "token_type": "bearer", "expires_in": self.access_lifetime,
                      "refresh_token": self.current_refresh_token}
        return 200, {**JSON_TYPE, "Cache-Control": "no-store"}, answer

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        with self._lock:
            expiry = self.access_tokens.get(token.strip())
        return scheme.lower() == "bearer" and expiry is not None and time.monotonic() < expiry

    def _companies(self, headers: Mapping[str, str]) -> Answer:
        if not self._authorized(headers):
            return 401, {**JSON_TYPE, "WWW-Authenticate": "Bearer"}, NOT_AUTHORIZED
        return 200, JSON_TYPE, [{"Id": self.company_id, "Description": "Simulated company", "Code": "SIM"}]

    def _api(self, headers: Mapping[str, str], handle: Callable[[], Any]) -> Answer:
        if not self._authorized(headers):
            return 401, {**JSON_TYPE, "WWW-Authenticate": "Bearer"}, NOT_AUTHORIZED
        company = headers.get("x-company", "").strip()
        try:
            if not company:
                raise _Invalid("The X-Company header is missing", validation=False)
            if company != self.company_id:
                raise _Invalid(f"No access to company '{company}'", status=403, validation=False)
            return 200, JSON_TYPE, handle()
        except _Invalid as invalid:
            status = 200 if invalid.validation and self.quirk_error_in_200 else invalid.status
            return status, JSON_TYPE, _error_body(invalid.message)

    # --- POST accountviewdata ------------------------------------------------------------------

    def _post(self, body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Invalid(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise _Invalid("The request body must be a JSON object")
        bo = self._business_object(payload.get("BusinessObject"))
        book_date = payload.get("BookDate")
        if book_date is not None:
            try:
                datetime.fromisoformat(str(book_date).replace("Z", "+00:00"))
            except ValueError:
                raise _Invalid(f"BookDate is not a date: {book_date!r}") from None
        table = payload.get("Table")
        definition = table.get("Definition") if isinstance(table, dict) else None
        if not isinstance(definition, dict):
            raise _Invalid("Table.Definition is missing")
        if str(definition.get("Name", "")).upper() != bo.table:
            raise _Invalid(f"Business object {bo.code} writes table {bo.table}, not {definition.get('Name')!r}")
        if table.get("DetailDefinitions"):
            raise _Invalid(f"Table {bo.table} takes no detail tables here")
        columns = self._columns(bo, definition.get("Fields"))
        data = payload.get("TableData")
        rows = data.get("Data", {}).get("Rows") if isinstance(data, dict) and isinstance(data.get("Data"), dict) else None
        if not isinstance(rows, list) or not rows:
            raise _Invalid("TableData.Data.Rows has no rows")
        details = data.get("DetailData")
        if details and any(isinstance(d, dict) and d.get("Rows") for d in details):
            raise _Invalid(f"Table {bo.table} takes no detail rows here")
        records = [self._record(bo, columns, row, number) for number, row in enumerate(rows, 1)]
        with self._lock:
            stored = self._table(bo)
            self._check_rows(bo, records, stored)
            for record in records:
                key = record[bo.key]
                if key in stored:
                    stored[key].update(record, CNG_DATE=_now(), CNG_NR=stored[key].get("CNG_NR", 0) + 1)
                else:
                    stored[key] = {**record, "INP_DATE": _now(), "CNG_DATE": _now(), "CNG_NR": 0}
        return {"PrimaryKey": records[0][bo.key]}

    @staticmethod
    def _business_object(code: Any) -> BusinessObject:
        bo = BUSINESS_OBJECTS.get(str(code or "").upper())
        if bo is None:
            raise _Invalid(f"Unknown business object {code!r}")
        return bo

    @staticmethod
    def _columns(bo: BusinessObject, fields: Any) -> list[FieldDef | None]:
        """The dictionary field of each position (None for RowId)."""
        if not isinstance(fields, list) or not fields:
            raise _Invalid("Table.Definition.Fields is missing")
        columns: list[FieldDef | None] = []
        seen: set[str] = set()
        for spec in fields:
            if not isinstance(spec, dict) or not isinstance(spec.get("Name"), str):
                raise _Invalid(f"Table.Definition.Fields: each field needs a Name, got {json.dumps(spec)}")
            name = spec["Name"].upper()
            if str(spec.get("FieldType", "")).upper() not in FIELD_TYPES:
                raise _Invalid(f"Field {name}: unknown FieldType {spec.get('FieldType')!r}")
            if name in seen:
                raise _Invalid(f"Field {name} appears twice in the definition")
            seen.add(name)
            if name == "ROWID":
                columns.append(None)
                continue
            if name not in bo.fields:
                raise _Invalid(f"Field {name} does not exist in table {bo.table}")
            columns.append(bo.fields[name])
        return columns

    @staticmethod
    def _record(bo: BusinessObject, columns: list[FieldDef | None], row: Any, number: int) -> dict[str, Any]:
        values = row.get("Values") if isinstance(row, dict) else None
        if not isinstance(values, list):
            raise _Invalid(f"Row {number}: Values is missing")
        if len(values) != len(columns):
            raise _Invalid(f"Row {number}: {len(values)} values for {len(columns)} fields")
        record: dict[str, Any] = {}
        for field, value in zip(columns, values, strict=True):
            if field is not None:
                try:
                    record[field.name] = _convert(field, value)
                except _Invalid as invalid:
                    raise _Invalid(f"Row {number}: {invalid.message}") from None
        if not record.get(bo.key):
            raise _Invalid(f"Row {number}: field {bo.key} is mandatory")
        return record

    def _check_rows(self, bo: BusinessObject, records: list[dict[str, Any]],
                    stored: Mapping[str, Mapping[str, Any]]) -> None:
        """Mandatory fields (all of them for a new record) and links to contact persons."""
        pending: set[str] = set()
        for number, record in enumerate(records, 1):
            new = record[bo.key] not in stored and record[bo.key] not in pending
            pending.add(record[bo.key])
            for field in bo.fields.values():
                if field.mandatory and (field.name in record or new) and record.get(field.name) in (None, ""):
                    raise _Invalid(f"Row {number}: field {field.name} is mandatory")
            if bo.code == "AR1":
                for link in PERSON_LINKS:
                    code = record.get(link)
                    if code and code not in self.persons:
                        raise _Invalid(f"Row {number}: field {link}: contact person {code!r} does not exist")

    # --- GET accountviewdata -------------------------------------------------------------------

    def _get(self, query: Mapping[str, str]) -> dict[str, Any]:
        bo = self._business_object(query.get("businessobject"))
        size_text = query.get("pagesize", "") or str(DEFAULT_PAGE_SIZE)
        if not size_text.isdigit() or int(size_text) < 1:
            raise _Invalid(f"PageSize must be a positive integer, not {size_text!r}")
        fields = self._chosen_fields(bo, query.get("fields", ""))
        tests = self._filters(bo, query)
        last_key = query.get("lastkey", "")
        with self._lock:
            rows = [dict(r) for k, r in sorted(self._table(bo).items()) if not last_key or k > last_key]
        empty = {f.name: _empty(f) for f in bo.fields.values()}
        full = [{**empty, **row} for row in rows]
        matched = [row for row in full if all(test(row) for test in tests)][:int(size_text)]
        return {bo.table: [{name: row.get(name) for name in fields} for row in matched]}

    @staticmethod
    def _chosen_fields(bo: BusinessObject, text: str) -> list[str]:
        if not text.strip():
            return [*bo.fields, "INP_DATE", "CNG_DATE", "CNG_NR"] if bo.code == "PP1" else list(bo.fields)
        chosen = []
        for item in text.split(","):
            table, _, name = item.strip().upper().rpartition(".")
            if (table and table != bo.table) or name not in bo.fields:
                raise _Invalid(f"Fields: {item.strip()!r} is not a field of table {bo.table}")
            chosen.append(name)
        return chosen

    @staticmethod
    def _filters(bo: BusinessObject, query: Mapping[str, str]) -> list[Callable[[Mapping[str, Any]], bool]]:
        tests: list[Callable[[Mapping[str, Any]], bool]] = []
        number = 1
        while f"filtercontrolsource{number}" in query:
            name = query[f"filtercontrolsource{number}"].upper()
            field = bo.fields.get(name)
            if field is None:
                raise _Invalid(f"FilterControlSource{number}: {name} is not a field of table {bo.table}")
            operator = query.get(f"filteroperator{number}", "")
            raw = query.get(f"filtervalue{number}", "")
            many = query.get(f"filterislistofvalues{number}", "false").lower() == "true"
            texts = raw.split(",") if many else [raw]
            if operator == "DateOnOrAfterDate":
                bound = raw.strip().strip("{}").lstrip("^").strip()
                try:
                    start = datetime.fromisoformat(bound.replace(" ", "T"))
                except ValueError:
                    raise _Invalid(f"FilterValue{number}: not a date: {raw!r}") from None
                tests.append(lambda row, n=name, s=start: row.get(n) is not None
                             and datetime.fromisoformat(str(row[n])) >= s)
            elif operator in ("Equal", "NotEqual", "Contains"):
                try:
                    wanted = [_convert(FieldDef(name, field.type, 10**6, False, False), t) for t in texts]
                except _Invalid as invalid:
                    raise _Invalid(f"FilterValue{number}: {invalid.message}") from None
                if operator == "Contains":
                    tests.append(lambda row, n=name, w=wanted: any(str(x) in str(row.get(n, "")) for x in w))
                else:
                    equal = operator == "Equal"
                    tests.append(lambda row, n=name, w=wanted, e=equal: (row.get(n) in w) == e)
            else:
                raise _Invalid(f"FilterOperator{number}: unknown operator {operator!r}")
            number += 1
        return tests


__all__ = ["BUSINESS_OBJECTS", "AccountViewSimulator", "BusinessObject", "FieldDef"]
