"""Credentials for HTTP requests, one small class per auth kind of `transports.base`.

An authenticator turns a request into an authenticated one (`apply`) and reports the token it
used, so that on a 401 the transport can `renew` exactly that token once. Token-based kinds do
their network call through a `TokenFetcher` supplied by the transport: the transport owns the
client, the retries and the translation of foreign errors, this module owns only the rules.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from engine.errors import AuthError, SpecbridgeError, TransportError
from transports.base import (
    AuthConfig,
    BearerTokenAuth,
    HeaderAuth,
    HttpRequest,
    OAuth2RefreshAuth,
    QueryAuth,
    SignatureAuth,
    TokenStore,
)
from transports.logs import log


class TokenFetcher(Protocol):
    """(url, body, body_format) -> the token endpoint's JSON object. Raises AuthError when refused.
    `rotating`: the request replaces a credential (a rotating refresh token): its answer carries
    the only copy of the new one, so the transport waits for it longer than for an API call."""

    def __call__(self, url: str, body: Mapping[str, str], body_format: str, *,
                 rotating: bool = False) -> Mapping[str, Any]: ...

# Access tokens from a refresh grant usually say how long they live; renew this much earlier.
OAUTH_RENEW_BEFORE = 60.0
# Body fields of a token request that name the grant rather than carry a credential.
_NOT_SECRET_FIELDS = frozenset({"grant_type", "scope", "audience", "resource"})


class Authenticator(Protocol):
    refreshable: bool

    def apply(self, request: HttpRequest) -> tuple[HttpRequest, str | None]: ...
    def renew(self, stale: str | None) -> None: ...
    def secrets(self) -> tuple[str, ...]: ...


def static_secrets(config: AuthConfig | None) -> tuple[str, ...]:
    """The credential values inside an auth config, so they are redacted without being listed."""
    if isinstance(config, HeaderAuth | QueryAuth):
        return (config.value,)
    if isinstance(config, BearerTokenAuth):
        return tuple(v for k, v in config.body.items() if k not in _NOT_SECRET_FIELDS)
    if isinstance(config, OAuth2RefreshAuth):
        return (config.client_secret, config.refresh_token)
    return ()


def where_of(url: str) -> str:
    """Host and path of a URL for messages: no scheme, no user info, no query (it may hold keys)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{host}{parts.path}"


def _with(request: HttpRequest, *, headers: Mapping[str, str] | None = None,
          params: Mapping[str, str] | None = None, form: Mapping[str, str] | None = None) -> HttpRequest:
    changes: dict[str, Any] = {}
    if headers:
        changes["headers"] = {**request.headers, **headers}
    if params:
        changes["params"] = {**request.params, **params}
    if form:
        changes["form"] = {**(request.form or {}), **form}
    return replace(request, **changes)


class StaticAuth:
    """A fixed key in a header or in the query string."""

    refreshable = False

    def __init__(self, config: HeaderAuth | QueryAuth) -> None:
        self._config = config

    def apply(self, request: HttpRequest) -> tuple[HttpRequest, str | None]:
        pair = {self._config.name: self._config.value}
        if isinstance(self._config, HeaderAuth):
            return _with(request, headers=pair), None
        return _with(request, params=pair), None

    def renew(self, stale: str | None) -> None:
        return None

    def secrets(self) -> tuple[str, ...]:
        return ()


class SignedAuth:
    """A per-request signature computed by the engine's `sign` over query and form fields."""

    refreshable = False

    def __init__(self, config: SignatureAuth) -> None:
        self._config = config

    def apply(self, request: HttpRequest) -> tuple[HttpRequest, str | None]:
        # The form fields win over a query parameter of the same name: they are what the
        # server reads for a form post.
        fields = {**request.params, **(request.form or {})}
        signature = self._config.sign(fields)
        pair = {self._config.name: signature}
        target = self._config.target
        if target == "form":
            if request.form is None:
                raise TransportError(f"signature {self._config.name!r} goes in a form field, "
                                     f"but the {request.method} request has no form body")
            return _with(request, form=pair), None
        if target == "query":
            return _with(request, params=pair), None
        if target == "header":
            return _with(request, headers=pair), None
        raise TransportError(f"unknown signature target {target!r} (expected form, query or header)")

    def renew(self, stale: str | None) -> None:
        return None

    def secrets(self) -> tuple[str, ...]:
        return ()


