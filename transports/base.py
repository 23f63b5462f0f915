"""The transport interface: one small class per protocol, one verb each way.

An HTTP transport turns an `HttpRequest` into an `HttpResponse`; a file transport uploads a
`FileUpload` atomically (`send`) and downloads a path (`fetch`). Authentication, retries and the
translation of foreign exceptions into `engine.errors` live inside the transport, at one boundary,
so the engine above never sees httpx, ftplib or paramiko types.

Configuration arrives as frozen dataclasses already resolved from the spec (settings rendered,
secrets read); a transport never reads the environment or templates itself.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


# --- requests and responses --------------------------------------------------------------------

@dataclass(frozen=True)
class HttpRequest:
    """One HTTP call. `path` is joined to the connection's base URL unless it is absolute.

    Exactly one body kind is used: `json` (any JSON value), `form` (urlencoded fields) or
    `content` (raw bytes, e.g. XML, with a content type in `headers`).
    """

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None
    content: bytes | None = None
    # None: decided by the method (GET/PUT/DELETE are idempotent, POST/PATCH are not).
    idempotent: bool | None = None

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content) if self.content.strip() else None


@dataclass(frozen=True)
class FileUpload:
    """A whole file to place at `path` (relative to the connection's folder, or absolute)."""

    path: str
    content: bytes


# --- configuration -----------------------------------------------------------------------------
# Credential fields are `repr=False`: a config printed in a traceback, a log line or a debugger
# must not show a password, key or token.

@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most `attempts` tries and `timeout` seconds in all, jittered backoff."""

    attempts: int = 5
    timeout: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 10.0
    wait_jitter: float = 0.5
    on_status: tuple[int, ...] = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class HeaderAuth:
    """A static credential in a header (e.g. an API key)."""

    name: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class QueryAuth:
    """A static credential in the query string."""

    name: str
    value: str = field(repr=False)


@dataclass(frozen=True)
class BearerTokenAuth:
    """A bearer token fetched from `token_url` with `body`, renewed `renew_before` s before expiry."""

    token_url: str
    body: Mapping[str, str] = field(repr=False)
    body_format: str = "form"  # form | json
    token_field: str = "access_token"
    expires_field: str = "expires_in"
    renew_before: float = 60.0


@dataclass(frozen=True)
class OAuth2RefreshAuth:
    """OAuth2 refresh-token grant where the refresh token rotates.

    The current refresh token is read from the token store under `token_key` (falling back to
    `refresh_token`, the initial one from the settings) and every new one is saved back at once,
    so the next run, or another worker, has it.
    """

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_key: str


@dataclass(frozen=True)
class SignatureAuth:
    """A signature computed per request from its fields and placed in a form field, query or header.

    `sign` receives the request's form fields (or query parameters) and returns the signature;
    the engine compiles it from a spec template, so the transport knows no formula.
    """

    name: str
    sign: Callable[[Mapping[str, str]], str]
    target: str = "form"  # form | query | header


AuthConfig = HeaderAuth | QueryAuth | BearerTokenAuth | OAuth2RefreshAuth | SignatureAuth


@dataclass(frozen=True)
class HttpConfig:
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: AuthConfig | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    verify: bool = True
    ca_file: str | None = None
    # Values to blank out of every message, log line and error (credentials, tokens).
    secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class FileServerConfig:
    """An FTP, FTPS, SFTP or local-folder endpoint.

    `url` is `ftp://host[:port]`, `ftps://host[:port]`, `sftp://host[:port]` or `file:///path`;
    `folder` is where relative upload paths land. FTP uses passive mode unless `active`.
    FTPS verifies the server certificate against the system CAs or `ca_file`. SFTP verifies
    the host key against `known_hosts` (or ~/.ssh/known_hosts) and refuses unknown hosts unless
    `accept_unknown_host_key` is set explicitly.
    """

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    folder: str = "/"
    active: bool = False
    tls: bool = False
    ca_file: str | None = None
    known_hosts: str | None = None
    accept_unknown_host_key: bool = False
    timeout: float = 30.0
    secrets: tuple[str, ...] = field(default=(), repr=False)


# --- the interfaces ----------------------------------------------------------------------------

@runtime_checkable
class HttpTransport(Protocol):
    def send(self, request: HttpRequest) -> HttpResponse: ...
    def close(self) -> None: ...


@runtime_checkable
class FileTransport(Protocol):
    def send(self, upload: FileUpload) -> str:
        """Upload atomically; return the final remote path."""
        ...

    def fetch(self, path: str) -> bytes: ...
    def close(self) -> None: ...


class TokenStore(Protocol):
    """Where rotating credentials live between runs (the App4Sales store implements it)."""

    def load_token(self, key: str) -> str | None: ...
    def save_token(self, key: str, value: str) -> None: ...


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Blank every secret value out of `text`; longest first so overlapping secrets vanish whole."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
