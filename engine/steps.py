"""The step kinds a spec can use. Each is a frozen object with one method, `run(run) -> output`.

Compiling a step (engine/compile.py) produces one of these; the runner stores each output in the
scope under the step's id. Steps reach the outside world only through `run.services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jmespath.exceptions import JMESPathError

from transports.base import FileUpload, HttpRequest, HttpResponse

from .builder import object_builder
from .errors import FlowError, InputError, TransportError, UncertainOutcome
from .expressions import EvaluationError, Expr, Template, truthy
from .fields import FieldRule, explain_object
from .functions import _text, is_empty
from .inputs import parse_csv, parse_json, parse_xml
from .runtime import Run, Write


class Skip(Exception):  # noqa: N818 - control flow, not an error: a filter dropped the record
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Step:
    id: str
    kind: str
    when: Expr | None
    notes: str | None

    def run(self, run: Run) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class MapStep(Step):
    lets: tuple[tuple[str, Expr], ...]
    rules: tuple[FieldRule, ...]
    title: str | None = None
    # The lets may be written into the run's scope instead of a copy of it: set by the compiler
    # (lets_in_place) only where nothing after this step can see them.
    lets_in_place: bool = False

    def __post_init__(self) -> None:
        lets = tuple((name, expr.evaluate) for name, expr in self.lets)
        object.__setattr__(self, "_build", object_builder(self.rules, lets, self.lets_in_place))

    def run(self, run: Run) -> Any:
        if run.trace is None:
            return self._build(run.scope)  # type: ignore[attr-defined]
        scope = dict(run.scope) if self.lets and not self.lets_in_place else run.scope
        for name, expr in self.lets:
            scope[name] = expr.evaluate(scope)
        start = len(run.trace)
        built = explain_object(self.rules, scope, run.trace)
        run.trace[start:] = [{"step": self.id, **entry} for entry in run.trace[start:]]
        return built


@dataclass(frozen=True)
class StoreLookupStep(Step):
    table: str
    where: tuple[tuple[str, Expr], ...]
    select: Expr | None
    default: Any
    required: bool
    error: Template | None

    def run(self, run: Run) -> Any:
        key = {column: expr.evaluate(run.scope) for column, expr in self.where}
        found = None
        store = run.services.store
        if store is not None and not any(is_empty(v) for v in key.values()):
            found = store.lookup(self.table, key, tenant=run.scope.get("tenant") or "default")
        return _finish_lookup(self, run, found, f"{self.table} {key}")


@dataclass(frozen=True)
class RemoteLookupStep(Step):
    """A lookup read through a connection: an HTTP GET, or a file fetched over FTP/SFTP."""

    connection: str
    transport_kind: str  # http | files
    path: Template
    params: tuple[tuple[str, Template], ...]
    format: str  # json | xml | text | csv
    delimiter: str
    index_by: Expr | None
    once: bool
    select: Expr | None
    default: Any
    required: bool
    error: Template | None
    example: HttpResponse | None

    def run(self, run: Run) -> Any:
        path = self.path.render(run.scope)
        params = render_params(self.params, run.scope)
        cache_key = f"{self.id}:{path}:{sorted(params.items())}"
        cache = run.services.cache
        if self.once and cache_key in cache:
            found = cache[cache_key]
        else:
            found = self._read(run, path, params)
            if self.index_by is not None and isinstance(found, list):
                index_by = self.index_by
                found = {_text(index_by.evaluate(item)): item for item in found
                         if not is_empty(index_by.evaluate(item))}
            if self.once:
                cache[cache_key] = found
        return _finish_lookup(self, run, found, path)

    def _read(self, run: Run, path: str, params: dict[str, str]) -> Any:
        if self.transport_kind == "http":
            response = call_http(run, self.id, self.connection, HttpRequest("GET", path, params=params),
                                 self.example)
            content = response.content
        else:
            run.requests.append({"transport": "files", "connection": self.connection, "method": "GET",
                                 "path": path})
            if run.services.answer is not None:
                answer = run.services.answer(self.id, run.requests[-1]) or self.example
                if isinstance(answer, Exception):
                    raise answer
                if answer is None:
                    raise FlowError(f"{self.id}: no example file to answer this read in a preview", self.id)
                content = answer.content
            else:
                content = run.services.connections[self.connection].fetch(path)
        if not content.strip():
            return None
        what = f"{self.id} ({path})"
        if self.format == "csv":
            rows, problems = parse_csv(content, self.delimiter, what)
            run.warnings.extend(problems)
            return rows
        if self.format == "xml":
            return parse_xml(content, (), what)
        if self.format == "text":
            return content.decode("utf-8", errors="replace")
        return parse_json(content, what)


def render_params(params: tuple[tuple[str, Template], ...], scope: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters; one that renders empty is left out (so a filter can be optional)."""
    rendered = ((k, t.render(scope)) for k, t in params)
    return {k: v for k, v in rendered if v != ""}


