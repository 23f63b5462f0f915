"""The `fetch` step: a paged bulk read whose records each go through nested steps.

Paging stops only at an empty page. Stopping at a "short" page is the classic way declarative
connectors drop records (a server that caps pages below the requested size looks short on every
page); one extra request per run is the price of never stopping early. `max_pages` bounds the
loop: reaching it is an error, never a silent end.

Records stream page by page; saves are committed every `batch_size` records in one transaction,
so memory stays flat however many records the server holds.

Page ranges: inside `with page_range(first, last):` an offset-paged fetch reads only pages
first..last (0-based, inclusive) at offset `page * page_size`, so several processes can each read
a part of one bulk read. A fixed grid is only right when every page but the last is full, so a
short page is taken as the end only when the page after it is empty; if more records follow (a
server capping pages below page_size), or a page holds more than page_size, the run fails rather
than skip or repeat records. The counts then also say `page_range: {first, last, pages, end}`:
non-empty pages read, and whether the end of the records was reached. Outside such a block
nothing changes.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jmespath.exceptions import JMESPathError

from transports.base import HttpRequest

from .errors import FlowError, InputError, SpecbridgeError
from .expressions import EvaluationError, Expr, Template
from .functions import _text
from .load import PathPart
from .runtime import Run
from .steps import Skip, Step, call_http, read_body, render_params

if TYPE_CHECKING:
    from .compile import Compiler

DEFAULT_MAX_PAGES = 100_000
# (first, last) page of the current run's bulk read, set by `page_range`; None: read them all.
PAGE_RANGE: ContextVar[tuple[int, int] | None] = ContextVar("specbridge_page_range", default=None)


@contextmanager
def page_range(first: int, last: int) -> Iterator[None]:
    """Runs inside this block read only pages first..last (0-based, inclusive) of offset-paged fetches."""
    if not 0 <= first <= last:
        raise ValueError(f"page_range({first}, {last}): need 0 <= first <= last")
    token = PAGE_RANGE.set((first, last))
    try:
        yield
    finally:
        PAGE_RANGE.reset(token)


@dataclass(frozen=True)
class Paging:
    kind: str = "none"
    offset_param: str = "$skip"
    limit_param: str = "$top"
    page_size: int = 500
    max_pages: int = DEFAULT_MAX_PAGES


@dataclass(frozen=True)
class FetchStep(Step):
    connection: str
    path: Template
    params: tuple[tuple[str, Template], ...]
    records: Expr | None
    paging: Paging
    batch_size: int
    each: tuple[Step, ...]

    def pages(self, run: Run, reached: dict[str, Any] | None = None) -> Iterator[list[Any]]:
        path = self.path.render(run.scope)
        base = render_params(self.params, run.scope)
        window = PAGE_RANGE.get()
        if window is not None:
            yield from self._window(run, path, base, window, {} if reached is None else reached)
            return
        offset = 0
        for page_number in range(self.paging.max_pages):
            records = self._page(run, path, base, page_number, offset)
            if not records or self.paging.kind == "none":
                if records:
                    yield records
                return
            yield records
            offset += len(records)
        raise FlowError(f"{self.id}: still receiving records after max_pages={self.paging.max_pages} pages; "
                        "raise paging.max_pages if that many are expected", self.id)

    def _page(self, run: Run, path: str, base: dict[str, str], page_number: int, offset: int) -> list[Any]:
        params = dict(base)
        if self.paging.kind == "offset":
            params[self.paging.offset_param] = str(offset)
            params[self.paging.limit_param] = str(self.paging.page_size)
        response = call_http(run, self.id, self.connection, HttpRequest("GET", path, params=params), None)
        if not 200 <= response.status < 300:
            raise FlowError(f"{self.id}: page {page_number + 1} answered {response.status}: "
                            f"{run.settings.redact(response.text[:300])}", self.id)
        body = read_body(response, "json", (), f"{self.id} page {page_number + 1}")
        records = self.records.evaluate({"body": body}) if self.records is not None else body
        if records is None:
            records = []
        if not isinstance(records, list):
            raise FlowError(f"{self.id}: page {page_number + 1} holds no list of records", self.id)
        if run.services.dry_run:
            run.requests.pop()  # a bulk read would flood the preview; the first page is shown below
            if page_number == 0:
                run.requests.append({"transport": "http", "connection": self.connection, "method": "GET",
                                     "path": path, "params": params})
        return records

    def _window(self, run: Run, path: str, base: dict[str, str], window: tuple[int, int],
                reached: dict[str, Any]) -> Iterator[list[Any]]:
        """Pages first..last on the fixed grid of page_size (see the module docstring)."""
        first, last = window
        size = self.paging.page_size
        if self.paging.kind != "offset":
            raise FlowError(f"{self.id}: a page range needs offset paging", self.id)
        reached.update(first=first, last=last, pages=0, end=False)
        for page in range(first, last + 1):
            if page >= self.paging.max_pages:
                raise FlowError(f"{self.id}: page range reaches past max_pages={self.paging.max_pages}", self.id)
            records = self._page(run, path, base, page, page * size)
            if len(records) > size:
                raise FlowError(f"{self.id}: page {page + 1} held {len(records)} records, more than "
                                f"page_size={size}; page ranges need the server to honour the page size", self.id)
            if len(records) < size:
                # The end, or a server capping pages below page_size: the next page tells.
                if records and self._page(run, path, base, page + 1, (page + 1) * size):
                    raise FlowError(f"{self.id}: page {page + 1} held {len(records)} records, fewer than "
                                    f"page_size={size}, but more followed; page ranges need full pages "
                                    "(set paging.page_size to the server's maximum)", self.id)
                reached["end"] = True
            if records:
                reached["pages"] += 1
                yield records
            if reached["end"]:
                return

    def run(self, run: Run) -> Any:
        counts: dict[str, Any] = {"fetched": 0, "filtered": 0, "created": 0, "updated": 0, "unchanged": 0,
                                  "rejected": 0, "rejections": [], "filtered_reasons": {}}
        store = run.services.store
        tenant = run.scope.get("tenant") or "default"
        batch: list[dict[str, Any]] = []
        progress = run.services.progress
        reached: dict[str, Any] = {}

        writer = _Writer(store if (store is not None and not run.services.dry_run) else None, tenant, counts)

        def flush() -> None:
            if batch:
                writer.save(list(batch))  # written in the background while the next records map
                batch.clear()

        for records in _read_ahead(self.pages(run, reached)):
            for item in records:
                counts["fetched"] += 1
                sub = Run({**run.scope, "item": item}, run.services, run.settings, run.flow, run.run_key,
                          requests=run.requests, trace=None, warnings=run.warnings)
                try:
                    for step in self.each:
                        sub.step = step.id
                        sub.scope[step.id] = step.run(sub)
                except Skip as skip:
                    counts["filtered"] += 1
                    reasons = counts["filtered_reasons"]
                    if skip.reason in reasons or len(reasons) < 50:
                        reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
                    continue
                except (InputError, FlowError, EvaluationError, JMESPathError) as exc:
                    counts["rejected"] += 1
                    if len(counts["rejections"]) < 1000:
                        counts["rejections"].append({"record": _record_name(item), "step": sub.step,
                                                     "reason": run.settings.redact(str(exc))})
                    continue
                batch.extend(sub.saves)
                if len(batch) >= self.batch_size:
                    flush()
            flush()
            if progress is not None:
                progress(counts["fetched"])
        flush()
        writer.finish()
        if reached:
            counts["page_range"] = reached
        run.counts = counts
        return counts


_DONE = object()


def _read_ahead(pages: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """The next page is fetched while this one is mapped: at most one page waits, so memory stays
    flat; the network wait overlaps with the work. Errors surface in the reader, in order."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=1)
    context = contextvars.copy_context()  # the run's clock and page range go along

    def produce() -> None:
        try:
            for page in pages:
                ahead.put(page)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            ahead.put(_Failed(exc))
            return
        ahead.put(_DONE)

    thread = threading.Thread(target=context.run, args=(produce,), name="specbridge-fetch", daemon=True)
    thread.start()
    while True:
        item = ahead.get()
        if item is _DONE:
            break
        if isinstance(item, _Failed):
            raise item.error
        yield item
    thread.join()


