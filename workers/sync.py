"""Inbound bulk reads split into page-range tasks, run in parallel, stitched together in the journal.

A sync has one run key K. Its tasks:

    sync K            journals ("", "started"), sends the first `parallel` range tasks
    range K #r        reads pages r*n .. r*n+n-1 (engine.fetch.page_range) under run key
                      "K/pages-A-B", then journals ("pages A-B", "range-done", {counts}) under K;
                      unless its pages reached the end of the records, sends range #r+parallel,
                      so `parallel` ranges are in flight until the end is found
    (last range)      once the end is known and every range before it is done, journals
                      ("", "done", {result, counts}) under K: the sum of the ranges

No count of records is needed up front: the ranges after the end read one empty page each.
Every step is idempotent: a range whose "range-done" is in K's journal is not read again, a
redelivered range resumes under its own run key, a range task is sent once per sync attempt
(a mark in Redis), and `done` is written once. A range that keeps failing journals ("", "error")
under K; enqueueing the sync again with the same run key reads only the ranges not done yet.
Saves are upserts, so a range read twice (a worker killed after saving, before journaling)
stores nothing twice; only its counts say "unchanged" for what the first attempt created.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import engine
from engine.errors import SettingsError
from engine.fetch import FetchStep, page_range
from engine.settings import resolve
from engine.store import JournalEntry

from .redis_state import forget_status
from .runs import PAYLOAD_VERSION, Runtime, decode_record, encode_record
from .tenants import check_tenant

DEFAULT_PAGES_PER_TASK = 10
DEFAULT_PARALLEL = 4
_SUMMED = ("fetched", "filtered", "created", "updated", "unchanged", "rejected")

SendRange = Callable[[dict[str, Any]], None]


def splittable(plan: engine.Plan) -> FetchStep | None:
    """The flow's one offset-paged fetch step, if it has exactly one: then it can be split."""
    fetches = [step for step in plan.steps if isinstance(step, FetchStep)]
    if len(fetches) == 1 and fetches[0].paging.kind == "offset":
        return fetches[0]
    return None


def sync_payload(plan: engine.Plan, spec: str, record: Any, *, tenant: str, user: str | None,
                 run_key: str | None, pages_per_task: int = DEFAULT_PAGES_PER_TASK,
                 parallel: int = DEFAULT_PARALLEL) -> dict[str, Any]:
    check_tenant(tenant)
    if pages_per_task < 1 or parallel < 1:
        raise SettingsError("pages per task and parallel ranges must be at least 1")
    encoded, encoding = encode_record(record)
    return {"v": PAYLOAD_VERSION, "kind": "sync", "spec": spec, "flow": plan.name, "tenant": tenant, "user": user,
            "record": encoded, "encoding": encoding, "run_key": run_key or f"{plan.name}:sync:{uuid.uuid4().hex}",
            "pages_per_task": pages_per_task, "parallel": parallel}


def start(rt: Runtime, payload: dict[str, Any], generation: str, send: SendRange) -> dict[str, Any]:
    """The sync task: journal the start and send the first ranges (once per generation)."""
    plan = rt.plan(payload["spec"])
    if splittable(plan) is None:
        raise SettingsError(f"flow {plan.name} has no single offset-paged fetch step to split")
    rt.settings(plan, payload["tenant"])  # a tenant without settings fails here, not in every range
    key = payload["run_key"]
    finished = _last_state(rt.store.journal_entries(key))
    if finished is not None and finished.status == "done":
        return {"run_key": key, "flow": plan.name, "result": finished.detail.get("result"), "replayed": True}
    rt.store.journal(JournalEntry(key, plan.name, "", "started", {
        "generation": generation, "pages_per_task": payload["pages_per_task"], "parallel": payload["parallel"]}))
    for index in range(payload["parallel"]):
        _dispatch(rt, payload, generation, index, send)
    return {"run_key": key, "flow": plan.name, "dispatched": payload["parallel"]}


def run_range(rt: Runtime, payload: dict[str, Any], send: SendRange) -> dict[str, Any]:
    """One range task: read its pages (unless done), journal the counts, send the next, stitch."""
    plan = rt.plan(payload["spec"])
    fetch = splittable(plan)
    if fetch is None:
        raise SettingsError(f"flow {plan.name} has no single offset-paged fetch step to split")
    key, index, size = payload["run_key"], payload["index"], payload["pages_per_task"]
    first, last = index * size, index * size + size - 1
    range_key = f"{key}/pages-{first}-{last}"
    counts = _ranges(rt.store.journal_entries(key)).get(index)
    if counts is None:
        tenant, user = check_tenant(payload["tenant"]), payload.get("user")
        settings = rt.settings(plan, tenant)
        record = decode_record(payload)
        forget_status()
        with rt.exclusive(range_key), page_range(first, min(last, fetch.paging.max_pages - 1)):
            connections = rt.connections(plan, tenant, settings)
            result = plan.run(record, settings=settings, store=rt.store, user=user, tenant=tenant,
                              connections=connections, run_key=range_key)
            if result.replayed:  # read before, but killed before its counts reached the sync's journal
                result = plan.run(record, settings=settings, store=rt.store, user=user, tenant=tenant,
                                  connections=connections, run_key=f"{range_key}/again-{uuid.uuid4().hex[:8]}")
        counts = dict(result.counts or {})
        rt.store.journal(JournalEntry(key, plan.name, f"pages {first}-{last}", "range-done",
                                      {"index": index, "counts": counts}))
    reached = counts.get("page_range") or {}
    if not reached.get("end"):
        if (index + payload["parallel"]) * size < fetch.paging.max_pages:
            _dispatch(rt, payload, payload["generation"], index + payload["parallel"], send)
        else:  # the engine's max_pages rule, for the sync as a whole
            raise SettingsError(f"{fetch.id}: still receiving records after max_pages={fetch.paging.max_pages} "
                                "pages; raise paging.max_pages if that many are expected")
    stitched = stitch(rt, plan, payload)
    return {"run_key": range_key, "sync": key, "pages": [first, last], "counts": _public(counts),
            "stitched": stitched}