def _finish_lookup(step: Any, run: Run, found: Any, what: str) -> Any:
    value = found
    if step.select is not None:
        value = step.select.evaluate({**run.scope, "found": found})
    if is_empty(value):
        if step.required:
            message = step.error.render({**run.scope, "found": found}) if step.error else f"{what}: not found"
            raise FlowError(message, step.id)
        return step.default
    return value


@dataclass(frozen=True)
class GenerateStep(Step):
    sequence: str
    start: Expr | None

    def run(self, run: Run) -> Any:
        start_value = self.start.evaluate(run.scope) if self.start is not None else 1
        try:
            start = int(start_value if start_value is not None else 1)
        except (TypeError, ValueError):
            raise InputError(f"sequence start {start_value!r} is not a whole number", field=self.id) from None
        store = run.services.store
        tenant = run.scope.get("tenant") or "default"
        if store is None:
            return start
        if run.services.dry_run:
            return store.peek_sequence(self.sequence, start, tenant)
        if run.journal is not None:
            earlier = run.journal.generated(self.id)
            if earlier is not None:
                return earlier  # a resumed run sends the same code as the attempt it continues
        number = store.next_sequence(self.sequence, start, tenant)
        if run.journal is not None:
            # Durable at once: the number may leave in a file upload, which journals nothing itself.
            run.journal.record(self.id, "generated", durable=True, value=number)
        return number


@dataclass(frozen=True)
class Outcome:
    when: Expr
    error: Template | None
    ok: bool


@dataclass(frozen=True)
class Detect:
    """How to find out whether an uncertain create happened: a GET, and where the record is."""

    method: str
    path: Template
    params: tuple[tuple[str, Template], ...]
    response_format: str
    found: Expr
    as_response: Expr | None
    settle: float = 5.0  # seconds the ERP may still need for a request whose answer was lost


