"""The spec language, case by case: tests/engine/cases/*.yaml, run by one parametrized test.

Each case file is a list of cases, like jmespath's compliance tests:

    - name: what the case shows
      spec: |                     # a complete spec; error positions count from its first line
        version: 1
        ...
      input: {...}                # the record as data, or
      input_text: "..."           # the record as text (JSON or XML, parsed by the spec's input:)
      settings: {...}             # optional: settings given to the run
      environ: {...}              # optional: environment for env:VAR settings
      store: {...}                # optional: store document loaded first (customers, sales_reps, ...)
      responses: {step: [...]}    # optional: answers per step id, like a fixture's responses:
      user: jdoe                  # optional (default jdoe)
      expect:                     # one or more of:
        spec_errors: ["LINE:COL: message (hint: ...)", ...]   # the spec does not compile: exactly these
        error: "InputError: record g1, field code: ..."      # the run fails: `ErrorType: message`
        outputs: {step: value}    # each listed step's output, exactly (types and key order too)
        result: "text"            # the result message
        requests: [...]           # every request, exactly
        writes: [...]             # the write-backs and saves, exactly
        store: {guid: {...}}      # customers afterwards: the listed keys of the listed customers

Every successful case also runs with explain=True: the explaining path must give the same result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import canonical, execute, spec_errors
from ruamel.yaml import YAML

import engine

CASES_DIR = Path(__file__).parent / "cases"
CASE_KEYS = {"name", "spec", "input", "input_text", "settings", "environ", "store", "responses", "user",
             "expect", "notes"}
EXPECT_KEYS = {"spec_errors", "error", "outputs", "result", "requests", "writes", "store"}


def _plain(node: Any) -> Any:
    from engine.load import to_plain
    return to_plain(node)


def load_cases() -> list[Any]:
    params = []
    yaml = YAML(typ="rt")
    for path in sorted(CASES_DIR.glob("*.yaml")):
        cases = _plain(yaml.load(path.read_text(encoding="utf-8")))
        assert isinstance(cases, list), f"{path.name}: a case file is a list of cases"
        for case in cases:
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


CASES = load_cases()


def test_case_files_are_well_formed() -> None:
    names = set()
    for param in CASES:
        case = param.values[0]
        assert set(case) <= CASE_KEYS, f"{case['name']}: unknown keys {set(case) - CASE_KEYS}"
        assert set(case["expect"]) <= EXPECT_KEYS, f"{case['name']}: unknown expect keys"
        assert case["expect"], f"{case['name']}: expects nothing"
        assert param.id not in names, f"duplicate case {param.id}"
        names.add(param.id)


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    errors = spec_errors(case["spec"])
    if "spec_errors" in expect:
        assert errors == expect["spec_errors"], "\n".join(errors)
        return
    assert errors == [], "the spec does not compile:\n" + "\n".join(errors)
    plan = engine.compile_text(case["spec"], "spec.yaml")
    record = case["input_text"] if "input_text" in case else case.get("input")
    runs = {explain: execute(plan, record, settings=case.get("settings"), store=case.get("store"),
                             responses=case.get("responses"), user=case.get("user", "jdoe"),
                             explain=explain, environ=case.get("environ"))
            for explain in (False, True)}
    result, error, customers = runs[False]
    if "error" in expect:
        assert error == expect["error"]
    else:
        assert error is None, error
        assert result is not None
        if "outputs" in expect:
            for step, want in expect["outputs"].items():
                assert step in result.outputs, f"no step {step}"
                assert canonical(result.outputs[step]) == canonical(want), f"outputs.{step}"
        if "result" in expect:
            assert result.message == expect["result"]
        if "requests" in expect:
            assert canonical(result.requests) == canonical(expect["requests"])
        if "writes" in expect:
            assert canonical(result.writes) == canonical(expect["writes"])
    for key, want in (expect.get("store") or {}).items():
        assert key in customers, f"no customer {key} in the store"
        got = {k: customers[key].get(k) for k in want}
        assert canonical(got) == canonical(want), f"store customer {key}"
    # The explaining path (explain=True) must agree with the fast closures.
    explained, explained_error, _ = runs[True]
    assert explained_error == error
    if result is not None and explained is not None:
        assert canonical(explained.outputs) == canonical(result.outputs)
        assert explained.message == result.message
        assert canonical(explained.requests) == canonical(result.requests)
