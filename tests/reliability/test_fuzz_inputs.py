"""Hypothesis: any customer, through any outbound flow's preview, gives a result or a clear error.

Generated App4Sales customers (JSON flows: Specter, SnelStart) and App4Sales XML plus stored
customers (XML flows: AccountView, Monitor) go through `Plan.preview`. Values are mostly of the
right type and sometimes not: huge, empty, unicode, control characters, numbers where text goes,
nested junk, unknown keys. The only acceptable failures are InputError naming the field (or the
input as a whole when it cannot be parsed) and FlowError naming the step; anything else (a
TypeError, a KeyError, a jinja2 or jmespath exception, another SpecbridgeError) is a bug.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest
from e2e_helpers import ACCOUNTVIEW, MONITOR, SNELSTART, SPECTER
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import PREVIEW_SETTINGS

import engine
from engine.errors import FlowError, InputError, SpecbridgeError
from engine.store import open_store

EXAMPLES = 350
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

SETTINGS = {**PREVIEW_SETTINGS,
            "accountview": {**PREVIEW_SETTINGS["accountview"], "SendContactAsMainContact": True,
                            "PriceList1Code": "P1"}}
PLANS = {flow: engine.load_spec(path) for flow, path in
         {"specter": SPECTER, "snelstart": SNELSTART, "accountview": ACCOUNTVIEW, "monitor": MONITOR}.items()}

TRICKY = ["", " ", "0123", "000042", "True", "null", "None", "1e3", "NaN", "-0", "[]", "{}", "{{ x }}",
          "{% raw %}", "'; DROP TABLE customers; --", "../../etc/passwd", "a/b", "a\\b", "C:\\x", "\x00",
          "\r\n", "\u202e", "ünïcødé", "😀" * 30, "x" * 5000, "ERROR_X", "<b>", "&amp;", "]]>", "=" * 3]
TEXT = st.one_of(st.sampled_from(TRICKY), st.text(max_size=40), st.text(max_size=400))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
JUNK = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)
MAYBE_TEXT = st.one_of(TEXT, TEXT, TEXT, st.none(), JUNK)

ADDRESS = st.fixed_dictionaries({}, optional={
    "AddressType": st.one_of(st.sampled_from(["DEL", "VIS", "del", "X"]), JUNK),
    "AddressLine1": MAYBE_TEXT, "AddressLine2": MAYBE_TEXT, "PostCode": MAYBE_TEXT, "City": MAYBE_TEXT,
    "Country": MAYBE_TEXT, "Iso2": st.one_of(st.sampled_from(["NL", "BE", "SE", "XX", "", "nl"]), MAYBE_TEXT),
    "Email": MAYBE_TEXT, "Phone": MAYBE_TEXT})
CONTACT = st.fixed_dictionaries({}, optional={
    "ContactId": MAYBE_TEXT, "FullName": MAYBE_TEXT, "FirstName": MAYBE_TEXT, "LastName": MAYBE_TEXT,
    "Email": MAYBE_TEXT, "Phonenumber": MAYBE_TEXT, "MobileNumber": MAYBE_TEXT,
    "IsMainContact": st.one_of(st.booleans(), JUNK)})
FREE = st.dictionaries(TEXT, st.one_of(st.none(), st.booleans(), st.integers(), TEXT), max_size=3)
NUMBER = st.one_of(st.integers(), st.floats(), st.none(), JUNK)
HOSTILE = st.fixed_dictionaries({}, optional={
    "CustomerGuid": MAYBE_TEXT, "CustomerCode": st.one_of(st.just(""), MAYBE_TEXT), "InternalCode": MAYBE_TEXT,
    "CustomerName": MAYBE_TEXT, "SearchCode": MAYBE_TEXT, "RelationGroup": MAYBE_TEXT, "Discount": NUMBER,
    "Website": MAYBE_TEXT, "ChamberOfCommerceCode": MAYBE_TEXT, "VatCode": MAYBE_TEXT,
    "VatLiable": st.one_of(st.booleans(), JUNK), "LanguageCode": st.one_of(st.sampled_from(["nl", "SV", "gb"]),
                                                                            MAYBE_TEXT),
    "PaymentConditionCode": MAYBE_TEXT, "CustomerManager": MAYBE_TEXT, "Currency": MAYBE_TEXT,
    "CountryCode": MAYBE_TEXT, "Phone": MAYBE_TEXT, "MobileNumber": MAYBE_TEXT, "Fax": MAYBE_TEXT,
    "Email": MAYBE_TEXT, "UsesPriceField": st.one_of(st.integers(-2, 6), MAYBE_TEXT),
    "CollectionAccountCode": MAYBE_TEXT, "IsActive": st.one_of(st.booleans(), JUNK),
    "FreeFields": st.one_of(FREE, JUNK), "DynamicFreeFields": FREE, "UnknownElements": st.one_of(FREE, JUNK),
    "Addresses": st.one_of(st.lists(ADDRESS, max_size=3), JUNK),
    "ContactPersons": st.one_of(st.lists(CONTACT, max_size=3), JUNK),
    "NotInTheSchema": JUNK})
# Schema-valid customers with hostile text: these reach the mapping, the lookups and the send steps.
VALID_TEXT = st.one_of(TEXT, st.none())
VALID_ADDRESS = st.fixed_dictionaries({"AddressType": st.sampled_from(["DEL", "VIS"])}, optional={
    k: VALID_TEXT for k in ("AddressLine1", "AddressLine2", "PostCode", "City", "Country", "Email", "Phone")}
    | {"Iso2": st.sampled_from(["NL", "BE", "SE", "XX", "", "nl", None])})
VALID_CONTACT = st.fixed_dictionaries({"FirstName": TEXT, "LastName": TEXT}, optional={
    k: VALID_TEXT for k in ("ContactId", "FullName", "Email", "Phonenumber", "MobileNumber")}
    | {"IsMainContact": st.booleans()})
VALID = st.fixed_dictionaries(
    {"CustomerGuid": TEXT, "CustomerCode": st.one_of(st.just(""), TEXT), "CustomerName": TEXT, "Email": TEXT,
     "ContactPersons": st.lists(VALID_CONTACT, min_size=1, max_size=2)},
    optional={k: VALID_TEXT for k in ("InternalCode", "SearchCode", "RelationGroup", "Website",
                                      "ChamberOfCommerceCode", "VatCode", "LanguageCode", "PaymentConditionCode",
                                      "CustomerManager", "Currency", "CountryCode", "Phone", "MobileNumber", "Fax",
                                      "CollectionAccountCode")}
    | {"Discount": st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=False)),
       "UsesPriceField": st.one_of(st.integers(-2, 6), TEXT), "VatLiable": st.booleans(),
       "IsActive": st.booleans(), "FreeFields": FREE, "UnknownElements": FREE,
       "Addresses": st.lists(VALID_ADDRESS, max_size=3)})
CUSTOMER = st.one_of(VALID, VALID, HOSTILE)

def check(exc: Exception) -> None:
    """The error is one a consultant can act on: names the field, or the step."""
    if isinstance(exc, InputError):
        named = exc.field or exc.message.startswith(("input ", "input:"))
        assert named, f"InputError without a field: {exc}"
    elif isinstance(exc, FlowError):
        assert str(exc).strip(), "an empty FlowError"
    else:
        raise AssertionError(f"{type(exc).__name__} is not an InputError or FlowError: {exc}") from exc


def preview(flow: str, record: Any, store: Any = None) -> None:
    try:
        result = PLANS[flow].preview(record, settings=SETTINGS[flow], store=store, user="fuzz")
    except (InputError, FlowError) as exc:
        check(exc)
        return
    except SpecbridgeError as exc:
        check(exc)
        return
    json.dumps(result.as_dict(), default=str)  # what `specbridge preview` prints


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    yield store
    store.close()


def _stored(store: Any, customer: dict[str, Any]) -> str | None:
    """Put `customer` in the store under a GUID made from its content (the same example draws the
    same data every time); None when the store refuses it (fine too)."""
    digest = hashlib.sha256(repr(customer).encode("utf-8", "surrogatepass")).hexdigest()
    guid = f"g-fuzz-{digest[:16]}"
    code = customer.get("CustomerCode")
    if isinstance(code, str) and code:  # a code another stored customer has would update that one
        code = f"{code}{digest[:4]}"
    try:
        store.upsert_customer({**customer, "CustomerGuid": guid, "CustomerCode": code})
    except SpecbridgeError:
        return None
    return guid


# --- JSON flows ------------------------------------------------------------------------------------

@FUZZ
@given(CUSTOMER)
def test_specter_preview_any_customer(customer: dict[str, Any]) -> None:
    preview("specter", customer)


@FUZZ
@given(CUSTOMER)
def test_snelstart_preview_any_customer(customer: dict[str, Any]) -> None:
    preview("snelstart", customer)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(["specter", "snelstart"]),
       st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 CUSTOMER.map(lambda c: json.dumps(c, default=str).encode()),
                 CUSTOMER.map(lambda c: json.dumps(c, default=str)[:-1].encode())))
def test_json_flows_preview_any_bytes(flow: str, data: bytes) -> None:
    preview(flow, data)


# --- XML flows -------------------------------------------------------------------------------------

NAME = st.sampled_from(["customerGuid", "customerCode", "searchCode", "relationGroup", "Customer", "name",
                        "x", "a-b", "ns:el"])


@st.composite
def xml_message(draw: st.DrawFn, guid: str | None) -> bytes:
    """An App4Sales-like NewCustomers message around `guid`, well-formed or not."""
    # Both drawn either way, so an example draws the same way every time.
    other, use_guid = draw(TEXT), draw(st.sampled_from([True, True, True, False]))
    guid_text = guid if guid is not None and use_guid else other
    extra = "".join(
        f"<{n}{draw(st.sampled_from(['', ' a=' + quoteattr(draw(TEXT))]))}>{escape(draw(TEXT))}</{n}>"
        for n in draw(st.lists(NAME.filter(lambda n: ":" not in n), max_size=3)))
    customers = draw(st.sampled_from([1, 1, 1, 0, 2, 3]))
    body = "".join(f"<Customer><customerGuid>{escape(guid_text)}</customerGuid>{extra}</Customer>"
                   for _ in range(customers))
    text = f"<NewCustomers>{body}</NewCustomers>"
    shape = draw(st.sampled_from(["plain", "declared", "ns", "cdata", "comment", "broken", "latin1", "bom"]))
    if shape == "declared":
        text = '<?xml version="1.0" encoding="utf-8"?>\r\n' + text
    elif shape == "ns":
        text = text.replace("<NewCustomers>", '<NewCustomers xmlns="urn:app4sales">', 1)
    elif shape == "cdata":
        text = text.replace("</Customer>", f"<notes><![CDATA[{draw(TEXT).replace(']]>', '')}]]></notes></Customer>", 1)
    elif shape == "comment":
        text = "<!-- c -->" + text + "<?pi x?>"
    elif shape == "broken":
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["<", "&", "&nope;", "</x>", "\x00", ""])) + text[cut:]
    elif shape == "latin1":
        return ('<?xml version="1.0" encoding="iso-8859-1"?>' + text).encode("latin-1", "replace")
    elif shape == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    return text.encode("utf-8", "surrogatepass")


@FUZZ
@given(st.one_of(VALID, VALID, VALID, HOSTILE), st.data())
def test_accountview_preview_any_stored_customer_and_xml(fuzz_store: Any, customer: dict[str, Any],
                                                         data: st.DataObject) -> None:
    guid = _stored(fuzz_store, customer)
    preview("accountview", data.draw(xml_message(guid)), fuzz_store)


@FUZZ
@given(st.one_of(MAYBE_TEXT, st.sampled_from(["C001", "../x", "a/b", "\r\n", ""])), st.data())
def test_monitor_preview_any_customer_code_and_xml(fuzz_store: Any, code: Any, data: st.DataObject) -> None:
    guid = _stored(fuzz_store, {"CustomerCode": code, "CustomerName": "Fuzz"})
    preview("monitor", data.draw(xml_message(guid)), fuzz_store)


def test_the_generators_reach_the_send_steps(fuzz_store: Any) -> None:
    """Not every example is refused up front: plain customers do reach a request."""
    customer = {"CustomerGuid": "g-plain", "CustomerCode": "", "CustomerName": "Plain", "Email": "p@x.test",
                "ContactPersons": [{"FirstName": "P", "LastName": "Q", "Email": "p@x.test"}]}
    for flow in ("specter", "snelstart"):
        assert PLANS[flow].preview(customer, settings=SETTINGS[flow]).requests
    guid = _stored(fuzz_store, {**customer, "CustomerCode": "C1"})
    xml = f"<NewCustomers><Customer><customerGuid>{guid}</customerGuid></Customer></NewCustomers>"
    for flow in ("accountview", "monitor"):
        assert PLANS[flow].preview(xml, settings=SETTINGS[flow], store=fuzz_store).requests
    assert Path(MONITOR).exists()
