"""Varied, deterministic App4Sales customers for benchmarks: optional fields come and go, text
sometimes exceeds the ERP's maximum lengths, codes and postcodes keep leading zeros."""

from __future__ import annotations

import random
from typing import Any

WORDS = ["Bakkerij", "Jansen", "de Gouden", "Korenaar", "Installatietechniek", "Noord", "Holland", "en Zonen",
         "Handelsonderneming", "Van der Berg", "Logistiek", "Utrecht", "Rotterdam", "Groothandel", "BV"]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def customer(i: int, seed: int = 1) -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + i)
    existing = rng.random() < 0.4
    c: dict[str, Any] = {
        "CustomerGuid": f"00000000-0000-4000-8000-{i:012d}",
        "CustomerCode": f"{i:06d}" if existing else "",
        "CustomerName": _text(rng, rng.randint(1, 12)),
        "Email": f"info{i}@example.com" if rng.random() < 0.7 else "",
        "Phone": f"0{rng.randint(10, 99)}-{rng.randint(1000000, 9999999)}" if rng.random() < 0.8 else None,
        "LanguageCode": rng.choice(["nl", "en", "sv", "no", "de", "", None]),
        "ChamberOfCommerceCode": f"{rng.randint(0, 99999999):08d}" * rng.randint(1, 3),
        "VatCode": rng.choice(["", "B1", "B2", "B0", f"NL{rng.randint(0, 999999999):09d}B01"]),
        "Website": "https://www." + "-".join(_text(rng, 3).lower().split()) + ".example" if rng.random() < 0.5 else None,
        "Fax": f"0{rng.randint(100000000, 999999999)}" if rng.random() < 0.2 else None,
        "UsesPriceField": rng.choice([1, 2, 3, "P2", None]),
        "Discount": rng.choice([0, 2.5, 10, None]),
        "CustomerManager": rng.choice(["EMP1", "EMP22", None]),
        "Currency": rng.choice(["EUR", "SEK", None]),
        "PaymentConditionCode": rng.choice(["14", "30", None]),
        "UnknownElements": {"CustomerGroupId": str(rng.randint(1, 9))} if rng.random() < 0.5 else {},
        "Addresses": [],
        "ContactPersons": [],
    }
    for kind in ("VIS", "DEL"):
        if rng.random() < 0.85:
            c["Addresses"].append({"AddressType": kind, "AddressLine1": _text(rng, rng.randint(1, 14)) + " 1",
                                   "AddressLine2": rng.choice([None, "", "Unit 4"]),
                                   "PostCode": f"{rng.randint(0, 9999):04d} {rng.choice(['AB', 'XY'])}",
                                   "City": _text(rng, rng.randint(1, 7)), "Iso2": rng.choice(["NL", "BE", "SE"]),
                                   "Phone": rng.choice([None, "0201234567"])})
    rng.shuffle(c["Addresses"])
    for _ in range(rng.choice([1, 1, 2, 3])):
        first, last = rng.choice(WORDS), _text(rng, rng.randint(1, 9))
        c["ContactPersons"].append({"FullName": f"{first} {last}", "FirstName": first, "LastName": last,
                                    "Email": rng.choice(["", f"c{i}@example.com", None]),
                                    "Phonenumber": rng.choice([None, "0612345678"]),
                                    "MobileNumber": rng.choice([None, "", "0687654321"]),
                                    "ContactId": rng.choice([None, "", f"P{i}"])})
    if not c["Email"]:  # the flows require an email somewhere: then the first contact has one
        c["ContactPersons"][0]["Email"] = f"first{i}@example.com"
    # Drawn last, so that the fields above are the same as before they were added.
    c["SearchCode"] = rng.choice([None, None, "", f"Z{i % 997}"])
    c["RelationGroup"] = rng.choice([None, None, "", "RETAIL"])
    c["CountryCode"] = rng.choice([None, None, "", "NL", "DE"])
    c["CollectionAccountCode"] = rng.choice([None, None, "", "1400"])
    return c


def app4sales_xml(i: int, seed: int = 1) -> dict[str, Any]:
    """A new-customer message from App4Sales, as parsed from its XML: the customer's guid, and
    sometimes a code, search code or relation group, which win over the stored customer's."""
    rng = random.Random(seed * 7_000_003 + i)
    found: dict[str, Any] = {"customerGuid": f"00000000-0000-4000-8000-{i:012d}"}
    if rng.random() < 0.2:
        found["customerCode"] = rng.choice(["", f"X{i % 100000:05d}"])
    if rng.random() < 0.3:
        found["searchCode"] = rng.choice(["", "  ", f"S{i % 1000}"])
    if rng.random() < 0.25:
        found["relationGroup"] = rng.choice(["", "GRP1", "WHOLESALE"])
    return {"NewCustomers": {"Customer": [found]}}


def customers(n: int, seed: int = 1) -> list[dict[str, Any]]:
    return [customer(i, seed) for i in range(n)]
