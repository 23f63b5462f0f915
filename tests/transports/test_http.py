"""HttpClientTransport against a real HTTP server on loopback: bodies, URLs, auth, TLS."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from transport_helpers import API_KEY, CLIENT_KEY, CLIENT_SECRET, DictTokenStore, closed_port, fast_retry

import transports.auth
from engine.errors import AuthError, ConnectError, TransportError
from simulators.servers import Drop, http_server
from transports import HttpClientTransport, open_http
from transports.base import (
    BearerTokenAuth,
    HeaderAuth,
    HttpConfig,
    HttpRequest,
    OAuth2RefreshAuth,
    QueryAuth,
    SignatureAuth,
)

Answer = tuple[int, Mapping[str, str], Any]


def echo(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
    return 200, {}, {"method": method, "path": path, "type": headers.get("content-type"),
                     "body": body.decode(), "headers": dict(headers)}


def form(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


# --- bodies and URLs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("request_kwargs", "content_type", "body"), [
    ({"json": {"Name": "Ab & Co", "n": 1}}, "application/json", '{"Name":"Ab & Co","n":1}'),
    ({"form": {"name": "Ab & Co", "city": "Delft"}}, "application/x-www-form-urlencoded",
     "name=Ab+%26+Co&city=Delft"),
    ({"content": b"<x>1</x>", "headers": {"Content-Type": "application/xml"}}, "application/xml",
     "<x>1</x>"),
])
def test_each_body_kind_arrives_as_sent(request_kwargs: dict[str, Any], content_type: str, body: str) -> None:
    with http_server(echo) as server, closing(open_http(HttpConfig(server.url))) as http:
        answer = http.send(HttpRequest("POST", "/items", **request_kwargs)).json()
    assert answer["type"] == content_type
    assert answer["body"] == body


@pytest.mark.parametrize(("path", "expected"), [
    ("relaties", "/v2/relaties?page=2"),
    ("/relaties", "/v2/relaties?page=2"),
])
def test_paths_join_the_base_url(path: str, expected: str) -> None:
    with http_server(echo) as server, closing(open_http(HttpConfig(server.url + "/v2"))) as http:
        response = http.send(HttpRequest("GET", path, params={"page": "2"}))
    assert response.status == 200
    assert response.json()["path"] == expected
    assert response.url.endswith(expected)


def test_an_absolute_url_is_used_as_is() -> None:
    with http_server(echo) as other, http_server(echo) as server, \
            closing(open_http(HttpConfig(server.url + "/v2"))) as http:
        http.send(HttpRequest("GET", other.url + "/elsewhere"))
    assert [r.path for r in other.requests] == ["/elsewhere"]
    assert server.requests == []


_segment = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(["https://erp.invalid", "https://erp.invalid/v2", "https://erp.invalid/v2/",
                             "http://127.0.0.1:8080/api"]),
       path=st.one_of(_segment, st.builds("/".join, st.lists(_segment, max_size=3)),
                      st.builds("{}?{}={}".format, _segment, _segment, _segment)),
       params=st.dictionaries(_segment, _segment, max_size=4))
@example(base="https://erp.invalid/v2", path="x?", params={"a": "1"})
@example(base="https://erp.invalid/v2", path="https://other.invalid/y#frag", params={"a": "1"})
@example(base="https://erp.invalid", path="?", params={"": ""})
def test_the_url_is_what_httpx_builds(base: str, path: str, params: dict[str, str]) -> None:
    """The transport's own URL building (one parse, the path joined once) against httpx's."""
    http = HttpClientTransport(HttpConfig(base))
    with closing(http):
        try:
            joined = http._client.build_request("GET", path).url
            expected = joined.copy_merge_params(params) if params else joined
        except httpx.InvalidURL:
            return
        assert http._url(path, params) == expected
        assert http._url(path, params) == expected  # and again, from the merged path kept


def test_a_query_written_in_the_path_is_kept_and_params_join_it() -> None:
    with http_server(echo) as server, closing(open_http(HttpConfig(server.url + "/v2"))) as http:
        plain = http.send(HttpRequest("GET", "relaties?active=1"))
        joined = http.send(HttpRequest("GET", "relaties?active=1", params={"page": "2"}))
    assert plain.json()["path"] == "/v2/relaties?active=1"
    assert joined.json()["path"] == "/v2/relaties?active=1&page=2"


def test_a_cookie_set_on_one_thread_is_sent_from_every_thread() -> None:
    """Each thread has its own client (no shared pool lock); the cookie jar is still one."""
    def app(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if path == "/login":
            return 200, {"Set-Cookie": "session=s1; Path=/"}, {}
        return 200, {}, {"cookie": headers.get("cookie")}

    with http_server(app) as server, closing(open_http(HttpConfig(server.url))) as http:
        http.send(HttpRequest("GET", "login"))
        seen: list[Any] = []
        threads = [threading.Thread(target=lambda: seen.append(http.send(HttpRequest("GET", "me")).json()))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen == [{"cookie": "session=s1"}] * 3


def test_cookies_set_on_every_answer_while_many_threads_send() -> None:
    """The shared jar changes on one thread while others read it to build their requests."""
    count = iter(range(10_000))

    def app(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return 200, {"Set-Cookie": f"c{next(count) % 50}=v; Path=/"}, {}

    failures: list[BaseException] = []
    with http_server(app) as server, closing(open_http(HttpConfig(server.url))) as http:
        def send_many() -> None:
            try:
                for _ in range(25):
                    assert http.send(HttpRequest("GET", "x")).status == 200
            except BaseException as exc:  # noqa: BLE001 - reported below, from the main thread
                failures.append(exc)
        threads = [threading.Thread(target=send_many) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def test_closing_closes_the_client_of_every_thread() -> None:
    with http_server(echo) as server:
        http = open_http(HttpConfig(server.url))
        clients: list[httpx.Client] = []

        def use() -> None:
            http.send(HttpRequest("GET", "x"))
            clients.append(http._client)
        threads = [threading.Thread(target=use) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        http.close()
    assert len({id(c) for c in clients}) == 3
    assert all(c.is_closed for c in clients)


def test_a_closed_transport_stays_closed() -> None:
    with http_server(echo) as server:
        http = open_http(HttpConfig(server.url))
        http.send(HttpRequest("GET", "x"))
        http.close()
        with pytest.raises(TransportError, match="closed"):
            http.send(HttpRequest("GET", "x"))
        raised: list[BaseException] = []

        def from_another_thread() -> None:  # a thread that never had a client: none is opened
            try:
                http.send(HttpRequest("GET", "x"))
            except BaseException as exc:  # noqa: BLE001 - checked below, on the test's thread
                raised.append(exc)
        other = threading.Thread(target=from_another_thread)
        other.start()
        other.join()
        assert [type(e) for e in raised] == [TransportError]
        assert http._clients == {}


def test_the_clients_of_threads_that_ended_are_closed() -> None:
    with http_server(echo) as server, closing(open_http(HttpConfig(server.url))) as http:
        ended: list[httpx.Client] = []
        for _ in range(3):  # each a short-lived thread, as a fetch's read-ahead thread is
            thread = threading.Thread(target=lambda: (http.send(HttpRequest("GET", "x")),
                                                      ended.append(http._client)))
            thread.start()
            thread.join()
        assert len({id(c) for c in ended}) == 3 and not ended[-1].is_closed
        http.send(HttpRequest("GET", "x"))  # this thread's first client: the ended ones go
        assert all(c.is_closed for c in ended)
        assert list(http._clients) == [threading.current_thread()]


def test_connection_headers_and_static_auth_are_sent() -> None:
    config = HttpConfig("http://x", headers={"X-Company": "42"}, auth=HeaderAuth("X-Api-Key", API_KEY))
    with http_server(echo) as server, \
            closing(open_http(HttpConfig(server.url, config.headers, config.auth))) as http:
        headers = http.send(HttpRequest("GET", "/a", headers={"Accept": "text/xml"})).json()["headers"]
    assert headers["x-company"] == "42"
    assert headers["x-api-key"] == API_KEY
    assert headers["accept"] == "text/xml"


def test_query_auth_goes_in_the_query_and_is_redacted_from_the_response_url() -> None:
    with http_server(echo) as server, \
            closing(open_http(HttpConfig(server.url, auth=QueryAuth("subscription-key", API_KEY)))) as http:
        response = http.send(HttpRequest("GET", "/a", params={"q": "1"}))
    assert parse_qs(urlsplit(server.requests[0].path).query) == {"q": ["1"], "subscription-key": [API_KEY]}
    assert API_KEY not in response.url
    assert "subscription-key=***" in response.url


def test_4xx_and_5xx_are_returned_not_raised() -> None:
    def app(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        return (404, {}, {"Message": "no such id"}) if path == "/a" else (501, {}, "not here")

    config = HttpConfig("http://x", retry=fast_retry())
    with http_server(app) as server, closing(open_http(HttpConfig(server.url, retry=config.retry))) as http:
        missing = http.send(HttpRequest("POST", "/a", json={}))
        unimplemented = http.send(HttpRequest("GET", "/b"))
    assert (missing.status, missing.json()) == (404, {"Message": "no such id"})
    assert (unimplemented.status, unimplemented.text) == (501, "not here")
    assert len(server.requests) == 2  # neither is in on_status: no retries


# --- bearer tokens -----------------------------------------------------------------------------

class TokenApi:
    """A token endpoint and an API that accepts only tokens it issued and did not revoke."""

    def __init__(self, expires_in: int = 3600) -> None:
        self.expires_in = expires_in
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.token_bodies: list[tuple[str | None, bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if path == "/auth/token":
            self.token_bodies.append((headers.get("content-type"), body))
            fields = json.loads(body) if body.startswith(b"{") else form(body)
            if fields.get("clientkey") != CLIENT_KEY:
                return 400, {}, {"error": "invalid_grant"}
            with self.lock:
                token = f"token-{len(self.issued) + 1}"
                self.issued.append(token)
            return 200, {}, {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.issued or token in self.revoked:
            return 401, {}, {"Message": "token expired"}
        return 200, {}, {"token": token, "company": headers.get("x-company")}


def bearer_config(url: str, body_format: str = "form", **auth: Any) -> HttpConfig:
    return HttpConfig(url + "/api", headers={"X-Company": "42"}, retry=fast_retry(),
                      auth=BearerTokenAuth(url + "/auth/token", {"grant_type": "clientkey", "clientkey": CLIENT_KEY},
                                           body_format=body_format, **auth))


@pytest.mark.parametrize("body_format", ["form", "json"])
def test_bearer_token_is_fetched_once_and_reused(body_format: str) -> None:
    api = TokenApi()
    with http_server(api) as server, closing(open_http(bearer_config(server.url, body_format))) as http:
        answers = [http.send(HttpRequest("GET", "/r")).json() for _ in range(3)]
    assert [a["token"] for a in answers] == ["token-1"] * 3
    content_type, body = api.token_bodies[0]
    expected = "application/json" if body_format == "json" else "application/x-www-form-urlencoded"
    assert content_type == expected
    assert len(api.token_bodies) == 1
    # Connection headers belong to the API, not to a token host.
    token_request = next(r for r in server.requests if r.path == "/auth/token")
    assert "x-company" not in token_request.headers
    assert answers[0]["company"] == "42"


def test_bearer_token_is_renewed_before_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(transports.auth.time, "monotonic", lambda: now[0])
    api = TokenApi(expires_in=100)
    with http_server(api) as server, closing(open_http(bearer_config(server.url, renew_before=20))) as http:
        first = http.send(HttpRequest("GET", "/r")).json()["token"]
        now[0] += 79  # 21 s left: still good
        second = http.send(HttpRequest("GET", "/r")).json()["token"]
        now[0] += 2  # 19 s left: inside renew_before
        third = http.send(HttpRequest("GET", "/r")).json()["token"]
    assert (first, second, third) == ("token-1", "token-1", "token-2")


def test_a_401_fetches_a_fresh_token_once_and_retries() -> None:
    api = TokenApi()
    with http_server(api) as server, closing(open_http(bearer_config(server.url))) as http:
        assert http.send(HttpRequest("POST", "/r", json={})).json()["token"] == "token-1"
        api.revoked.add("token-1")
        response = http.send(HttpRequest("POST", "/r", json={"a": 1}))
    assert response.status == 200
    assert response.json()["token"] == "token-2"
    posts = [r for r in server.requests if r.path == "/api/r"]
    assert [p.body for p in posts] == [b"{}", b'{"a":1}', b'{"a":1}']  # the body is re-sent intact


def test_a_persisting_401_is_returned_after_one_renewal() -> None:
    api = TokenApi()
    api.revoked = _Everything()
    with http_server(api) as server, closing(open_http(bearer_config(server.url))) as http:
        response = http.send(HttpRequest("GET", "/r"))
    assert response.status == 401
    assert len(api.issued) == 2
    assert len([r for r in server.requests if r.path == "/api/r"]) == 2


class _Everything(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


@pytest.mark.parametrize(("answer", "message"), [
    ((400, {}, {"error": "invalid_grant"}), "refused with HTTP 400"),
    ((200, {}, "<html>maintenance</html>"), "did not answer with a JSON object"),
    ((200, {}, {"token_type": "bearer"}), "has no 'access_token'"),
])
def test_token_endpoint_failures_raise_auth_error(answer: Answer, message: str) -> None:
    with http_server(lambda *_: answer) as server, closing(open_http(bearer_config(server.url))) as http, \
            pytest.raises(AuthError, match=message) as caught:
        http.send(HttpRequest("GET", "/r"))
    assert f"127.0.0.1:{server.port}/auth/token" in str(caught.value)
    assert [r.path for r in server.requests] == ["/auth/token"]  # the API was never called


def test_an_unreachable_token_host_is_a_connect_error() -> None:
    port = closed_port()
    config = HttpConfig("http://127.0.0.1:9/api", retry=fast_retry(attempts=2),
                        auth=BearerTokenAuth(f"http://127.0.0.1:{port}/token", {"clientkey": CLIENT_KEY}))
    with closing(open_http(config)) as http, pytest.raises(ConnectError, match=f"127.0.0.1:{port}/token"):
        http.send(HttpRequest("GET", "/r"))


# --- rotating refresh tokens -------------------------------------------------------------------

class RefreshApi:
    """OAuth2 refresh grant where each refresh token works once and is replaced by a new one."""

    def __init__(self, first_refresh: str) -> None:
        self.valid_refresh = first_refresh
        self.refreshes = 0
        self.access: str | None = None
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        if path == "/oauth/token":
            fields = form(body)
            with self.lock:
                if (fields.get("grant_type") != "refresh_token" or fields.get("client_secret") != CLIENT_SECRET
                        or fields.get("refresh_token") != self.valid_refresh):
                    return 400, {}, {"error": "invalid_grant"}
                self.refreshes += 1
                self.valid_refresh = f"rt-{self.refreshes + 1}"
                self.access = f"at-{self.refreshes}"
                return 200, {}, {"access_token": self.access, "refresh_token": self.valid_refresh,
                                 "expires_in": 3600}
        if headers.get("authorization") != f"Bearer {self.access}":
            return 401, {}, {"ErrorMessage": "token expired"}
        return 200, {}, {"ok": True}


def refresh_config(url: str, initial: str = "rt-1") -> HttpConfig:
    return HttpConfig(url + "/api", retry=fast_retry(), auth=OAuth2RefreshAuth(
        url + "/oauth/token", client_id="app", client_secret=CLIENT_SECRET, refresh_token=initial,
        token_key="tenant-a:crm"))


def test_a_rotated_refresh_token_is_saved_and_used_by_the_next_run() -> None:
    api, store = RefreshApi("rt-1"), DictTokenStore()
    with http_server(api) as server:
        with closing(open_http(refresh_config(server.url), token_store=store)) as http:
            assert http.send(HttpRequest("GET", "/r")).status == 200
        assert store.saved == [("tenant-a:crm", "rt-2")]
        # A later run still has the stale refresh token in its settings; the store wins.
        with closing(open_http(refresh_config(server.url, initial="rt-1"), token_store=store)) as http:
            assert http.send(HttpRequest("GET", "/r")).status == 200
    assert store.tokens == {"tenant-a:crm": "rt-3"}
    assert api.refreshes == 2


def test_a_401_refreshes_once_and_retries_with_rotation() -> None:
    api, store = RefreshApi("rt-1"), DictTokenStore()
    with http_server(api) as server, closing(open_http(refresh_config(server.url), token_store=store)) as http:
        http.send(HttpRequest("GET", "/r"))
        api.access = "revoked-by-server"
        response = http.send(HttpRequest("POST", "/r", json={"x": 1}))
    assert response.status == 200
    assert [value for _, value in store.saved] == ["rt-2", "rt-3"]


def test_concurrent_401s_refresh_once() -> None:
    """Two refreshes with one rotating token would fail the second: the lock must prevent it."""
    api, store = RefreshApi("rt-1"), DictTokenStore()
    with http_server(api) as server, closing(open_http(refresh_config(server.url), token_store=store)) as http:
        http.send(HttpRequest("GET", "/r"))
        api.access = "revoked-by-server"
        results: list[int] = []
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            results.append(http.send(HttpRequest("GET", "/r")).status)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results == [200] * 8
    assert api.refreshes == 2
    assert store.tokens["tenant-a:crm"] == "rt-3"


class SlowTokenAnswers(RefreshApi):
    """The refresh token is replaced at once, the answer carrying the new one comes late."""

    def __init__(self, first_refresh: str, late: float) -> None:
        super().__init__(first_refresh)
        self.late = late

    def __call__(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        answer = super().__call__(method, path, headers, body)
        if path == "/oauth/token":
            time.sleep(self.late)
        return answer


def test_a_rotating_refresh_waits_for_its_late_answer_past_the_connection_timeout() -> None:
    """Given up on, the answer's new refresh token would be lost and every later run refused."""
    api, store = SlowTokenAnswers("rt-1", late=0.6), DictTokenStore()
    with http_server(api) as server:
        config = dataclasses.replace(refresh_config(server.url), timeout=0.2)
        with closing(open_http(config, token_store=store)) as http:
            assert http.send(HttpRequest("GET", "/r")).status == 200
    assert store.tokens == {"tenant-a:crm": "rt-2"} and api.refreshes == 1


