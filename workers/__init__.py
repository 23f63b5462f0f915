"""specbridge on Celery workers: flows as tasks, Redis as broker, one shared store (docs/deploy.md).

Sending work::

    import workers
    sent = workers.enqueue("mappings/acme/create-customer.yaml", customer, tenant="acme", user="jdoe")
    sent.run_key        # the run's key: enqueueing the same record again is the same run
    sent.wait(60)       # {"result": "...", "run_key": ..., "replayed": False, ...}

A flow that reads in bulk (one offset-paged fetch step) is split into page-range tasks run in
parallel and stitched together in the journal under `sent.run_key`.

Without a broker (SPECBRIDGE_REDIS_URL unset and no `redis_url=`) `enqueue` runs the flow in
this process, as `specbridge run` does, and `sent.inline` is True. Celery is imported only when
a broker is used, so the embedded engine does not need it.

Tasks carry the spec path, tenant, user, record and run key, never settings: each worker reads
the tenant's settings from SPECBRIDGE_SETTINGS_DIR/<tenant>/<flow>.yaml, secrets as env:VAR.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import engine
from engine.errors import SpecbridgeError

from .config import Config
from .runs import RunFailed, flow_payload, run_flow, runtime
from .sync import DEFAULT_PAGES_PER_TASK, DEFAULT_PARALLEL, splittable, sync_payload

__all__ = ["Config", "Enqueued", "RunFailed", "enqueue"]

_PLANS: dict[str, tuple[float, engine.Plan]] = {}
_PLANS_LOCK = threading.Lock()


@dataclass
class Enqueued:
    """What `enqueue` sent: the run key, and how to wait for the outcome."""

    run_key: str
    flow: str
    kind: str  # flow | sync
    config: Config = field(repr=False)
    task_id: str | None = None  # None when it ran in this process
    result: dict[str, Any] | None = None  # the outcome, once known

    @property
    def inline(self) -> bool:
        return self.task_id is None

    def wait(self, timeout: float | None = 600, poll: float = 0.25) -> dict[str, Any]:
        """The outcome: {"run_key", "result", ...}. Raises RunFailed when the run was given up on,
        TimeoutError when it did not finish in time."""
        if self.result is not None:
            return self.result
        if self.kind == "sync":
            self.result = _wait_sync(self, timeout, poll)
        else:
            from .app import app_for
            outcome = app_for(self.config).AsyncResult(self.task_id)
            try:
                self.result = outcome.get(timeout=timeout, propagate=False, interval=poll)
            except Exception as exc:  # celery.exceptions.TimeoutError, or the backend failing
                raise TimeoutError(f"run {self.run_key} did not finish within {timeout} s ({exc})") from None
            if outcome.failed():
                raise RunFailed(str(outcome.result))
        return self.result  # type: ignore[return-value]


def enqueue(spec_path: str | Path, record: Any, *, tenant: str = "default", user: str | None = None,
            run_key: str | None = None, again: bool = False, redis_url: str | None = None,
            queue: str | None = None, pages_per_task: int = DEFAULT_PAGES_PER_TASK,
            parallel: int = DEFAULT_PARALLEL, config: Config | None = None) -> Enqueued:
    """Send one record through a flow on the workers (or run it here when no broker is configured).

    The run key is `run_key` if given, a fresh one with `again=True`, else derived from the flow,
    tenant, user and record: the same record enqueued twice is one run (the second a no-op).
    Bulk reads get a fresh key per sync unless one is given.
    """
    config = config or Config.from_env(redis_url=redis_url, queue=queue)
    spec = str(spec_path)
    plan = _plan(spec)
    if again:
        run_key = f"{plan.name}:{uuid.uuid4().hex}"
    if config.redis_url is not None and plan.reads_in_bulk and splittable(plan) is not None:
        payload = sync_payload(plan, spec, record, tenant=tenant, user=user, run_key=run_key,
                               pages_per_task=pages_per_task, parallel=parallel)
        from .app import TASK_SYNC, app_for
        _reachable(config)
        sent = app_for(config).send_task(TASK_SYNC, args=[payload], queue=config.queue)
        return Enqueued(payload["run_key"], plan.name, "sync", config, task_id=sent.id)
    if run_key is None and plan.reads_in_bulk:
        run_key = f"{plan.name}:{uuid.uuid4().hex}"  # as the engine does: every bulk read is a new run
    payload = flow_payload(plan, spec, record, tenant=tenant, user=user, run_key=run_key)
    if config.redis_url is None:
        outcome = run_flow(runtime(config), payload)
        return Enqueued(payload["run_key"], plan.name, "flow", config, result=outcome)
    from .app import TASK_FLOW, app_for
    _reachable(config)
    sent = app_for(config).send_task(TASK_FLOW, args=[payload], queue=config.queue)
    return Enqueued(payload["run_key"], plan.name, "flow", config, task_id=sent.id)


_REACHED: set[str] = set()


def _reachable(config: Config) -> None:
    """Fail fast, in one line, when the broker is down (Celery would retry for a long while first)."""
    url = config.redis_url or ""
    if url in _REACHED:
        return
    import redis

    from engine.store.connect import safe_url
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise SpecbridgeError(f"broker {safe_url(url)} is not reachable: {exc}") from None
    finally:
        client.close()
    _REACHED.add(url)


def _plan(spec: str) -> engine.Plan:
    """Compiled once per file version: enqueueing many records loads the spec once."""
    path = Path(spec)
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise SpecbridgeError(f"cannot read spec {spec}: {exc.strerror}") from None
    with _PLANS_LOCK:
        cached = _PLANS.get(spec)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    plan = engine.load_spec(path)
    with _PLANS_LOCK:
        _PLANS[spec] = (mtime, plan)
    return plan


def _wait_sync(sent: Enqueued, timeout: float | None, poll: float) -> dict[str, Any]:
    """A split sync is done when its journal says so (the ranges stitch themselves together)."""
    from .sync import state
    rt = runtime(sent.config)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        entry = state(rt, sent.run_key)
        if entry is not None and entry.status == "done":
            return {"run_key": sent.run_key, "flow": sent.flow, "result": entry.detail.get("result"),
                    "counts": entry.detail.get("counts"), "ranges": entry.detail.get("ranges")}
        if entry is not None and entry.status == "error":
            raise RunFailed(f"sync {sent.run_key}: {entry.detail.get('error')}")
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"sync {sent.run_key} did not finish within {timeout} s")
        time.sleep(poll)
