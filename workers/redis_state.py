"""What workers share in Redis besides the queue: run locks, rate buckets, dispatch marks.

Run lock: one run key runs in one place at a time. A task redelivered while the first delivery
still runs (Redis hands out a task again once its visibility timeout passes) waits instead of
running beside it; the lock expires with the visibility timeout and is renewed while the run
lasts, so a killed worker's lock is gone by the time its task comes back.

Token store per tenant: rotating refresh tokens are kept in the store under "<tenant>/<key>"
(tenant "default" under the plain key, as `specbridge run` keeps them), and a refresh (read the
token, ask for a new one, save it) holds a lock in Redis, renewed while the refresh lasts, so two
workers never spend the same refresh token.

Rate bucket: a token bucket per tenant and connection, shared by every worker. Each request
takes a token; when there is none the caller sleeps until its token is due (one round trip, the
wait computed atomically in a Lua script on Redis' own clock). Burst: one second's worth.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from engine.errors import ConnectError

# KEYS[1] bucket; ARGV: rate per second, burst. Returns the seconds to wait, as text (Lua numbers
# come back from Redis as integers). The token is reserved even when it is not yet there, so
# waiting callers queue up in order instead of racing each other.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate) - 1
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class Busy(Exception):  # noqa: N818 - a state, not a failure: the run is running elsewhere
    """The run key is locked by another delivery of the same run."""


class Shared:
    """Our keys in one Redis database, under `prefix`."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self._take = client.register_script(_TAKE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> Shared:
        import redis
        return cls(redis.Redis.from_url(url, socket_timeout=30, health_check_interval=30), prefix)

    # --- run locks -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def run_lock(self, run_key: str, ttl: float) -> Iterator[None]:
        """Hold the run key's lock for the block, renewing it every ttl/3; Busy if held elsewhere."""
        key, token, ms = f"{self.prefix}:lock:{run_key}", uuid.uuid4().hex, max(1000, int(ttl * 1000))
        if not self.client.set(key, token, nx=True, px=ms):
            raise Busy(run_key)
        stop, keeper = self._keep(key, token, ms, f"lock-{run_key[:24]}")
        try:
            yield
        finally:
            stop.set()
            keeper.join(5)
            with contextlib.suppress(Exception):
                self._release(keys=[key], args=[token])

    def _keep(self, key: str, token: str, ms: int, name: str) -> tuple[threading.Event, threading.Thread]:
        """Renew a lock we hold every third of its life until the event is set: it lasts as long
        as its holder, and expires soon after a holder that died."""
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ms / 3000):
                with contextlib.suppress(Exception):  # a missed renewal only shortens the lock
                    self._renew(keys=[key], args=[token, ms])

        keeper = threading.Thread(target=renew, name=name, daemon=True)
        keeper.start()
        return stop, keeper

    def hold_refresh(self, name: str, wait: float) -> None:
        """Take the refresh lock of a token (waiting for another worker's refresh to end).

        Renewed while held: a rotating refresh may wait for its answer longer than `wait`
        (transports.http.ROTATING_TOKEN_TIMEOUT), and a lock that lapsed meanwhile would let
        another worker spend the same refresh token."""
        release_refresh()
        key, token, ms = f"{self.prefix}:refresh:{name}", uuid.uuid4().hex, max(1000, int(wait * 1000))
        deadline = time.monotonic() + wait
        while not self.client.set(key, token, nx=True, px=ms):
            if time.monotonic() > deadline:  # nothing was sent: the run may be retried as it is
                raise ConnectError(f"another worker has been refreshing token {name} for {wait:.0f} s")
            time.sleep(0.05)
        stop, _ = self._keep(key, token, ms, f"refresh-{name[:24]}")
        _REFRESH.held = (self, key, token, stop)

    # --- dispatch marks ------------------------------------------------------------------------
    def first_time(self, name: str, ttl: int = 7 * 24 * 3600) -> bool:
        """True for the first caller only: makes "send this task" happen once per name."""
        return bool(self.client.set(f"{self.prefix}:once:{name}", "1", nx=True, ex=ttl))

    # --- rate buckets --------------------------------------------------------------------------
    def take(self, tenant: str, connection: str, rate: float) -> float:
        """Take a request token; returns the seconds to wait before using it."""
        burst = max(1.0, math.ceil(rate))
        wait = self._take(keys=[f"{self.prefix}:rate:{tenant}:{connection}"], args=[rate, burst])
        return float(wait)

    def throttle(self, tenant: str, connection: str, rate: float) -> None:
        wait = self.take(tenant, connection, rate)
        if wait > 0:
            time.sleep(wait)


