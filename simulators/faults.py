"""Fault injection shared by the ERP simulators: one fault per request, queued by the test.

A simulator keeps a `FaultQueue` in `sim.faults`. A test appends `Fault`s to it; each is
consumed by the next request it matches, in the order they were queued:

    sim.faults.append(Fault("status", 503))                  # answer 503, do nothing
    sim.faults.append(Fault("status", 429, retry_after=1))   # 429 with `Retry-After: 1`
    sim.faults.append(Fault("drop_before"))                  # close the connection, do nothing
    sim.faults.append(Fault("drop_after"))                   # do the work, then close unanswered
    sim.faults.append(Fault("delay", 2.5))                   # sleep, then do the work and answer
    sim.faults.append(Fault("hang_after", 30))               # do the work, then hold the answer 30 s
    sim.faults.append(Fault("status", 500, target="token"))  # only the OAuth token endpoint
    sim.faults.append(Fault("drop_after", method="POST", path="putInfo.asp"))

By default a fault targets API requests and never the token endpoint (`target="api"`); use
`target="token"` for the token endpoint or `target="any"` for either. `method` and `path`
(a substring of the path with its query) narrow it further. `sim.faults.fired` lists the
faults consumed so far, so a test can assert a fault really happened.

"delay" is server-side: a client that times out meanwhile has still sent a request that the
server goes on to process, as a slow real server would.

"hang_after" is the other way round: the work is done (a customer exists) and then the answer is
held back for `value` seconds, as a server that commits and then stalls. `fault.processed` (a
`threading.Event`) is set the moment the work is done, so a test can act at exactly that point,
e.g. kill the client between the ERP's commit and the client's write-back; `fault.release()`
lets the held answer go early. Simulators that consume faults themselves instead of through
`run_with_faults` (SnelStart) get the same behaviour by serving `holding(sim.app, sim.faults)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from simulators.servers import Drop

Answer = tuple[int, Mapping[str, str], Any]

KINDS = ("status", "drop_before", "drop_after", "delay", "hang_after")
TARGETS = ("api", "token", "any")


@dataclass(frozen=True)
class Fault:
    """One injected failure. `value` is the status code ("status") or the seconds ("delay",
    "hang_after")."""

    kind: str
    value: float | None = None
    retry_after: float | str | None = None  # "status" only: the Retry-After header (seconds or a date)
    body: Any = None  # "status" only: the body to answer with (default: the status phrase)
    target: str = "api"  # api | token | any
    method: str | None = None  # only requests with this method
    path: str | None = None  # only requests whose path (with query) contains this
    # "hang_after" only: set once the request has been processed, before its answer is held back.
    processed: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    _released: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown fault target {self.target!r}; expected one of {', '.join(TARGETS)}")
        if self.kind == "status" and not (isinstance(self.value, int) and 100 <= self.value <= 599):
            raise ValueError(f"a status fault needs an HTTP status code, got {self.value!r}")
        if self.kind in ("delay", "hang_after") and not (isinstance(self.value, int | float) and self.value >= 0):
            raise ValueError(f"a {self.kind} fault needs a number of seconds, got {self.value!r}")

    def matches(self, method: str, path: str, target: str) -> bool:
        if self.target != "any" and self.target != target:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path

    def hold(self) -> None:
        """"hang_after": say the work is done, then hold the answer back (until `release()`)."""
        self.processed.set()
        self._released.wait(float(self.value or 0))

    def release(self) -> None:
        """Let a held "hang_after" answer go now (also safe before it is held, or for other kinds)."""
        self._released.set()


class FaultQueue(list[Fault]):
    """A list of pending faults (tests append to it) whose `take` is atomic across server threads."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        super().__init__(faults)
        self._lock = threading.Lock()
        self._local = threading.local()  # the fault taken by the request this thread is serving
        self.fired: list[Fault] = []

    def take(self, method: str, path: str, target: str = "api") -> Fault | None:
        """Remove and return the first pending fault matching this request, if any."""
        with self._lock:
            for index, fault in enumerate(self):
                if fault.matches(method, path, target):
                    del self[index]
                    self.fired.append(fault)
                    self._local.pending = fault
                    return fault
        return None

    def _pending_hold(self) -> Fault | None:
        """The "hang_after" fault this thread's request took and nobody has held yet."""
        fault = getattr(self._local, "pending", None)
        self._local.pending = None
        return fault if fault is not None and fault.kind == "hang_after" else None

    def release_all(self) -> None:
        """Let every held or pending "hang_after" answer go (for test teardown)."""
        with self._lock:
            for fault in [*self, *self.fired]:
                fault.release()


def _status_answer(fault: Fault) -> Answer:
    status = int(fault.value)  # type: ignore[arg-type]  # checked in __post_init__
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        retry = fault.retry_after
        headers["Retry-After"] = str(int(retry)) if isinstance(retry, int | float) else str(retry)
    body = fault.body
    if body is None:
        try:
            body = HTTPStatus(status).phrase
        except ValueError:
            body = f"Error {status}"
    return status, headers, body


def run_with_faults(faults: FaultQueue, method: str, path: str, handle: Callable[[], Answer], *,
                    target: str = "api") -> Answer:
    """Answer a request through `handle`, unless a pending fault for it says otherwise.

    Raises `Drop` (the server closes the connection unanswered) for the drop faults; for
    "drop_after" the request is handled first, so its effects (a created customer) persist.
    """
    fault = faults.take(method, path, target)
    if fault is None:
        return handle()
    faults._pending_hold()  # handled here, not by a `holding` wrapper
    if fault.kind == "status":
        return _status_answer(fault)
    if fault.kind == "drop_before":
        raise Drop
    if fault.kind == "delay":
        time.sleep(float(fault.value or 0))
        return handle()
    if fault.kind == "hang_after":
        answer = handle()
        fault.hold()
        return answer
    handle()  # drop_after
    raise Drop


def holding(app: Callable[[str, str, Mapping[str, str], bytes], Answer],
            faults: FaultQueue) -> Callable[[str, str, Mapping[str, str], bytes], Answer]:
    """Wrap the app of a simulator that takes its faults itself (not through `run_with_faults`),
    so a "hang_after" fault it took holds the answer after the work, as everywhere else.

    Such a simulator treats a kind it does not know as "no fault": it does the work and answers;
    the wrapper then holds that answer. Serve `holding(sim.app, sim.faults)` instead of `sim.app`.
    """
    def wrapped(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        faults._local.pending = None
        answer = app(method, path, headers, body)
        fault = faults._pending_hold()
        if fault is not None:
            fault.hold()
        return answer

    return wrapped
