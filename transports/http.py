"""The HTTP transport: one `httpx.Client` per connection, with auth, bounded retries and one
boundary where httpx exceptions become `engine.errors`.

Retry rules (the reason this module exists):

- Connect failures are retried for every method: nothing reached the server.
- A status in `retry.on_status` is retried for idempotent requests. A non-idempotent request
  (POST) is retried only on 429, which says the request was not processed; on any 5xx, or when
  the connection breaks after the request was sent, it raises `UncertainOutcome` and is never
  repeated, because repeating could create a second customer.
- `Retry-After` (seconds or an HTTP date) is honoured, capped so one answer cannot stall a run.
- When retries run out, the last response is returned as it is: the spec's outcome rules read
  error bodies, so `send` returns 4xx/5xx responses instead of raising.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import stamina

from engine.errors import AuthError, ConnectError, TransportError, UncertainOutcome
from transports import logs
from transports.auth import make_authenticator, static_secrets, where_of
from transports.base import HttpConfig, HttpRequest, HttpResponse, TokenStore, redact
from transports.logs import log

# A Retry-After is obeyed up to this many times the policy's longest backoff (and never past the
# policy's total timeout): a server asking for an hour must not hang a run for an hour.
RETRY_AFTER_CAP_FACTOR = 6.0
# Connecting should fail fast even when reads are allowed to be slow.
CONNECT_TIMEOUT_MAX = 10.0
# How long the answer to a rotating refresh grant is waited for, however short the connection's
# timeout: the server has replaced the refresh token by then, and the answer holds the new one.
ROTATING_TOKEN_TIMEOUT = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_EXCERPT = 300
_URL_CACHE_SIZE = 256


class _Retryable(Exception):  # noqa: N818 - internal signal to stamina, never leaves this module
    """An attempt that may be repeated. Its text is already redacted: stamina logs its repr."""

    def __init__(self, kind: str, message: str, where: str, *, response: httpx.Response | None = None,
                 wait: float | None = None) -> None:
        super().__init__(f"{where}: {message}")
        self.kind = kind  # connect | sent | status
        self.message = message
        self.where = where
        self.response = response
        self.wait = wait


def _backoff(exc: Exception) -> bool | float:
    """stamina hook: retry only our own signal; a float is a server-requested wait."""
    if isinstance(exc, _Retryable):
        return exc.wait if exc.wait is not None else True
    return False


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _verify(config: HttpConfig) -> ssl.SSLContext | bool:
    if not config.verify:
        return False
    # An explicit context: a private CA is added to verification, never a reason to drop it.
    if config.ca_file:
        return ssl.create_default_context(cafile=config.ca_file)
    return _default_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _default_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """httpx's default verifying context, made once per process (per certificate setting it
    reads from the environment): making it loads the whole CA bundle, about 40 ms of CPU, which
    a client per run (plan.run, a worker's task) would otherwise pay every time. A context is
    safe to share between clients and threads."""
    return httpx.create_ssl_context()


class HttpClientTransport:
    """`HttpTransport` over httpx; see the module docstring for the retry and error rules."""

    def __init__(self, config: HttpConfig, token_store: TokenStore | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        timeout = httpx.Timeout(config.timeout, connect=min(config.timeout, CONNECT_TIMEOUT_MAX))
        # No client-wide headers: connection headers go on API calls only, not to a token host.
        self._new_client = functools.partial(httpx.Client, base_url=config.base_url, timeout=timeout,
                                             verify=_verify(config), transport=transport, follow_redirects=False)
        # One client per thread, sharing one cookie jar: records on a thread pool then do not
        # queue on one connection pool's lock (httpcore holds it while it assigns every request).
        # A thread sends one request at a time, so a pool of N threads holds N connections.
        # An injected httpx transport is one object the caller owns: then one client for all.
        self._per_thread = transport is None
        self._local = threading.local()
        self._clients: dict[threading.Thread, httpx.Client] = {}
        self._clients_lock = threading.Lock()
        self._closed = False
        self._cookies = httpx.Cookies()
        self._auth = make_authenticator(config.auth, self._fetch_token, token_store)
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], httpx.URL] = {}
        # Each path joined to the base URL, with whether a query can simply be appended to it.
        self._bases: dict[str, tuple[httpx.URL, bool]] = {}
        self._extensions = {"timeout": timeout.as_dict()}
        # A rotating refresh grant: the server replaces the refresh token before it answers, so
        # an answer given up on is a connector locked out. Connecting is not waited for longer
        # (nothing was sent yet); the answer is, up to ROTATING_TOKEN_TIMEOUT.
        self._rotating_timeout = httpx.Timeout(max(config.timeout, ROTATING_TOKEN_TIMEOUT),
                                               connect=min(config.timeout, CONNECT_TIMEOUT_MAX))
        self._static_secrets = tuple(config.secrets) + static_secrets(config.auth)
        logs.register(self)

    def __repr__(self) -> str:
        return f"HttpClientTransport({where_of(self._config.base_url)!r})"

    def secrets(self) -> tuple[str, ...]:
        """Everything to blank out: configured secrets, auth credentials, tokens obtained."""
        dynamic = self._auth.secrets() if self._auth is not None else ()
        return self._static_secrets + dynamic

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets())

    @property
    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None or self._closed:
            client = self._open_client()  # raises once closed
        return client

    def _open_client(self) -> httpx.Client:
        with self._clients_lock:
            if self._closed:  # e.g. a run still going when its connections were closed
                raise TransportError("the connection was closed before this request",
                                     where_of(self._config.base_url))
            if self._per_thread:
                # Threads come and go (a fetch's read-ahead thread, a worker's pool): the clients
                # of those that ended are closed here, not kept open with their connections.
                for thread in [t for t in self._clients if not t.is_alive()]:
                    self._clients.pop(thread).close()
                client = None
            else:
                client = next(iter(self._clients.values()), None)
            if client is None:
                client = self._new_client()
                client.cookies.jar = self._cookies.jar  # a cookie one thread is given, all threads send
                self._clients[threading.current_thread()] = client
        self._local.client = client
        return client

    def close(self) -> None:
        with self._clients_lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    # --- the one verb --------------------------------------------------------------------------

    def send(self, request: HttpRequest) -> HttpResponse:
        policy = self._config.retry
        deadline = time.monotonic() + policy.timeout
        tries, reached = 0, False
        try:
            for attempt in stamina.retry_context(
                on=_backoff, attempts=max(1, policy.attempts), timeout=policy.timeout,
                wait_initial=policy.wait_initial, wait_max=policy.wait_max,
                wait_jitter=policy.wait_jitter,
            ):
                tries = attempt.num
                with attempt:
                    try:
                        return self._attempt(request, attempt.num, deadline)
                    except _Retryable as exc:
                        # Once any attempt may have reached the server, a later connect
                        # failure no longer means "nothing happened".
                        reached = reached or exc.kind == "sent"
                        raise
        except _Retryable as exc:
            return self._give_up(request, exc, tries, reached)
        raise AssertionError("unreachable: stamina either returns or raises")

    def _attempt(self, request: HttpRequest, num: int, deadline: float) -> HttpResponse:
        response = self._exchange_authenticated(request, num)
        status = response.status_code
        where = self._where(response.request.url)
        if status in self._config.retry.on_status and (request.is_idempotent or status == 429):
            raise _Retryable("status", f"HTTP {status}", where, response=response,
                             wait=self._server_wait(response, deadline))
        if status >= 500 and not request.is_idempotent:
            raise UncertainOutcome(
                f"{request.method.upper()} answered HTTP {status}; it may have been processed, "
                "so it is not repeated", where, self._excerpt(response))
        return self._wrap(response)

    def _give_up(self, request: HttpRequest, exc: _Retryable, count: int, reached: bool) -> HttpResponse:
        tries = f"after {count} attempt{'s' if count != 1 else ''}"
        if exc.kind == "status" and exc.response is not None:
            log.warning("%s %s: still %s %s; returning it", request.method.upper(), exc.where,
                        exc.message, tries)
            return self._wrap(exc.response)
        if exc.kind == "connect" and not reached:
            raise ConnectError(f"could not connect {tries}", exc.where, exc.message)
        if request.method.upper() in SAFE_METHODS:
            raise TransportError(f"no answer {tries}", exc.where, exc.message)
        raise UncertainOutcome(f"no answer {tries}; the request may have been processed",
                               exc.where, exc.message)

    def _server_wait(self, response: httpx.Response, deadline: float) -> float | None:
        if response.status_code not in (429, 503):
            return None
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            return None
        cap = self._config.retry.wait_max * RETRY_AFTER_CAP_FACTOR
        return min(wait, cap, max(0.0, deadline - time.monotonic()))

    # --- one exchange, with auth ---------------------------------------------------------------

    def _exchange_authenticated(self, request: HttpRequest, num: int) -> httpx.Response:
        prepared, token = self._auth.apply(request) if self._auth is not None else (request, None)
        response = self._exchange(prepared, request, num)
        if response.status_code == 401 and self._auth is not None and self._auth.refreshable:
            # The token may have been revoked or expired early: renew it once and try again.
            log.info("%s: HTTP 401; renewing the token once", self._where(response.request.url))
            self._auth.renew(token)
            prepared, token = self._auth.apply(request)
            response = self._exchange(prepared, request, num)
        return response

    def _exchange(self, prepared: HttpRequest, original: HttpRequest, num: int) -> httpx.Response:
        body: dict[str, Any] = {}
        if prepared.json is not None:
            body["json"] = prepared.json
        elif prepared.form is not None:
            body["data"] = dict(prepared.form)
        elif prepared.content is not None:
            body["content"] = prepared.content
        try:
            built = self._build(prepared, body)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise TransportError("invalid URL", where_of(self._config.base_url) + prepared.path,
                                 self._redact(str(exc))) from None
        where = self._where(built.url)
        started = time.monotonic()
        try:
            response = self._client.send(built)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            detail = self._describe(exc)
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # retrying cannot make a certificate valid
                raise ConnectError("the server certificate is not trusted", where, detail) from None
            raise _Retryable("connect", detail, where) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            detail = self._describe(exc)
            if original.is_idempotent:
                raise _Retryable("sent", detail, where) from None
            raise UncertainOutcome(f"{original.method.upper()} was sent but no answer came back; "
                                   "it may have been processed, so it is not repeated",
                                   where, detail) from None
        except httpx.HTTPError as exc:
            raise TransportError("request failed", where, self._describe(exc)) from None
        log.debug("%s %s -> %d in %.0f ms (attempt %d)", built.method, where, response.status_code,
                  (time.monotonic() - started) * 1000, num)
        return response

    def _build(self, prepared: HttpRequest, body: dict[str, Any]) -> httpx.Request:
        """The httpx request, as `Client.build_request` makes it, with the URL reused.

        Parsing and merging the URL was a third of the CPU of a request. A flow sends to the
        same few paths with the same query (the query usually carries settings), so the merged
        URL is built once and kept; headers, cookies and body are new each time.
        """
        headers = {**self._config.headers, **prepared.headers}
        key = (prepared.path, tuple(prepared.params.items()))
        url = self._urls.get(key)
        if url is None:
            url = self._url(prepared.path, prepared.params)
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()  # paging through offsets: every URL is new, keep none for long
            self._urls[key] = url
        merged = self._client.headers.copy()
        merged.update(headers)
        method, extensions = prepared.method.upper(), dict(self._extensions)
        jar = self._cookies.jar
        if not jar._cookies:  # type: ignore[attr-defined]  # no cookie yet (one atomic dict test)
            return httpx.Request(method, url, headers=merged, extensions=extensions, **body)
        # A server set one: sent as the client always does. The jar is shared by the threads'
        # clients and locks its own changes but not reading it, which httpx does by iterating.
        with jar._cookies_lock:  # type: ignore[attr-defined]
            return httpx.Request(method, url, headers=merged, cookies=self._cookies,
                                 extensions=extensions, **body)

    def _url(self, path: str, params: Mapping[str, str]) -> httpx.URL:
        """The path joined to the base URL, its own query kept, `params` merged into it.

        (httpx's `params=` would replace a query written in the path.) A query that differs per
        record (a signature, a search term) misses the URL cache every time; joining the path is
        then done once per path, and only the query is new: one parse instead of three.
        """
        joined = self._bases.get(path)
        if joined is None:
            if len(self._bases) >= _URL_CACHE_SIZE:
                self._bases.clear()
            url = self._client.build_request("GET", path).url
            text = str(url)
            # A query of its own (even an empty one) or a fragment: httpx merges the params in.
            joined = self._bases[path] = (url, "?" not in text and "#" not in text)
        base, plain = joined
        if not params:
            return base
        if not plain:
            return base.copy_merge_params(dict(params))
        return httpx.URL(f"{base}?{httpx.QueryParams(params)}")

    # --- the token endpoint (called by authenticators) -----------------------------------------

    def _fetch_token(self, url: str, body: Mapping[str, str], body_format: str, *,
                     rotating: bool = False) -> Mapping[str, Any]:
        payload: dict[str, Any] = {"json": dict(body)} if body_format == "json" else {"data": dict(body)}
        if rotating:
            payload["timeout"] = self._rotating_timeout
        built = self._client.build_request("POST", url, headers={"Accept": "application/json"}, **payload)
        where = self._where(built.url)
        try:
            response = self._client.send(built)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Retryable("connect", self._describe(exc), where) from None
        except httpx.HTTPError as exc:
            said = ("the token endpoint did not answer; it may have replaced the refresh token all the same, "
                    "and if later runs are refused (invalid_grant) the connector needs a new one") if rotating \
                else "the token endpoint did not answer"
            raise AuthError(said, where, self._describe(exc)) from None
        if response.status_code >= 300:
            raise AuthError(f"the token request was refused with HTTP {response.status_code}",
                            where, self._excerpt(response))
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AuthError("the token endpoint did not answer with a JSON object", where,
                            self._excerpt(response))
        log.debug("%s: token obtained", where)
        return data

    # --- helpers -------------------------------------------------------------------------------

    def _where(self, url: httpx.URL) -> str:
        return f"{url.host}:{url.port}{url.path}" if url.port else f"{url.host}{url.path}"

    def _describe(self, exc: Exception) -> str:
        text = str(exc) or type(exc).__name__
        return self._redact(f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text)

    def _excerpt(self, response: httpx.Response) -> str:
        text = response.text.strip().replace("\n", " ")
        if len(text) > _BODY_EXCERPT:
            text = text[:_BODY_EXCERPT] + "..."
        return self._redact(f"HTTP {response.status_code}: {text}" if text else f"HTTP {response.status_code}")

    def _wrap(self, response: httpx.Response) -> HttpResponse:
        # Header names come lower-case (as httpx keeps them). The URL is redacted because a
        # query-string credential is part of it.
        return HttpResponse(status=response.status_code, headers=dict(response.headers.items()),
                            content=response.content, url=self._redact(str(response.url)))
