"""The workers' parts on their own: configuration, payloads, retry decisions, tenant files, and
the Redis state (rate buckets, run locks) against the real Redis."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from scale_helpers import SPECTER, SPECTER_FLOW

import engine
from engine.errors import AuthError, ConnectError, FlowError, RemoteError, SettingsError, StoreError
from workers.config import Config, parse_rate, parse_rate_limits
from workers.redis_state import (
    Busy,
    Shared,
    TenantTokens,
    ThrottledConnections,
    forget_status,
    last_status,
    release_refresh,
)
from workers.runs import decode_record, encode_record, flow_payload, transient
from workers.tenants import check_tenant, limits_for, settings_for


def test_config_from_the_environment() -> None:
    env = {"SPECBRIDGE_STORE": "postgresql://db/x", "SPECBRIDGE_QUEUE": "q1", "SPECBRIDGE_VISIBILITY_TIMEOUT": "120",
           "SPECBRIDGE_RATE_LIMITS": "erp=10/s, files=120/m", "SPECBRIDGE_SETTINGS_DIR": "/etc/sb"}
    config = Config.from_env(env)
    assert config.redis_url is None  # enqueue: no broker unless one is configured
    assert Config.from_env(env, worker=True).redis_url == "redis://127.0.0.1:6379/0"
    assert (config.store_url, config.queue, config.visibility_timeout) == ("postgresql://db/x", "q1", 120)
    assert config.rate_limits == {"erp": 10.0, "files": 2.0}
    assert config.settings_dir == Path("/etc/sb")
    assert Config.from_env(env, queue="other", redis_url=None).queue == "other"
    with pytest.raises(SettingsError, match="SPECBRIDGE_VISIBILITY_TIMEOUT"):
        Config.from_env({"SPECBRIDGE_VISIBILITY_TIMEOUT": "soon"})
    hash(config)  # a Config keys caches


def test_rates() -> None:
    assert parse_rate("5", "x") == 5.0
    assert parse_rate("3600/h", "x") == 1.0
    assert parse_rate_limits("a=1/s;b=60/m\nc=2", "x") == {"a": 1.0, "b": 1.0, "c": 2.0}
    for bad in ("fast", "0/s", "-1", "5/d"):
        with pytest.raises(SettingsError):
            parse_rate(bad, "x")
    with pytest.raises(SettingsError, match="connection=rate"):
        parse_rate_limits("10/s", "x")


def test_tenant_names_cannot_leave_their_folder(tmp_path: Path) -> None:
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 65, "a..b"):
        with pytest.raises(SettingsError):
            check_tenant(bad)
    assert check_tenant("acme-nl_2.0") == "acme-nl_2.0"


def test_settings_and_limits_per_tenant(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "flow-a.yaml").write_text("Key: env:ACME_KEY\nBaseUrl: https://erp.example\n")
    (tmp_path / "acme" / "_limits.yaml").write_text("erp: 2/s\n")
    config = Config(redis_url=None, settings_dir=tmp_path, rate_limits={"erp": 10.0, "files": 1.0})
    values, where = settings_for(config, "acme", "flow-a")
    assert values == {"Key": "env:ACME_KEY", "BaseUrl": "https://erp.example"}  # secrets stay references
    assert where.endswith("acme/flow-a.yaml")
    assert settings_for(config, "globex", "flow-a") == ({}, f"{tmp_path}/globex/flow-a.yaml (missing)")
    assert limits_for(config, "acme") == {"erp": 2.0, "files": 1.0}
    assert limits_for(config, "globex") == {"erp": 10.0, "files": 1.0}


def test_a_payload_carries_the_record_and_run_key_never_settings() -> None:
    plan = engine.load_spec(SPECTER)
    record = {"CustomerGuid": "g1", "CustomerName": "A"}
    payload = flow_payload(plan, str(SPECTER), record, tenant="acme", user="jdoe", run_key=None)
    assert set(payload) == {"v", "kind", "spec", "flow", "tenant", "user", "record", "encoding", "run_key"}
    assert payload["flow"] == SPECTER_FLOW and payload["run_key"].startswith(f"{SPECTER_FLOW}:")
    again = flow_payload(plan, str(SPECTER), dict(record), tenant="acme", user="jdoe", run_key=None)
    assert again["run_key"] == payload["run_key"]  # same record, same run
    other = flow_payload(plan, str(SPECTER), record, tenant="globex", user="jdoe", run_key=None)
    assert other["run_key"] != payload["run_key"]
    assert flow_payload(plan, str(SPECTER), record, tenant="acme", user=None, run_key="k-1")["run_key"] == "k-1"


@pytest.mark.parametrize("record", [{"a": [1, "x"]}, b'{"a": 1}', b"<a>\xe9</a>", "<a>text</a>"])
def test_records_travel_as_json(record) -> None:
    encoded, encoding = encode_record(record)
    back = decode_record({"record": encoded, "encoding": encoding})
    assert back == (record.encode() if isinstance(record, str) else record)


def _flow_error_from(cause: Exception) -> FlowError:
    """As a send step with outcome rules raises it: inside the `except TransportError` block."""
    try:
        try:
            raise cause
        except Exception:
            raise FlowError("submit: did not confirm")  # noqa: B904 - the implicit context is the point
    except FlowError as exc:
        return exc


def test_what_is_retried() -> None:
    forget_status()
    assert transient(ConnectError("refused"))
    assert transient(StoreError("server closed the connection"))
    assert transient(RemoteError("busy", status=503)) and transient(RemoteError("slow down", status=429))
    assert not transient(RemoteError("bad request", status=400))
    assert not transient(AuthError("invalid_grant"))
    assert not transient(FlowError("ERROR_MISSING_NAME"))
    assert not transient(SettingsError("missing"))
    # A send step with outcome rules turns a connection failure into a FlowError: look inside.
    assert transient(_flow_error_from(ConnectError("refused")))
    assert not transient(_flow_error_from(AuthError("invalid_grant")))


# --- Redis state -----------------------------------------------------------------------------

@pytest.fixture
def shared(redis_url: str) -> Shared:
    prefix = f"sbtest-{uuid.uuid4().hex[:8]}:sb"
    state = Shared.from_url(redis_url, prefix)
    yield state
    keys = list(state.client.scan_iter(f"{prefix}:*"))
    if keys:
        state.client.delete(*keys)
    state.client.close()


def test_a_rate_bucket_is_shared_per_tenant_and_connection(shared: Shared) -> None:
    rate, takes = 20.0, 40
    started = time.monotonic()

    def take(count: int) -> None:
        for _ in range(count):
            shared.throttle("acme", "erp", rate)

    threads = [threading.Thread(target=take, args=(takes // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    other = time.monotonic()
    for _ in range(10):
        shared.throttle("globex", "erp", rate)  # another tenant has a bucket of its own
    other = time.monotonic() - other
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # A burst of one second's worth, then 20 per second: 40 requests take at least ~1 s.
    assert 0.9 <= elapsed < 3.0, elapsed
    assert other < 0.5, other


def test_connections_are_throttled_per_name_and_their_answers_seen(shared: Shared) -> None:
    class Answer:
        def __init__(self, status: int) -> None:
            self.status = status

    class Transport:
        def __init__(self, status: int) -> None:
            self.status, self.sent = status, 0

        def send(self, request):
            self.sent += 1
            return Answer(self.status)

    inner = {"erp": Transport(429), "files": Transport(200)}
    wrapped = ThrottledConnections(inner, shared, "acme", {"erp": 2.0})
    assert list(wrapped) == ["erp", "files"]
    forget_status()
    started = time.monotonic()
    for _ in range(4):
        wrapped["erp"].send("r")  # a burst of 2, then 2 per second
    assert 0.8 < time.monotonic() - started < 2.5
    assert last_status() == 429 and inner["erp"].sent == 4
    assert transient(FlowError("did not confirm"))  # a spec rule failing on the ERP's 429: retry
    started = time.monotonic()
    for _ in range(20):
        wrapped["files"].send("r")  # not limited
    assert time.monotonic() - started < 0.5
    assert last_status() == 200 and not transient(FlowError("did not confirm"))
    forget_status()


def test_a_run_key_runs_in_one_place_at_a_time(shared: Shared) -> None:
    with shared.run_lock("flow:k1", ttl=2):
        with pytest.raises(Busy), shared.run_lock("flow:k1", ttl=2):
            pass
        with shared.run_lock("flow:k2", ttl=2):  # other keys are free
            pass
        time.sleep(2.5)  # renewed while held: still ours after its TTL
        with pytest.raises(Busy), shared.run_lock("flow:k1", ttl=2):
            pass
    with shared.run_lock("flow:k1", ttl=2):  # released at the end of the block
        pass
    # A holder that died: the lock expires by itself.
    shared.client.set(f"{shared.prefix}:lock:flow:k3", "dead", px=300)
    with pytest.raises(Busy), shared.run_lock("flow:k3", ttl=2):
        pass
    time.sleep(0.4)
    with shared.run_lock("flow:k3", ttl=2):
        pass


def test_first_time_marks(shared: Shared) -> None:
    assert shared.first_time("sync-1:gen:range:0")
    assert not shared.first_time("sync-1:gen:range:0")
    assert shared.first_time("sync-1:gen:range:1")


def test_tokens_are_kept_per_tenant_and_refreshed_one_worker_at_a_time(shared: Shared) -> None:
    class Store:
        def __init__(self) -> None:
            self.tokens: dict[str, str] = {"flow:erp": "plain-r0"}

        def load_token(self, key: str) -> str | None:
            return self.tokens.get(key)

        def save_token(self, key: str, value: str) -> None:
            self.tokens[key] = value

    store = Store()
    TenantTokens(store, "default", shared).save_token("flow:erp", "default-r1")
    acme = TenantTokens(store, "acme", shared)
    assert acme.load_token("flow:erp") is None  # not the default tenant's token
    acme.save_token("flow:erp", "acme-r1")
    assert store.tokens == {"flow:erp": "default-r1", "acme/flow:erp": "acme-r1"}

    # Two workers refreshing at once: the second reads the token the first saved, never the same one.
    spent: list[str] = []

    def refresh(name: str) -> None:
        tokens = TenantTokens(store, "acme", shared, wait=5)
        current = tokens.load_token("flow:erp")
        spent.append(current)
        time.sleep(0.2)
        tokens.save_token("flow:erp", f"{current}+{name}")

    threads = [threading.Thread(target=refresh, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(spent)) == 2 and spent[0] == "acme-r1"
    assert store.tokens["acme/flow:erp"] in ("acme-r1+a+b", "acme-r1+b+a")

    # A refresh that lasts longer than the lock's life (a rotating grant waits up to 60 s for
    # its answer) keeps it: the lock is renewed while held, so nobody spends the token meanwhile.
    slow = TenantTokens(store, "acme", shared, wait=0.3)
    slow.load_token("flow:erp")
    time.sleep(1.0)
    refused: list[BaseException] = []

    def contend() -> None:  # another worker: its own thread
        try:
            TenantTokens(store, "acme", shared, wait=0.2).load_token("flow:erp")
        except ConnectError as exc:
            refused.append(exc)
        finally:
            release_refresh()
    contender = threading.Thread(target=contend)
    contender.start()
    contender.join()
    assert len(refused) == 1 and "another worker has been refreshing" in str(refused[0])
    slow.save_token("flow:erp", "acme-slow")
    assert TenantTokens(store, "acme", shared, wait=1).load_token("flow:erp") == "acme-slow"
    release_refresh()

    # A refresh whose request failed before a token was saved gives the lock back too.
    TenantTokens(store, "acme", shared, wait=1).load_token("flow:erp")
    release_refresh()
    assert TenantTokens(store, "acme", shared, wait=1).load_token("flow:erp")
    release_refresh()
