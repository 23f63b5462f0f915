"""Specialising for known settings (engine/fold.py, Plan.specialise) never changes a result.

Two levels: any expression, folded for some of its names, gives what jmespath gives for the
original on the whole scope (or fails as it does); and the seed connectors' map steps, specialised
for random settings, build exactly what the general steps build from random customers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jmespath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_jmes_compiled import KEYS, data, expressions  # same folder: the shared expression grammar

import engine
from engine.expressions import EvaluationError, ExpressionError, Names, compile_expr, truthy
from engine.functions import CLOCK, JMESPATH_OPTIONS
from engine.runtime import Run, Services
from engine.settings import resolve
from engine.steps import MapStep

ROOT = Path(__file__).resolve().parents[2]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except (jmespath.exceptions.JMESPathError, EvaluationError):
        return "error", None
    except (TypeError, ValueError):
        return "crash", None


@settings(max_examples=1500, deadline=None)
@given(expressions(), st.fixed_dictionaries({k: data for k in KEYS}), st.sets(st.sampled_from(KEYS)))
def test_folded_expression_gives_the_original_result(expression: str, scope: dict[str, Any], known: set[str]) -> None:
    try:
        parsed = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError:
        return
    expected = _outcome(lambda: parsed.search(scope, options=JMESPATH_OPTIONS))
    if expected[0] == "crash":
        return  # jmespath itself fails with a raw error: nothing to agree with
    names = Names(frozenset(KEYS), frozenset(), frozenset(known), {k: scope[k] for k in known})
    try:
        folded = compile_expr(expression, names)
    except ExpressionError:
        return  # refused for every spec (e.g. `!(a).b`), folded or not
    got = _outcome(lambda: folded.evaluate(scope))
    assert got == expected, expression
    if folded.decided is not None and got[0] == "ok":
        assert folded.decided == truthy(got[1]), expression
    if folded.literal is not None:
        assert not folded.refs and got == ("ok", folded.literal[0]), expression


def _folded(expression: str, **known: Any) -> Any:
    return compile_expr(expression, Names(frozenset({"settings", "a", "b", "item"}), frozenset({"S", "T"}),
                                          frozenset(known), known))


def test_what_folds_and_what_does_not() -> None:
    settings_ = {"settings": {"S": False, "T": "x"}}
    assert _folded("settings.T", **settings_).literal == ("x",)
    assert _folded("{k: settings.T, l: a}", **settings_).refs == {"a"}
    chosen = _folded("choose(settings.S, a, b)", **settings_)
    assert chosen.literal is None and chosen.refs == {"b"} and chosen.path2 is None
    assert _folded("choose(settings.S, upper(a), b)", **settings_).refs == {"a", "b"}  # could fail: kept
    assert _folded("a.x && settings.S", **settings_).decided is False
    assert _folded("upper(a) && settings.S", **settings_).decided is None  # upper(a) may fail: not claimed
    assert _folded("settings.S || a.x", **settings_).path2 == ("a", "x")
    assert _folded("a[?x == `1`] | [0]", **settings_).literal is None
    assert _folded("length(settings.T)", **settings_).literal == (1,)
    assert _folded("to_number(settings.T)", **settings_).literal == (None,)
    assert _folded("now()", **settings_).literal is None  # the clock is never folded
    failing = _folded("length(settings.S)", **settings_)  # a boolean has no length: fails per record
    assert failing.literal is None
    with pytest.raises((EvaluationError, jmespath.exceptions.JMESPathError)):
        failing.evaluate({"settings": settings_["settings"]})


# --- the seed connectors, specialised -------------------------------------------------------------

TEXT = st.one_of(st.none(), st.sampled_from(["", " ", "x", "NL", "en", "sv", "1", "2", "P1", "P9", "Acme Corp",
                                              "a" * 60, "0123"]))
ADDRESS = st.fixed_dictionaries({"AddressType": st.sampled_from(["VIS", "DEL", "INV"]), "AddressLine1": TEXT,
                                 "AddressLine2": TEXT, "City": TEXT, "PostCode": TEXT, "Iso2": TEXT, "Phone": TEXT})
CONTACT = st.fixed_dictionaries({"ContactId": TEXT, "FirstName": TEXT, "LastName": TEXT, "FullName": TEXT,
                                 "Email": TEXT, "Phonenumber": TEXT, "MobileNumber": TEXT})
CUSTOMER = st.fixed_dictionaries({
    "CustomerGuid": st.just("g"), "CustomerCode": TEXT, "CustomerName": st.sampled_from(["Acme", "Beta BV", "x" * 120]),
    "Email": TEXT, "Phone": TEXT, "Fax": TEXT, "Website": TEXT, "VatCode": TEXT, "ChamberOfCommerceCode": TEXT,
    "LanguageCode": TEXT, "Discount": st.one_of(st.none(), st.integers(0, 50), st.just("")),
    "PaymentConditionCode": TEXT, "CustomerManager": TEXT, "MobileNumber": TEXT, "Currency": TEXT,
    "CountryCode": TEXT, "SearchCode": TEXT, "RelationGroup": TEXT, "CollectionAccountCode": TEXT,
    "UsesPriceField": st.one_of(st.none(), st.integers(0, 5), TEXT),
    "UnknownElements": st.one_of(st.none(), st.fixed_dictionaries({"CustomerGroupId": TEXT})),
    "Addresses": st.lists(ADDRESS, max_size=3), "ContactPersons": st.lists(CONTACT, max_size=2)})
FLAGS = st.booleans()
AV_SETTINGS = st.fixed_dictionaries({
    "ClientId": st.just("a"), "ClientSecret": st.just("b"), "RefreshToken": st.just("c"), "CompanyId": st.just("1"),
    "PriceList1Code": TEXT.filter(lambda v: v is not None), "PriceList2Code": TEXT.filter(lambda v: v is not None),
    "SwapDeliveryAndVisitAddress": FLAGS, "SkipPriceLists": FLAGS, "PriceListsBasedOnItemFields": FLAGS,
    "SendContactAsMainContact": FLAGS, "SendContactAsAdministrationContact": FLAGS,
    "UseUsernameAsEmployeeForNewCustomer": FLAGS,
    "CollectionAccountCodeForNewCustomer": st.sampled_from(["1300", ""])})
SPECTER_SETTINGS = st.fixed_dictionaries({
    "SbmId": st.just("1"), "ApiWriteUserId": st.just("2"), "ApiWriteUserKey": st.just("k"),
    "DefaultCurrency": st.sampled_from(["SEK", "EUR", ""]), "DefaultLanguage": st.sampled_from(["SE", "EN", "NO"])})
SPECS = {"accountview": (ROOT / "mappings/accountview/create-customer.yaml", AV_SETTINGS),
         "specter": (ROOT / "mappings/specter/create-customer.yaml", SPECTER_SETTINGS)}
PLANS = {name: engine.load_spec(path) for name, (path, _) in SPECS.items()}
OTHERS = st.fixed_dictionaries({  # what the steps that are not map steps would have given
    "sales_rep": st.one_of(st.none(), st.just({"ResIdString": "R1"})),
    "price_list": st.one_of(st.none(), st.just({"Currency": "EUR"}), st.just({"Currency": None})),
    "new_code": st.one_of(st.none(), st.integers(1, 10**6)), "new_contact_code": st.one_of(st.none(), st.integers(1, 99)),
    "send_person": st.one_of(st.none(), st.just({"body": {"PrimaryKey": "77"}})),
    "user": st.sampled_from(["jdoe", "", None])})


def _run_steps(steps: Any, scope: dict[str, Any], resolved: Any) -> dict[str, tuple[str, Any]]:
    outputs: dict[str, tuple[str, Any]] = {}
    for step in steps:
        if not isinstance(step, MapStep):
            continue
        if step.when is not None and not truthy(step.when.evaluate(scope)):
            scope[step.id] = None
            outputs[step.id] = ("skipped", None)
            continue
        try:
            scope[step.id] = step.run(Run(scope, Services(), resolved, "t", "k"))
            outputs[step.id] = ("ok", scope[step.id])
        except Exception as exc:  # a refused record must be refused alike, with the same message
            scope[step.id] = None
            outputs[step.id] = ("error", f"{type(exc).__name__}: {exc}")
    return outputs


@pytest.mark.parametrize("name", sorted(SPECS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_specialised_seed_steps_build_what_the_general_ones_build(name: str, data: st.DataObject) -> None:
    plan = PLANS[name]
    resolved = resolve(plan.settings, data.draw(SPECS[name][1]))
    customer, others = data.draw(CUSTOMER), data.draw(OTHERS)
    xml = {"NewCustomers": {"Customer": [{"customerGuid": "g", "customerCode": data.draw(TEXT)}]}}

    def scope() -> dict[str, Any]:
        return {"input": customer if name == "specter" else xml, "customer": customer, "settings": resolved.values,
                "tenant": "default", "now": "2026-01-01T00:00:00Z", "raw": None, **others}
    general = _run_steps(plan.steps, scope(), resolved)
    specialised = _run_steps(plan.specialise(resolved), scope(), resolved)
    assert specialised == general


def test_a_folded_secret_is_never_shown() -> None:
    plan = engine.compile_text("""\
