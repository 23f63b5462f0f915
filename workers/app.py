"""The Celery application: Redis as broker and result backend, three tasks, at-least-once delivery.

    specbridge.run_flow     one record through one flow (workers/runs.py)
    specbridge.sync         start a split bulk read (workers/sync.py)
    specbridge.sync_range   one page range of it

Delivery is at least once: a task is acknowledged only after it ran (acks_late), a task whose
worker process died is given back (reject_on_worker_lost, and Redis' visibility timeout when the
whole worker died), and each worker takes one task at a time per process (prefetch multiplier
1), so a dying worker holds back no more than it was running. Running twice is harmless because
every task runs under its run key: the journal resumes or skips what an earlier delivery did.

Failures: transport and store errors are retried with jittered exponential backoff, at most
SPECBRIDGE_MAX_RETRIES times; anything else (a spec rule, a bad record, refused credentials,
missing settings) fails at once. A run given up on is in the store's dead letters.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery

from engine.errors import SettingsError

from . import runs, sync
from .config import Config
from .redis_state import Busy

log = logging.getLogger("specbridge.workers")

TASK_FLOW = "specbridge.run_flow"
TASK_SYNC = "specbridge.sync"
TASK_RANGE = "specbridge.sync_range"

_APPS: dict[Config, Celery] = {}
_APPS_LOCK = threading.Lock()


def app_for(config: Config) -> Celery:
    """The Celery app for a configuration (one per broker URL and queue in a process)."""
    with _APPS_LOCK:
        app = _APPS.get(config)
        if app is None:
            app = _APPS[config] = make_app(config)
        return app


def make_app(config: Config) -> Celery:
    if config.redis_url is None:
        raise SettingsError("no broker configured: set SPECBRIDGE_REDIS_URL")
    app = Celery("specbridge", broker=config.redis_url, backend=config.redis_url, set_as_current=False)
    timeout = max(1, config.visibility_timeout)
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"], result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=config.queue,
        task_default_exchange=config.queue,
        task_default_routing_key=config.queue,
        broker_transport_options={
            "visibility_timeout": timeout,
            # How often a worker looks for tasks whose worker died (kombu's default: every 100 s).
            "unacked_restore_interval": max(1, min(10, timeout // 10)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        result_expires=24 * 3600,
        task_track_started=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    _register(app, config)
    return app


def _register(app: Celery, config: Config) -> None:
    def send_range(payload: dict[str, Any]) -> None:
        app.send_task(TASK_RANGE, args=[payload], queue=config.queue)

    options: dict[str, Any] = {"bind": True, "max_retries": None, "acks_late": True, "reject_on_worker_lost": True}

    @app.task(name=TASK_FLOW, **options)
    def run_flow(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded(task, config, payload, lambda rt: runs.run_flow(rt, payload))

    @app.task(name=TASK_SYNC, **options)
    def start_sync(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        generation = str(task.request.id or "inline")
        return _guarded(task, config, payload, lambda rt: sync.start(rt, payload, generation, send_range))

    @app.task(name=TASK_RANGE, **options)
    def sync_range(task: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return _guarded(task, config, payload, lambda rt: sync.run_range(rt, payload, send_range))


def _guarded(task: Any, config: Config, payload: dict[str, Any],
             body: Callable[[runs.Runtime], dict[str, Any]]) -> dict[str, Any]:
    rt = runs.runtime(config)
    try:
        return body(rt)
    except Busy:
        # Another delivery of this run is running (a task redelivered after its visibility
        # timeout): look again later; by then it is done and this one is a no-op.
        raise task.retry(countdown=min(5.0, max(1.0, config.visibility_timeout / 4)), max_retries=None) from None
    except Exception as exc:
        attempt = int(payload.get("attempt", 0))
        if (runs.transient(exc) or _redis_trouble(exc)) and attempt < config.max_retries:
            delay = backoff(config, attempt)
            log.warning("%s: %s; retry %d of %d in %.1f s", payload.get("run_key"), exc, attempt + 1,
                        config.max_retries, delay)
            raise task.retry(args=[{**payload, "attempt": attempt + 1}], countdown=delay, max_retries=None) from None
        message = runs.message(exc)
        runs.dead_letter(rt, payload, exc)
        if payload.get("kind") in ("sync", "range"):
            try:
                sync.failed(rt, payload, message)
            except Exception:  # the failure itself matters more than journaling it
                log.exception("%s: could not journal the failure", payload.get("run_key"))
        raise runs.RunFailed(message) from None


def backoff(config: Config, attempt: int) -> float:
    """Exponential with jitter, capped below half the visibility timeout: Redis would hand a task
    waiting longer than the timeout (a retry is a task with a countdown) to a second worker."""
    cap = max(0.5, min(config.retry_backoff_max, config.visibility_timeout / 2))
    delay = min(cap, config.retry_backoff * (2 ** attempt))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _redis_trouble(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:
        return False
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError)
