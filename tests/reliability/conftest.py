"""Fixtures for the reliability suite: the e2e fixtures (simulators, file servers, store), reused.

The e2e conftest is loaded under its own module name and its fixtures re-exported here, so this
suite starts exactly the simulators and stores the end-to-end tests do. Summary counts of the
fault storms are collected per session and printed at the end (and written as JSON next to each
test's tmp dir by the tests themselves).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.faults import holding
from simulators.snelstart import SnelStartSimulator

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
for folder in (HERE, E2E):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

_spec = importlib.util.spec_from_file_location("e2e_conftest_for_reliability", E2E / "conftest.py")
assert _spec is not None and _spec.loader is not None
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
from e2e_helpers import SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY  # noqa: E402

# Re-exported fixtures (pytest finds fixtures by name in a conftest module).
_quiet_servers = _e2e._quiet_servers
store_url = _e2e.store_url
seed = _e2e.seed
flow = _e2e.flow
specter = _e2e.specter
specter_settings = _e2e.specter_settings
start_snelstart = _e2e.start_snelstart
snelstart = _e2e.snelstart
snelstart_settings = _e2e.snelstart_settings
accountview = _e2e.accountview
accountview_settings = _e2e.accountview_settings
server_root = _e2e.server_root
ftp = _e2e.ftp
sftp = _e2e.sftp


def pytest_configure(config: object) -> None:
    config.addinivalue_line(  # type: ignore[attr-defined]
        "markers", "storm: the big seeded fault-injection loop (runs in `make test`; deselect with -m 'not storm')")


@pytest.fixture
def snelstart_held() -> Iterator[Any]:
    """A SnelStart simulator whose answers can be held by "hang_after" faults (served through
    simulators.faults.holding, since SnelStart takes its faults itself)."""
    sim = SnelStartSimulator(SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY)
    sim.app = holding(sim.app, sim.faults)  # type: ignore[method-assign]
    with sim.serve() as server:
        try:
            yield _e2e.Running(sim, server)
        finally:
            sim.faults.release_all()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault storm's counts (filled in by test_fault_storm's `storm` fixture), after the run."""
    from reliability_helpers import STORM_SUMMARY
    if not STORM_SUMMARY:
        return
    total = STORM_SUMMARY.get("total", {})
    terminalreporter.write_sep("-", "reliability fault storm")
    terminalreporter.write_line(
        f"faults injected: {total.get('faults_total')} {total.get('faults_injected')}; "
        f"duplicates: {total.get('duplicates')}, lost: {total.get('lost')}, partial files: "
        f"{total.get('partial_files')}, tracebacks: {total.get('crashes')}; "
        f"{total.get('seconds_wall')} s; counts: {STORM_SUMMARY.get('file')}")
    for flow, counts in STORM_SUMMARY.items():
        if flow not in ("total", "file"):
            terminalreporter.write_line(
                f"  {flow}: {counts['customers']} customers, {counts['faults_total']} faults, "
                f"{counts['failed_first_time']} dead-lettered then replayed, duplicates {counts['duplicates']}, "
                f"lost {counts['lost']}, partial files {counts['partial_files']}")
