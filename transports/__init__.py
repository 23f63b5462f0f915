"""Generic transports: HTTP, FTP/FTPS, SFTP and a local folder, behind two small interfaces.

    open_http(HttpConfig, token_store=None) -> HttpTransport
    open_files(FileServerConfig)            -> FileTransport   (chosen by the URL scheme)

File transports are chosen through a dict registry keyed by URL scheme; `register_file_transport`
adds one (e.g. a test double) without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.errors import TransportError
from transports.base import (
    AuthConfig,
    BearerTokenAuth,
    FileServerConfig,
    FileTransport,
    FileUpload,
    HeaderAuth,
    HttpConfig,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    OAuth2RefreshAuth,
    QueryAuth,
    RetryPolicy,
    SignatureAuth,
    TokenStore,
    redact,
)
from transports.memory import MemoryFileTransport, MemoryHttpTransport
from transports.paths import check_name

if TYPE_CHECKING:
    from transports.ftp import FtpTransport
    from transports.http import HttpClientTransport
    from transports.local import LocalFileTransport
    from transports.sftp import SftpTransport

# The protocol implementations are imported when first used: httpx, ftplib and paramiko together
# take half a second to import, which `specbridge validate` or `docs` should not pay.
_LAZY = {"FtpTransport": "transports.ftp", "HttpClientTransport": "transports.http",
         "LocalFileTransport": "transports.local", "SftpTransport": "transports.sftp"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)

__all__ = [
    "AuthConfig",
    "BearerTokenAuth",
    "FileServerConfig",
    "FileTransport",
    "FileUpload",
    "FtpTransport",
    "HeaderAuth",
    "HttpClientTransport",
    "HttpConfig",
    "HttpRequest",
    "HttpResponse",
    "HttpTransport",
    "LocalFileTransport",
    "MemoryFileTransport",
    "MemoryHttpTransport",
    "OAuth2RefreshAuth",
    "QueryAuth",
    "RetryPolicy",
    "SftpTransport",
    "SignatureAuth",
    "TokenStore",
    "check_name",
    "open_files",
    "open_http",
    "redact",
    "register_file_transport",
]

FileTransportFactory = Callable[[FileServerConfig], FileTransport]

_FILE_TRANSPORTS: dict[str, FileTransportFactory | str] = {
    "file": "LocalFileTransport",
    "ftp": "FtpTransport",
    "ftps": "FtpTransport",
    "sftp": "SftpTransport",
}


def register_file_transport(scheme: str, factory: FileTransportFactory) -> None:
    """Serve `scheme://` URLs with `factory` (replacing any earlier one)."""
    _FILE_TRANSPORTS[scheme.lower()] = factory


def open_files(config: FileServerConfig) -> FileTransport:
    """The file transport for `config.url`'s scheme. Connects lazily, on the first send or fetch."""
    scheme = urlsplit(config.url).scheme.lower()
    factory = _FILE_TRANSPORTS.get(scheme)
    if isinstance(factory, str):
        factory = __getattr__(factory)
    if factory is None:
        known = ", ".join(f"{s}://" for s in sorted(_FILE_TRANSPORTS))
        raise TransportError(f"unsupported file server address scheme {scheme + '://' if scheme else '(none)'}; "
                             f"expected one of {known}")
    return factory(config)


def open_http(config: HttpConfig, token_store: TokenStore | None = None) -> HttpTransport:
    """The HTTP transport for one connection; close it when the run ends."""
    from transports.http import HttpClientTransport
    return HttpClientTransport(config, token_store)