version: 1
name: secret-fold
settings:
  Key: {type: string, secret: true}
steps:
  - id: m
    kind: map
    let: {k: settings.Key}
    fields:
      signed: {from: "concat(k, input.a)"}
      key: {from: k}
""", "secret-fold.yaml")
    resolved = resolve(plan.settings, {"Key": "s3cr3t-value"})
    steps = plan.specialise(resolved)
    assert steps is not plan.steps
    assert "s3cr3t-value" not in repr(steps)
    assert plan.preview({"a": "!"}, settings={"Key": "s3cr3t-value"}).outputs["m"] == {
        "signed": "s3cr3t-value!", "key": "s3cr3t-value"}
    assert plan.specialise(resolve(plan.settings, {"Key": "s3cr3t-value"})) is steps  # kept, not made again


def _map_spec(settings_: str, let: str, fields: str) -> str:
    return (f"version: 1\nname: fold-edge\nsettings: {settings_}\nsteps:\n  - id: m\n    kind: map\n"
            f"    let: {let}\n    fields:\n" + "".join(f"      {line}\n" for line in fields.split("\n")))


EDGES = {  # found by review: each once made the specialised plan differ from the general one
    "a let that fails is kept, so it still fails": (
        _map_spec("{S: {type: boolean, default: false}}", '{k: "upper(input.n)"}', 'a: {from: "settings.S && k"}'),
        {"n": 5}),
    "choose drops no branch that reads a failing let": (
        _map_spec("{S: {type: boolean, default: false}}", '{k: "upper(input.n)"}',
                  'a: {from: "choose(settings.S, k, input.b)"}'), {"n": 5, "b": "x"}),
    "a settled unless does not skip a when that fails first": (
        _map_spec("{Skip: {type: boolean, default: true}}", "{}",
                  "a: {from: input.n, when: \"upper(input.n) == 'X'\", unless: settings.Skip}"), {"n": 5}),
    "a let named item is not folded into each's own item": (
        _map_spec('{T: {type: string, default: "from-setting"}}', '{item: "{x: settings.T}"}',
                  "top: item.x\nlines: {each: input.lines, fields: {x: item.x}}"), {"lines": [{"x": "L1"}]}),
    "a let named settings hides the settings": (
        _map_spec('{T: {type: string, default: "real"}}', '{settings: "input.s"}', "t: settings.T"),
        {"s": {"T": "from-input"}}),
    "a let read by an expression jmespath interprets (slice, &expr) is kept": (
        _map_spec('{Prefix: {type: string, default: "P-"}}', "{prefix: settings.Prefix}",
                  "label: \"concat(prefix, join('-', input.x[:2]))\"\nbest: \"concat(prefix, sort_by(input.lines, &n)[0].name)\""),
        {"x": ["1", "2", "3"], "lines": [{"n": 2, "name": "two"}, {"n": 1, "name": "one"}]}),
    "a let read through @ is kept": (
        _map_spec("{}", "{visit: \"input.Addresses[?Type=='VIS'] | [0]\"}", 'city: "@.visit.City"\nnames: "keys(@)"'),
        {"Addresses": [{"Type": "VIS", "City": "Rotterdam"}]}),
}


@pytest.mark.parametrize("case", sorted(EDGES))
def test_specialised_edge_cases_agree(case: str) -> None:
    text, record = EDGES[case]
    plan = engine.compile_text(text, "fold-edge.yaml")
    resolved = resolve(plan.settings, {})

    def scope() -> dict[str, Any]:
        return {"input": record, "settings": resolved.values, "tenant": "default", "now": "x", "raw": None, "user": None}
    assert _run_steps(plan.specialise(resolved), scope(), resolved) == _run_steps(plan.steps, scope(), resolved)


def test_settings_equal_in_python_but_not_alike_are_specialised_apart() -> None:
    plan = engine.compile_text(_map_spec("{Rate: {type: number}}", "{}", "rate: settings.Rate\ntext: to_string(settings.Rate)"),
                               "fold-rate.yaml")
    for rate, text in ((1, "1"), ("1", "1.0"), (-0.0, "-0.0"), (0, "0")):
        assert plan.preview({}, settings={"Rate": rate}).outputs["m"]["text"] == text


def test_threads_asking_for_the_same_settings_at_once_get_one_compilation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool's first records all arrive together: one compiles, the rest wait and share it."""
    import threading
    import time

    from engine.compile import Compiler

    plan = engine.load_spec(SPECS["specter"][0])
    resolved = resolve(plan.settings, {"SbmId": "1", "ApiWriteUserId": "2", "ApiWriteUserKey": "k"})
    compiled = Compiler.compile
    calls: list[int] = []

    def slow_compile(self: Compiler) -> Any:
        calls.append(1)
        time.sleep(0.05)  # widen the window in which the others ask
        return compiled(self)
    monkeypatch.setattr(Compiler, "compile", slow_compile)
    start = threading.Barrier(6)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(plan.specialise(resolved))
    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(got) == 6 and all(steps is got[0] for steps in got)