@dataclass(frozen=True)
class SendStep(Step):
    connection: str
    transport_kind: str  # http | files
    method: str
    path: Template
    params: tuple[tuple[str, Template], ...]
    headers: tuple[tuple[str, Template], ...]
    body_kind: str | None  # json | form | body
    body: Expr | None
    content_type: str | None
    response_format: str
    force_list: tuple[str, ...]
    idempotent: bool | None
    ok_status: frozenset[int] | None
    outcomes: tuple[Outcome, ...]
    example: HttpResponse | None
    detect: Detect | None = None

    def run(self, run: Run) -> Any:
        scope = run.scope
        path = self.path.render(scope)
        body = self.body.evaluate(scope) if self.body is not None else None
        if self.transport_kind == "files":
            return self._upload(run, path, body)
        journal = run.journal
        if journal is not None:
            saved = journal.accepted_response(self.id)
            if saved is not None:  # an earlier attempt got this far: do not ask the ERP twice
                run.requests.append({"transport": "http", "connection": self.connection, "method": self.method,
                                     "path": path, "replayed": True})
                return saved
            if journal.uncertain(self.id) and not self._idempotent:
                # An earlier attempt's answer was lost. Give the ERP its settle time since then,
                # ask; only if it has no such record is the request sent (again).
                if self.detect is not None:
                    waited = journal.seconds_since_uncertain(self.id)
                    if waited is not None and waited < self.detect.settle:
                        run.services.sleep(self.detect.settle - waited)
                found = self._detected(run)
                if found is not None:
                    return found
        headers = {k: t.render(scope) for k, t in self.headers}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        request = HttpRequest(
            self.method, path, params=render_params(self.params, scope), headers=headers,
            json=body if self.body_kind == "json" else None,
            form=_form(body, self.id) if self.body_kind == "form" else None,
            content=_bytes(body) if self.body_kind == "body" else None,
            idempotent=self.idempotent)
        try:
            response = self._send(run, request)
        except UncertainOutcome:
            raise
        except TransportError as exc:
            if journal is not None:
                journal.record(self.id, "failed", error=str(exc))
            if not self.outcomes:
                raise
            return self._decide(run, {"status": None, "headers": {}, "body": None,
                                      "error": run.settings.redact(str(exc))}, None)
        if isinstance(response, dict):
            return response  # found by the detect rule after an uncertain outcome
        parsed = {"status": response.status, "headers": dict(response.headers),
                  "body": read_body(response, self.response_format, self.force_list, f"{self.id} response",
                                    strict=False),
                  "error": None}
        try:
            decided = self._decide(run, parsed, response)
        except (FlowError, EvaluationError, JMESPathError):
            if journal is not None:  # answered, so not uncertain: a retry may send it again
                journal.record(self.id, "failed", status=response.status)
            raise
        if journal is not None:  # durable: a resumed run replays it instead of asking again
            journal.record(self.id, "response", durable=True, response=decided)
        return decided

    @property
    def _idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in ("GET", "PUT", "DELETE")

    def _send(self, run: Run, request: HttpRequest) -> HttpResponse | dict[str, Any]:
        """Send once; after an uncertain outcome, ask the detect rule, never send again here.

        A request whose answer was lost may still be in progress at the ERP, so "not found" right
        after it proves nothing: this run stops as uncertain (kept as a dead letter), and the next
        attempt of the same run asks again after the rule's settle time before it ever resends.
        """
        journal = run.journal
        if journal is not None:
            journal.record(self.id, "sent", durable=True)
        try:
            return call_http(run, self.id, self.connection, request, self.example)
        except UncertainOutcome as exc:
            if journal is not None:
                journal.record(self.id, "uncertain", durable=True, error=str(exc))
            if self.detect is None or self._idempotent:
                raise UncertainOutcome(run.settings.redact(
                    f"{self.id}: {exc}; the request may have been processed, so it is not sent again "
                    "(add a detect: rule to let the engine find out)")) from None
            run.services.sleep(self.detect.settle)
            try:
                found = self._detected(run)
            except TransportError as failed:  # still uncertain: never let this read as "failed"
                raise UncertainOutcome(run.settings.redact(
                    f"{self.id}: {exc}; the detect request failed too ({failed}), so it is not sent "
                    "again now: the next attempt of this run asks again first")) from None
            if found is not None:
                return found
            raise UncertainOutcome(run.settings.redact(
                f"{self.id}: {exc}; not found by the detect rule yet, so it is not sent again now: "
                "the next attempt of this run (e.g. specbridge replay) asks again first")) from None

    def _detected(self, run: Run) -> dict[str, Any] | None:
        """Run the detect rule: the record an earlier request created, shaped as this step's answer.

        Raises when there is no rule: an uncertain create is never repeated blindly.
        """
        detect = self.detect
        if detect is None:
            raise FlowError(f"{self.id}: an earlier attempt sent this request but never learnt whether it "
                            "was processed; without a detect: rule it is not sent again", self.id)
        scope = run.scope
        request = HttpRequest(detect.method, detect.path.render(scope), params=render_params(detect.params, scope))
        response = call_http(run, f"{self.id}.detect", self.connection, request, None)
        if not (200 <= response.status < 300 or response.status == 404):
            # Neither "here it is" nor "not here": the question is still open, so is the create.
            raise UncertainOutcome(f"{self.id}: the detect request answered {response.status}, so whether "
                                   "the earlier request was processed is still unknown")
        body = read_body(response, detect.response_format, self.force_list, f"{self.id} detect", strict=False)
        checked = {**scope, "response": {"status": response.status, "body": body}}
        found = detect.found.evaluate(checked) if response.status != 404 else None
        if not truthy(found):  # null, false, "", [] or {}: nothing was created
            if run.journal is not None:
                run.journal.record(self.id, "not-found")
            return None
        value = detect.as_response.evaluate({**checked, "found": found}) if detect.as_response else found
        answer = {"status": 200, "headers": {}, "body": value, "error": None, "detected": True}
        if run.journal is not None:
            run.journal.record(self.id, "response", durable=True, response=answer)
        return answer

    def _upload(self, run: Run, path: str, body: Any) -> Any:
        content = _bytes(body)
        run.requests.append({"transport": "files", "connection": self.connection, "path": path,
                             "content": run.settings.redact(content.decode("utf-8", errors="replace"))})
        try:
            if run.services.answer is not None:
                answer = run.services.answer(self.id, run.requests[-1])
                if isinstance(answer, Exception):
                    raise answer
                final = path
            else:
                final = run.services.connections[self.connection].send(FileUpload(path, content))
        except TransportError as exc:
            if not self.outcomes:
                raise
            return self._decide(run, {"status": None, "path": path, "error": run.settings.redact(str(exc))}, None)
        return self._decide(run, {"status": "uploaded", "path": final, "error": None}, None)

    def _decide(self, run: Run, response: dict[str, Any], raw: HttpResponse | None) -> Any:
        scope = {**run.scope, "response": response}
        for outcome in self.outcomes:
            if truthy(outcome.when.evaluate(scope)):
                if outcome.error is not None:
                    try:
                        message = outcome.error.render(scope)
                    except EvaluationError:  # the answer was not shaped as the message expects
                        body = raw.text[:300] if raw is not None else str(response.get("error"))
                        message = f"{self.id}: answered {response.get('status')}: {body}"
                    raise FlowError(run.settings.redact(message), self.id)
                return response
        if response.get("error"):
            raise FlowError(f"{self.id}: {response['error']}", self.id)
        status = response.get("status")
        if raw is not None and isinstance(status, int):
            ok = status in self.ok_status if self.ok_status else 200 <= status < 300
            if not ok:
                excerpt = run.settings.redact(raw.text[:300])
                raise FlowError(f"{self.id}: {self.method} {raw.url or self.path.source} answered {status}: {excerpt}",
                                self.id)
        return response


