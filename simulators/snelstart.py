"""A SnelStart B2B API v2 simulator: token server, Azure API Management front door and /v2 API.

    sim = SnelStartSimulator("client-key", "subscription-key", customers=1000, seed=7)
    with serve(sim) as server:   # server.base_url = .../v2, server.token_url = .../b2b/token
        ...
    sim.faults.append(Fault("drop_after", method="POST"))   # the next POST is done, then unanswered
                                                             # (Fault and FaultQueue: simulators.faults)

What it copies from the real service (docs: shared/reference/erp-apis.md section 1 and the OpenAPI):

- `POST /b2b/token` (auth.snelstart.nl): form `grant_type=clientkey&clientkey=...` (or `grant_type=password`
  with the two halves of the base64 client key) -> `{"access_token", "token_type": "bearer", "expires_in"}`;
  OAuth errors `{"error": "invalid_grant"}` (wrong key), `unsupported_grant_type`, `invalid_request`.
- Every `/v2` call passes API Management first: `Ocp-Apim-Subscription-Key` header (or `subscription-key`
  query) -> else 401 `{"statusCode": 401, "message": "Access denied due to missing|invalid subscription key..."}`;
  then a valid, unexpired bearer token -> else 401 `{"statusCode": 401, "message": "Unauthorized. Access
  token is missing or invalid."}`; an operation the API does not have -> 404 `{"statusCode": 404, "message":
  "Resource not found"}`.
- `GET /v2/landen`, `GET /v2/landen/{id}`; `GET /v2/relaties` (OData: snelstart_odata); `POST /v2/relaties`
  (201), `GET|PUT|DELETE /v2/relaties/{id}` (200; 404 with an empty body for an unknown id; 400 ALG-0103 for
  an id that is no GUID; GET of a nonactief relation 400 ALG-0105). Bodies and validation: snelstart_relaties,
  snelstart_rules. Records: snelstart_data.

Every request is recorded in `sim.requests`; `sim.token_requests` counts the token grants asked for.
`sim.faults` is a `simulators.faults.FaultQueue`: append `Fault`s, each used up by the next request it
matches (target "api" by default, "token" for the token endpoint); a status fault answers the body
SnelStart's front door would (APIM's 429 text, ASP.NET's 500 text) unless given one. `latency` delays
every API call.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulators.faults import Fault, FaultQueue
from simulators.servers import Drop, http_server
from simulators.snelstart_data import LAND_BY_ID, LANDEN, GeneratedRelaties
from simulators.snelstart_relaties import JSON_HEADERS, Answer, RelatieStore, dump, guid_text, refuse

__all__ = ["Fault", "SimRequest", "SnelStartServer", "SnelStartSimulator", "serve"]

_NO_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when "
           "making requests to an API.")
_BAD_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an active "
            "subscription.")
_BAD_TOKEN = "Unauthorized. Access token is missing or invalid."


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
        self.faults = FaultQueue()  # simulators.faults.Fault, each used up by the next request it matches
        self.requests: list[SimRequest] = []
        self.token_requests = 0
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on the simulator's clock
        self._clock_offset = 0.0
        self.store = RelatieStore(self.generated, self._wall_clock)

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
            return self.store.find(guid)[1]

    @property
    def created(self) -> list[dict[str, Any]]:
        """Relations created through POST, in order."""
        with self._lock:
            return self.store.created

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
        fault = self.faults.take(method, target, route)
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
            answer = self._api(method, path, query, headers, parsed)
        else:
            answer = _apim(404, "Resource not found")
        if fault is not None and fault.kind == "drop_after":
            raise Drop
        return answer

    # --- token endpoint (auth.snelstart.nl) --------------------------------------------------------

    def _token(self, method: str, headers: Mapping[str, str], form: Any) -> Answer:
        plain = {"Cache-Control": "no-cache", "Pragma": "no-cache", "Expires": "-1", **JSON_HEADERS}
        if method != "POST" or not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, plain, dump({"error": "invalid_request"})
        form = form if isinstance(form, dict) else {}
        grant = form.get("grant_type")
        if grant == "clientkey":
            ok = secrets.compare_digest(form.get("clientkey", ""), self.client_key)
        elif grant == "password":
            pair = f"{form.get('username', '')}:{form.get('password', '')}".encode()
            ok = secrets.compare_digest(base64.b64encode(pair).decode(), self.client_key)
        else:
            return 400, plain, dump({"error": "unsupported_grant_type"})
        if not ok:
            return 400, plain, dump({"error": "invalid_grant"})
        token = secrets.token_urlsafe(96)
        with self._lock:
            self._tokens[token] = self._now() + self.token_lifetime
        return 200, plain, dump({"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime})

    def _now(self) -> float:
        return time.monotonic() + self._clock_offset

    def _wall_clock(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=self._clock_offset)

    # --- API Management and routing ----------------------------------------------------------------

    def _api(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str],
             parsed: Any) -> Answer:
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
                return 415, JSON_HEADERS, dump({"message": f"The request entity's media type '{shown}' is "
                                                           "not supported for this resource."})
        with self._lock:
            return handler(self, parts[1] if len(parts) > 1 else None, query, parsed)

    # --- landen -------------------------------------------------------------------------------------

    def _landen(self, _id: None, _query: dict[str, str], _body: Any) -> Answer:
        return 200, JSON_HEADERS, dump(LANDEN)

    def _land(self, land_id: str, _query: dict[str, str], _body: Any) -> Answer:
        if guid_text(land_id) is None:
            return refuse("ALG-0103")
        land = LAND_BY_ID.get(guid_text(land_id) or "")
        return (200, JSON_HEADERS, dump(land)) if land else (404, {}, b"")


_ROUTES: dict[tuple[str, str, int], Callable[..., Answer]] = {
    ("GET", "landen", 1): SnelStartSimulator._landen,
    ("GET", "landen", 2): SnelStartSimulator._land,
    ("GET", "relaties", 1): lambda sim, *args: sim.store.list(*args),
    ("POST", "relaties", 1): lambda sim, *args: sim.store.create(*args),
    ("GET", "relaties", 2): lambda sim, *args: sim.store.get(*args),
    ("PUT", "relaties", 2): lambda sim, *args: sim.store.update(*args),
    ("DELETE", "relaties", 2): lambda sim, *args: sim.store.delete(*args),
}


def _apim(status: int, message: str) -> Answer:
    return status, JSON_HEADERS, dump({"statusCode": status, "message": message})


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
    """A status fault answered the way SnelStart's front door would (APIM or ASP.NET bodies)."""
    status = int(fault.value or 500)
    headers = dict(JSON_HEADERS)
    retry = fault.retry_after
    if retry is not None:
        headers["Retry-After"] = str(math.ceil(retry)) if isinstance(retry, int | float) else str(retry)
    if fault.body is not None:
        body = fault.body
    elif status == 429:
        wait = f"{math.ceil(retry)} seconds" if isinstance(retry, int | float) else "a while"
        body = {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait}."}
    elif status == 500:
        body = {"message": "An error has occurred."}  # ASP.NET Web API's unhandled-exception answer
    else:
        body = {"statusCode": status, "message": HTTPStatus(status).phrase}
    return status, headers, body if isinstance(body, bytes | str) else dump(body)


@contextmanager
def serve(sim: SnelStartSimulator, *, tls: bool = False) -> Iterator[SnelStartServer]:
    """Run the simulator on loopback: token endpoint and API on one port."""
    with http_server(sim.app, tls=tls) as http:
        yield SnelStartServer(http.url, f"{http.url}/v2", f"{http.url}/b2b/token", http.ca_file)

