"""Shared values and helpers for the transport tests (fixtures live in conftest.py).

The credential values are long and recognisable so a leak test can search for them anywhere.
"""

from __future__ import annotations

import socket
from pathlib import Path

from transports.base import RetryPolicy

USER = "sync-user"
PASSWORD = "pw-Zebra-7781-do-not-leak"
CLIENT_KEY = "ck-Otter-5521-do-not-leak"
CLIENT_SECRET = "cs-Heron-3390-do-not-leak"
API_KEY = "ak-Lynx-6612-do-not-leak"
FOLDER = "/customers/"


class DictTokenStore:
    """A `TokenStore` in a dict, recording every save in order."""

    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.tokens = dict(tokens or {})
        self.saved: list[tuple[str, str]] = []

    def load_token(self, key: str) -> str | None:
        return self.tokens.get(key)

    def save_token(self, key: str, value: str) -> None:
        self.tokens[key] = value
        self.saved.append((key, value))


def fast_retry(attempts: int = 4, timeout: float = 10.0, **overrides: object) -> RetryPolicy:
    """A real, bounded policy with millisecond backoffs, so retries are exercised but quick."""
    values: dict[str, object] = {"attempts": attempts, "timeout": timeout, "wait_initial": 0.01,
                                 "wait_max": 0.05, "wait_jitter": 0.01}
    values.update(overrides)
    return RetryPolicy(**values)  # type: ignore[arg-type]


def closed_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def entries(root: Path) -> list[str]:
    """Every file under `root`, hidden ones included, as sorted relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
