"""Fixtures for the end-to-end tests: ERP simulators, file servers and a store, all fresh per test.

Every simulator runs through its own `serve()` context manager on 127.0.0.1; FTP, FTPS and
SFTP servers come from simulators.servers; the store is a new SQLite file in the test's
tmp_path, seeded through `specbridge store import`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    AV_CLIENT,
    AV_COMPANY,
    AV_FIRST_REFRESH,
    AV_SECRET,
    FTP_PASSWORD,
    FTP_USER,
    SNELSTART_CLIENT_KEY,
    SNELSTART_SUBSCRIPTION_KEY,
    SPECTER_KEY,
    SPECTER_SBM,
    SPECTER_USER,
    Flow,
    Running,
    seed_store,
    snelstart_settings_for,
)

from simulators.accountview import AccountViewSimulator
from simulators.servers import FtpServer, HttpServer, SftpServer, ftp_server, sftp_server
from simulators.snelstart import SnelStartSimulator
from simulators.specter import SpecterSimulator


@pytest.fixture(autouse=True)
def _quiet_servers() -> Iterator[None]:
    """pyftpdlib and asyncssh log every session at INFO; only their warnings are of interest here.

    Levels are restored afterwards, so tests elsewhere that inspect these logs still see them all.
    """
    loggers = [logging.getLogger(name) for name in ("pyftpdlib", "asyncssh")]
    saved = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, saved, strict=True):
        logger.setLevel(level)


# --- the store -------------------------------------------------------------------------------

@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store file for this test."""
    return f"sqlite:///{tmp_path / 'app4sales.db'}"


@pytest.fixture
def seed(store_url: str, tmp_path: Path) -> Callable[[dict[str, Any]], None]:
    """seed({"customers": [...], "sales_reps": [...], ...}) loads a document into the store."""
    return lambda document: seed_store(store_url, tmp_path, document)


@pytest.fixture
def flow(store_url: str, tmp_path: Path) -> Flow:
    """flow.run(SPEC, record, settings, user=..., subprocess_=...) through `specbridge run`."""
    folder = tmp_path / "run"
    folder.mkdir()
    return Flow(folder, store_url)


# --- ERP simulators ----------------------------------------------------------------------------

@pytest.fixture
def specter() -> Iterator[Running]:
    sim = SpecterSimulator(SPECTER_SBM, SPECTER_USER, SPECTER_KEY)
    with sim.serve() as server:
        yield Running(sim, server)


@pytest.fixture
def specter_settings(specter: Running) -> dict[str, Any]:
    server: HttpServer = specter.server
    return {"BaseUrl": server.url, "SbmId": SPECTER_SBM, "ApiWriteUserId": SPECTER_USER,
            "ApiWriteUserKey": SPECTER_KEY}


@pytest.fixture
def start_snelstart() -> Iterator[Callable[..., Running]]:
    """start_snelstart(customers=N, seed=S): a SnelStart simulator with N generated relations."""
    with ExitStack() as stack:
        def start(customers: int = 0, seed: int = 7) -> Running:
            sim = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY, customers=customers, seed=seed)
            return Running(sim, stack.enter_context(sim.serve()))
        yield start


@pytest.fixture
def snelstart(start_snelstart: Callable[..., Running]) -> Running:
    return start_snelstart()


@pytest.fixture
def snelstart_settings(snelstart: Running) -> dict[str, Any]:
    return snelstart_settings_for(snelstart.server)


@pytest.fixture
def accountview() -> Iterator[Running]:
    sim = AccountViewSimulator(AV_CLIENT, AV_SECRET, AV_FIRST_REFRESH, AV_COMPANY)
    with sim.serve() as server:
        yield Running(sim, server)


@pytest.fixture
def accountview_settings(accountview: Running) -> dict[str, Any]:
    return {"BaseUrl": f"{accountview.server.url}/api/v3", "ClientId": AV_CLIENT, "ClientSecret": AV_SECRET,
            "RefreshToken": AV_FIRST_REFRESH, "CompanyId": AV_COMPANY}


# --- file servers ------------------------------------------------------------------------------

@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    """What the FTP/SFTP servers serve: an empty /customers/ folder."""
    root = tmp_path / "server"
    (root / "customers").mkdir(parents=True)
    return root


@pytest.fixture
def ftp(server_root: Path) -> Iterator[FtpServer]:
    with ftp_server(server_root, FTP_USER, FTP_PASSWORD) as server:
        yield server


@pytest.fixture
def ftps(server_root: Path) -> Iterator[FtpServer]:
    with ftp_server(server_root, FTP_USER, FTP_PASSWORD, tls=True) as server:
        yield server


@pytest.fixture
def sftp(server_root: Path) -> Iterator[SftpServer]:
    with sftp_server(server_root, FTP_USER, FTP_PASSWORD) as server:
        yield server
