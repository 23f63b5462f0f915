"""Shared by the scale tests: the specs, simulator credentials, seeded customers, settings files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import engine

REPO = Path(__file__).resolve().parents[2]
SPECTER = REPO / "mappings" / "specter" / "create-customer.yaml"
SNELSTART_SYNC = REPO / "mappings" / "snelstart" / "customer-sync.yaml"
SNELSTART_CREATE = REPO / "mappings" / "snelstart" / "create-customer.yaml"
SPECTER_FLOW = "specter-create-customer"
SNELSTART_CREATE_FLOW = "snelstart-create-customer"
SNELSTART_SYNC_FLOW = "snelstart-customer-sync"

SPECTER_SBM, SPECTER_USER, SPECTER_KEY = "4321", "77", "specter-Scale-key-9c1d"
SPECTER_KEY_VAR = "SCALE_TEST_SPECTER_KEY"  # the secret reaches workers through their environment
SNELSTART_CLIENT_KEY, SNELSTART_SUBSCRIPTION_KEY = "snelstart-scale-client-key", "snelstart-scale-sub-key"
SNELSTART_KEY_VARS = {"SCALE_TEST_SNELSTART_CLIENT_KEY": SNELSTART_CLIENT_KEY,
                      "SCALE_TEST_SNELSTART_SUBSCRIPTION_KEY": SNELSTART_SUBSCRIPTION_KEY}


def write_settings(settings_dir: Path, tenant: str, flow: str, values: dict[str, Any]) -> Path:
    folder = settings_dir / tenant
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{flow}.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    return path


def specter_settings(url: str) -> dict[str, Any]:
    return {"BaseUrl": url, "SbmId": SPECTER_SBM, "ApiWriteUserId": SPECTER_USER,
            "ApiWriteUserKey": f"env:{SPECTER_KEY_VAR}"}


def snelstart_settings(base_url: str, token_url: str, **extra: Any) -> dict[str, Any]:
    return {"BaseUrl": base_url, "TokenUrl": token_url, "ClientKey": "env:SCALE_TEST_SNELSTART_CLIENT_KEY",
            "SubscriptionKey": "env:SCALE_TEST_SNELSTART_SUBSCRIPTION_KEY", **extra}


def customers(count: int, tag: str) -> list[dict[str, Any]]:
    """App4Sales customers with unique names (Specter's detect rule finds a lost create by name)."""
    return [{"CustomerGuid": f"{tag}-{i:05d}", "CustomerCode": "", "CustomerName": f"Scale {tag} customer {i:05d}",
             "Email": f"c{i}@{tag}.example", "UsesPriceField": 1,
             "ContactPersons": [{"FullName": f"Contact {i}", "FirstName": "Con", "LastName": f"Tact{i}",
                                 "Email": f"contact{i}@{tag}.example"}],
             "Addresses": [{"AddressType": "VIS", "AddressLine1": f"Straat {i}", "PostCode": "1234 AB",
                            "City": "Utrecht", "Iso2": "NL"},
                           {"AddressType": "DEL", "AddressLine1": f"Weg {i}", "PostCode": "4321 BA",
                            "City": "Utrecht", "Iso2": "NL"}]}
            for i in range(count)]


def seed(store_url: str, tenant: str, records: list[dict[str, Any]]) -> None:
    store = engine.open_store(store_url)
    try:
        store.import_document({"customers": records, "sales_reps": [{"Username": "jdoe", "ResIdString": "REP-1"}],
                               "price_lists": [{"Index": 1, "Code": "EURO", "Currency": "EUR"}]}, tenant)
    finally:
        store.close()


def stored(store_url: str, tenant: str) -> list[dict[str, Any]]:
    store = engine.open_store(store_url)
    try:
        return list(store.iter_customers(tenant))
    finally:
        store.close()


def creates(sim: Any) -> int:
    """newCustomerSubmit POSTs that reached the simulator (answered or not)."""
    return sum(1 for r in sim.requests if r.method == "POST" and "newcustomersubmit" in r.path.lower()
               and "forceCustomerUpdate" not in r.body.decode(errors="replace"))
