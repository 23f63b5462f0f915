"""Where workers find their broker, store, settings and limits: the environment, read once.

    SPECBRIDGE_REDIS_URL          broker and result backend. The worker defaults to
                                  redis://127.0.0.1:6379/0; `enqueue` without it runs in-process.
    SPECBRIDGE_STORE              the store every worker shares (PostgreSQL for more than one machine).
    SPECBRIDGE_SETTINGS_DIR       settings per tenant: <dir>/<tenant>/<flow name>.yaml (or .json).
    SPECBRIDGE_SPECS_DIR          relative spec paths in tasks are taken from here (default: cwd).
    SPECBRIDGE_QUEUE              the Celery queue, also the prefix of our own Redis keys.
    SPECBRIDGE_VISIBILITY_TIMEOUT seconds before Redis hands an unacknowledged task to another worker.
    SPECBRIDGE_MAX_RETRIES        retries of a run that failed on a transport or store error.
    SPECBRIDGE_RETRY_BACKOFF      first retry delay in seconds, doubled per retry (jittered).
    SPECBRIDGE_RETRY_BACKOFF_MAX  the longest retry delay (never more than half the visibility timeout).
    SPECBRIDGE_RATE_LIMITS        requests per tenant and connection, e.g. "erp=10/s,files=60/m".

docs/deploy.md explains each and how they interact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import SettingsError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_STORE = "sqlite:///specbridge.db"
DEFAULT_QUEUE = "specbridge"
DEFAULT_VISIBILITY_TIMEOUT = 3600  # Celery's own default for Redis: one hour

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*$")
_PERIOD = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Config:
    redis_url: str | None  # None: no broker configured, run in this process
    store_url: str = DEFAULT_STORE
    settings_dir: Path | None = None
    specs_dir: Path | None = None
    queue: str = DEFAULT_QUEUE
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    max_retries: int = 5
    retry_backoff: float = 2.0
    retry_backoff_max: float = 300.0
    # connection -> requests per second; not hashed (a dict), so a Config can key a cache
    rate_limits: Mapping[str, float] = field(default_factory=dict, hash=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, worker: bool = False, **overrides: Any) -> Config:
        """The configuration in the environment; `worker=True` defaults the broker URL."""
        env = os.environ if environ is None else environ
        redis_url = env.get("SPECBRIDGE_REDIS_URL") or (DEFAULT_REDIS_URL if worker else None)
        settings_dir = env.get("SPECBRIDGE_SETTINGS_DIR")
        specs_dir = env.get("SPECBRIDGE_SPECS_DIR")
        config = cls(
            redis_url=redis_url,
            store_url=env.get("SPECBRIDGE_STORE") or DEFAULT_STORE,
            settings_dir=Path(settings_dir) if settings_dir else None,
            specs_dir=Path(specs_dir) if specs_dir else None,
            queue=env.get("SPECBRIDGE_QUEUE") or DEFAULT_QUEUE,
            visibility_timeout=_number(env, "SPECBRIDGE_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT, int),
            max_retries=_number(env, "SPECBRIDGE_MAX_RETRIES", 5, int),
            retry_backoff=_number(env, "SPECBRIDGE_RETRY_BACKOFF", 2.0, float),
            retry_backoff_max=_number(env, "SPECBRIDGE_RETRY_BACKOFF_MAX", 300.0, float),
            rate_limits=parse_rate_limits(env.get("SPECBRIDGE_RATE_LIMITS", ""), "SPECBRIDGE_RATE_LIMITS"),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(config, **given) if given else config

    @property
    def key_prefix(self) -> str:
        """Our own Redis keys (locks, buckets, dispatch marks) live under the queue's name."""
        return f"{self.queue}:sb"


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{raw!r} is not a number", name) from None
    if value < 0:
        raise SettingsError(f"{raw!r} must not be negative", name)
    return value


def parse_rate(text: Any, where: str) -> float:
    """"10/s", "600/m", "5000/h" or a bare number (per second) -> requests per second."""
    match = _RATE.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise SettingsError(f"{text!r} is not a rate like 10/s, 600/m or 5000/h", where)
    return float(match.group(1)) / _PERIOD[match.group(2) or "s"]


def parse_rate_limits(text: str, where: str) -> dict[str, float]:
    """"erp=10/s, files=60/m" -> {"erp": 10.0, "files": 1.0}."""
    limits: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in re.split(r"[,;\n]", text))):
        name, sep, rate = part.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"{part!r}: write connection=rate, e.g. erp=10/s", where)
        limits[name.strip()] = parse_rate(rate, where)
    return limits
