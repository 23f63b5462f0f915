"""Stage 4: the Plan, the compiled form of a spec, and how it runs a record.

A Plan is immutable and shared freely between threads; each record gets its own `Run`. Running
is: read the input -> resolve settings -> evaluate the steps in order -> render the result ->
apply the write-backs in one store transaction (skipped in preview, where nothing is written and
no network is touched).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jmespath.exceptions import JMESPathError

from .connections import ConnectionDecl, Connections
from .errors import FlowError, InputError, SettingsError, SpecbridgeError
from .expressions import EvaluationError, Expr, Template, truthy
from .functions import CLOCK, _text, iso
from .inputs import parse_json, parse_xml
from .journal import Journal, content_run_key
from .runtime import Answer, Result, Run, Services
from .settings import SettingDecl, Settings, convert, from_environment, resolve
from .steps import Skip, Step
from .store.protocol import Store


@dataclass(frozen=True)
class InputSpec:
    format: str = "json"
    schema: str | None = None
    id: Expr | None = None
    force_list: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    name: str
    title: str
    description: str | None
    notes: str | None
    direction: str
    file: str
    input: InputSpec
    settings: Mapping[str, SettingDecl]
    connections: Mapping[str, ConnectionDecl]
    steps: tuple[Step, ...]
    result: Template | None
    fixtures: tuple[dict[str, Any], ...] = ()
    spec: Any = field(default=None, repr=False, compare=False)
    source: Any = field(default=None, repr=False, compare=False)  # the LoadedSpec, to specialise from
    _specialised: dict[Any, tuple[Step, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)
    # One thread compiles a set of settings; the pool's other threads wait for it, not all compile.
    _specialising: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    # --- specialising --------------------------------------------------------------------------
    def specialise(self, settings: Settings) -> tuple[Step, ...]:
        """The steps compiled again with these settings known: what depends only on them is
        computed once, conditions they decide are settled, lets nothing reads any more are
        dropped (engine/fold.py). Same results as `steps`, less work per record; made once per
        distinct set of settings and kept (a few sets: a service runs few tenants' settings)."""
        if self.source is None:
            return self.steps
        values = settings.values
        try:  # by type too: 1, 1.0 and True are equal in Python but not the same setting
            key: Any = frozenset((k, v.__class__, repr(v) if v.__class__ is float else v) for k, v in values.items())
        except TypeError:  # a list or object setting
            key = json.dumps(values, sort_keys=True, default=repr)
        steps = self._specialised.get(key)
        if steps is not None:
            return steps
        with self._specialising:
            steps = self._specialised.get(key)
            if steps is None:
                from .compile import Compiler  # compile.py builds Plans: imported when first needed

                try:
                    steps = Compiler(self.source, values={"settings": dict(values)}).compile().steps
                except SpecbridgeError:
                    steps = self.steps  # compiled once already, so never expected; the general steps do
                if len(self._specialised) >= 16:
                    self._specialised.clear()
                self._specialised[key] = steps
        return steps

    # --- input -------------------------------------------------------------------------------
    def read_input(self, data: str | bytes | Any) -> tuple[Any, str | None]:
        """The record as the steps see it, plus its raw text (for flows that pass it on verbatim).

        Bytes are decoded with surrogateescape, so `raw` encodes back to exactly the bytes given,
        even when they are not UTF-8; XML is parsed from the bytes, honouring its own encoding.
        """
        raw: str | None = None
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if isinstance(data, bytes):
            raw = data.decode("utf-8", "surrogateescape")
            if self.input.format == "json":
                record = parse_json(data)
            elif self.input.format == "xml":
                record = parse_xml(data, self.input.force_list)
            else:
                record = raw
        else:
            record = data
            raw = json.dumps(data, ensure_ascii=False) if self.input.format == "json" else None
        if self.input.schema:
            _check_schema(self.input.schema, record, self._record_name(record))
        return record, raw

    def _record_name(self, record: Any) -> str | None:
        if self.input.id is None:
            return None
        try:
            value = self.input.id.evaluate({"input": record})
        except EvaluationError:
            return None
        return None if value in (None, "") else _text(value)

    # --- running -------------------------------------------------------------------------------
    def run(self, record: Any, *, settings: Mapping[str, Any] | None = None, store: Store | None = None,
            user: str | None = None, tenant: str = "default", connections: Mapping[str, Any] | None = None,
            clock: Callable[[], dt.datetime] | None = None, explain: bool = False,
            run_key: str | None = None, progress: Callable[[int], None] | None = None,
            _cache: dict[str, Any] | None = None) -> Result:
        """Run for real: remote calls through the connections, write-backs into the store."""
        resolved = resolve(self.settings, settings)
        opened = None
        if connections is None:
            connections = opened = Connections(self.connections, resolved, self.name, store)
        try:
            services = Services(store=store, connections=connections, clock=clock or _utcnow, progress=progress,
                                cache=_cache if _cache is not None else {})
            return self.execute(record, resolved, services, user=user, tenant=tenant, explain=explain,
                                run_key=run_key)
        finally:
            if opened is not None:
                opened.close()

    def preview(self, record: Any, *, settings: Mapping[str, Any] | None = None, store: Store | None = None,
                user: str | None = None, tenant: str = "default",
                answer: Callable[[str, dict[str, Any]], Answer | None] | None = None,
                clock: Callable[[], dt.datetime] | None = None, explain: bool = False) -> Result:
        """Run without network or writes: send steps are answered by `answer` or their examples."""
        resolved = resolve(self.settings, settings)
        services = Services(store=store, clock=clock or _utcnow, answer=answer or (lambda step, req: None),
                            dry_run=True)
        return self.execute(record, resolved, services, user=user, tenant=tenant, explain=explain)

    def run_many(self, records: Iterable[Any], *, workers: int | None = None, **kwargs: Any
                 ) -> list[Result | SpecbridgeError]:
        """Run records concurrently on a bounded thread pool; one failure does not stop the others.

        At most `workers` records at once: by default the `Concurrency` setting, which every
        flow understands without declaring it (docs/spec-reference.md, settings), else 4.
        """
        given = kwargs.pop("settings", None)
        resolved = resolve(self.settings, given)
        if workers is None:
            workers = concurrency({**resolved.values, **(given or {})})
        store = kwargs.get("store")
        connections = Connections(self.connections, resolved, self.name, store)
        shared: dict[str, Any] = {}  # `once` lookups: read once for all the records, not per record
        try:
            def one(record: Any) -> Result | SpecbridgeError:
                try:
                    return self.run(record, settings=resolved.values, connections=connections, _cache=shared,
                                    **kwargs)
                except SpecbridgeError as exc:
                    return exc
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                return list(pool.map(one, records))
        finally:
            connections.close()

    def execute(self, record: Any, settings: Settings, services: Services, *, user: str | None,
                tenant: str, explain: bool = False, run_key: str | None = None) -> Result:
        if run_key is None:
            # The same record sent to the same flow again is the same run: it resumes or is a
            # no-op, never a second create. Bulk reads get a fresh key per run.
            run_key = (uuid.uuid4().hex if self.reads_in_bulk
                       else content_run_key(self.name, tenant, user, record, settings.values))
        original = record
        clock = services.clock
        journaled = services.store is not None and not services.dry_run
        journal = Journal.open(services.store if journaled else None, run_key, self.name, settings)
        finished = journal.finished()
        if finished is not None:
            message = str(finished.detail.get("result", ""))
            return Result(message, [], [], {}, None, None, [], replayed=True)
        scope: dict[str, Any] = {"input": None, "raw": None, "settings": settings.values, "user": user,
                                 "tenant": tenant, "now": iso(clock())}
        run = Run(scope, services, settings, self.name, run_key, trace=[] if explain else None,
                  journal=journal if journaled else None, step="input")
        try:
            record, raw = self.read_input(record)
        except InputError as exc:  # refused data is kept for replay like any other failure
            _failed(journal, run, exc, original)
            raise
        scope["input"], scope["raw"] = record, raw
        token = CLOCK.set(clock)
        try:
            journal.record("", "resumed" if journal.resumed else "started")
            skipped = None
            # A trace explains the spec as written, so it runs the general steps.
            for step in self.steps if explain else self.specialise(settings):
                run.step = step.id
                if step.when is not None and not truthy(step.when.evaluate(scope)):
                    scope[step.id] = None
                    continue
                try:
                    scope[step.id] = step.run(run)
                except Skip as skip:  # a top-level filter dropped the record: a clean, empty run
                    skipped = skip.reason
                    run.writes.clear()
                    run.saves.clear()
                    break
            run.step = "result"
            if skipped is not None:
                message = settings.redact(f"Skipped: {skipped}")
            else:
                message = settings.redact(self.result.render(scope) if self.result is not None else "OK")
            writes = [w.as_dict() for w in run.writes] + [
                {"table": "customers", "upsert": doc} for doc in run.saves]
            done = {"result": message, "writes": len(run.writes), "saves": len(run.saves)}
            if journaled and (run.writes or run.saves):
                with services.store.transaction():  # type: ignore[union-attr]
                    _apply_writes(services.store, run, tenant)  # type: ignore[arg-type]
                    journal.record("", "done", **done)
                    journal.flush(transactional=True)  # with the write-backs: "done" only if they committed
            else:
                journal.record("", "done", durable=True, **done)
            if journaled and journal.resumed:
                _clear_dead_letters(services.store, self.name, run_key)  # type: ignore[arg-type]
            outputs = {s.id: scope.get(s.id) for s in self.steps}
            redact = settings.redact_deep  # what a run shows may carry a secret a spec put in a path or body
            return Result(message, redact(run.requests), redact(writes), outputs, redact(run.trace), run.counts,
                          [settings.redact(w) for w in run.warnings])
        except (EvaluationError, JMESPathError) as exc:
            error: SpecbridgeError = FlowError(settings.redact(f"step {run.step}: {exc}"), run.step)
            _failed(journal, run, error, original)
            raise error from None
        except InputError as exc:
            if exc.record is None:
                named = InputError(exc.message, self._record_name(record), exc.field or run.step)
                _failed(journal, run, named, original)
                raise named from None
            _failed(journal, run, exc, original)
            raise
        except SpecbridgeError as exc:
            _failed(journal, run, exc, original)
            raise
        finally:
            CLOCK.reset(token)
            with contextlib.suppress(SpecbridgeError):
                journal.flush()  # whatever is left, e.g. after an unexpected exception

    @property
    def reads_in_bulk(self) -> bool:
        return any(step.kind == "fetch" for step in self.steps)


DEFAULT_CONCURRENCY = 4


def concurrency(settings: Mapping[str, Any] | None) -> int:
    """The `Concurrency` setting: how many records `run_many` runs at once (1 to 1000)."""
    raw = from_environment((settings or {}).get("Concurrency"), "Concurrency")
    if raw is None or raw == "":
        return DEFAULT_CONCURRENCY
    decl = SettingDecl("Concurrency", type="integer")
    value = convert(decl, raw)
    if not 1 <= value <= 1000:
        raise SettingsError(f"{value} is not between 1 and 1000", "Concurrency")
    return int(value)


def _failed(journal: Journal, run: Run, error: Exception, record: Any) -> None:
    """Journal the failure and keep the record as a dead letter, for `specbridge replay`."""
    with contextlib.suppress(SpecbridgeError):  # the run's own error matters more
        journal.record(run.step, "error", durable=True, error=str(error))
        if journal.store is not None:
            if isinstance(record, bytes):
                record = record.decode("utf-8", "surrogateescape")
            journal.store.add_dead_letter(run.run_key, run.flow, record, run.settings.redact(str(error)),
                                          tenant=run.scope.get("tenant") or "default", user=run.scope.get("user"))


def _clear_dead_letters(store: Store, flow: str, run_key: str) -> None:
    with contextlib.suppress(SpecbridgeError):
        for letter in store.dead_letters(flow):
            if letter.run_key == run_key:
                store.remove_dead_letter(letter.id)


def _apply_writes(store: Store, run: Run, tenant: str) -> None:
    """All write-backs and saves of one flow; the caller's transaction makes them one."""
    for write in run.writes:
        key = write.key
        found = store.update_customer_fields(write.values, tenant, guid=key.get("CustomerGuid"),
                                             code=key.get("CustomerCode"))
        if not found:
            raise FlowError(f"write-back {write.step}: no customer with {json.dumps(key)} in the store",
                            write.step)
    for document in run.saves:
        store.upsert_customer(document, tenant)


def _check_schema(name: str, record: Any, record_name: str | None) -> None:
    from .validate import schema_validator, schema_validity
    if schema_validity(name)(record):
        return  # the common case, in microseconds; jsonschema explains the rest
    errors = sorted(schema_validator(name).iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path).lstrip(".")
        raise InputError(first.message, record_name, where or "(record)")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
