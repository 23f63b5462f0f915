"""Retries, Retry-After, timeouts and the non-idempotent rule, against a real loopback server."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from transport_helpers import closed_port, fast_retry

from engine.errors import ConnectError, TransportError, UncertainOutcome
from simulators.servers import Drop, http_server
from transports import HttpClientTransport, open_http
from transports.base import HttpConfig, HttpRequest, RetryPolicy
from transports.http import parse_retry_after

Answer = tuple[int, Mapping[str, str], Any]
App = Callable[[str, str, Mapping[str, str], bytes], Answer]


def scripted(*answers: Answer | type[Drop] | float) -> App:
    """Answer call N with answers[N] (the last one repeats); a float sleeps that long first
    and then answers 200, a `Drop` closes the connection unanswered."""
    calls = [0]

    def app(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        step = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        if step is Drop:
            raise Drop()
        if isinstance(step, float):
            time.sleep(step)
            return 200, {}, {"late": True}
        return step  # type: ignore[return-value]

    return app


OK: Answer = (200, {}, {"ok": True})
BUSY: Answer = (503, {}, {"Message": "busy"})


def config(url: str, retry: RetryPolicy | None = None, timeout: float = 5.0) -> HttpConfig:
    return HttpConfig(url, retry=retry or fast_retry(), timeout=timeout)


def test_an_idempotent_request_is_retried_through_a_503_storm() -> None:
    with http_server(scripted(BUSY, BUSY, BUSY, OK)) as server, closing(open_http(config(server.url))) as http:
        response = http.send(HttpRequest("GET", "/r"))
    assert response.status == 200
    assert len(server.requests) == 4


def test_when_retries_run_out_the_last_response_is_returned() -> None:
    with http_server(scripted(BUSY)) as server, \
            closing(open_http(config(server.url, fast_retry(attempts=3)))) as http:
        response = http.send(HttpRequest("PUT", "/r", json={"a": 1}))
    assert (response.status, response.json()) == (503, {"Message": "busy"})
    assert len(server.requests) == 3


def test_a_post_answered_503_is_not_repeated() -> None:
    with http_server(scripted(BUSY, OK)) as server, closing(open_http(config(server.url))) as http, \
            pytest.raises(UncertainOutcome, match="HTTP 503") as caught:
        http.send(HttpRequest("POST", "/customers", json={"Name": "Ab"}))
    assert len(server.requests) == 1
    assert f"127.0.0.1:{server.port}/customers" in str(caught.value)
    assert "busy" in str(caught.value)  # the server's words are kept for the operator


def test_a_post_marked_idempotent_is_retried() -> None:
    with http_server(scripted(BUSY, OK)) as server, closing(open_http(config(server.url))) as http:
        response = http.send(HttpRequest("POST", "/search", json={}, idempotent=True))
    assert response.status == 200
    assert len(server.requests) == 2


def test_a_post_answered_429_is_retried_after_retry_after() -> None:
    policy = fast_retry(wait_max=0.5)  # its own backoff stays ~10 ms; the cap is 6 x 0.5 s
    with http_server(scripted((429, {"Retry-After": "1"}, "slow down"), OK)) as server, \
            closing(open_http(config(server.url, policy))) as http:
        started = time.monotonic()
        response = http.send(HttpRequest("POST", "/customers", json={}))
        elapsed = time.monotonic() - started
    assert response.status == 200
    assert len(server.requests) == 2
    assert elapsed >= 0.95  # the header was obeyed, not the policy's backoff


def test_a_long_retry_after_is_capped() -> None:
    policy = fast_retry(attempts=2, wait_max=0.05)  # cap: 6 x 50 ms
    with http_server(scripted((503, {"Retry-After": "3600"}, ""), OK)) as server, \
            closing(open_http(config(server.url, policy))) as http:
        started = time.monotonic()
        assert http.send(HttpRequest("GET", "/r")).status == 200
    assert time.monotonic() - started < 2


def test_retry_after_never_outlasts_the_policy_timeout() -> None:
    policy = fast_retry(attempts=5, timeout=0.5, wait_max=10)
    with http_server(scripted((429, {"Retry-After": "30"}, ""))) as server, \
            closing(open_http(config(server.url, policy))) as http:
        started = time.monotonic()
        response = http.send(HttpRequest("GET", "/r"))
    assert response.status == 429
    assert time.monotonic() - started < 2


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- timeouts and broken connections -----------------------------------------------------------

def test_an_idempotent_read_timeout_is_retried() -> None:
    with http_server(scripted(1.0, OK)) as server, \
            closing(open_http(config(server.url, timeout=0.3))) as http:
        response = http.send(HttpRequest("GET", "/r"))
    assert response.json() == {"ok": True}
    assert len(server.requests) == 2


def test_a_post_read_timeout_is_an_uncertain_outcome_not_a_retry() -> None:
    with http_server(scripted(1.0, OK)) as server, \
            closing(open_http(config(server.url, timeout=0.3))) as http, \
            pytest.raises(UncertainOutcome, match="may have been processed") as caught:
        http.send(HttpRequest("POST", "/customers", json={}))
    assert len(server.requests) == 1
    assert "ReadTimeout" in str(caught.value)


def test_a_post_whose_connection_drops_is_an_uncertain_outcome() -> None:
    with http_server(scripted(Drop, OK)) as server, closing(open_http(config(server.url))) as http, \
            pytest.raises(UncertainOutcome):
        http.send(HttpRequest("POST", "/customers", json={}))
    assert len(server.requests) == 1


def test_a_get_whose_connection_drops_is_retried() -> None:
    with http_server(scripted(Drop, OK)) as server, closing(open_http(config(server.url))) as http:
        assert http.send(HttpRequest("GET", "/r")).status == 200
    assert len(server.requests) == 2


@pytest.mark.parametrize(("method", "error"), [("GET", TransportError), ("DELETE", UncertainOutcome)])
def test_persistent_timeouts_give_up(method: str, error: type[TransportError]) -> None:
    with http_server(scripted(1.0)) as server, \
            closing(open_http(config(server.url, fast_retry(attempts=2), timeout=0.2))) as http, \
            pytest.raises(error, match="no answer after 2 attempts") as caught:
        http.send(HttpRequest(method, "/r"))
    assert len(server.requests) == 2
    assert type(caught.value) is error  # a GET changes nothing: not "uncertain"


def test_an_unreachable_host_is_a_connect_error_after_retries() -> None:
    port = closed_port()
    http = open_http(config(f"http://127.0.0.1:{port}/api", fast_retry(attempts=3)))
    with closing(http), pytest.raises(ConnectError, match="after 3 attempts") as caught:
        http.send(HttpRequest("POST", "/customers", json={}))  # never sent: safe to retry a POST
    assert f"127.0.0.1:{port}/api/customers" in str(caught.value)


def test_the_policy_timeout_bounds_the_whole_send() -> None:
    policy = RetryPolicy(attempts=1000, timeout=0.5, wait_initial=0.05, wait_max=0.1, wait_jitter=0)
    with http_server(scripted(BUSY)) as server, closing(open_http(config(server.url, policy))) as http:
        started = time.monotonic()
        assert http.send(HttpRequest("GET", "/r")).status == 503
    assert time.monotonic() - started < 2
    assert 2 <= len(server.requests) < 50


@pytest.mark.parametrize(("method", "error"), [("GET", TransportError), ("PUT", UncertainOutcome)])
def test_a_connect_failure_after_a_lost_answer_is_not_reported_as_nothing_sent(
        method: str, error: type[TransportError]) -> None:
    # Which failure comes in which order cannot be staged with a real server; a mock can.
    faults = [httpx.ReadTimeout("timed out"), httpx.ConnectError("refused")]

    def handler(request: httpx.Request) -> httpx.Response:
        raise faults.pop(0) if len(faults) > 1 else faults[0]

    http = HttpClientTransport(config("http://api.invalid", fast_retry(attempts=2)),
                               transport=httpx.MockTransport(handler))
    with closing(http), pytest.raises(error, match="no answer after 2 attempts") as caught:
        http.send(HttpRequest(method, "/r"))
    assert type(caught.value) is error
