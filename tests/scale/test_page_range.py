"""engine.fetch.page_range: the one engine hook the workers need, on a real HTTP server.

No Redis or PostgreSQL here: a paged JSON API on loopback and an in-memory store.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest

import engine
from engine.errors import FlowError
from engine.fetch import page_range
from simulators.servers import http_server

SPEC = """
version: 1
name: paged-sync
settings:
  BaseUrl: {type: string}
connections:
  api: {kind: http, base_url: "{{ settings.BaseUrl }}"}
steps:
  - id: rows
    kind: fetch
    connection: api
    path: /rows
    paging: {kind: offset, offset_param: skip, limit_param: top, page_size: 10}
    each:
      - id: customer
        kind: map
        fields:
          CustomerCode: {from: item.code, type: string}
          CustomerName: {from: item.name}
      - id: save
        kind: save
        from: customer
result: "{{ rows.fetched }} fetched, {{ rows.created }} created"
"""


class Rows:
    """`count` rows behind offset paging; `cap` answers fewer than asked, as some servers do."""

    def __init__(self, count: int, cap: int | None = None) -> None:
        self.count, self.cap, self.asked = count, cap, []

    def app(self, method: str, path: str, headers: object, body: bytes) -> tuple[int, dict[str, str], str]:
        query = dict(parse_qsl(urlsplit(path).query))
        skip, top = int(query["skip"]), int(query["top"])
        self.asked.append(skip)
        top = min(top, self.cap or top)
        rows = [{"code": i + 1, "name": f"row {i + 1}"} for i in range(skip, min(skip + top, self.count))]
        return 200, {"Content-Type": "application/json"}, json.dumps(rows)


def _run(rows: Rows, window: tuple[int, int] | None) -> tuple[engine.Result, list[str]]:
    plan = engine.compile_text(SPEC, "paged-sync.yaml")
    store = engine.open_store("sqlite://")
    with http_server(rows.app) as server:
        try:
            if window is None:
                result = plan.run({}, settings={"BaseUrl": server.url}, store=store)
            else:
                with page_range(*window):
                    result = plan.run({}, settings={"BaseUrl": server.url}, store=store)
            return result, sorted(c["CustomerCode"] for c in store.iter_customers())
        finally:
            store.close()


def test_without_a_range_nothing_changes() -> None:
    rows = Rows(35)
    result, codes = _run(rows, None)
    assert result.message == "35 fetched, 35 created"
    assert "page_range" not in result.counts
    assert rows.asked == [0, 10, 20, 30, 35]  # offsets follow what came back; stops at an empty page
    assert len(codes) == 35


def test_a_range_reads_only_its_pages_on_the_grid() -> None:
    rows = Rows(95)
    result, codes = _run(rows, (2, 4))
    assert rows.asked == [20, 30, 40]
    assert codes == sorted(str(i) for i in range(21, 51))
    assert result.counts["page_range"] == {"first": 2, "last": 4, "pages": 3, "end": False}


def test_a_range_that_meets_the_end_says_so() -> None:
    rows = Rows(45)
    result, _ = _run(rows, (3, 7))
    # Page 4 is short: the page after it is read to tell the end from a capping server.
    assert rows.asked == [30, 40, 50]
    assert result.counts["page_range"] == {"first": 3, "last": 7, "pages": 2, "end": True}
    assert result.counts["fetched"] == 15
    empty, _ = _run(Rows(45), (5, 9))
    assert empty.counts["page_range"] == {"first": 5, "last": 9, "pages": 0, "end": True}
    assert empty.counts["fetched"] == 0


def test_the_ranges_together_read_every_row_once() -> None:
    rows, seen, end = Rows(73), [], None
    for first in range(0, 20, 2):
        result, codes = _run(rows, (first, first + 1))
        seen.extend(codes)
        if result.counts["page_range"]["end"]:
            end = first + result.counts["page_range"]["pages"]
            break
    assert end == 8
    assert sorted(seen, key=int) == [str(i) for i in range(1, 74)]


def test_a_server_capping_pages_fails_instead_of_skipping_rows() -> None:
    with pytest.raises(FlowError, match=r"fewer than page_size=10, but more followed"):
        _run(Rows(95, cap=7), (0, 3))


def test_a_range_needs_offset_paging_and_a_sane_window() -> None:
    plan = engine.compile_text(SPEC.replace("kind: offset, ", "kind: none, "), "paged-sync.yaml")
    store = engine.open_store("sqlite://")
    with http_server(Rows(5).app) as server, page_range(0, 1), pytest.raises(FlowError, match="offset paging"):
        plan.run({}, settings={"BaseUrl": server.url}, store=store)
    store.close()
    with pytest.raises(ValueError), page_range(3, 2):
        pass
