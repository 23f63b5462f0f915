"""One logger for every transport, and a filter that keeps credentials out of library log lines.

Our own messages are redacted where they are written. Libraries below us log on their own:
httpx logs every request URL at INFO, and a query-string credential is part of that URL. The
`RedactingFilter` sits on those libraries' loggers and blanks the secrets of every live transport
(each registers itself), so turning on debug logging can never print a credential.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Protocol

from transports.base import redact

log = logging.getLogger("specbridge.transports")

# Loggers whose records may carry URLs, headers or reprs of our requests. A filter on a logger
# applies only to records created by that exact logger, so the children are named one by one.
LIBRARY_LOGGERS = (
    "specbridge.transports",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "stamina",
    "paramiko.transport",
    "paramiko.transport.sftp",
)


class SecretSource(Protocol):
    def secrets(self) -> tuple[str, ...]: ...


_sources: weakref.WeakSet[SecretSource] = weakref.WeakSet()
_lock = threading.Lock()


def register(source: SecretSource) -> None:
    """Have the filter blank `source.secrets()` from now on (for as long as `source` lives)."""
    with _lock:
        _sources.add(source)


def known_secrets() -> list[str]:
    with _lock:
        sources = list(_sources)
    found: list[str] = []
    for source in sources:
        found.extend(source.secrets())
    return found


class RedactingFilter(logging.Filter):
    """Rewrite a record's message with every known secret blanked out; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging module's problem, not ours
            return True
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def install() -> None:
    """Attach the filter to the library loggers (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)


install()
