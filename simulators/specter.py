"""A Specter ERP simulator: the classic-ASP customer API on loopback, as publicly documented.

Sources: shared/reference/erp-apis.md section 3 (Prestaworks' PrestaShop module, a Laravel
client, the App4Sales connector docs) and the team's field list. What it does:

Write: `POST /putInfo.asp?action=newCustomerSubmit&sbmId=..&apiUserId=..&useXML=2`, customer
fields form-encoded in the body (`application/x-www-form-urlencoded`; any other body type is
not read, as ASP's `Request.Form` would not read it). `sbmId`, `apiUserId`, `useXML`, `key` and
`action` may be in the query or the body, and their names are case-insensitive, as in ASP.

- Signature: `key` = md5(api_user_key + sbm_id + name) in lower-case hex, over the UTF-8 bytes,
  where `name` is the decoded `name` field. Otherwise `ERROR_AUTHENTICATION` / "Invalid key".
- Customer fields (the team's list, exact spelling): see `FIELDS`. An unknown field (in the body,
  or any other query parameter) gives `ERROR_UNKNOWN_FIELD`; a value over its maximum length
  (in characters) `ERROR_FIELD_TOO_LONG`, naming the field; an empty required field
  (`name`, `emailAddress`, `firstName`, `surName`) `ERROR_MISSING_<FIELD>`, e.g.
  `ERROR_MISSING_EMAILADDRESS`. A field sent twice reads as "a, b", as ASP joins them.
- Create (no `forceCustomerUpdate`): `typeCustomer` and `customerOrganizationalForm` are required
  and must be "C" or "P" (`ERROR_MISSING_TYPECUSTOMER`, `ERROR_INVALID_TYPECUSTOMER`, ...).
  Customer ids count up from "10001". Names need not be unique (so a blind retry duplicates).
- Update: `forceCustomerUpdate=1` with `identifyByCustomerId=1` and `customerId=<id>` (flags
  take 1/0/true/false). The fields sent replace the stored ones, the others stay;
  `typeCustomer` and `customerOrganizationalForm` are accepted and ignored. Unknown id:
  `ERROR_CUSTOMER_NOT_FOUND`. **Our decisions** (no source): `forceCustomerUpdate` without
  `identifyByCustomerId` or `customerId` is `ERROR_MISSING_IDENTIFYBYCUSTOMERID` /
  `ERROR_MISSING_CUSTOMERID`; `customerId` or `identifyByCustomerId` without
  `forceCustomerUpdate` is `ERROR_MISSING_FORCECUSTOMERUPDATE`, so nothing is silently created.
- Answers are HTTP 200 whatever happened (clients read the body): with `useXML=2`
  `<APIresponse><result>1</result><code>10001</code><message>Customer created</message></APIresponse>`
  (failures: result 0 and an `ERROR_...` code); otherwise plain text `result;code;message`, as
  Prestaworks parses `useXML=1`.

Read (**our assumption; no customer read action was found in public sources**):
`GET /getInfo.asp?Action=getCustomer&sbmId=..&apiUserId=..&key=..&name=<exact name>` or
`..&customerId=<id>`, where `key` = md5(api_user_key + sbm_id + customerId), or + name when no
customerId is given. Found: result 1 and the id as `code` (when several customers share the
name, the oldest); else result 0, `ERROR_CUSTOMER_NOT_FOUND`. It lets a client find out whether a
create whose answer was lost went through.

Anything we could not source either way is strict, so specs must be exact. `sim.faults` takes
`simulators.faults.Fault`s (every request here is an API request); `sim.requests` records
every request; `sim.customers` maps id -> stored fields.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from simulators.faults import Answer, FaultQueue, run_with_faults
from simulators.servers import HttpServer, Recorded, http_server

# Customer fields of newCustomerSubmit and their maximum lengths (None: no limit known).
FIELDS: dict[str, int | None] = {
    "name": 100, "orgNo": 20, "vatNo": 30, "homepage": 50, "emailAddress": 100, "phoneNo": 50,
    "faxNo": 50, "currency": 3, "customerGroupId": None, "salesRepresentativeId": None,
    "language": None, "typeCustomer": 1, "customerOrganizationalForm": 1,
    "forceCustomerUpdate": None, "identifyByCustomerId": None, "customerId": None,
    "contactPerson": 100, "firstName": 50, "surName": 50, "mobileNo": 50,
    "address": 100, "addressRow2": 100, "city": 50, "countryCode": 2, "zipCodeEng": 10,
    "deliveryCompanyName": 100, "deliveryAddress": 100, "deliveryAddressRow2": 100,
    "deliveryCity": 50, "deliveryCountryCode": 2, "deliveryZipCodeEng": 10,
}
REQUIRED = ("name", "emailAddress", "firstName", "surName")
FORMS = ("typeCustomer", "customerOrganizationalForm")  # C (company) or P (person); set on create only
CONTROL = ("forceCustomerUpdate", "identifyByCustomerId", "customerId")  # steer the call, not stored
RESERVED = ("action", "sbmid", "apiuserid", "usexml", "key")  # lower-case: ASP names ignore case
FIRST_ID = 10001
_TRUE, _FALSE = ("1", "true"), ("", "0", "false")


class _Failure(Exception):  # noqa: N818 - internal: becomes an <APIresponse> with result 0
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Name -> value, a repeated name reading "a, b" as classic ASP's Request.Form(name) does."""
    out: dict[str, str] = {}
    for name, value in pairs:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the API's signature scheme