def _steps_spec(*steps: str) -> str:
    return "version: 1\nname: lets-in-place\nsteps:\n" + "".join(
        f"  - id: m{i}\n    kind: map\n" + "".join(f"    {line}\n" for line in step.split("\n"))
        for i, step in enumerate(steps, 1))


IN_PLACE = {  # spec, record, which map steps may write their lets into the run's scope
    "lets nothing else can name are written in place": (
        _steps_spec("let: {x: input.a}\nfields: {a: x}", "let: {x: input.b}\nfields: {b: x, first: m1.a}"),
        {"a": "A", "b": "B"}, {"m1": True, "m2": True}),
    "a later @ would see them: copied": (
        _steps_spec("let: {x: input.a}\nfields: {a: x}", "fields: {names: \"keys(@)\"}"),
        {"a": "A"}, {"m1": False, "m2": False}),
    "a let named like an earlier step would hide it from later steps: copied": (
        _steps_spec("fields: {a: input.a}", "let: {m1: input.b}\nfields: {b: m1}", "fields: {c: m1.a}"),
        {"a": "A", "b": "B"}, {"m1": False, "m2": False, "m3": False}),
    "a let named like a later step: copied": (
        _steps_spec("let: {m2: input.a}\nfields: {a: m2}", "fields: {b: m1.a}"),
        {"a": "A"}, {"m1": False, "m2": False}),
    "a let named like a base name: copied": (
        _steps_spec("let: {input: \"{a: 'shadow'}\"}\nfields: {a: input.a}", "fields: {b: input.a}"),
        {"a": "A"}, {"m1": False, "m2": False}),
}


