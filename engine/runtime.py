"""What one run of a Plan carries: the scope, the services it may touch, and what it did.

`Services` are injected (store, open connections, clock, preview answers): the compiled steps are
pure functions of the scope plus these, which is why preview and fixtures need no network.
A `Run` is created per record and never shared between threads; the Plan itself is immutable.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from transports.base import HttpResponse

from .journal import Journal
from .settings import Settings
from .store.protocol import Store

Answer = HttpResponse | Exception  # what preview/fixtures give back instead of a remote call


@dataclass
class Services:
    """Everything outside the Plan that a run may use."""

    store: Store | None = None
    connections: Mapping[str, Any] = field(default_factory=dict)  # name -> open transport
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    # Preview and fixtures: step id + request -> answer, instead of calling a transport.
    answer: Callable[[str, dict[str, Any]], Answer] | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # `once` lookups, shared by a run's records
    # Preview: nothing is written, sequences are only peeked at.
    dry_run: bool = False
    progress: Callable[[int], None] | None = None  # told the number of records read so far
    sleep: Callable[[float], None] = time.sleep  # fixtures pass a no-op: their answers never lag


@dataclass
class Write:
    """A pending write-back into the store, applied together at the end of a flow."""

    key: dict[str, Any]
    values: dict[str, Any]
    step: str

    def as_dict(self) -> dict[str, Any]:
        return {"table": "customers", "key": self.key, "set": self.values, "step": self.step}


class Run:
    """The state of one record going through the steps.

    A plain class with slots, not a dataclass: one is made per record, and the generated
    __init__ with four list factories cost a third more (bench/mapping.py measures runs)."""

    __slots__ = ("scope", "services", "settings", "flow", "run_key", "requests", "writes", "saves", "trace",
                 "counts", "warnings", "step", "journal")

    def __init__(self, scope: dict[str, Any], services: Services, settings: Settings, flow: str, run_key: str, *,
                 trace: list[dict[str, Any]] | None = None, step: str = "",
                 journal: Journal | None = None,  # set for real runs with a store: resume, not repeat
                 requests: list[dict[str, Any]] | None = None, warnings: list[str] | None = None) -> None:
        """`requests` and `warnings` may be shared with an enclosing run (a fetch's records)."""
        self.scope = scope
        self.services = services
        self.settings = settings
        self.flow = flow
        self.run_key = run_key
        self.requests: list[dict[str, Any]] = [] if requests is None else requests
        self.writes: list[Write] = []
        self.saves: list[dict[str, Any]] = []
        self.trace = trace
        self.counts: dict[str, Any] | None = None
        self.warnings: list[str] = [] if warnings is None else warnings
        self.step = step
        self.journal = journal


@dataclass
class Result:
    """What a run did: its message, the requests it sent, the writes it made, each step's output."""

    message: str
    requests: list[dict[str, Any]]
    writes: list[dict[str, Any]]
    outputs: dict[str, Any]
    trace: list[dict[str, Any]] | None = None
    counts: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    replayed: bool = False  # the run had already completed: nothing was done again

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"requests": self.requests, "result": self.message}
        if self.writes:
            out["writes"] = self.writes
        if self.counts is not None:
            out["counts"] = self.counts
        if self.warnings:
            out["warnings"] = self.warnings
        if self.trace is not None:
            out["explain"] = self.trace
        return out
