"""What a task does, without Celery: the same code runs on a worker and in-process.

A task payload is plain JSON and never holds settings or secrets:

    {"v": 1, "kind": "flow", "spec": "mappings/x/create.yaml", "tenant": "acme", "user": "jdoe",
     "record": {...}, "encoding": "json", "run_key": "x-create:3f2a..."}

The worker finds the tenant's settings (workers/tenants.py), runs the flow under the payload's
run key (so a redelivered task resumes through the run journal instead of running twice), and
holds the run key's lock in Redis while it runs (so two deliveries never run side by side).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engine
from engine.connections import Connections
from engine.errors import (
    AuthError,
    ConnectError,
    FlowError,
    RemoteError,
    SettingsError,
    SpecbridgeError,
    StoreError,
    UncertainOutcome,
)
from engine.journal import content_run_key
from engine.settings import resolve

from .config import Config
from .redis_state import Shared, TenantTokens, ThrottledConnections, forget_status, last_status
from .tenants import check_tenant, limits_for, settings_for

PAYLOAD_VERSION = 1
_CONNECTION_CACHE = 32  # open connection sets per worker process (per spec, tenant and settings)


class RunFailed(Exception):
    """A run that will not be retried; its record is in the store's dead letters. One-argument, so
    the result backend can hand it to the caller as it is."""


# --- payloads ------------------------------------------------------------------------------------

def encode_record(record: Any) -> tuple[Any, str]:
    """A record as JSON can carry it: JSON values as they are, text as text, other bytes in base64."""
    if isinstance(record, bytes):
        try:
            return record.decode("utf-8"), "text"
        except UnicodeDecodeError:
            return base64.b64encode(record).decode("ascii"), "base64"
    if isinstance(record, str):
        return record, "text"
    json.dumps(record)  # fail here, in the caller, when it cannot travel
    return record, "json"


def decode_record(payload: dict[str, Any]) -> Any:
    encoding, record = payload.get("encoding", "json"), payload.get("record")
    if encoding == "base64":
        return base64.b64decode(record)
    if encoding == "text":
        return record.encode("utf-8", "surrogateescape")  # what `specbridge run` passes: the bytes
    return record


def flow_payload(plan: engine.Plan, spec: str, record: Any, *, tenant: str, user: str | None,
                 run_key: str | None) -> dict[str, Any]:
    check_tenant(tenant)
    encoded, encoding = encode_record(record)
    key = run_key or content_run_key(plan.name, tenant, user, record)
    return {"v": PAYLOAD_VERSION, "kind": "flow", "spec": spec, "flow": plan.name, "tenant": tenant, "user": user,
            "record": encoded, "encoding": encoding, "run_key": key}


# --- the process-wide state of a worker ----------------------------------------------------------

class Runtime:
    """One per process: the store, compiled plans, open connections, the Redis client.

    Everything is opened on first use, in the process that uses it (prefork children each get
    their own after the fork).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pid = os.getpid()
        self._lock = threading.RLock()
        self._store: Any = None
        self._shared: Shared | None = None
        self._plans: dict[str, tuple[float, engine.Plan]] = {}
        self._connections: OrderedDict[str, tuple[engine.Plan, ThrottledConnections]] = OrderedDict()

    @property
    def store(self) -> Any:
        with self._lock:
            if self._store is None:
                self._store = engine.open_store(self.config.store_url)
            return self._store

    @property
    def shared(self) -> Shared | None:
        if self.config.redis_url is None:
            return None
        with self._lock:
            if self._shared is None:
                self._shared = Shared.from_url(self.config.redis_url, self.config.key_prefix)
            return self._shared

    def spec_path(self, spec: str) -> Path:
        path = Path(spec)
        if not path.is_absolute() and self.config.specs_dir is not None:
            path = self.config.specs_dir / path
        if not path.is_file():
            raise SettingsError(f"spec {spec} not found (relative paths are taken from "
                                f"{self.config.specs_dir or Path.cwd()}; set SPECBRIDGE_SPECS_DIR)")
        return path

    def plan(self, spec: str) -> engine.Plan:
        """The compiled spec, recompiled when its file changes."""
        path = self.spec_path(spec)
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._plans.get(str(path))
            if cached is not None and cached[0] == mtime:
                return cached[1]
        plan = engine.load_spec(path)
        with self._lock:
            self._plans[str(path)] = (mtime, plan)
        return plan

    def settings(self, plan: engine.Plan, tenant: str) -> dict[str, Any]:
        values, where = settings_for(self.config, tenant, plan.name)
        try:
            resolve(plan.settings, values)  # fail with the file named, before anything runs
        except SettingsError as exc:
            raise SettingsError(f"tenant {tenant}, flow {plan.name} (settings from {where}): {exc}") from None
        return values

    def connections(self, plan: engine.Plan, tenant: str, settings: dict[str, Any]) -> ThrottledConnections:
        """Open connections for this spec, tenant and settings, kept for the next task: keep-alive
        and tokens survive between runs, as they do between the records of `run_many`."""
        limits = limits_for(self.config, tenant)
        digest = hashlib.sha256(json.dumps([plan.file, tenant, settings, limits], sort_keys=True, default=str)
                                .encode()).hexdigest()
        with self._lock:
            found = self._connections.get(digest)
            if found is not None and found[0] is plan:
                self._connections.move_to_end(digest)
                return found[1]
        tokens = TenantTokens(self.store, tenant, self.shared)
        opened = Connections(plan.connections, resolve(plan.settings, settings), plan.name, tokens)  # type: ignore[arg-type]
        wrapped = ThrottledConnections(opened, self.shared, tenant, limits)
        with self._lock:
            old = self._connections.pop(digest, None)
            self._connections[digest] = (plan, wrapped)
            while len(self._connections) > _CONNECTION_CACHE:
                _, (_, evicted) = self._connections.popitem(last=False)
                evicted.close()
        if old is not None:
            old[1].close()
        return wrapped

    @contextlib.contextmanager
    def exclusive(self, run_key: str) -> Iterator[None]:
        """The run key's lock in Redis (no lock in-process: nothing else runs it there)."""
        shared = self.shared
        if shared is None:
            yield
            return
        with shared.run_lock(run_key, self.config.visibility_timeout):
            yield

    def close(self) -> None:
        with self._lock:
            for _, connections in self._connections.values():
                connections.close()
            self._connections.clear()
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._shared is not None:
                with contextlib.suppress(Exception):
                    self._shared.client.close()
                self._shared = None


