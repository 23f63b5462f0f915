"""File transports against real endpoints: a local folder, FTP (passive, active), FTPS, SFTP."""

from __future__ import annotations

import errno
import os
from contextlib import closing
from pathlib import Path

import pytest
from transport_helpers import FOLDER, PASSWORD, USER, closed_port, entries

import transports
from engine.errors import AuthError, ConnectError, InputError, TransportError
from simulators.servers import FtpServer, SftpServer, ftp_server, sftp_server
from transports import (
    FtpTransport,
    LocalFileTransport,
    MemoryFileTransport,
    SftpTransport,
    open_files,
    register_file_transport,
)
from transports.base import FileServerConfig, FileUpload

# --- the contract, for every kind --------------------------------------------------------------


def test_upload_lands_atomically_and_leaves_no_temporary_file(endpoint: FileServerConfig,
                                                             server_root: Path) -> None:
    with closing(open_files(endpoint)) as files:
        final = files.send(FileUpload("C00123.xml", b"<NewCustomers/>"))
        assert files.fetch("C00123.xml") == b"<NewCustomers/>"
    assert final == "/customers/C00123.xml"
    assert entries(server_root) == ["customers/C00123.xml"]


def test_upload_replaces_an_existing_file(endpoint: FileServerConfig, server_root: Path) -> None:
    (server_root / "customers" / "C1.xml").write_bytes(b"old")
    with closing(open_files(endpoint)) as files:
        files.send(FileUpload("C1.xml", b"new"))
        files.send(FileUpload("/customers/C1.xml", b"newer"))  # absolute, inside the folder
    assert (server_root / "customers" / "C1.xml").read_bytes() == b"newer"
    assert entries(server_root) == ["customers/C1.xml"]


def test_a_large_upload_arrives_whole(endpoint: FileServerConfig, server_root: Path) -> None:
    content = os.urandom(3 * 1024 * 1024)
    with closing(open_files(endpoint)) as files:
        files.send(FileUpload("big.bin", content))
    assert (server_root / "customers" / "big.bin").read_bytes() == content


@pytest.mark.parametrize("path", [
    "../escape.xml", "sub/../../escape.xml", "/etc/passwd", "/customersX/a.xml", "a\x00b.xml",
    "a\r\nDELE other.xml", "..\\escape.xml", "", "/", ".",
])
def test_unsafe_paths_are_refused_and_nothing_is_written(endpoint: FileServerConfig, server_root: Path,
                                                         path: str) -> None:
    with closing(open_files(endpoint)) as files:
        with pytest.raises(InputError, match="unsafe"):
            files.send(FileUpload(path, b"x"))
        with pytest.raises(InputError, match="unsafe"):
            files.fetch(path)
    assert entries(server_root) == []


def test_a_missing_folder_fails_cleanly(endpoint: FileServerConfig, server_root: Path) -> None:
    with closing(open_files(endpoint)) as files, pytest.raises(TransportError) as caught:
        files.send(FileUpload("nope/C1.xml", b"x"))
    assert "/customers/nope/C1.xml" in str(caught.value)
    assert entries(server_root) == []


def test_fetching_a_missing_file_is_a_transport_error(endpoint: FileServerConfig) -> None:
    with closing(open_files(endpoint)) as files, pytest.raises(TransportError, match="customers.xml"):
        files.fetch("customers.xml")


def test_a_connection_is_reused_and_survives_after_an_error(endpoint: FileServerConfig,
                                                           server_root: Path) -> None:
    with closing(open_files(endpoint)) as files:
        with pytest.raises(TransportError):
            files.fetch("missing.xml")
        files.send(FileUpload("a.xml", b"1"))
        files.send(FileUpload("b.xml", b"2"))
    assert entries(server_root) == ["customers/a.xml", "customers/b.xml"]


# --- connection failures -----------------------------------------------------------------------

def test_ftp_login_failure_is_an_auth_error(ftp: FtpServer) -> None:
    config = FileServerConfig(ftp.url, USER, "wrong-password", FOLDER, timeout=5)
    with closing(open_files(config)) as files, pytest.raises(AuthError, match=f"127.0.0.1:{ftp.port}"):
        files.send(FileUpload("a.xml", b"x"))


