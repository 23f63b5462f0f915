"""No credential ever shows in an exception, a log record, stdout/stderr or a repr.

Every error path below runs with all loggers at DEBUG (httpx logs request URLs, paramiko its
protocol), and the recognisable credential values are searched for everywhere they could land.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from transport_helpers import (
    API_KEY,
    CLIENT_KEY,
    CLIENT_SECRET,
    FOLDER,
    PASSWORD,
    USER,
    DictTokenStore,
    closed_port,
    fast_retry,
)

from engine.errors import SpecbridgeError
from simulators.servers import ftp_server, http_server, sftp_server
from transports import open_files, open_http
from transports.base import (
    BearerTokenAuth,
    FileServerConfig,
    FileUpload,
    HttpConfig,
    HttpRequest,
    OAuth2RefreshAuth,
    QueryAuth,
)

ACCESS_TOKEN = "at-Falcon-4471-do-not-leak"
REFRESH_TOKEN = "rt-Badger-9902-do-not-leak"
ROTATED_REFRESH = "rt-Marten-1180-do-not-leak"
ALL_SECRETS = (PASSWORD, CLIENT_KEY, CLIENT_SECRET, API_KEY, ACCESS_TOKEN, REFRESH_TOKEN, ROTATED_REFRESH)


def leaky_api(method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], Any]:
    """A badly behaved server that echoes every credential it receives into its error bodies."""
    echoed = f"{path} {dict(headers)} {body.decode()}"
    if path.startswith("/token"):
        return 400, {}, {"error": "invalid_client", "detail": echoed}
    if path.startswith("/oauth"):
        return 200, {}, {"access_token": ACCESS_TOKEN, "refresh_token": ROTATED_REFRESH, "expires_in": 60}
    return 500, {}, {"Message": f"crashed on {echoed}"}


def http_error_paths(url: str) -> Iterator[Callable[[], object]]:
    retry = fast_retry(attempts=2)
    # A bearer token request refused by a server that quotes the client key back.
    bearer = HttpConfig(url, retry=retry, auth=BearerTokenAuth(url + "/token", {"clientkey": CLIENT_KEY}))
    yield lambda: open_http(bearer).send(HttpRequest("GET", "/r"))
    # A POST that fails with an error body quoting the access token and the rotated refresh token.
    oauth = HttpConfig(url, retry=retry, auth=OAuth2RefreshAuth(url + "/oauth", "app", CLIENT_SECRET,
                                                                  REFRESH_TOKEN, "k"))
    yield lambda: open_http(oauth, DictTokenStore()).send(HttpRequest("POST", "/customers", json={}))
    # A query-string key on a request that exhausts its retries (httpx logs every URL).
    keyed = HttpConfig(url, retry=retry, auth=QueryAuth("key", API_KEY))
    yield lambda: open_http(keyed).send(HttpRequest("POST", "/customers", json={}))
    # The same key towards a host that refuses connections.
    dead = HttpConfig(f"http://127.0.0.1:{closed_port()}", retry=retry, auth=QueryAuth("key", API_KEY))
    yield lambda: open_http(dead).send(HttpRequest("GET", "/r"))


def test_no_secret_leaks_from_any_error_path(server_root: Path, tmp_path: Path, all_logs: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    errors: list[BaseException] = []
    reprs: list[str] = []

    def attempt(action: Callable[[], object]) -> None:
        try:
            action()
        except SpecbridgeError as exc:  # every failure must arrive as one of ours
            errors.append(exc)

    with http_server(leaky_api) as server:
        for action in http_error_paths(server.url):
            attempt(action)
    with ftp_server(server_root, USER, "the-real-password") as ftp:
        config = FileServerConfig(ftp.url, USER, PASSWORD, FOLDER, timeout=5)
        reprs.append(repr(config))
        attempt(lambda: open_files(config).send(FileUpload("a.xml", b"x")))
    with ftp_server(server_root, USER, PASSWORD, tls=True) as ftps:
        config = FileServerConfig(ftps.url, USER, PASSWORD, FOLDER, timeout=5)  # CA not trusted
        attempt(lambda: open_files(config).send(FileUpload("a.xml", b"x")))
    with sftp_server(server_root, USER, "the-real-password") as sftp:
        config = FileServerConfig(sftp.url, USER, PASSWORD, FOLDER, known_hosts=sftp.known_hosts, timeout=5)
        attempt(lambda: open_files(config).send(FileUpload("a.xml", b"x")))
        unknown = tmp_path / "empty_known_hosts"
        unknown.write_text("")
        config = FileServerConfig(sftp.url, USER, PASSWORD, FOLDER, known_hosts=str(unknown), timeout=5)
        attempt(lambda: open_files(config).send(FileUpload("a.xml", b"x")))
    with ftp_server(server_root, USER, PASSWORD, drop_after=1024) as ftp:
        files = open_files(FileServerConfig(ftp.url, USER, PASSWORD, FOLDER, timeout=5))
        reprs.append(repr(files))
        with closing(files):
            attempt(lambda: files.send(FileUpload("a.xml", b"x" * 4_000_000)))

    assert len(errors) == 9, [str(e) for e in errors]  # every path above really failed
    texts = [*reprs]
    for exc in errors:
        texts += [str(exc), repr(exc), *map(str, exc.args), "".join(traceback.format_exception(exc))]
    for record in all_logs.records:
        texts += [record.getMessage(), *(str(value) for value in vars(record).values())]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert any("127.0.0.1" in t for t in texts)  # the search space is real
    assert any(r.name == "httpx" for r in all_logs.records)  # library logs were captured
    for secret in ALL_SECRETS:
        leaks = [t for t in texts if secret in t]
        assert not leaks, f"{secret} leaked: {leaks[0][:300]}"


def test_configs_and_transports_do_not_show_credentials_in_repr() -> None:
    http_config = HttpConfig("https://api.example", auth=OAuth2RefreshAuth(
        "https://auth.example/token", "app", CLIENT_SECRET, REFRESH_TOKEN, "k"), secrets=(API_KEY,))
    file_config = FileServerConfig("sftp://h", USER, PASSWORD, secrets=(API_KEY,))
    texts = [repr(http_config), repr(file_config), repr(open_http(http_config)), repr(open_files(file_config)),
             repr(QueryAuth("key", API_KEY)), repr(BearerTokenAuth("https://a/t", {"clientkey": CLIENT_KEY}))]
    for secret in ALL_SECRETS:
        assert not [t for t in texts if secret in t]


def test_a_library_log_line_is_redacted_not_dropped(all_logs: pytest.LogCaptureFixture) -> None:
    with http_server(lambda *_: (200, {}, "")) as server:
        open_http(HttpConfig(server.url, auth=QueryAuth("key", API_KEY))).send(HttpRequest("GET", "/r"))
    lines = [r.getMessage() for r in all_logs.records if r.name == "httpx"]
    assert lines and all(API_KEY not in line for line in lines)
    assert any("key=***" in line for line in lines)
