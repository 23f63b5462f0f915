"""`specbridge worker` and `specbridge enqueue`. Celery is imported only when they run."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from engine.errors import SpecbridgeError

F = TypeVar("F", bound=Callable[..., Any])


def _scale_hint(exc: ImportError) -> str | None:
    if exc.name and exc.name.split(".")[0] in ("celery", "kombu", "redis"):
        return "the workers need Celery and Redis: pip install 'specbridge[scale]'"
    return None


def _friendly(fn: F) -> F:
    """One `error: ...` line and exit 1, as every specbridge command does."""
    from engine.cli import friendly  # engine.cli imports this module to register its commands
    return friendly(fn, _scale_hint)


def _safe(url: str) -> str:
    from engine.store.connect import safe_url
    return safe_url(url)


@click.command()
@click.option("-c", "--concurrency", type=click.IntRange(min=1),
              help="Runs at once in this worker (default: the number of CPUs).")
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default="prefork", show_default=True,
              help="prefork: one process per run; threads: one process, runs on threads.")
@click.option("-Q", "--queue", help="The queue to take tasks from (default SPECBRIDGE_QUEUE or specbridge).")
@click.option("--redis", "redis_url", help="Broker URL (default SPECBRIDGE_REDIS_URL or redis://127.0.0.1:6379/0).")
@click.option("--visibility-timeout", type=click.IntRange(min=1),
              help="Seconds before an unacknowledged task goes to another worker "
                   "(default SPECBRIDGE_VISIBILITY_TIMEOUT or 3600).")
@click.option("-n", "--hostname", help="This worker's node name (default specbridge-PID@HOST).")
@click.option("-l", "--loglevel", default="info", show_default=True)
@_friendly
def worker(concurrency: int | None, pool: str, queue: str | None, redis_url: str | None,
           visibility_timeout: int | None, hostname: str | None, loglevel: str) -> None:
    """Run flows from the queue: Celery workers on Redis, sharing one store (docs/deploy.md).

    Tasks are acknowledged after they ran and taken one at a time per process, so a worker that
    dies loses nothing: its tasks go to another worker and resume through the run journal.
    """
    from .app import make_app
    from .config import Config
    config = Config.from_env(worker=True, redis_url=redis_url, queue=queue, visibility_timeout=visibility_timeout)
    import engine
    engine.open_store(config.store_url).close()  # reachable, migrated, before any process forks
    app = make_app(config)
    name = hostname or f"specbridge-{os.getpid()}@{socket.gethostname()}"
    click.echo(f"specbridge worker {name}: queue {config.queue} on {_safe(config.redis_url or '')}, "
               f"store {_safe(config.store_url)}, settings from {config.settings_dir or '(SPECBRIDGE_SETTINGS_DIR unset)'}, "
               f"visibility timeout {config.visibility_timeout} s", err=True)
    argv = ["worker", f"--loglevel={loglevel}", f"--queues={config.queue}", f"--pool={pool}", f"--hostname={name}",
            "--prefetch-multiplier=1", "--without-gossip", "--without-mingle"]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    app.worker_main(argv)


@click.command()
@click.argument("spec", type=click.Path())
@click.option("--input", "input_path", required=True, type=click.Path(), help="The record: JSON, or XML.")
@click.option("--tenant", required=True, help="Whose settings the workers use.")
@click.option("--user", help="The App4Sales user name.")
@click.option("--run-key", help="Run under this key (the same key again resumes or is a no-op).")
@click.option("--again", is_flag=True, help="Run anew even if the same record already went through.")
@click.option("--wait", "wait", is_flag=True, help="Wait for the outcome and print the result message.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds --wait waits.")
@click.option("--pages-per-task", type=click.IntRange(min=1), default=10, show_default=True,
              help="Bulk reads: pages read by one task.")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Bulk reads: page ranges in flight at once.")
@click.option("--redis", "redis_url", help="Broker URL (default SPECBRIDGE_REDIS_URL; with neither, "
                                           "the flow runs in this process).")
@click.option("-Q", "--queue", help="The queue (default SPECBRIDGE_QUEUE or specbridge).")
@_friendly
def enqueue(spec: str, input_path: str, tenant: str, user: str | None, run_key: str | None, again: bool,
            wait: bool, timeout: float, pages_per_task: int, parallel: int, redis_url: str | None,
            queue: str | None) -> None:
    """Send a record through a flow on the workers. Prints the run key and task id.

    Without a broker configured the flow runs here, at once, with the tenant's settings.
    """
    import workers
    from workers.runs import close_runtimes
    try:
        record = Path(input_path).read_bytes()
    except OSError as exc:
        raise SpecbridgeError(f"cannot read input {input_path}: {exc.strerror}") from None
    try:
        _enqueue(workers, spec, record, tenant, user, run_key, again, wait, timeout, pages_per_task, parallel,
                 redis_url, queue)
    finally:
        close_runtimes()


def _enqueue(workers: Any, spec: str, record: bytes, tenant: str, user: str | None, run_key: str | None,
             again: bool, wait: bool, timeout: float, pages_per_task: int, parallel: int, redis_url: str | None,
             queue: str | None) -> None:
    sent = workers.enqueue(spec, record, tenant=tenant, user=user, run_key=run_key, again=again, redis_url=redis_url,
                           queue=queue, pages_per_task=pages_per_task, parallel=parallel)
    if sent.inline:
        click.echo("note: no broker configured (SPECBRIDGE_REDIS_URL is not set and no --redis given); "
                   "the flow ran in this process", err=True)
    else:
        click.echo(f"queued {sent.run_key} (task {sent.task_id})", err=True)
        if not wait:
            click.echo(sent.run_key)
            return
    try:
        outcome = sent.wait(timeout)
    except workers.RunFailed as exc:
        raise SpecbridgeError(f"run {sent.run_key} failed: {exc}") from None
    except TimeoutError as exc:
        raise SpecbridgeError(str(exc)) from None
    if outcome.get("replayed"):
        click.echo("note: this record already went through this flow; nothing was sent again "
                   "(use --again to run it anew)", err=True)
    for warning in outcome.get("warnings") or []:
        click.echo(f"warning: {warning}", err=True)
    counts = outcome.get("counts")
    if counts:
        click.echo(json.dumps({k: v for k, v in counts.items() if k not in ("rejections", "page_range")}), err=True)
    click.echo(outcome.get("result") or "")