@pytest.mark.parametrize("case", sorted(IN_PLACE))
def test_lets_are_written_in_place_only_where_nothing_can_see_them(case: str) -> None:
    text, record, expected = IN_PLACE[case]
    plan = engine.compile_text(text, "lets-in-place.yaml")
    resolved = resolve(plan.settings, {})
    specialised = plan.specialise(resolved)
    assert {s.id: s.lets_in_place for s in specialised if isinstance(s, MapStep)} == expected
    assert not any(s.lets_in_place for s in plan.steps if isinstance(s, MapStep))  # never in the general plan

    def scope() -> dict[str, Any]:
        return {"input": record, "settings": resolved.values, "tenant": "default", "now": "x", "raw": None, "user": None}
    assert _run_steps(specialised, scope(), resolved) == _run_steps(plan.steps, scope(), resolved)
    assert plan.preview(record).outputs == plan.preview(record, explain=True).outputs


REUSED = {  # spec, per map step the lets it still computes once specialised
    "the same let of an earlier step is not computed again": (
        _steps_spec("let: {x: input.a}\nfields: {a: x}", "let: {x: input.a}\nfields: {b: x}"),
        {"m1": ["x"], "m2": []}),
    "rebound in between: computed again": (
        _steps_spec("let: {x: input.a}\nfields: {a: x}", "let: {x: input.b}\nfields: {b: x}",
                    "let: {x: input.a}\nfields: {c: x}"),
        {"m1": ["x"], "m2": ["x"], "m3": ["x"]}),
    "the earlier step may not run: computed again": (
        _steps_spec("when: input.flag\nlet: {x: input.a}\nfields: {a: x}", "let: {x: input.a}\nfields: {b: x}"),
        {"m1": ["x"], "m2": ["x"]}),
    "rebound by a step that may not run: computed again": (
        _steps_spec("let: {x: input.a}\nfields: {a: x}", "when: input.flag\nlet: {x: input.b}\nfields: {b: x}",
                    "let: {x: input.a}\nfields: {c: x}"),
        {"m1": ["x"], "m2": ["x"], "m3": ["x"]}),
    "a let calling a function (now() differs per call): computed again": (
        _steps_spec("let: {x: now()}\nfields: {a: x}", "let: {x: now()}\nfields: {b: x}"),
        {"m1": ["x"], "m2": ["x"]}),
    "a let reading another let: computed again": (
        _steps_spec("let: {x: input.a, y: x}\nfields: {a: y}", "let: {x: input.b, y: x}\nfields: {b: y}"),
        {"m1": ["x", "y"], "m2": ["x", "y"]}),
}


@pytest.mark.parametrize("case", sorted(REUSED))
@pytest.mark.parametrize("flag", [True, False])
def test_a_let_an_earlier_step_left_in_the_scope_is_reused_only_when_it_must_hold_the_same(case: str, flag: bool) -> None:
    text, expected = REUSED[case]
    plan = engine.compile_text(text, "reuse.yaml")
    resolved = resolve(plan.settings, {})
    specialised = plan.specialise(resolved)
    assert {s.id: [name for name, _ in s.lets] for s in specialised if isinstance(s, MapStep)} == expected
    record = {"a": "A", "b": "B", "flag": flag}

    def scope() -> dict[str, Any]:
        return {"input": record, "settings": resolved.values, "tenant": "default", "now": "x", "raw": None, "user": None}
    fixed = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # now() must not cross a second between the two runs
    token = CLOCK.set(lambda: fixed)
    try:
        assert _run_steps(specialised, scope(), resolved) == _run_steps(plan.steps, scope(), resolved)
    finally:
        CLOCK.reset(token)
