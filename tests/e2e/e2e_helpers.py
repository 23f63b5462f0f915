"""Helpers for the end-to-end tests: run the real `specbridge` command, seed and read the store.

Every flow runs through the command line, either in a real subprocess (`python -m engine run`,
exactly what a consultant types) or in-process through click's CliRunner (same code path, no
interpreter start-up: about 2.5 s cheaper per run). Each test module runs every flow at least
once as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from engine.cli import cli
from engine.store import open_store

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "mappings"
SPECTER = MAPPINGS / "specter" / "create-customer.yaml"
SNELSTART = MAPPINGS / "snelstart" / "create-customer.yaml"
SNELSTART_SYNC = MAPPINGS / "snelstart" / "customer-sync.yaml"
MONITOR = MAPPINGS / "monitor" / "create-customer.yaml"
ACCOUNTVIEW = MAPPINGS / "accountview" / "create-customer.yaml"

# Credentials of the loopback servers. Distinctive, so a test can prove they never leak.
FTP_USER = "app4sales"
FTP_PASSWORD = "Ftp-pa55word-e2e-7f3a"
# Specter: one sbmId and API user.
SPECTER_SBM, SPECTER_USER, SPECTER_KEY = "1234", "55", "specter-Write-key-e2e"
# SnelStart: the administration's client key and the integration's subscription key.
SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY = "snelstart-client-key-e2e", "snelstart-sub-key-e2e"
# AccountView: the registered application, its first refresh token and the company.
AV_CLIENT, AV_SECRET, AV_FIRST_REFRESH, AV_COMPANY = "app-e2e", "av-client-secret-e2e", "refresh-0-e2e", "c0ffee"
# Where the engine keeps AccountView's rotating refresh token: "<flow name>:<connection name>".
AV_TOKEN_KEY = "accountview-create-customer:accountview"


@dataclass(frozen=True)
class Running:
    """A simulator and the loopback server it is running on."""

    sim: Any
    server: Any


def snelstart_settings_for(server: Any, **extra: Any) -> dict[str, Any]:
    """Settings pointing a SnelStart spec at a running simulator (BaseUrl, TokenUrl, keys)."""
    return {"BaseUrl": server.base_url, "TokenUrl": server.token_url, "ClientKey": SNELSTART_CLIENT_KEY,
            "SubscriptionKey": SNELSTART_SUBSCRIPTION_KEY, **extra}


@dataclass(frozen=True)
class Outcome:
    """What one `specbridge ...` invocation did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # shown by pytest when an assertion on the outcome fails
        return f"exit {self.exit_code}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def specbridge(*args: str, subprocess_: bool = False, env: Mapping[str, str] | None = None,
               timeout: float = 60) -> Outcome:
    """Run `specbridge ARGS`: a real `python -m engine` process, or in-process through CliRunner."""
    if subprocess_:
        done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})}, check=False)
        return Outcome(done.returncode, done.stdout, done.stderr)
    result = CliRunner().invoke(cli, list(args), env=dict(env or {}), catch_exceptions=False)
    return Outcome(result.exit_code, result.stdout, result.stderr)


class Flow:
    """Writes a run's input and settings files into a folder and runs `specbridge run` on them."""

    def __init__(self, folder: Path, store_url: str) -> None:
        self.folder, self.store_url = folder, store_url
        self._count = 0

    def write(self, name: str, content: str | bytes | Any) -> Path:
        path = self.folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_bytes(content.encode("utf-8"))
        else:
            path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
        return path

    def run(self, spec: Path, record: str | bytes | Any, settings: Mapping[str, Any], *, user: str | None = None,
            subprocess_: bool = False) -> Outcome:
        """`specbridge run SPEC --input FILE --settings FILE --store URL [--user NAME]`."""
        self._count += 1
        suffix = "xml" if isinstance(record, str | bytes) else "json"
        input_file = self.write(f"input-{self._count}.{suffix}", record)
        settings_file = self.write(f"settings-{self._count}.json", dict(settings))
        args = ["run", str(spec), "--input", str(input_file), "--settings", str(settings_file),
                "--store", self.store_url]
        if user is not None:
            args += ["--user", user]
        return specbridge(*args, subprocess_=subprocess_)


def seed_store(store_url: str, folder: Path, document: Mapping[str, Any]) -> None:
    """Seed a store as a consultant would: `specbridge store import FILE --store URL`."""
    path = folder / "seed.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    outcome = specbridge("store", "import", str(path), "--store", store_url)
    assert outcome.exit_code == 0, str(outcome)


def customer_in_store(store_url: str, *, guid: str | None = None, code: str | None = None) -> dict[str, Any] | None:
    """The customer as the store holds it now: `specbridge store show customer GUID|CODE --store URL`."""
    key = guid if guid is not None else code
    assert key is not None
    outcome = specbridge("store", "show", "customer", key, "--store", store_url)
    if outcome.exit_code == 1 and "no customer with code or GUID" in outcome.stderr:
        return None
    assert outcome.exit_code == 0, str(outcome)
    found = json.loads(outcome.stdout)
    assert found.get("CustomerGuid" if guid is not None else "CustomerCode") == key, found
    return found


def all_customers(store_url: str) -> list[dict[str, Any]]:
    store = open_store(store_url)
    try:
        return list(store.iter_customers())
    finally:
        store.close()


def stored_token(store_url: str, key: str) -> str | None:
    store = open_store(store_url)
    try:
        return store.load_token(key)
    finally:
        store.close()


def tree(root: Path) -> list[str]:
    """Every file and folder under `root`, relative, sorted (hidden ones included)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))