def test_sftp_login_failure_is_an_auth_error(sftp: SftpServer) -> None:
    config = FileServerConfig(sftp.url, USER, "wrong-password", FOLDER, known_hosts=sftp.known_hosts, timeout=5)
    with closing(open_files(config)) as files, pytest.raises(AuthError, match="login refused"):
        files.send(FileUpload("a.xml", b"x"))


@pytest.mark.parametrize("scheme", ["ftp", "ftps", "sftp"])
def test_an_unreachable_server_is_a_connect_error(scheme: str, tmp_path: Path) -> None:
    port = closed_port()
    config = FileServerConfig(f"{scheme}://127.0.0.1:{port}", USER, PASSWORD, FOLDER,
                              known_hosts=str(tmp_path / "none"), timeout=2)
    (tmp_path / "none").write_text("")
    with closing(open_files(config)) as files, pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
        files.send(FileUpload("a.xml", b"x"))


def test_ftps_refuses_a_server_whose_ca_is_not_trusted(ftps: FtpServer, server_root: Path) -> None:
    config = FileServerConfig(ftps.url, USER, PASSWORD, FOLDER, timeout=5)  # system CAs only
    with closing(open_files(config)) as files, pytest.raises(ConnectError, match="not trusted"):
        files.send(FileUpload("a.xml", b"x"))
    assert entries(server_root) == []


def test_plain_ftp_is_refused_by_a_server_requiring_tls(ftps: FtpServer) -> None:
    config = FileServerConfig(ftps.url.replace("ftps://", "ftp://"), USER, PASSWORD, FOLDER, timeout=5)
    with closing(open_files(config)) as files, pytest.raises(AuthError, match="SSL/TLS required"):
        files.send(FileUpload("a.xml", b"x"))


def test_ftp_with_tls_flag_uses_ftps(ftps: FtpServer, server_root: Path) -> None:
    config = FileServerConfig(ftps.url.replace("ftps://", "ftp://"), USER, PASSWORD, FOLDER, tls=True,
                              ca_file=ftps.ca_file, timeout=5)
    with closing(open_files(config)) as files:
        files.send(FileUpload("a.xml", b"x"))
    assert entries(server_root) == ["customers/a.xml"]