_RUNTIMES: dict[tuple[int, Config], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime(config: Config) -> Runtime:
    """This process's Runtime for a configuration (a forked child gets its own)."""
    key = (os.getpid(), config)
    with _RUNTIMES_LOCK:
        found = _RUNTIMES.get(key)
        if found is None:
            found = _RUNTIMES[key] = Runtime(config)
        return found


def close_runtimes() -> None:
    """Close this process's stores and connections (the end of a command, or of a test)."""
    with _RUNTIMES_LOCK:
        found = [rt for (pid, _), rt in _RUNTIMES.items() if pid == os.getpid()]
        for key in [k for k in _RUNTIMES if k[0] == os.getpid()]:
            del _RUNTIMES[key]
    for rt in found:
        rt.close()


# --- running a flow ------------------------------------------------------------------------------

def run_flow(rt: Runtime, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one flow payload under its run key; returns what the caller may see (no secrets)."""
    if payload.get("v") != PAYLOAD_VERSION:
        raise SettingsError(f"task payload version {payload.get('v')!r}: this worker reads version {PAYLOAD_VERSION}")
    plan = rt.plan(payload["spec"])
    tenant, user, run_key = check_tenant(payload["tenant"]), payload.get("user"), payload["run_key"]
    settings = rt.settings(plan, tenant)
    forget_status()
    with rt.exclusive(run_key):
        result = plan.run(decode_record(payload), settings=settings, store=rt.store, user=user, tenant=tenant,
                          connections=rt.connections(plan, tenant, settings), run_key=run_key)
    return {"run_key": run_key, "flow": plan.name, "result": result.message, "replayed": result.replayed,
            "counts": result.counts, "warnings": result.warnings}


RETRY_STATUSES = (408, 425, 429, 500, 502, 503, 504)


def transient(exc: BaseException) -> bool:
    """Worth retrying later: the remote system or the store was unreachable or overloaded.

    Looks through the causes too: a send step with outcome rules turns a connection failure into
    a FlowError whose context is the ConnectError. And a FlowError right after the ERP answered
    429 or 5xx (the transport hands such an answer to the outcome rules once its own retries are
    spent; a POST's 5xx never gets here, it is an uncertain outcome) is the ERP being busy.
    Refused credentials, spec rules and bad records fail the same way every time: no retry.
    """
    if isinstance(exc, FlowError) and last_status() in RETRY_STATUSES:
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, AuthError):
            return False
        if isinstance(current, RemoteError):
            return current.status is None or current.status in (408, 425, 429) or current.status >= 500
        if isinstance(current, ConnectError | UncertainOutcome | StoreError):
            return True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


def dead_letter(rt: Runtime, payload: dict[str, Any], error: BaseException) -> None:
    """Make sure a run given up on is in the store's dead letters (the engine files the ones that
    fail inside a run; this covers failures before it: a missing spec, bad settings)."""
    run_key = payload.get("run_key") or ""
    flow = payload.get("flow") or Path(str(payload.get("spec", "?"))).stem
    with contextlib.suppress(Exception):  # the dead letter must not hide the failure itself
        store = rt.store
        if any(letter.run_key == run_key for letter in store.dead_letters(flow)):
            return
        record = payload.get("record")
        store.add_dead_letter(run_key, flow, record if payload.get("encoding") != "base64" else payload,
                              message(error), tenant=payload.get("tenant") or "default", user=payload.get("user"))


def message(error: BaseException) -> str:
    return str(error) if isinstance(error, SpecbridgeError) else f"{type(error).__name__}: {error}"


__all__ = ["Runtime", "RunFailed", "close_runtimes", "dead_letter", "decode_record", "encode_record", "flow_payload", "message", "run_flow",
           "runtime", "transient"]