@dataclass
class _Failed:
    error: BaseException


class _Writer:
    """Saves batches on a thread of its own, one batch in flight: the store's I/O overlaps with
    mapping the next records, and a failure stops the run at the next batch."""

    def __init__(self, store: Any, tenant: str, counts: dict[str, Any]) -> None:
        self.store, self.tenant, self.counts = store, tenant, counts
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specbridge-save") if store else None
        self.pending: Future[Any] | None = None

    def save(self, batch: list[dict[str, Any]]) -> None:
        if self.pool is None:
            return
        self._wait()
        self.pending = self.pool.submit(self.store.save_customers, batch, self.tenant, len(batch))

    def _wait(self) -> None:
        if self.pending is not None:
            saved = self.pending.result()
            self.pending = None
            self.counts["created"] += saved.created
            self.counts["updated"] += saved.updated
            self.counts["unchanged"] += saved.unchanged

    def finish(self) -> None:
        try:
            self._wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)


def _record_name(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("id", "Id", "code", "relatiecode", "CustomerCode"):
            if item.get(key) not in (None, ""):
                return _text(item[key])
    return "?"


def compile_fetch(c: Compiler, step: dict[str, Any], path: list[PathPart], roots: frozenset[str]) -> Step | None:
    from .step_compilers import _connection, _pairs_template
    connection = _connection(c, step, path)
    path_tpl = c.template([*path, "path"], step["path"], roots)
    records = c.expr([*path, "records"], step["records"], frozenset({"body"})) if "records" in step else None
    raw_paging = step.get("paging") or {"kind": "none"}
    paging = Paging(kind=raw_paging.get("kind", "none"), offset_param=raw_paging.get("offset_param", "$skip"),
                    limit_param=raw_paging.get("limit_param", "$top"), page_size=int(raw_paging.get("page_size", 500)),
                    max_pages=int(raw_paging.get("max_pages", DEFAULT_MAX_PAGES)))
    each = c._steps(step["each"], [*path, "each"], roots | {"item"}, inside_fetch=True)
    if connection is None or path_tpl is None:
        return None
    return FetchStep(**c.common(step, path, roots), connection=connection, path=path_tpl,
                     params=_pairs_template(c, step.get("params"), [*path, "params"], roots), records=records,
                     paging=paging, batch_size=int(step.get("batch_size", 500)), each=tuple(each))


__all__ = ["PAGE_RANGE", "FetchStep", "Paging", "SpecbridgeError", "page_range"]