def stitch(rt: Runtime, plan: engine.Plan, payload: dict[str, Any]) -> bool:
    """Write the sync's `done` once the end is known and every range before it is done.

    Each range journals its counts before it calls this, so the last range to finish sees all.
    """
    key, size = payload["run_key"], payload["pages_per_task"]
    entries = rt.store.journal_entries(key)
    state = _last_state(entries)
    if state is not None and state.status == "done":
        return False
    ranges = _ranges(entries)
    ends = [r["first"] + r["pages"] for c in ranges.values() if (r := c.get("page_range") or {}).get("end")]
    if not ends:
        return False
    end = min(ends)  # the first page index without records
    if any(i not in ranges for i in range(math.ceil(end / size))):
        return False
    shared = rt.shared
    if shared is not None and not shared.first_time(f"{key}:{payload['generation']}:stitched"):
        return False
    totals = _sum(ranges.values())
    message = _message(rt, plan, payload, totals)
    rt.store.journal(JournalEntry(key, plan.name, "", "done", {
        "result": message, "counts": _public(totals), "ranges": len(ranges), "pages": end}))
    return True


def failed(rt: Runtime, payload: dict[str, Any], error: str) -> None:
    """A range given up on: the sync fails (its journal says which pages)."""
    key, flow = payload["run_key"], payload.get("flow", "")
    if payload.get("kind") == "range":
        size, index = payload["pages_per_task"], payload["index"]
        rt.store.journal(JournalEntry(key, flow, f"pages {index * size}-{index * size + size - 1}", "error",
                                      {"error": error}))
    rt.store.journal(JournalEntry(key, flow, "", "error", {"error": error}))


def state(rt: Runtime, key: str) -> JournalEntry | None:
    """The sync's latest own entry (started, done or error), for waiting on it."""
    return _last_state(rt.store.journal_entries(key))


# --- helpers -------------------------------------------------------------------------------------

def _dispatch(rt: Runtime, payload: dict[str, Any], generation: str, index: int, send: SendRange) -> None:
    shared = rt.shared
    if shared is None or shared.first_time(f"{payload['run_key']}:{generation}:range:{index}"):
        send({**payload, "kind": "range", "generation": generation, "index": index})


def _last_state(entries: list[JournalEntry]) -> JournalEntry | None:
    own = [e for e in entries if e.step == "" and e.status in ("started", "done", "error")]
    return own[-1] if own else None


def _ranges(entries: list[JournalEntry]) -> dict[int, dict[str, Any]]:
    """Range index -> its counts (the latest, should a range have been read twice)."""
    return {int(e.detail["index"]): dict(e.detail.get("counts") or {})
            for e in entries if e.status == "range-done"}


def _sum(all_counts: Any) -> dict[str, Any]:
    """The ranges' counts added up: numbers summed, {reason: n} tables merged, lists joined (capped)."""
    totals: dict[str, Any] = {name: 0 for name in _SUMMED}
    for counts in all_counts:
        for name, value in counts.items():
            if name == "page_range":
                continue
            if isinstance(value, bool) or not isinstance(value, int | dict | list):
                continue
            if isinstance(value, int):
                totals[name] = totals.get(name, 0) + value
            elif isinstance(value, dict):
                table = totals.setdefault(name, {})
                for key, n in value.items():
                    table[key] = table.get(key, 0) + (n if isinstance(n, int) else 0)
            else:
                joined = totals.setdefault(name, [])
                joined.extend(value[: max(0, 1000 - len(joined))])
    totals.setdefault("rejections", [])
    return totals


def _public(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in counts.items() if k != "rejections"}


def _message(rt: Runtime, plan: engine.Plan, payload: dict[str, Any], totals: dict[str, Any]) -> str:
    """The flow's own result template over the summed counts, as one run would have said it."""
    fetch = splittable(plan)
    settings = resolve(plan.settings, rt.settings(plan, payload["tenant"]))
    scope: dict[str, Any] = {step.id: None for step in plan.steps}
    record = decode_record(payload)
    scope.update(input=record if not isinstance(record, bytes) else None, raw=None, settings=settings.values,
                 user=payload.get("user"), tenant=payload["tenant"], now=None)
    if fetch is not None:
        scope[fetch.id] = totals
    summary = ", ".join(f"{totals[name]} {name}" for name in _SUMMED)
    if plan.result is None:
        return summary
    try:
        return settings.redact(plan.result.render(scope))
    except Exception:  # a template that needs more than the counts: say them plainly
        return summary
