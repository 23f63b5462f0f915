"""`specbridge demo`: every seed flow runs and says so; a failing flow makes the demo fail."""

from __future__ import annotations

import tempfile

import click
import pytest
from click.testing import CliRunner

import simulators.demo as demo_module
from engine.cli import cli

FLOW_NAMES = [name for name, _ in demo_module.FLOWS]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Point tempfile at an empty folder, so the test can see that the demo removes what it makes."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_command_is_registered():
    assert cli.get_command(click.Context(cli), "demo") is demo_module.demo


def test_demo_runs_every_flow(private_tmp):
    result = CliRunner().invoke(cli, ["demo", "--sync-customers", "2000"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert len(FLOW_NAMES) == 6
    for name in FLOW_NAMES:
        assert f"OK {name}" in out  # each flow's panel title
    assert "FAILED" not in out
    for marker in ("Created Specter customer 10001", "saved in SnelStart", "SUCCESS_CUSTOMER:C00123",
                   "Succes: 500000", "0 rejected", "CustomerCode: '' -> '10001'", "CustomerCode: '' -> '500000'"):
        assert marker in out
    assert "All 6 flows succeeded" in out
    # Secrets of the simulated ERPs and servers never appear.
    for secret in (demo_module.SPECTER["ApiWriteUserKey"], demo_module.SNELSTART["ClientKey"],
                   demo_module.SNELSTART["SubscriptionKey"], demo_module.ACCOUNTVIEW["ClientSecret"],
                   demo_module.FTP_PASSWORD):
        assert secret not in result.output
    assert list(private_tmp.iterdir()) == []  # store, server folders, certificates: all removed


def test_a_failing_flow_fails_the_demo(private_tmp, monkeypatch):
    def broken(lab, report):
        raise demo_module.DemoFailure("the ERP does not show the customer")

    monkeypatch.setattr(demo_module, "FLOWS", [demo_module.FLOWS[0], ("Broken flow", broken)])

    result = CliRunner().invoke(cli, ["demo", "--sync-customers", "0"], catch_exceptions=False)

    assert result.exit_code == 1, result.output
    assert f"OK {FLOW_NAMES[0]}" in result.stdout
    assert "FAILED Broken flow" in result.stdout
    assert "the ERP does not show the customer" in result.stdout
    assert "1 of 2 flows failed" in result.stdout
    assert list(private_tmp.iterdir()) == []