def test_a_rotating_refresh_left_unanswered_says_the_token_may_be_gone() -> None:
    api, store = RefreshApi("rt-1"), DictTokenStore()

    def rotate_then_drop(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        api(method, path, headers, body)  # the server replaced the refresh token...
        raise Drop()  # ...and the answer carrying the new one never arrives
    with http_server(rotate_then_drop) as server, \
            closing(open_http(refresh_config(server.url), token_store=store)) as http, \
            pytest.raises(AuthError, match="may have replaced the refresh token") as caught:
        http.send(HttpRequest("GET", "/r"))
    assert "invalid_grant" in str(caught.value) and store.saved == []


def test_other_token_requests_keep_the_connection_timeout() -> None:
    def slow(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        time.sleep(0.6)
        return 200, {}, {"access_token": "t", "expires_in": 60}
    with http_server(slow) as server:
        config = dataclasses.replace(bearer_config(server.url), timeout=0.2)
        with closing(open_http(config)) as http, pytest.raises(AuthError, match="did not answer"):
            http.send(HttpRequest("GET", "/r"))


def test_a_refused_refresh_raises_auth_error_and_saves_nothing() -> None:
    api, store = RefreshApi("rt-other"), DictTokenStore()
    with http_server(api) as server, closing(open_http(refresh_config(server.url), token_store=store)) as http, \
            pytest.raises(AuthError, match="refused with HTTP 400"):
        http.send(HttpRequest("GET", "/r"))
    assert store.saved == []


# --- signatures --------------------------------------------------------------------------------

def md5_sign(fields: Mapping[str, str]) -> str:
    return hashlib.md5(f"{API_KEY}{fields.get('account', '')}{fields.get('name', '')}".encode()).hexdigest()


def test_signature_in_a_form_field_covers_query_and_form() -> None:
    config_auth = SignatureAuth("key", md5_sign, target="form")
    with http_server(echo) as server, closing(open_http(HttpConfig(server.url, auth=config_auth))) as http:
        http.send(HttpRequest("POST", "/put.asp", params={"account": "77"}, form={"name": "Ab"}))
    sent = form(server.requests[0].body)
    assert sent == {"name": "Ab", "key": hashlib.md5(f"{API_KEY}77Ab".encode()).hexdigest()}
    assert server.requests[0].path == "/put.asp?account=77"


@pytest.mark.parametrize("target", ["query", "header"])
def test_signature_in_the_query_or_a_header(target: str) -> None:
    expected = hashlib.md5(f"{API_KEY}77".encode()).hexdigest()
    with http_server(echo) as server, \
            closing(open_http(HttpConfig(server.url, auth=SignatureAuth("key", md5_sign, target)))) as http:
        http.send(HttpRequest("GET", "/get.asp", params={"account": "77"}))
    recorded = server.requests[0]
    if target == "query":
        assert parse_qs(urlsplit(recorded.path).query)["key"] == [expected]
    else:
        assert recorded.headers["key"] == expected


def test_a_form_signature_without_a_form_body_is_refused() -> None:
    with http_server(echo) as server, \
            closing(open_http(HttpConfig(server.url, auth=SignatureAuth("key", md5_sign)))) as http, \
            pytest.raises(TransportError, match="has no form body"):
        http.send(HttpRequest("GET", "/get.asp"))
    assert server.requests == []


# --- TLS ---------------------------------------------------------------------------------------

def test_https_is_verified_against_the_given_ca() -> None:
    with http_server(echo, tls=True) as server:
        with closing(open_http(HttpConfig(server.url, ca_file=server.ca_file))) as http:
            assert http.send(HttpRequest("GET", "/a")).status == 200
        with closing(open_http(HttpConfig(server.url, retry=fast_retry()))) as http, \
                pytest.raises(ConnectError, match="certificate is not trusted"):
            http.send(HttpRequest("GET", "/a"))
    assert len(server.requests) == 1  # the untrusted attempt was not retried, and sent nothing


def test_the_shared_default_context_follows_ssl_cert_file(monkeypatch: pytest.MonkeyPatch) -> None:
    # The default verifying context is made once per process (loading the CA bundle costs about
    # 40 ms per client): sharing it must not freeze the certificate setting read from the environment.
    with http_server(echo, tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
        with closing(open_http(HttpConfig(server.url))) as http:
            assert http.send(HttpRequest("GET", "/a")).status == 200
        monkeypatch.delenv("SSL_CERT_FILE")
        with closing(open_http(HttpConfig(server.url, retry=fast_retry()))) as http, \
                pytest.raises(ConnectError, match="certificate is not trusted"):
            http.send(HttpRequest("GET", "/a"))
        with closing(open_http(HttpConfig(server.url))) as one, closing(open_http(HttpConfig(server.url))) as two:
            assert one._client._transport._pool._ssl_context is two._client._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_an_injected_httpx_transport_is_used() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": 7})

    http = HttpClientTransport(HttpConfig("https://api.invalid/v1", auth=HeaderAuth("X-Key", API_KEY)),
                               transport=httpx.MockTransport(handler))
    with closing(http):
        response = http.send(HttpRequest("POST", "items", json={"a": 1}))
    assert (response.status, response.json()) == (201, {"id": 7})
    assert str(seen[0].url) == "https://api.invalid/v1/items"
    assert seen[0].headers["X-Key"] == API_KEY


def test_an_injected_transport_is_shared_by_one_client_for_all_threads() -> None:
    """The caller owns an injected transport: one client uses it, so no thread's end closes it."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"cookie": request.headers.get("cookie")},
                              headers={"Set-Cookie": "s=1; Path=/"})

    http = HttpClientTransport(HttpConfig("https://api.invalid/v1"), transport=httpx.MockTransport(handler))
    with closing(http):
        seen: list[Any] = []
        for _ in range(2):
            thread = threading.Thread(target=lambda: seen.append(http.send(HttpRequest("GET", "x")).json()))
            thread.start()
            thread.join()
        assert seen == [{"cookie": None}, {"cookie": "s=1"}]  # the second thread sends the first's cookie
        assert len(set(map(id, http._clients.values()))) == 1