class SpecterSimulator:
    """Specter's putInfo.asp/getInfo.asp customer API for one sbmId and one API user."""

    def __init__(self, sbm_id: str, api_user_id: str, api_user_key: str, *, latency: float = 0.0) -> None:
        self.sbm_id, self.api_user_id, self.api_user_key = sbm_id, api_user_id, api_user_key
        self.latency = latency
        self.customers: dict[str, dict[str, str]] = {}
        self.requests: list[Recorded] = []
        self.faults = FaultQueue()
        self._next_id = FIRST_ID
        self._lock = threading.Lock()

    @contextmanager
    def serve(self, *, tls: bool = False) -> Iterator[HttpServer]:
        """Run the simulator on loopback; yields the server (`.url`, `.ca_file`)."""
        with http_server(self.app, tls=tls) as server:
            yield server

    def key_for(self, value: str) -> str:
        """The signature a client must send for `value` (the customer name, or customerId on reads)."""
        return _md5(self.api_user_key + self.sbm_id + value)

    # --- the HTTP app --------------------------------------------------------------------------

    def app(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        self.requests.append(Recorded(method, path, dict(headers), body))
        if self.latency:
            time.sleep(self.latency)
        return run_with_faults(self.faults, method, path, lambda: self._route(method, path, headers, body))

    def _route(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        url = urlsplit(path)
        page = url.path.lower()  # IIS paths ignore case
        if page not in ("/putinfo.asp", "/getinfo.asp"):
            return 404, {"Content-Type": "text/html"}, "<html><body><h1>404 - File or directory not found.</h1></body></html>"
        query = parse_qsl(url.query, keep_blank_values=True)
        reserved = {name.lower(): value for name, value in query if name.lower() in RESERVED}
        form: list[tuple[str, str]] = []
        if method == "POST" and headers.get("content-type", "").split(";")[0].strip().lower() == \
                "application/x-www-form-urlencoded":
            try:
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
            except UnicodeDecodeError:
                return self._answer(reserved, 0, "ERROR_ENCODING", "The request body is not UTF-8")
        for name, value in form:  # the query string wins, as ASP's Request(name) looks there first
            if name.lower() in RESERVED:
                reserved.setdefault(name.lower(), value)
        # Everything else is data: the customer fields from the body, plus any stray query parameter.
        fields = _params([(n, v) for n, v in form if n.lower() not in RESERVED])
        stray = [n for n, _ in query if n.lower() not in RESERVED]
        action = reserved.get("action", "")
        try:
            if page == "/putinfo.asp":
                if method != "POST":
                    raise _Failure("ERROR_METHOD", "putInfo.asp takes POST")
                if action.lower() != "newcustomersubmit":
                    raise _Failure("ERROR_UNKNOWN_ACTION", f"Unknown action: {action}")
                self._authenticate(reserved, fields.get("name", ""))
                if stray:
                    raise _Failure("ERROR_UNKNOWN_FIELD", f"Unknown field: {stray[0]} (customer fields go in the POST body)")
                code, message = self._submit(fields)
            else:
                if action.lower() != "getcustomer":
                    raise _Failure("ERROR_UNKNOWN_ACTION", f"Unknown action: {action}")
                lookup = _params([(n, v) for n, v in query if n.lower() not in RESERVED])
                signed = lookup["customerId"] if "customerId" in lookup else lookup.get("name", "")
                self._authenticate(reserved, signed)
                code, message = self._get_customer(lookup)
        except _Failure as failure:
            return self._answer(reserved, 0, failure.code, failure.message)
        return self._answer(reserved, 1, code, message)

    def _authenticate(self, reserved: Mapping[str, str], signed: str) -> None:
        if reserved.get("sbmid") != self.sbm_id or reserved.get("apiuserid") != self.api_user_id:
            raise _Failure("ERROR_AUTHENTICATION", "Invalid sbmId or apiUserId")
        if reserved.get("key") != self.key_for(signed):
            raise _Failure("ERROR_AUTHENTICATION", "Invalid key")

    @staticmethod
    def _answer(reserved: Mapping[str, str], result: int, code: str, message: str) -> Answer:
        if reserved.get("usexml") == "2":
            xml = (f"<APIresponse><result>{result}</result><code>{escape(code)}</code>"
                   f"<message>{escape(message)}</message></APIresponse>")
            return 200, {"Content-Type": "text/xml; charset=utf-8"}, xml.encode()
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, f"{result};{code};{message}".encode()

    # --- newCustomerSubmit ---------------------------------------------------------------------

    def _submit(self, fields: dict[str, str]) -> tuple[str, str]:
        for name, value in fields.items():
            if name not in FIELDS:
                raise _Failure("ERROR_UNKNOWN_FIELD", f"Unknown field: {name}")
            limit = FIELDS[name]
            if limit is not None and len(value) > limit:
                raise _Failure("ERROR_FIELD_TOO_LONG",
                               f"Field {name} is too long ({len(value)} characters, max {limit})")
        force = self._flag(fields, "forceCustomerUpdate")
        by_id = self._flag(fields, "identifyByCustomerId")
        for name in REQUIRED:
            if not fields.get(name, "").strip():
                raise _Failure(f"ERROR_MISSING_{name.upper()}", f"Field {name} is required")
        data = {name: value for name, value in fields.items() if name not in CONTROL}
        if force:
            if not by_id:
                raise _Failure("ERROR_MISSING_IDENTIFYBYCUSTOMERID",
                               "forceCustomerUpdate needs identifyByCustomerId=1 and a customerId")
            customer_id = fields.get("customerId", "")
            if not customer_id:
                raise _Failure("ERROR_MISSING_CUSTOMERID", "forceCustomerUpdate needs a customerId")
            with self._lock:
                stored = self.customers.get(customer_id)
                if stored is None:
                    raise _Failure("ERROR_CUSTOMER_NOT_FOUND", f"Customer {customer_id} not found")
                stored.update({k: v for k, v in data.items() if k not in FORMS})
            return customer_id, "Customer updated"
        if by_id or "customerId" in fields:
            raise _Failure("ERROR_MISSING_FORCECUSTOMERUPDATE",
                           "customerId and identifyByCustomerId need forceCustomerUpdate=1")
        for name in FORMS:
            value = fields.get(name, "")
            if not value:
                raise _Failure(f"ERROR_MISSING_{name.upper()}", f"Field {name} is required for a new customer")
            if value not in ("C", "P"):
                raise _Failure(f"ERROR_INVALID_{name.upper()}", f"Field {name} must be C or P, not {value!r}")
        with self._lock:
            customer_id = str(self._next_id)
            self._next_id += 1
            self.customers[customer_id] = data
        return customer_id, "Customer created"

    @staticmethod
    def _flag(fields: Mapping[str, str], name: str) -> bool:
        value = fields.get(name, "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise _Failure(f"ERROR_INVALID_{name.upper()}", f"Field {name} must be 1 or 0, not {value!r}")

    # --- getCustomer (our assumption) ----------------------------------------------------------

    def _get_customer(self, lookup: Mapping[str, str]) -> tuple[str, str]:
        unknown = [name for name in lookup if name not in ("name", "customerId")]
        if unknown:
            raise _Failure("ERROR_UNKNOWN_FIELD", f"Unknown field: {unknown[0]}")
        with self._lock:
            if "customerId" in lookup:
                found = [lookup["customerId"]] if lookup["customerId"] in self.customers else []
            elif lookup.get("name"):
                found = sorted((cid for cid, c in self.customers.items() if c.get("name") == lookup["name"]),
                               key=int)
            else:
                raise _Failure("ERROR_MISSING_NAME", "Give name or customerId")
        if not found:
            raise _Failure("ERROR_CUSTOMER_NOT_FOUND", "Customer not found")
        return found[0], "Customer found"


__all__ = ["FIELDS", "REQUIRED", "SpecterSimulator"]
