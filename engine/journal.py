"""The run journal as the engine uses it: what an earlier attempt of the same run already did.

A run has a key. The same record sent again (a redelivered task, a retried CLI call) gets the
same key, so the engine can see in the store's journal what the earlier attempt reached:

    started -> [generated | sent -> response | failed | uncertain]* -> done | error

and resume instead of repeating: an accepted response is replayed (the ERP is not asked twice),
a generated number is reused (so the resumed request carries the same code as the first one), and
a request that was sent but never answered is treated as uncertain: the step's `detect:` rule must
find out whether it happened before it may be sent again. A run that reached `done` returns its
earlier result without doing anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .settings import Settings
from .store.protocol import JournalEntry, Store

# Settings that say how a batch runs, not where a record goes: a different pool size must not
# make the same record a new run (and send it again).
NOT_IN_RUN_KEY = frozenset({"Concurrency"})


def content_run_key(flow: str, tenant: str, user: str | None, data: Any, settings: Any = None) -> str:
    """A key that is the same whenever the same record is sent to the same flow, configured the
    same way (settings decide where it goes), again."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    raw = data if isinstance(data, bytes) else _canonical(data)
    if isinstance(settings, dict) and NOT_IN_RUN_KEY & settings.keys():
        settings = {k: v for k, v in settings.items() if k not in NOT_IN_RUN_KEY}
    configured = _canonical(settings)
    digest = hashlib.sha256(b"\0".join([flow.encode(), tenant.encode(), (user or "").encode(), configured, raw]))
    return f"{flow}:{digest.hexdigest()[:32]}"


def _canonical(value: Any) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, default=str).encode()
    except TypeError:  # keys of mixed types cannot be sorted: fall back to their given order
        return json.dumps(value, default=str).encode()


@dataclass
class Journal:
    """One run's view of the journal: the earlier attempts' entries plus writing new ones."""

    store: Store | None
    run_key: str
    flow: str
    settings: Settings
    earlier: list[JournalEntry] = field(default_factory=list)
    pending: list[JournalEntry] = field(default_factory=list)  # recorded, not yet written

    @classmethod
    def open(cls, store: Store | None, run_key: str, flow: str, settings: Settings) -> Journal:
        earlier = store.journal_entries(run_key) if store is not None else []
        return cls(store, run_key, flow, settings, earlier)

    # --- what earlier attempts did ----------------------------------------------------------
    def finished(self) -> JournalEntry | None:
        """The `done` entry of an earlier attempt, if the run already completed."""
        for entry in reversed(self.earlier):
            if entry.step == "" and entry.status == "done":
                return entry
        return None

    def _last(self, step: str) -> JournalEntry | None:
        for entry in reversed(self.earlier):
            if entry.step == step and entry.status in ("sent", "response", "failed", "uncertain", "generated"):
                return entry
        return None

    def accepted_response(self, step: str) -> dict[str, Any] | None:
        entry = self._last(step)
        return dict(entry.detail.get("response") or {}) if entry and entry.status == "response" else None

    def uncertain(self, step: str) -> bool:
        """Sent by an earlier attempt that never learnt whether it was processed."""
        entry = self._last(step)
        return entry is not None and entry.status in ("sent", "uncertain")

    def generated(self, step: str) -> Any:
        entry = self._last(step)
        return entry.detail.get("value") if entry and entry.status == "generated" else None

    def seconds_since_uncertain(self, step: str) -> float | None:
        """How long ago an earlier attempt sent this request without learning its outcome."""
        entry = self._last(step)
        if entry is None or entry.status not in ("sent", "uncertain") or entry.at is None:
            return None
        at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)
        return max(0.0, (dt.datetime.now(dt.UTC) - at).total_seconds())

    @property
    def resumed(self) -> bool:
        return bool(self.earlier)

    # --- recording this attempt --------------------------------------------------------------
    def record(self, step: str, what: str, *, durable: bool = False, **detail: Any) -> None:
        """Note what this attempt did. Entries wait in memory until `flush`, or are flushed at
        once with `durable=True`: before anything leaves the process that must not be repeated
        blindly (a request is about to be sent), the journal must already say so. The rest
        rides along with the next flush, or with the run's final write-back transaction."""
        if self.store is None:
            return
        clean = json.loads(self.settings.redact(json.dumps(detail, default=str))) if detail else {}
        self.pending.append(JournalEntry(self.run_key, self.flow, step, what, clean, at=dt.datetime.now(dt.UTC)))
        if durable:
            self.flush()

    def flush(self, *, transactional: bool = False) -> None:
        """Write the waiting entries, in one statement. `transactional`: inside a store
        transaction, as part of it, so they are gone if it rolls back (used for `done`)."""
        if self.store is not None and self.pending:
            entries, self.pending = self.pending, []
            self.store.journal(*entries, transactional=transactional)
