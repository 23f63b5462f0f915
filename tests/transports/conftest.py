"""Fixtures for the transport tests: real servers on loopback, started and stopped per test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_helpers import FOLDER, PASSWORD, USER

from simulators.servers import FtpServer, SftpServer, ftp_server, sftp_server
from transports.base import FileServerConfig


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    root = tmp_path / "server"
    (root / "customers").mkdir(parents=True)
    return root


@pytest.fixture
def ftp(server_root: Path) -> Iterator[FtpServer]:
    with ftp_server(server_root, USER, PASSWORD) as server:
        yield server


@pytest.fixture
def ftps(server_root: Path) -> Iterator[FtpServer]:
    with ftp_server(server_root, USER, PASSWORD, tls=True) as server:
        yield server


@pytest.fixture
def sftp(server_root: Path) -> Iterator[SftpServer]:
    with sftp_server(server_root, USER, PASSWORD) as server:
        yield server


@pytest.fixture(params=["file", "ftp-passive", "ftp-active", "ftps", "ftps-active", "sftp"])
def endpoint(request: pytest.FixtureRequest, server_root: Path) -> Iterator[FileServerConfig]:
    """Every file transport kind against a real endpoint serving `server_root`."""
    kind = request.param
    if kind == "file":
        yield FileServerConfig(url=server_root.as_uri(), folder=FOLDER)
    elif kind == "sftp":
        with sftp_server(server_root, USER, PASSWORD) as server:
            yield FileServerConfig(url=server.url, username=USER, password=PASSWORD, folder=FOLDER,
                                   known_hosts=server.known_hosts, timeout=5)
    else:
        with ftp_server(server_root, USER, PASSWORD, tls=kind.startswith("ftps")) as server:
            yield FileServerConfig(url=server.url, username=USER, password=PASSWORD, folder=FOLDER,
                                   active=kind.endswith("-active"), ca_file=server.ca_file, timeout=5)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record of every library at DEBUG."""
    caplog.set_level(logging.DEBUG)
    return caplog
