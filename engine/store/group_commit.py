"""Group commit: many threads' small writes, one transaction.

Fifty records in flight each write a journal row before they send and after they are answered.
One transaction per row means fifty threads queueing for SQLite's single writer, each paying
for BEGIN and COMMIT. Here one writer at a time leads: it writes everything queued so far in one
transaction and wakes the others, who return only once their rows are committed (so a row is as
durable as if its thread had written it alone). Then it hands the lead to the first writer still
waiting, so no thread keeps doing the others' commits while its own run waits. Nobody waits for
a timer: alone, a writer commits at once; under load, batches form by themselves.

There is no background thread to start or stop. If a batch fails, each member's rows are tried
again on their own, so one bad row fails only its own writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Slot:
    __slots__ = ("wake", "done", "error")

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.done = False  # else woken to lead
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], None]) -> None:
        self._write = write  # writes a batch in one transaction, or raises
        self._lock = threading.Lock()
        self._queue: list[tuple[Sequence[T], _Slot]] = []
        self._leading = False

    def write(self, items: Sequence[T]) -> None:
        """Return once `items` are committed; raise what writing them raised."""
        slot = _Slot()
        with self._lock:
            self._queue.append((items, slot))
            follower, self._leading = self._leading, True
        if follower:
            slot.wake.wait()
        if not slot.done:
            self._lead()  # our items are still queued: this batch takes them
        if slot.error is not None:
            raise slot.error

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._write([item for items, _ in batch for item in items])
        except BaseException:  # noqa: BLE001 - each member learns its own outcome below
            self._one_by_one(batch)
        for _, slot in batch:
            slot.done = True
            slot.wake.set()
        with self._lock:
            if self._queue:
                self._queue[0][1].wake.set()  # the next waiting writer leads
            else:
                self._leading = False

    def _one_by_one(self, batch: list[tuple[Sequence[T], _Slot]]) -> None:
        for items, slot in batch:
            try:
                self._write(items)
            except BaseException as exc:  # noqa: BLE001 - handed to the thread that wrote it
                slot.error = exc
