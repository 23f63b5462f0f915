"""Running a spec's own `tests:` fixtures (what `specbridge test` does).

Each fixture runs the Plan against a fresh in-memory store seeded with the fixture's `store:`
document, with every remote call answered from `responses:` (per step id, in call order) or the
step's `example:`. Write-backs are applied, so `expect.store` can check them. Expected requests,
outputs and store rows are compared as subsets: every key the fixture lists must match exactly,
keys it leaves out are not compared (so a fixture states what its rule is about).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .compile import example_response
from .errors import ConnectError, SpecbridgeError, TransportError, UncertainOutcome
from .plan import Plan
from .runtime import Answer, Services
from .settings import resolve

SIMULATED_ERRORS = {
    "connect": lambda where: ConnectError("connection refused (simulated)", where),
    "refused": lambda where: TransportError("refused by the server (simulated)", where),
    "timeout": lambda where: UncertainOutcome("no answer before the timeout (simulated)", where),
}


@dataclass(frozen=True)
class FixtureResult:
    spec: str
    name: str
    passed: bool
    problems: tuple[str, ...] = ()


def answerer(responses: Mapping[str, list[dict[str, Any]]]) -> Any:
    queues = {step: list(answers) for step, answers in responses.items()}

    def answer(step: str, request: dict[str, Any]) -> Answer | None:
        queue = queues.get(step)
        if not queue:
            return None
        raw = queue.pop(0)
        if "error" in raw:
            return SIMULATED_ERRORS[raw["error"]](request.get("path"))
        status = int(raw.get("status", 200))
        if status >= 500 and request.get("method") in ("POST", "PATCH"):
            # The real transport never hands a 5xx to a non-idempotent request's outcome rules:
            # the ERP may have done it. Fixtures behave the same, so they test what runs.
            return UncertainOutcome(f"answered {status} (simulated); it may have been processed",
                                    request.get("path"))
        return example_response(raw, str(request.get("path", "")))
    return answer


def run_fixture(plan: Plan, fixture: Mapping[str, Any]) -> FixtureResult:
    from .store import open_store
    name = fixture.get("name", "?")
    expect = fixture.get("expect") or {}
    store = open_store("sqlite://")
    try:
        if fixture.get("store"):
            store.import_document(fixture["store"], fixture.get("tenant", "default"))
        moment = dt.datetime.fromisoformat(fixture.get("now", "2026-01-01T12:00:00+00:00").replace("Z", "+00:00"))
        services = Services(store=store, clock=lambda: moment, answer=answerer(fixture.get("responses") or {}),
                            sleep=lambda seconds: None)
        problems: list[str] = []
        try:
            settings = resolve(plan.settings, fixture.get("settings"))
            result = plan.execute(fixture.get("input"), settings, services, user=fixture.get("user"),
                                  tenant=fixture.get("tenant", "default"))
        except SpecbridgeError as exc:
            message = str(exc)
            if "error" in expect and message != expect["error"]:
                problems.append(f"error: expected {expect['error']!r}, got {message!r}")
            elif "error_contains" in expect and expect["error_contains"] not in message:
                problems.append(f"error: expected it to contain {expect['error_contains']!r}, got {message!r}")
            elif "error" not in expect and "error_contains" not in expect:
                problems.append(f"unexpected error: {message}")
            _compare_store(store, expect, fixture, problems)
            return FixtureResult(plan.file, name, not problems, tuple(problems))
        if "error" in expect or "error_contains" in expect:
            problems.append(f"expected an error, but the run succeeded with {result.message!r}")
        if "result" in expect and result.message != expect["result"]:
            problems.append(f"result: expected {expect['result']!r}, got {result.message!r}")
        if "requests" in expect:
            wanted = expect["requests"]
            if len(wanted) != len(result.requests):
                problems.append(f"requests: expected {len(wanted)}, sent {len(result.requests)}: "
                                f"{[_short(r) for r in result.requests]}")
            for i, (want, got) in enumerate(zip(wanted, result.requests, strict=False)):
                problems.extend(f"requests[{i}]{p}" for p in mismatches(want, got))
        if "warnings" in expect and result.warnings != expect["warnings"]:
            problems.append(f"warnings: expected {expect['warnings']!r}, got {result.warnings!r}")
        for step_id, want in (expect.get("outputs") or {}).items():
            problems.extend(f"outputs.{step_id}{p}" for p in mismatches(want, result.outputs.get(step_id)))
        _compare_store(store, expect, fixture, problems)
        return FixtureResult(plan.file, name, not problems, tuple(problems))
    finally:
        store.close()


def _compare_store(store: Any, expect: Mapping[str, Any], fixture: Mapping[str, Any], problems: list[str]) -> None:
    tenant = fixture.get("tenant", "default")
    for i, want in enumerate((expect.get("store") or {}).get("customers", [])):
        got = store.get_customer(tenant, guid=want.get("CustomerGuid"),
                                 code=None if want.get("CustomerGuid") else want.get("CustomerCode"))
        if got is None:
            problems.append(f"store.customers[{i}]: no such customer in the store")
            continue
        problems.extend(f"store.customers[{i}]{p}" for p in mismatches(want, got))


def _short(request: Mapping[str, Any]) -> str:
    return f"{request.get('method', 'PUT')} {request.get('path')}"


ABSENT = "<absent>"  # in an expected object: this key must not be there at all


def mismatches(want: Any, got: Any, path: str = "") -> list[str]:
    """Where `got` differs from `want`; dict keys absent from `want` are not compared."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {json.dumps(got)}"]
        out: list[str] = []
        for key, value in want.items():
            if value == ABSENT:
                if key in got:
                    out.append(f"{path}.{key}: expected to be left out, got {json.dumps(got[key])}")
                continue
            if key not in got:
                out.append(f"{path}.{key}: missing (expected {json.dumps(value)})")
                continue
            out.extend(mismatches(value, got[key], f"{path}.{key}"))
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: expected {json.dumps(want)}, got {json.dumps(got)}"]
        return [m for i, (w, g) in enumerate(zip(want, got, strict=True)) for m in mismatches(w, g, f"{path}[{i}]")]
    if want != got or type(want) is not type(got) and not (isinstance(want, int | float) and isinstance(got, int | float)
                                                           and not isinstance(got, bool)):
        return [f"{path}: expected {json.dumps(want)}, got {json.dumps(got)}"]
    return []


def run_fixtures(plan: Plan) -> list[FixtureResult]:
    return [run_fixture(plan, fixture) for fixture in plan.fixtures]
