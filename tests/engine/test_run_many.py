"""`Plan.run_many`: a batch of records on a bounded pool, its size the `Concurrency` setting."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import engine
from engine.errors import SettingsError
from engine.plan import DEFAULT_CONCURRENCY, concurrency
from simulators.servers import http_server

SPEC = """
version: 1
name: run-many
settings:
  BaseUrl: {type: string}
connections:
  api: {kind: http, base_url: "{{ settings.BaseUrl }}"}
steps:
  - id: push
    kind: send
    connection: api
    method: PUT
    path: "/items/{{ input.id }}"
    json: input
result: "pushed {{ input.id }}"
"""


class InFlight:
    """An ERP that takes 200 ms per request and remembers how many it ever held at once."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.2)  # long enough that every worker is in flight at once, even on a loaded machine
        with self.lock:
            self.now -= 1
        return 200, {}, {"ok": True}


@pytest.mark.parametrize("given, expected", [(None, DEFAULT_CONCURRENCY), ("3", 3), (12, 12)])
def test_the_concurrency_setting_bounds_the_records_in_flight(tmp_path: Any, given: Any, expected: int) -> None:
    spec = tmp_path / "run-many.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    plan = engine.load_spec(spec)
    erp = InFlight()
    with http_server(erp) as server:
        settings = {"BaseUrl": server.url, **({"Concurrency": given} if given is not None else {})}
        results = plan.run_many([{"id": i} for i in range(30)], settings=settings)
    assert [r.message for r in results] == [f"pushed {i}" for i in range(30)]  # type: ignore[union-attr]
    assert erp.most == expected


@pytest.mark.parametrize("bad", ["many", 0, 1001, 2.5])
def test_a_bad_concurrency_is_refused_by_name(bad: Any) -> None:
    with pytest.raises(SettingsError, match="setting Concurrency"):
        concurrency({"Concurrency": bad})


def test_concurrency_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_CONCURRENCY", "7")
    assert concurrency({"Concurrency": "env:SB_CONCURRENCY"}) == 7


def test_the_pool_size_is_not_part_of_a_records_run_key() -> None:
    from engine.journal import content_run_key
    record = {"id": 1}
    assert content_run_key("f", "t", None, record, {"A": 1, "Concurrency": 4}) == \
        content_run_key("f", "t", None, record, {"A": 1, "Concurrency": 50})
    assert content_run_key("f", "t", None, record, {"A": 1}) != content_run_key("f", "t", None, record, {"A": 2})


def test_an_unset_environment_variable_is_an_error_not_the_default() -> None:
    with pytest.raises(SettingsError, match="SB_NOT_SET_ANYWHERE is not set"):
        concurrency({"Concurrency": "env:SB_NOT_SET_ANYWHERE"})
