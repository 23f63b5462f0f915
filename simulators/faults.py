"""Fault injection shared by the ERP simulators: one fault per request, queued by the test.

A simulator keeps a `FaultQueue` in `sim.faults`. A test appends `Fault`s to it; each is
consumed by the next request it matches, in the order they were queued:

    sim.faults.append(Fault("status", 503))                  # answer 503, do nothing
    sim.faults.append(Fault("status", 429, retry_after=1))   # 429 with `Retry-After: 1`
    sim.faults.append(Fault("drop_before"))                  # close the connection, do nothing
    sim.faults.append(Fault("drop_after"))                   # do the work, then close unanswered
    sim.faults.append(Fault("delay", 2.5))                   # sleep, then do the work and answer
    sim.faults.append(Fault("status", 500, target="token"))  # only the OAuth token endpoint
    sim.faults.append(Fault("drop_after", method="POST", path="putInfo.asp"))

By default a fault targets API requests and never the token endpoint (`target="api"`); use
`target="token"` for the token endpoint or `target="any"` for either. `method` and `path`
(a substring of the path with its query) narrow it further. `sim.faults.fired` lists the
faults consumed so far, so a test can assert a fault really happened.

"delay" is server-side: a client that times out meanwhile has still sent a request that the
server goes on to process, as a slow real server would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from simulators.servers import Drop

Answer = tuple[int, Mapping[str, str], Any]

KINDS = ("status", "drop_before", "drop_after", "delay")
TARGETS = ("api", "token", "any")


@dataclass(frozen=True)
class Fault:
    """One injected failure. `value` is the status code ("status") or the seconds ("delay")."""

    kind: str
    value: float | None = None
    retry_after: float | str | None = None  # "status" only: the Retry-After header (seconds or a date)
    body: Any = None  # "status" only: the body to answer with (default: the status phrase)
    target: str = "api"  # api | token | any
    method: str | None = None  # only requests with this method
    path: str | None = None  # only requests whose path (with query) contains this

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown fault target {self.target!r}; expected one of {', '.join(TARGETS)}")
        if self.kind == "status" and not (isinstance(self.value, int) and 100 <= self.value <= 599):
            raise ValueError(f"a status fault needs an HTTP status code, got {self.value!r}")
        if self.kind == "delay" and not (isinstance(self.value, int | float) and self.value >= 0):
            raise ValueError(f"a delay fault needs a number of seconds, got {self.value!r}")

    def matches(self, method: str, path: str, target: str) -> bool:
        if self.target != "any" and self.target != target:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or self.path in path


class FaultQueue(list[Fault]):
    """A list of pending faults (tests append to it) whose `take` is atomic across server threads."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        super().__init__(faults)
        self._lock = threading.Lock()
        self.fired: list[Fault] = []

    def take(self, method: str, path: str, target: str = "api") -> Fault | None:
        """Remove and return the first pending fault matching this request, if any."""
        with self._lock:
            for index, fault in enumerate(self):
                if fault.matches(method, path, target):
                    del self[index]
                    self.fired.append(fault)
                    return fault
        return None


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
    if fault.kind == "status":
        return _status_answer(fault)
    if fault.kind == "drop_before":
        raise Drop
    if fault.kind == "delay":
        time.sleep(float(fault.value or 0))
        return handle()
    handle()  # drop_after
    raise Drop
