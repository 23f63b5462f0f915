"""Fixtures for the scale tests: the machine's real Redis and PostgreSQL, real `celery worker`s.

Redis comes from SPECBRIDGE_TEST_REDIS_URL (default redis://127.0.0.1:6379), PostgreSQL from
SPECBRIDGE_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test). Each test gets a
Redis database number and queue name of its own, and a PostgreSQL schema of its own (dropped
afterwards), so runs never see each other's tasks or rows. When a server cannot be reached the
test is skipped, loudly; with CI=true it fails instead.

Workers are `python -m engine worker` subprocesses, each in its own process group, so a test can
SIGKILL one whole worker (its main process and its pool) as a crashed machine would.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from workers.config import Config

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("SPECBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
PG_URL = os.environ.get("SPECBRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
_DATABASES = itertools.count()


def _unreachable(what: str, url: str, error: Exception, variable: str) -> None:
    message = f"{what} at {url} is not reachable ({error}); set {variable}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"!!! SCALE TESTS SKIPPED: {message}")


@pytest.fixture(scope="session")
def redis_server() -> tuple[str, int]:
    """(base URL without a database, number of databases)."""
    import redis
    parts = urlsplit(REDIS_URL)
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    try:
        client = redis.Redis.from_url(base, socket_connect_timeout=5)
        client.ping()
        databases = int(client.config_get("databases").get("databases", 16))
    except redis.RedisError as e:
        _unreachable("Redis", REDIS_URL, e, "SPECBRIDGE_TEST_REDIS_URL")
    return base, databases


@pytest.fixture
def redis_url(redis_server: tuple[str, int]) -> str:
    """A Redis URL with a database number of this test's own (1..N-1, never 0, the default)."""
    base, databases = redis_server
    return f"{base}/{1 + next(_DATABASES) % (databases - 1)}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def postgres_base() -> str:
    try:
        with psycopg.connect(_libpq(PG_URL), connect_timeout=5):
            pass
    except psycopg.Error as e:
        _unreachable("PostgreSQL", PG_URL, e, "SPECBRIDGE_TEST_POSTGRES_URL")
    return PG_URL


@pytest.fixture
def store_url(postgres_base: str) -> Iterator[str]:
    """A store URL whose every table lives in a schema of this test's own."""
    schema = f"sbscale_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(postgres_base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    options = quote(f"-csearch_path={schema}")
    try:
        yield f"{postgres_base}{'&' if '?' in postgres_base else '?'}options={options}"
    finally:
        with psycopg.connect(_libpq(postgres_base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def queue(redis_url: str) -> Iterator[str]:
    """A queue name of this test's own; its keys are deleted afterwards."""
    import redis
    name = f"sbtest-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = [*client.scan_iter(f"{name}*"), *client.scan_iter(f"_kombu.binding.{name}*"),
            *client.scan_iter(f"_kombu.binding_permanent.{name}*")]
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def settings_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "settings"
    folder.mkdir()
    return folder


@pytest.fixture
def config(redis_url: str, queue: str, store_url: str, settings_dir: Path) -> Config:
    """What the test process (the sender) uses; the workers get the same through the environment."""
    return Config(redis_url=redis_url, store_url=store_url, settings_dir=settings_dir, queue=queue,
                  visibility_timeout=30, max_retries=3, retry_backoff=0.5)


@dataclass
class Worker:
    """One `specbridge worker` subprocess, the leader of its own process group."""

    process: subprocess.Popen[bytes]
    log: Path
    name: str

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.text():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} not ready after {timeout} s:\n{self.text()}")

    def kill(self) -> None:
        """SIGKILL the whole worker: main process and pool, no chance to hand anything back."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: finish what runs, then exit), SIGKILL if it takes too long."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            # The pool's children are gone with a warm shutdown; make sure of it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@dataclass
class Workers:
    config: Config
    folder: Path
    env: dict[str, str] = field(default_factory=dict)
    started: list[Worker] = field(default_factory=list)

    def start(self, *, concurrency: int = 2, pool: str = "prefork", wait: bool = True,
              visibility_timeout: int | None = None) -> Worker:
        name = f"w{len(self.started) + 1}-{uuid.uuid4().hex[:6]}@scale-test"
        log = self.folder / f"{name.split('@')[0]}.log"
        env = {**os.environ, **self.env,
               "SPECBRIDGE_REDIS_URL": self.config.redis_url or "", "SPECBRIDGE_STORE": self.config.store_url,
               "SPECBRIDGE_SETTINGS_DIR": str(self.config.settings_dir), "SPECBRIDGE_QUEUE": self.config.queue,
               "SPECBRIDGE_MAX_RETRIES": str(self.config.max_retries),
               "SPECBRIDGE_RETRY_BACKOFF": str(self.config.retry_backoff),
               "SPECBRIDGE_VISIBILITY_TIMEOUT": str(visibility_timeout or self.config.visibility_timeout)}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker", f"--concurrency={concurrency}", f"--pool={pool}",
                 f"--hostname={name}", "--loglevel=info"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        worker = Worker(process, log, name)
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.text()[-4000:]}" for w in self.started)


@pytest.fixture
def workers(config: Config, tmp_path: Path) -> Iterator[Workers]:
    """start() launches a worker subprocess; every worker is stopped after the test."""
    folder = tmp_path / "workers"
    folder.mkdir()
    running = Workers(config, folder)
    try:
        yield running
    finally:
        for worker in running.started:
            worker.stop()


from scale_waits import wait_until  # noqa: E402,F401 - re-exported for the fixtures here