class _TokenAuth:
    """A cached bearer token, fetched under a lock so concurrent requests fetch it once."""

    refreshable = True
    renew_before = OAUTH_RENEW_BEFORE
    token_field = "access_token"
    expires_field = "expires_in"

    def __init__(self, fetch: TokenFetcher) -> None:
        self._fetch_json = fetch
        self._lock = threading.RLock()
        self._token: str | None = None
        self._expires_at = float("inf")
        # Every credential we obtained recently, for redaction: an old token can still show up
        # in a late error body after it was replaced.
        self._seen: deque[str] = deque(maxlen=16)

    def apply(self, request: HttpRequest) -> tuple[HttpRequest, str | None]:
        token = self._current()
        return _with(request, headers={"Authorization": f"Bearer {token}"}), token

    def renew(self, stale: str | None) -> None:
        with self._lock:
            # Another thread may already have replaced the token that got the 401.
            if self._token == stale:
                self._token = None

    def secrets(self) -> tuple[str, ...]:
        return tuple(self._seen)

    def _current(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - self.renew_before:
                self._token = None
                self._token, self._expires_at = self._obtain()
            return self._token

    def _obtain(self) -> tuple[str, float]:
        raise NotImplementedError

    def _read(self, data: Mapping[str, Any], where: str) -> tuple[str, float]:
        token = data.get(self.token_field)
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token response has no {self.token_field!r}", where)
        self._seen.append(token)
        lifetime = data.get(self.expires_field)
        try:
            expires_at = time.monotonic() + float(lifetime) if lifetime is not None else float("inf")
        except (TypeError, ValueError):
            expires_at = float("inf")  # unknown lifetime: keep it until the server says 401
        return token, expires_at


class BearerAuth(_TokenAuth):
    """A token fetched with a fixed body (a client key, a password grant), renewed before expiry."""

    def __init__(self, config: BearerTokenAuth, fetch: TokenFetcher) -> None:
        super().__init__(fetch)
        self._config = config
        self.renew_before = config.renew_before
        self.token_field = config.token_field
        self.expires_field = config.expires_field

    def _obtain(self) -> tuple[str, float]:
        data = self._fetch_json(self._config.token_url, self._config.body, self._config.body_format)
        return self._read(data, where_of(self._config.token_url))


class RefreshAuth(_TokenAuth):
    """OAuth2 refresh-token grant whose refresh token rotates on every use.

    The newest refresh token is saved before the access token is used: if the process dies right
    after a refresh, the next run must still hold the token the server now expects.
    """

    def __init__(self, config: OAuth2RefreshAuth, fetch: TokenFetcher, store: TokenStore | None) -> None:
        super().__init__(fetch)
        self._config = config
        self._store = store
        self._latest: str | None = None  # the newest refresh token, when no store keeps it

    def _refresh_token(self) -> str:
        stored = self._store.load_token(self._config.token_key) if self._store is not None else None
        current = stored or self._latest or self._config.refresh_token
        self._seen.append(current)
        return current

    def _obtain(self) -> tuple[str, float]:
        body = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token(),
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret,
        }
        data = self._fetch_json(self._config.token_url, body, "form", rotating=True)
        new_refresh = data.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh:
            self._seen.append(new_refresh)
            self._latest = new_refresh
            self._save(new_refresh)
        return self._read(data, where_of(self._config.token_url))

    def _save(self, token: str) -> None:
        if self._store is None:
            log.warning("%s: the refresh token rotated but no token store was given; "
                        "it is kept in memory only", where_of(self._config.token_url))
            return
        try:
            self._store.save_token(self._config.token_key, token)
        except SpecbridgeError:
            raise
        except Exception as exc:  # the store is foreign code: translate, and say what is at stake
            raise AuthError("the refresh token rotated but could not be saved; the next run may "
                            "need a new authorization", where_of(self._config.token_url),
                            type(exc).__name__) from None


def make_authenticator(config: AuthConfig | None, fetch: TokenFetcher,
                       store: TokenStore | None) -> Authenticator | None:
    """The authenticator for an auth config, chosen through a dict registry by config type."""
    if config is None:
        return None
    factory = _KINDS.get(type(config))
    if factory is None:
        raise TransportError(f"unsupported auth kind {type(config).__name__}")
    return factory(config, fetch, store)


_KINDS: dict[type, Callable[[Any, TokenFetcher, TokenStore | None], Authenticator]] = {
    HeaderAuth: lambda c, f, s: StaticAuth(c),
    QueryAuth: lambda c, f, s: StaticAuth(c),
    SignatureAuth: lambda c, f, s: SignedAuth(c),
    BearerTokenAuth: lambda c, f, s: BearerAuth(c, f),
    OAuth2RefreshAuth: lambda c, f, s: RefreshAuth(c, f, s),
}