# The status of the last HTTP answer a connection returned on this thread: when a run fails on
# a spec rule right after the ERP said 429 or 503 (the transport returns such answers once its
# own retries are used up, so that outcome rules can read them), the failure is worth a retry.
_LAST = threading.local()


def last_status() -> int | None:
    return getattr(_LAST, "status", None)


def forget_status() -> None:
    _LAST.status = None


class TenantTokens:
    """The store's token methods as one tenant's connections see them (see the module docstring).

    The transport reads a stored token only to refresh it, so `load_token` takes the refresh lock;
    `save_token` or the end of the request that refreshed (`Observed.send`) gives it back.
    """

    # How long a worker waits for another's refresh: a rotating one may take a connect and the
    # 60 s the transport waits for its answer (transports.http), so a little more than both.
    def __init__(self, store: Any, tenant: str, shared: Shared | None, wait: float = 90.0) -> None:
        self._store, self._tenant, self._shared, self._wait = store, tenant, shared, wait

    def _key(self, key: str) -> str:
        return key if self._tenant == "default" else f"{self._tenant}/{key}"

    def load_token(self, key: str) -> str | None:
        if self._shared is not None:
            self._shared.hold_refresh(self._key(key), self._wait)
        return self._store.load_token(self._key(key))

    def save_token(self, key: str, value: str) -> None:
        try:
            self._store.save_token(self._key(key), value)
        finally:
            release_refresh()


_REFRESH = threading.local()  # (shared, lock key, token) of the refresh lock this thread holds


def release_refresh() -> None:
    held = getattr(_REFRESH, "held", None)
    _REFRESH.held = None
    if held is not None:
        shared, key, token, stop = held
        stop.set()
        with contextlib.suppress(Exception):
            shared._release(keys=[key], args=[token])


class Observed:
    """A transport seen through the worker: each send/fetch first takes a token from the
    tenant's bucket (when the connection is limited), and the answer's status is remembered."""

    def __init__(self, transport: Any, shared: Shared | None, tenant: str, connection: str,
                 rate: float | None) -> None:
        self._transport, self._shared = transport, shared
        self._tenant, self._connection, self._rate = tenant, connection, rate

    def _throttle(self) -> None:
        if self._shared is not None and self._rate is not None:
            self._shared.throttle(self._tenant, self._connection, self._rate)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self._throttle()
        try:
            answer = self._transport.send(*args, **kwargs)
        finally:
            release_refresh()  # a refresh that failed before saving a token
        status = getattr(answer, "status", None)
        _LAST.status = status if isinstance(status, int) else None
        return answer

    def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self._throttle()
        return self._transport.fetch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class ThrottledConnections(Mapping[str, Any]):
    """A run's connections with the tenant's rate limits applied per connection name."""

    def __init__(self, inner: Mapping[str, Any], shared: Shared | None, tenant: str,
                 limits: Mapping[str, float]) -> None:
        self._inner, self._shared, self._tenant, self._limits = inner, shared, tenant, dict(limits)
        self._wrapped: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Any:
        transport = self._inner[name]
        with self._lock:
            if name not in self._wrapped:
                self._wrapped[name] = Observed(transport, self._shared, self._tenant, name, self._limits.get(name))
            return self._wrapped[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