def call_http(run: Run, step_id: str, connection: str, request: HttpRequest,
              example: HttpResponse | None) -> HttpResponse:
    """Send through the connection, or ask preview/fixtures; record the request either way."""
    record: dict[str, Any] = {"transport": "http", "connection": connection, "method": request.method,
                              "path": request.path}
    if request.params:
        record["params"] = dict(request.params)
    if request.headers:
        record["headers"] = {k: run.settings.redact(v) for k, v in request.headers.items()}
    if request.json is not None:
        record["json"] = request.json
    if request.form is not None:
        record["form"] = {k: run.settings.redact(v) for k, v in request.form.items()}
    if request.content is not None:
        record["body"] = run.settings.redact(request.content.decode("utf-8", errors="replace"))
    run.requests.append(record)
    if run.services.answer is not None:
        answer = run.services.answer(step_id, record)
        if answer is None and example is not None:
            answer = example
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            raise FlowError(f"{step_id}: no example response to answer this request in a preview",
                            step_id)
        return answer
    return run.services.connections[connection].send(request)


def read_body(response: HttpResponse, fmt: str, force_list: tuple[str, ...], what: str,
              strict: bool = True) -> Any:
    if not response.content.strip():
        return None
    try:
        if fmt == "json":
            return parse_json(response.content, what)
        if fmt == "xml":
            return parse_xml(response.content, force_list, what)
    except InputError:
        if strict:
            raise
        return response.text  # an error page in HTML: let outcome rules and messages see the text
    return response.text


def _form(body: Any, step: str) -> dict[str, str]:
    if not isinstance(body, dict):
        raise InputError("a form body must be an object", field=step)
    return {k: _text(v) for k, v in body.items() if v is not None}


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogateescape")  # raw input round-trips byte for byte
    if body is None:
        return b""
    import json
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class CheckStep(Step):
    that: Expr
    error: Template

    def run(self, run: Run) -> Any:
        if not truthy(self.that.evaluate(run.scope)):
            raise FlowError(run.settings.redact(self.error.render(run.scope)), self.id)
        return True


@dataclass(frozen=True)
class FilterStep(Step):
    keep: Expr
    reason: Template | None

    def run(self, run: Run) -> Any:
        if not truthy(self.keep.evaluate(run.scope)):
            raise Skip(self.reason.render(run.scope) if self.reason else f"filtered out by {self.id}")
        return True


@dataclass(frozen=True)
class WritebackStep(Step):
    key: tuple[tuple[str, Expr], ...]
    rules: tuple[FieldRule, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_build", object_builder(self.rules))

    def run(self, run: Run) -> Any:
        key = {column: expr.evaluate(run.scope) for column, expr in self.key}
        values = self._build(run.scope)  # type: ignore[attr-defined]
        run.writes.append(Write(key, values, self.id))
        return values


@dataclass(frozen=True)
class SaveStep(Step):
    source: Expr

    def run(self, run: Run) -> Any:
        document = self.source.evaluate(run.scope)
        if not isinstance(document, dict):
            raise InputError("save needs a customer object", field=self.id)
        run.saves.append(document)
        return document


@dataclass(frozen=True)
class ParseStep(Step):
    source: Expr
    format: str
    force_list: tuple[str, ...]

    def run(self, run: Run) -> Any:
        text = self.source.evaluate(run.scope)
        if text is None:
            return None
        if not isinstance(text, str):
            raise InputError(f"can only parse text, got {type(text).__name__}", field=self.id)
        if self.format == "xml":
            return parse_xml(text, self.force_list, self.id)
        return parse_json(text, self.id)
