"""Remote path rules (examples and a property), the in-memory doubles, and the pinned public API."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

import transports
from engine.errors import InputError, TransportError
from transports import FileUpload, HttpRequest, HttpResponse, MemoryFileTransport, MemoryHttpTransport
from transports.base import FileTransport, HttpTransport
from transports.paths import check_name, resolve, temp_path


@pytest.mark.parametrize(("folder", "path", "expected"), [
    ("/customers/", "C1.xml", "/customers/C1.xml"),
    ("customers", "C1.xml", "/customers/C1.xml"),
    ("/", "C1.xml", "/C1.xml"),
    ("/out/", "2026/C1.xml", "/out/2026/C1.xml"),
    ("/out/", "./C1.xml", "/out/C1.xml"),
    ("/out/", "/out/x/C1.xml", "/out/x/C1.xml"),
    ("/", "/anything/C1.xml", "/anything/C1.xml"),
])
def test_resolve(folder: str, path: str, expected: str) -> None:
    assert resolve(folder, path) == expected


@pytest.mark.parametrize(("folder", "path", "reason"), [
    ("/out", "../x", "'..'"),
    ("/out", "/outside/x", "outside the folder"),
    ("/out", "/out", "outside the folder"),
    ("/out", "a\tb", "control character"),
    ("/out", "a\\b", "backslash"),
    ("/out", "a\x00b", "NUL"),
    ("/out/../etc", "x", "'..'"),
    ("/out", "", "names no file"),
])
def test_resolve_refuses(folder: str, path: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        resolve(folder, path)


@given(st.text(alphabet=st.sampled_from("ab./\\\x00\r\n ."), max_size=12))
def test_a_resolved_path_never_leaves_its_folder(path: str) -> None:
    try:
        final = resolve("/base/in", path)
    except InputError:
        return
    assert final.startswith("/base/in/")
    assert posixpath.normpath(final) == final
    assert not set(final) & {"\\", "\x00", "\r", "\n"}


def test_temp_path_is_hidden_unique_and_beside_the_target() -> None:
    first, second = temp_path("/out/C1.xml"), temp_path("/out/C1.xml")
    assert first != second
    assert posixpath.dirname(first) == "/out"
    assert posixpath.basename(first).startswith(".C1.xml.") and first.endswith(".part")


@pytest.mark.parametrize("name", ["a/b.xml", "..", "", "a\nb"])
def test_check_name_refuses_what_is_not_one_file_name(name: str) -> None:
    with pytest.raises(InputError):
        check_name(name)


def test_memory_http_records_and_answers() -> None:
    double = MemoryHttpTransport(lambda request: HttpResponse(201, {}, request.path.encode()))
    assert isinstance(double, HttpTransport)
    response = double.send(HttpRequest("POST", "/customers", json={"a": 1}))
    assert (response.status, response.text) == (201, "/customers")
    assert [r.json for r in double.requests] == [{"a": 1}]


def test_memory_files_follow_the_same_path_rules() -> None:
    double = MemoryFileTransport({"/in/customers.xml": b"<x/>"}, folder="/in")
    assert isinstance(double, FileTransport)
    assert double.fetch("customers.xml") == b"<x/>"
    assert double.send(FileUpload("C1.xml", b"1")) == "/in/C1.xml"
    assert double.files["/in/C1.xml"] == b"1"
    with pytest.raises(InputError):
        double.send(FileUpload("../C1.xml", b"1"))
    with pytest.raises(TransportError, match="no such file"):
        double.fetch("missing.xml")


def test_public_api_is_pinned() -> None:
    assert sorted(transports.__all__) == [
        "AuthConfig", "BearerTokenAuth", "FileServerConfig", "FileTransport", "FileUpload", "FtpTransport",
        "HeaderAuth", "HttpClientTransport", "HttpConfig", "HttpRequest", "HttpResponse", "HttpTransport",
        "LocalFileTransport", "MemoryFileTransport", "MemoryHttpTransport", "OAuth2RefreshAuth", "QueryAuth",
        "RetryPolicy", "SftpTransport", "SignatureAuth", "TokenStore", "check_name", "open_files",
        "open_http", "redact", "register_file_transport",
    ]
    assert all(hasattr(transports, name) for name in transports.__all__)