def test_sftp_refuses_an_unknown_host_key(sftp: SftpServer, tmp_path: Path, server_root: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = FileServerConfig(sftp.url, USER, PASSWORD, FOLDER, known_hosts=str(empty), timeout=5)
    with closing(open_files(config)) as files, pytest.raises(ConnectError, match="host key is unknown"):
        files.send(FileUpload("a.xml", b"x"))
    assert entries(server_root) == []


def test_sftp_accepts_an_unknown_host_key_only_when_told_and_says_so(
        sftp: SftpServer, tmp_path: Path, server_root: Path, caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = FileServerConfig(sftp.url, USER, PASSWORD, FOLDER, known_hosts=str(empty),
                              accept_unknown_host_key=True, timeout=5)
    with closing(open_files(config)) as files:
        files.send(FileUpload("a.xml", b"x"))
    assert entries(server_root) == ["customers/a.xml"]
    assert any("accepting an unknown SSH host key" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)
    assert empty.read_text() == ""  # trusting once must not write the key anywhere


def test_sftp_refuses_a_changed_host_key_even_when_unknown_keys_are_accepted(
        server_root: Path, tmp_path: Path) -> None:
    with sftp_server(server_root, USER, PASSWORD) as old:
        old_line = old.host_key_line
    with sftp_server(server_root, USER, PASSWORD) as new:
        wrong = tmp_path / "known_hosts"
        wrong.write_text(old_line.replace(f"]:{old.port} ", f"]:{new.port} ") + "\n")
        config = FileServerConfig(new.url, USER, PASSWORD, FOLDER, known_hosts=str(wrong),
                                  accept_unknown_host_key=True, timeout=5)
        with closing(open_files(config)) as files, pytest.raises(ConnectError, match="does not match"):
            files.send(FileUpload("a.xml", b"x"))
    assert entries(server_root) == []


# --- failures during an upload leave nothing behind --------------------------------------------

PAYLOAD = os.urandom(4 * 1024 * 1024)  # far more than socket buffers hold


def test_ftp_connection_killed_mid_upload_leaves_nothing(server_root: Path) -> None:
    with ftp_server(server_root, USER, PASSWORD, drop_after=256 * 1024) as server:
        config = FileServerConfig(server.url, USER, PASSWORD, FOLDER, timeout=5)
        with closing(open_files(config)) as files:
            with pytest.raises(TransportError, match="upload failed") as caught:
                files.send(FileUpload("C1.xml", PAYLOAD))
            assert f"127.0.0.1:{server.port}/customers/C1.xml" in str(caught.value)
            assert entries(server_root) == []
            files.send(FileUpload("C2.xml", b"after"))  # the transport reconnects afterwards
    assert entries(server_root) == ["customers/C2.xml"]


def test_sftp_connection_killed_mid_upload_leaves_nothing(server_root: Path) -> None:
    with sftp_server(server_root, USER, PASSWORD, drop_after=256 * 1024) as server:
        config = FileServerConfig(server.url, USER, PASSWORD, FOLDER, known_hosts=server.known_hosts, timeout=5)
        with closing(open_files(config)) as files:
            with pytest.raises(TransportError, match="upload failed") as caught:
                files.send(FileUpload("C1.xml", PAYLOAD))
            assert f"127.0.0.1:{server.port}/customers/C1.xml" in str(caught.value)
            assert entries(server_root) == []
            files.send(FileUpload("C2.xml", b"after"))
    assert entries(server_root) == ["customers/C2.xml"]


def test_ftp_full_disk_is_reported_and_the_partial_file_removed(server_root: Path) -> None:
    from pyftpdlib.handlers import FTPHandler

    class DiskFull(FTPHandler):
        def ftp_STOR(self, file: str, mode: str = "w") -> None:
            Path(file).write_bytes(b"partial")  # the server got this far, then ran out of space
            self.respond("452 Insufficient storage space.")

    with ftp_server(server_root, USER, PASSWORD, handler=DiskFull) as server:
        config = FileServerConfig(server.url, USER, PASSWORD, FOLDER, timeout=5)
        with closing(open_files(config)) as files, pytest.raises(TransportError, match="disk is full"):
            files.send(FileUpload("C1.xml", b"<x/>"))
    assert entries(server_root) == []


def test_local_full_disk_is_reported_and_the_temporary_file_removed(
        server_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk cannot be made on demand here; fsync is where the kernel reports it.
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    files = open_files(FileServerConfig(server_root.as_uri(), folder=FOLDER))
    with pytest.raises(TransportError, match="disk is full"):
        files.send(FileUpload("C1.xml", b"<x/>"))
    assert entries(server_root) == []


# --- the registry ------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "kind"), [
    ("file:///tmp/x", LocalFileTransport), ("ftp://h", FtpTransport), ("FTPS://h:990", FtpTransport),
    ("sftp://h:2222", SftpTransport),
])
def test_open_files_picks_the_transport_by_scheme(url: str, kind: type) -> None:
    assert type(open_files(FileServerConfig(url))) is kind  # connecting is lazy


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(TransportError, match="unsupported file server address scheme gopher://"):
        open_files(FileServerConfig("gopher://h"))


def test_register_file_transport_adds_a_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transports, "_FILE_TRANSPORTS", dict(transports._FILE_TRANSPORTS))  # no leak
    memory = MemoryFileTransport(folder="/in")
    register_file_transport("mem", lambda config: memory)
    assert open_files(FileServerConfig("mem://anything")) is memory


@pytest.mark.parametrize(("active", "command"), [(False, "PASV"), (True, "PORT")])
def test_ftp_data_connection_mode_follows_the_active_flag(
        ftp: FtpServer, active: bool, command: str, all_logs: pytest.LogCaptureFixture) -> None:
    config = FileServerConfig(ftp.url, USER, PASSWORD, FOLDER, active=active, timeout=5)
    with closing(open_files(config)) as files:
        files.send(FileUpload("a.xml", b"x"))
    commands = [r.getMessage().split("<- ")[-1][:4] for r in all_logs.records if "<- " in r.getMessage()]
    other = {"PASV": "PORT", "PORT": "PASV"}[command]
    assert command in commands and other not in commands
